"""A dense spec: how it is read (``read(spec, limits) -> DenseProblem``) and run
(``run(problem, options)``, ``finite_differences(problem, run)``) for core/solve.py, its
usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``); its practice profile
(``PRACTICE``, for ``gradcalc random``) is core/kinds/dense_practice.py.

A dense problem is one fully connected layer (PyTorch's nn.Linear): input ``x`` (L or
N×L), weight ``W`` (O×L), an optional bias ``b`` (O) and the layout its explanation
writes vectors in.  What the keys are is the Field table of kind dense in
core/kinds/catalog.py (the only description of them: KEYS and LAYOUTS are read from it).
The table is there, not here: every command builds its options from it at start-up, when
no module named after a kind may be imported (tests/test_inline_cli.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.checking import check_gradients_where
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.exact import zeros_like_kind
from gradcalc.core.kinds.fields import read_choice, shape_text
from gradcalc.core.kinds.symbolic_fields import (
    answer_names,
    answers_at,
    naming,
    numbers_above_cap,
    read_tensor,
)
from gradcalc.core.ops import adapter
from gradcalc.core.ops.linear import BIAS_ADD, LINEAR, linear_forward
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import record
from gradcalc.core.words import count_words, entries

if TYPE_CHECKING:  # gradcalc check's variants: usual_mistakes imports them
    from gradcalc.core.kinds.mistakes import Variant as Mistake

KIND = "dense"
KEYS = registry.field_names(KIND)
LAYOUTS = registry.choices(KIND, "layout")
NAME_DEFAULTS = {"input": "x", "weight": "W", "bias": "b", "output": "y", "loss": "L"}
# Every result a dense problem can have (grad_bias only with a bias).
RESULTS = (
    "output",
    "grad_input",
    "grad_weight",
    "grad_bias",
    "jacobian_input",
    "jacobian_weight",
)
SECTIONS = registry.sections(KIND)


@record
class DenseProblem:
    """A validated dense spec; arrays are object arrays of Fractions in the spec's shapes."""

    title: str | None
    input: np.ndarray  # L or N×L
    weight: np.ndarray  # O×L
    bias: np.ndarray | None  # O
    layout: str
    upstream: np.ndarray  # O or N×O
    upstream_given: bool
    names: dict[str, str]
    index_base: int
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance
    # Why symbols were given random values (symbolic_fields.numbers_above_cap); "" if not.
    symbolic_capped: str = ""

    @property
    def batched(self) -> bool:
        return self.input.ndim == 2

    @property
    def batch(self) -> int:
        return self.input.shape[0] if self.batched else 1

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_features) if self.batched else (self.out_features,)

    @property
    def work(self) -> int:
        """Multiply-adds of the forward pass."""
        return self.batch * self.out_features * self.in_features

    def jacobian_shapes(self) -> dict[str, tuple[int, int]]:
        rows = self.batch * self.out_features
        return {
            "jacobian_input": (rows, self.input.size),
            "jacobian_weight": (rows, self.weight.size),
        }


def _read_bias(
    spec: Mapping[str, Any], out_features: int, limits: common.Limits, names: Mapping[str, str]
) -> Any:
    """The bias (O entries), or None when the spec has none."""
    if spec.get("bias") is None:
        return None
    bias = read_tensor(
        spec["bias"],
        ("bias",),
        ndims=(1,),
        what="bias",
        limits=limits,
        **naming(spec, names, "bias"),
    )
    if bias.shape[0] != out_features:
        raise SpecError(
            ("bias",),
            f"bias has {entries(bias.shape[0])} but the weight has O = {out_features} rows; "
            "give one bias per output",
        )
    return bias


def _read_input_and_weight(
    spec: Mapping[str, Any], names: Mapping[str, str], limits: common.Limits
) -> tuple[Any, Any]:
    """The input (L or N×L) and the O×L weight, numbers or symbols, their L checked."""
    raw_input = common.require(spec, "input", KIND, "a vector of L numbers or an N×L batch")
    raw_weight = common.require(spec, "weight", KIND, "the O×L weight matrix")
    x, w = (
        read_tensor(raw, (key,), ndims=ndims, what=key, limits=limits, **naming(spec, names, key))
        for key, raw, ndims in (("input", raw_input, (1, 2)), ("weight", raw_weight, (2,)))
    )
    in_features = x.shape[-1]
    if w.shape[1] != in_features:
        hint = (
            f"; it looks transposed: nn.Linear's weight is out_features × in_features, here {w.shape[1]}×{w.shape[0]}"
            if w.shape[0] == in_features
            else ""
        )
        raise SpecError(
            ("weight",),
            f"weight is {shape_text(w.shape)} but each input sample has L = {entries(in_features)}; "
            f"weight must be O×L (O outputs, L = {count_words(in_features, 'input')}){hint}",
        )
    return x, w


def read(spec: Mapping[str, Any], limits: common.Limits) -> DenseProblem:
    """Validate a dense spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, KIND, KEYS)
    names = common.read_names(spec, NAME_DEFAULTS)
    x, w = _read_input_and_weight(spec, names, limits)
    in_features, out_features = x.shape[-1], w.shape[0]
    bias = _read_bias(spec, out_features, limits, names)
    layout = read_choice(spec, "layout", LAYOUTS, default="column")
    batch = x.shape[0] if x.ndim == 2 else 1
    if batch * out_features * in_features > limits.max_work:
        raise LimitError(
            ("input",),
            f"this layer needs {batch * out_features * in_features:,} multiply-adds, above the limit "
            f"of {limits.max_work:,} (raise it with --max-work)",
        )
    output_shape = (batch, out_features) if x.ndim == 2 else (out_features,)
    upstream, upstream_given = common.read_upstream(
        spec, output_shape, names["output"], limits, naming=naming(spec, names, "output")
    )
    known: dict[str, tuple[int, ...] | None] = {
        "output": output_shape,
        "grad_input": x.shape,
        "grad_weight": w.shape,
    }
    if bias is not None:
        known["grad_bias"] = bias.shape
    rows = batch * out_features
    known["jacobian_input"] = (rows, x.size)
    known["jacobian_weight"] = (rows, w.size)
    fields, values, capped = numbers_above_cap(
        {"input": x, "weight": w, "bias": bias, "upstream": upstream},
        batch * out_features * in_features,
        max(in_features, batch, out_features),  # the most products one entry sums
    )
    shared = common.read_shared(
        spec, known, limits, symbols=answer_names(spec, x, w, bias, upstream)
    )
    answers_at(shared["expected"], values)
    return DenseProblem(
        input=fields["input"],
        weight=fields["weight"],
        bias=fields["bias"],
        layout=layout,
        upstream=fields["upstream"],
        upstream_given=upstream_given,
        names=names,
        symbolic_capped=capped,
        **shared,
    )


# ---------------------------------------------------------------------------
# Running


@record
class DenseTrace:
    """What the forward and backward pass recorded, as batches of rows (object Fractions when exact, else float64)."""

    output: np.ndarray  # N×O
    grad_input: np.ndarray  # N×L
    grad_weight: np.ndarray  # O×L
    grad_bias: np.ndarray | None  # O
    exact: bool


def compute(problem: DenseProblem, *, exact: bool) -> DenseTrace:
    """Forward and backward pass, exactly (rational) or in float64 (the adapter decides how)."""
    x = problem.input.reshape(problem.batch, problem.in_features)
    upstream = problem.upstream.reshape(problem.batch, problem.out_features)
    float64 = adapter.each_rounded
    output, linear = adapter.forward(
        LINEAR, x, {"weight": problem.weight}, exact=exact, float64=float64
    )
    grad_bias = None
    if problem.bias is not None:
        output, bias = adapter.forward(
            BIAS_ADD, output, {"bias": problem.bias}, exact=exact, float64=float64
        )
        bias_grads = adapter.backward(upstream, bias)
        grad_bias, upstream = bias_grads["bias"], bias_grads["input"]
    grads = adapter.backward(upstream, linear)
    return DenseTrace(output, grads["input"], grads["weight"], grad_bias, exact)


def run(problem: DenseProblem, options: common.SolveOptions) -> Run:
    """The forward and backward pass, and the Jacobians when asked for and small enough."""
    exact = not options.force_float and problem.work <= options.limits.exact_work
    computed = compute(problem, exact=exact)
    results: dict[str, Any] = {
        "output": computed.output.reshape(problem.output_shape),
        "grad_input": computed.grad_input.reshape(problem.input.shape),
        "grad_weight": computed.grad_weight,
    }
    if computed.grad_bias is not None:
        results["grad_bias"] = computed.grad_bias
    wanted = options.wants_jacobians() or any(k.startswith("jacobian") for k in problem.expected)
    sizes = [rows * cols for rows, cols in problem.jacobian_shapes().values()]
    if wanted and max(sizes) <= options.limits.max_jacobian:
        results["jacobian_input"], results["jacobian_weight"] = jacobians(problem, exact)
    return Run(results=results, trace=computed, exact=exact)


def finite_differences(problem: DenseProblem, run: Run) -> GradientCheck | None:
    """The analytic gradients against float64 central differences of Σ upstream ⊙ y."""
    results = run.results
    params = {"input": problem.input.astype(float), "weight": problem.weight.astype(float)}
    analytic = {"input": results["grad_input"], "weight": results["grad_weight"]}
    if problem.bias is not None:
        params["bias"] = problem.bias.astype(float)
        analytic["bias"] = results["grad_bias"]
    return check_gradients_where(
        lambda p: float_loss(problem, p),
        params,
        analytic,
        {},
        terms=lambda p: float_loss(problem, p, sizes=True),
    )


def jacobians(problem: DenseProblem, exact: bool) -> tuple[np.ndarray, np.ndarray]:
    """(∂y/∂x, ∂y/∂W) with rows = outputs (n, j) and columns = entries, all row-major.

    ∂y[n,j]/∂x[m,l] = δ_nm·W[j,l] (block diagonal: one W per sample);
    ∂y[n,j]/∂W[k,l] = δ_jk·x[n,l].
    """
    n_count, outs, ins = problem.batch, problem.out_features, problem.in_features
    w = problem.weight if exact else problem.weight.astype(float)
    x = problem.input.reshape(n_count, ins)
    x = x if exact else x.astype(float)
    by_input = zeros_like_kind((n_count, outs, n_count, ins), exact)
    by_weight = zeros_like_kind((n_count, outs, outs, ins), exact)
    for n in range(n_count):
        by_input[n, :, n, :] = w
    for j in range(outs):
        by_weight[:, j, j, :] = x
    return (
        by_input.reshape(n_count * outs, n_count * ins),
        by_weight.reshape(n_count * outs, outs * ins),
    )


def float_loss(
    problem: DenseProblem, params: Mapping[str, np.ndarray], *, sizes: bool = False
) -> float:
    """L = Σ upstream ⊙ (x·Wᵀ + b) in float64, for finite differences; ``sizes``: the size
    of its terms instead, Σ |upstream| ⊙ (|x|·|W|ᵀ + |b|), which bounds its rounding."""
    if sizes:
        params = {name: np.abs(value) for name, value in params.items()}
    x = params["input"].reshape(problem.batch, problem.in_features)
    output = linear_forward(x, params["weight"])
    if "bias" in params:
        output = output + params["bias"]
    upstream = problem.upstream.reshape(problem.batch, problem.out_features).astype(float)
    return float(np.sum((np.abs(upstream) if sizes else upstream) * output))


# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The mistakes worth trying for this problem, most telling first."""
    from gradcalc.core.kinds.mistakes import (
        forgot_upstream,
        negated,
        transposed,
        upstream_transposed,
    )

    gradients = ("grad_input", "grad_weight", "grad_bias")
    return (
        [transposed("grad_weight", "∂L/∂W")]
        + forgot_upstream(spec, gradients)
        + upstream_transposed(spec, gradients)
        + [negated(gradients)]
    )
