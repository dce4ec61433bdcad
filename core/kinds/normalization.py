"""What the normalization kinds (batchnorm, layernorm, groupnorm) share: the problem they
read into, the readers of their common keys (eps, γ and β, affine), the run through
core/ops/normalization.py, finite differences and the usual mistakes of ``gradcalc check``.

Each kind decides the layout the op sees (``op_shape``), the axes each statistic averages
over (``axes``) and the broadcast shape of γ and β there (``param_shape``): batch norm 1d
N×D averages axis 0, 2d N×C×H×W axes (0, 2, 3); layer norm the last k axes; group norm
reshapes N×C×… to N×G×(C/G)×S and averages axes (2, 3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.checking import check_gradients_where
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.fields import read_array, shape_text
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.mistakes import forgot_upstream
from gradcalc.core.ops import adapter
from gradcalc.core.ops.normalization import (
    NORMALIZE,
    centred_of,
    running_update,
    staged_backward,
    x_hat_of,
)
from gradcalc.core.ops.normalization import forward as float_forward
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import record
from gradcalc.core.values import parse_bool, parse_number
from gradcalc.core.words import plain

NAME_DEFAULTS = {"input": "x", "output": "y", "weight": "γ", "bias": "β", "loss": "L"}
DEFAULT_EPS = Fraction(1, 10**5)
# Exact arithmetic on Fractions costs microseconds an entry: above this many input entries
# (limits.exact_work / ENTRY_WORK) a problem runs in float64.
ENTRY_WORK = 100


@record
class NormProblem:
    """A validated normalization spec; arrays are object arrays of Fractions.

    ``input`` in the spec's shape, ``weight``/``bias`` in their own (C, or normalized_shape)
    or None without an affine map; the op sees ``input`` reshaped to ``op_shape``, averages
    over ``axes`` and broadcasts γ, β as ``param_shape``; ``stat_shape`` is the shape of
    the mean and var results.  ``running_mean``/``running_var`` (C) are batch norm's."""

    title: str | None
    kind: str
    input: np.ndarray
    weight: np.ndarray | None
    bias: np.ndarray | None
    eps: Fraction
    op_shape: tuple[int, ...]
    axes: tuple[int, ...]
    param_shape: tuple[int, ...]
    stat_shape: tuple[int, ...]
    training: bool
    momentum: Fraction
    running_mean: np.ndarray | None
    running_var: np.ndarray | None
    groups: int
    upstream: np.ndarray
    upstream_given: bool
    names: dict[str, str]
    index_base: int
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance

    @property
    def affine(self) -> bool:
        return self.weight is not None

    @property
    def count(self) -> int:
        """M: the entries each statistic averages."""
        return math.prod(self.op_shape[a] for a in self.axes)

    @property
    def running(self) -> bool:
        """Batch norm in training: the running statistics are updated."""
        return self.kind == "batchnorm" and self.training


# ---------------------------------------------------------------------------
# Reading


def read_eps(spec: Mapping[str, Any]) -> Fraction:
    """ε (default 1e-5): positive, or σ = √(σ² + ε) can be 0 (a constant column)."""
    if spec.get("eps") is None:
        return DEFAULT_EPS
    eps = parse_number(spec["eps"], ("eps",), what="eps (a number)")
    if eps <= 0:
        raise SpecError(
            ("eps",),
            f"eps must be positive, got {plain(eps)}: σ = √(σ² + eps) divides x − μ, and a "
            "constant feature has σ² = 0 (PyTorch's default is 1e-5)",
        )
    return eps


def read_flag(spec: Mapping[str, Any], key: str, default: bool) -> bool:
    return default if spec.get(key) is None else parse_bool(spec[key], (key,))


def read_parameter(
    spec: Mapping[str, Any], key: str, shape: tuple[int, ...], what: str, limits: common.Limits
) -> np.ndarray | None:
    """γ (weight) or β (bias) in ``shape``; None when the spec does not give it."""
    if spec.get(key) is None:
        return None
    value = read_array(spec[key], (key,), ndims=(len(shape),), what=key, limits=limits)
    if value.shape != shape:
        raise SpecError(
            (key,),
            f"{key} is {shape_text(value.shape)} but {what}; {key} must be {shape_text(shape)}",
        )
    return value


def read_affine(
    spec: Mapping[str, Any], flag: str, shape: tuple[int, ...], what: str, limits: common.Limits
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(γ, β) in ``shape``: as given, else PyTorch's initial ones and zeros; (None, None)
    with ``flag`` (affine, elementwise_affine) false."""
    weight = read_parameter(spec, "weight", shape, what, limits)
    bias = read_parameter(spec, "bias", shape, what, limits)
    if not read_flag(spec, flag, True):
        given = "weight" if weight is not None else "bias" if bias is not None else None
        if given is not None:
            raise SpecError(
                (given,), f"{given} is given but {flag} is false (no γ and β); drop one of them"
            )
        return None, None
    ones = np.empty(shape, dtype=object)
    ones.fill(1)
    zeros = np.empty(shape, dtype=object)
    zeros.fill(0)
    return (ones if weight is None else weight), (zeros if bias is None else bias)


# What the explanation writes beside the names: the group's statistics μ, σ², σ, the count
# M (N in a 2-D batch norm) and the sums S = Σ ∂L/∂x̂ and P = Σ ∂L/∂x̂·x̂ of the backward pass.
STEP_SYMBOLS = ("μ", "σ", "σ²", "M", "N", "S", "P")


def shared_fields(spec: Mapping[str, Any], x: np.ndarray, limits: common.Limits) -> dict:
    """upstream, upstream_given, names and the fields every problem carries."""
    names = common.read_names(spec, NAME_DEFAULTS)
    for role in spec.get("names") or {}:
        # P_00 both the output and Σ ∂L/∂x̂·x̂ of group 00 would make the steps ambiguous
        if names.get(role) in STEP_SYMBOLS:
            raise SpecError(
                ("names", role),
                f"{names[role]!r} is what the explanation writes for a statistic or a sum of "
                f"the backward pass; give {role} another symbol (taken: {', '.join(STEP_SYMBOLS)})",
            )
    upstream, given = common.read_upstream(spec, x.shape, names["output"], limits)
    return {"upstream": upstream, "upstream_given": given, "names": names}


def known_results(
    x: np.ndarray, param: tuple[int, ...], stats: tuple[int, ...], affine: bool, running: bool
) -> dict[str, tuple[int, ...]]:
    """Every result with its shape, in the order they are shown."""
    known = {"output": x.shape, "mean": stats, "var": stats, "x_hat": x.shape}
    known["grad_input"] = x.shape
    if affine:
        known.update(grad_weight=param, grad_bias=param)
    if running:
        known.update(running_mean=param, running_var=param)
    return known


# ---------------------------------------------------------------------------
# Running


@record
class NormTrace:
    """What the run recorded, in the op's layout: the op's cache (μ, x̃, σ², σ, x̂, …), the
    upstream as the op took it, the staged gradients (core/ops/normalization.py
    staged_backward; None when nothing is explained), the compact ∂L/∂x, and whether
    σ (and what follows it) is exact."""

    cache: dict[str, Any]
    upstream: np.ndarray
    staged: dict[str, np.ndarray] | None
    grad_input: np.ndarray
    exact: bool
    sigma_exact: bool
    rounded: bool = False  # --float: run exactly, each value rounded once (rounds_once)


def op_params(problem: NormProblem, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The op's params; ``values`` replaces weight and bias (finite differences)."""
    weight = problem.weight if values is None else values.get("weight")
    bias = problem.bias if values is None else values.get("bias")
    params: dict[str, Any] = {
        "axes": problem.axes,
        "eps": problem.eps,
        "weight": None if weight is None else weight.reshape(problem.param_shape),
        "bias": None if bias is None else bias.reshape(problem.param_shape),
        "mean": None,
        "var": None,
    }
    if problem.kind == "batchnorm" and not problem.training:
        params["mean"] = problem.running_mean.reshape(problem.param_shape)
        params["var"] = problem.running_var.reshape(problem.param_shape)
    return params


def runs_exactly(problem: NormProblem, options: common.SolveOptions) -> bool:
    return not options.force_float and small(problem.input.size, options.limits)


def rounds_once(problem: NormProblem, options: common.SolveOptions) -> bool:
    """--float on a problem small enough to run exactly whose values are all rational (as
    read from a spec): it runs exactly and each value is rounded to float64 once, so that
    the sums that cancel (μ, Σ ∂L/∂x̂, Σ ∂L/∂x̂·x̃) do so exactly and a gradient that is
    exactly 0 is 0, not float64's ±1e-16 (which no displayed step could give)."""
    if not options.force_float or not small(problem.input.size, options.limits):
        return False
    given = problem.input.dtype == object and problem.upstream.dtype == object
    return given and rational_parameters(problem)


def small(size: int, limits: common.Limits) -> bool:
    """Whether an input of ``size`` entries is small enough to run exactly."""
    return size * ENTRY_WORK <= limits.exact_work


def rational_parameters(problem: NormProblem) -> bool:
    """γ, β and the running statistics are exact (or absent), as read from a spec."""
    arrays = (problem.weight, problem.bias, problem.running_mean, problem.running_var)
    return all(array is None or array.dtype == object for array in arrays)


def run(problem: NormProblem, options: common.SolveOptions) -> Run:
    """Forward and backward through the op: exactly while rational (σ when it is a square
    root of a rational square), float64 from σ on otherwise; with --float, exactly and
    rounded once when rounds_once says so, else in float64."""
    exact = runs_exactly(problem, options)
    rounded = not exact and rounds_once(problem, options)
    results, recorded = _solve(problem, options, exact or rounded)
    if rounded:
        results = {name: rounded_once(value) for name, value in results.items()}
        recorded = rounded_trace(recorded)
    return Run(results=results, trace=recorded, exact=recorded.sigma_exact)


def _solve(
    problem: NormProblem, options: common.SolveOptions, exact: bool
) -> tuple[dict[str, Any], NormTrace]:
    """The results and the trace, run exactly (see run) or in float64."""
    x = problem.input.reshape(problem.op_shape)
    y, trace = adapter.forward(NORMALIZE, x, op_params(problem), exact=exact)
    grads = adapter.backward(problem.upstream.reshape(problem.op_shape), trace)
    cache = dict(trace.cache)
    cache["x_hat"] = x_hat_of(cache)  # not kept by the compiled kernel's forward
    upstream = adapter.as_run(problem.upstream.reshape(problem.op_shape), trace)
    staged = None
    if options.explain:  # the explanation shows x̃ and every node's gradient
        cache["centred"] = centred_of(cache)
        staged = staged_backward(upstream, cache)
    shape = problem.input.shape
    results: dict[str, Any] = {
        "output": y.reshape(shape),
        "mean": np.asarray(cache["mean"]).reshape(problem.stat_shape),
        "var": np.asarray(cache["var"]).reshape(problem.stat_shape),
        "x_hat": cache["x_hat"].reshape(shape),
        "grad_input": grads["input"].reshape(shape),
    }
    if problem.affine:
        results["grad_weight"] = grads["weight"].reshape(problem.weight.shape)
        results["grad_bias"] = grads["bias"].reshape(problem.bias.shape)
    if problem.running:
        results.update(running_results(problem, results["mean"], results["var"], exact))
    recorded = NormTrace(
        cache=cache,
        upstream=upstream,
        staged=staged,
        grad_input=grads["input"],
        exact=trace.exact,
        sigma_exact=trace.exact and cache["sigma_exact"],
    )
    return results, recorded


def rounded_once(value: Any) -> Any:
    """An array or number as float64, each exact value rounded once (Fraction.__float__);
    anything else (flags, axes, counts) as it is."""
    if isinstance(value, np.ndarray):
        return value.astype(float)
    if isinstance(value, Fraction):
        return float(value)
    return value


def rounded_trace(trace: NormTrace) -> NormTrace:
    """An exact run's trace with every value rounded once: what a --float run explains."""
    cache = {key: rounded_once(value) for key, value in trace.cache.items()}
    cache["sigma_exact"] = False
    staged = trace.staged
    if staged is not None:
        staged = {key: rounded_once(value) for key, value in staged.items()}
    return NormTrace(
        cache=cache,
        upstream=rounded_once(trace.upstream),
        staged=staged,
        grad_input=rounded_once(trace.grad_input),
        exact=False,
        sigma_exact=False,
        rounded=True,
    )


def running_results(
    problem: NormProblem, mean: np.ndarray, var: np.ndarray, exact: bool
) -> dict[str, np.ndarray]:
    """Batch norm in training: ``running_mean`` and ``running_var`` (C) moved by momentum
    toward the batch's ``mean`` and unbiased ``var`` (the batch's biased variance, C
    entries in any shape), exactly or in float64 as the run went."""
    ran = problem.running_mean if exact else adapter.as_float(problem.running_mean)
    rv = problem.running_var if exact else adapter.as_float(problem.running_var)
    momentum = problem.momentum if exact else float(problem.momentum)
    return {
        "running_mean": running_update(ran, np.reshape(mean, ran.shape), momentum),
        "running_var": running_update(
            rv, np.reshape(var, rv.shape), momentum, unbiased_from=problem.count
        ),
    }


def float_output(problem: NormProblem, values: Mapping[str, np.ndarray]) -> np.ndarray:
    """y in float64 for ``values`` (input, weight, bias), in the op's layout."""
    params = {
        k: (v.astype(float) if isinstance(v, np.ndarray) else v)
        for k, v in op_params(problem, values).items()
    }
    params["eps"] = float(problem.eps)
    return float_forward(values["input"].reshape(problem.op_shape), params)[0]


def finite_differences(problem: NormProblem, run: Run) -> GradientCheck | None:
    """∂L/∂x, ∂L/∂γ, ∂L/∂β against float64 central differences of Σ upstream ⊙ y."""
    params = {"input": problem.input.astype(float)}
    analytic = {"input": run.results["grad_input"]}
    if problem.affine:
        params.update(weight=problem.weight.astype(float), bias=problem.bias.astype(float))
        analytic.update(weight=run.results["grad_weight"], bias=run.results["grad_bias"])
    upstream = problem.upstream.reshape(problem.op_shape).astype(float)
    sigma = np.asarray(run.trace.cache["sigma"], dtype=float)

    def loss(values: Mapping[str, np.ndarray]) -> float:
        return float(np.sum(upstream * float_output(problem, values)))

    def terms(values: Mapping[str, np.ndarray]) -> float:
        # x̂ = (x − μ)/σ rounds like (|x| + |μ|)/σ: count that, scaled by |γ|, and |β|.
        x = np.abs(values["input"].reshape(problem.op_shape))
        size = (x + x.mean(axis=problem.axes, keepdims=True)) / sigma
        if "weight" in values:
            scale = np.abs(values["weight"].reshape(problem.param_shape))
            size = size * scale + np.abs(values["bias"].reshape(problem.param_shape))
        return float(np.sum(np.abs(upstream) * size))

    bend = np.broadcast_to(sigma, problem.op_shape).reshape(problem.input.shape)
    return check_gradients_where(
        loss, params, analytic, {}, terms=terms, bend={"input": bend}, bend_text="σ"
    )


# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)

# What each slip changes: (label, message, the results it can explain).
SLIPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "unbiased variance": (
        "{name} matches the result with the unbiased variance Σ(x − μ)²/(M − 1) in σ: "
        "the normalization uses the biased one, Σ(x − μ)²/M (the unbiased one is only for "
        "running_var)",
        ("output", "x_hat", "var", "grad_input", "grad_weight"),
    ),
    "eps forgotten": (
        "{name} matches the result with σ = √σ² (eps forgotten): σ = √(σ² + eps)",
        ("output", "x_hat", "grad_input", "grad_weight"),
    ),
    "mean's path dropped": (
        "{name} matches ∂L/∂x without the path through μ (the −Σ ∂L/∂x̃/M term): every x "
        "also moves the mean",
        ("grad_input",),
    ),
    "variance's path dropped": (
        "{name} matches ∂L/∂x without the path through σ² (the x̂·Σ(∂L/∂x̂·x̂) term): every "
        "x also moves the variance",
        ("grad_input",),
    ),
}


def slipped(problem: NormProblem, slip: str) -> dict[str, np.ndarray] | None:
    """The results (float64, in their own shapes) of the problem solved with ``slip``;
    None where it is undefined (eps forgotten on a constant feature: σ = 0; the unbiased
    variance of a group of one: M − 1 = 0)."""
    x = problem.input.astype(float).reshape(problem.op_shape)
    axes, m = problem.axes, problem.count
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    var = (centred**2).mean(axis=axes, keepdims=True)
    if slip == "unbiased variance":
        if m == 1:
            return None  # Σ(x − μ)²/(M − 1) divides by zero: nobody slips into that
        var = var * m / (m - 1)
    shifted = var + (0.0 if slip == "eps forgotten" else float(problem.eps))
    if np.any(shifted <= 0):
        return None
    sigma = np.sqrt(shifted)
    x_hat = centred / sigma
    up = problem.upstream.astype(float).reshape(problem.op_shape)
    weight = np.ones(problem.param_shape)
    if problem.affine:
        weight = problem.weight.astype(float).reshape(problem.param_shape)
    g_hat = up * weight
    direct = g_hat / sigma
    through_var = -x_hat * (g_hat * x_hat).sum(axis=axes, keepdims=True) / (m * sigma)
    if slip == "variance's path dropped":
        through_var = 0 * through_var
    centred_grad = direct + through_var
    grad = centred_grad
    if slip != "mean's path dropped":
        grad = centred_grad - centred_grad.sum(axis=axes, keepdims=True) / m
    shape = problem.input.shape
    results = {
        "output": (x_hat * weight).reshape(shape),
        "x_hat": x_hat.reshape(shape),
        "var": var.reshape(problem.stat_shape),
        "grad_input": grad.reshape(shape),
    }
    if problem.affine:
        axes_w = tuple(a for a, n in enumerate(problem.param_shape) if n == 1)
        grad_weight = (up * x_hat).sum(axis=axes_w, keepdims=True)
        results["grad_weight"] = grad_weight.reshape(problem.weight.shape)
        results["output"] = results["output"] + np.broadcast_to(
            problem.bias.astype(float).reshape(problem.param_shape), problem.op_shape
        ).reshape(shape)
    return results


def usual_mistakes(
    spec: Mapping[str, Any], read: Callable[[Mapping[str, Any], common.Limits], NormProblem]
) -> list[Mistake]:
    """The slips of SLIPS that apply (training statistics only), then the upstream forgotten."""
    problem = read(spec, common.Limits())
    mistakes: list[Mistake] = []
    if problem.kind != "batchnorm" or problem.training:
        for label, (message, results) in SLIPS.items():
            mistakes.append(
                Mistake(label, message, transform=_slip(problem, label), results=results)
            )
    return mistakes + forgot_upstream(spec, ("grad_input", "grad_weight", "grad_bias"))


def _slip(problem: NormProblem, label: str) -> Callable[[np.ndarray, str], np.ndarray | None]:
    found: dict[str, Any] = {}

    def transform(_correct: np.ndarray, name: str) -> np.ndarray | None:
        if "results" not in found:
            found["results"] = slipped(problem, label)
        results = found["results"]
        return None if results is None else results.get(name)

    return transform


# ---------------------------------------------------------------------------
# Practice (gradcalc random): groups whose σ is clean


def balanced(values: list[Any]) -> list[int]:
    """A group of drawn numbers made m ± 1 (m their mean rounded; the larger half gets +1):
    its mean is m and its biased variance 1, so with eps = 3, σ = 2."""
    middle = round(Fraction(sum(values)) / len(values))
    order = sorted(range(len(values)), key=lambda i: (values[i], i))
    made = [0] * len(values)
    for rank, i in enumerate(order):
        made[i] = middle + (1 if rank >= len(values) // 2 else -1)
    return made
