"""A loss spec: how it is read (``read(spec, limits) -> LossProblem``) and run
(``run(problem, options)``, ``finite_differences(problem, run)``) for core/solve.py, its
usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``); its practice profile
(``PRACTICE``, for ``gradcalc random``) is core/kinds/loss_practice.py.

Which optional keys each loss takes (PyTorch's constructor arguments), the class-index or
probability target, class weights, ignore_index and label smoothing are checked here; the
computation is core/ops/losses.py (LOSS_OPS, through the op adapter), what a run records
core/kinds/loss_trace.py (LossTrace; bce's exact differences and clamps) and the
explanation core/explain/loss.py.  The keys themselves are the registry's Field table for
kind loss (KEYS, LOSSES and REDUCTIONS are read from it).

The class losses (cross_entropy, nll) work on a batch of rows: input N×C (a spec's single
sample of C is a batch of one), one coefficient a[n, c] per sample and class, so that

  cross_entropy: ℓ_n = Σ_c a[n,c]·(−log p[n,c]),  ∂ℓ_n/∂s[n,c] = (Σ_k a[n,k])·p[n,c] − a[n,c];
  nll:           ℓ_n = Σ_c a[n,c]·(−x[n,c]),      ∂ℓ_n/∂x[n,c] = −a[n,c];

and L = Σ_n ℓ_n / D with D the reduction's denominator.  The coefficients carry every
PyTorch option (torch.nn.CrossEntropyLoss):

- class-index target y_n, weight w, label smoothing ε over C classes:
  a[n,c] = (1 − ε)·w[y_n]·1[c = y_n] + (ε/C)·w[c]; mean: D = Σ_n w[y_n];
- probability target t: a[n,c] = w[c]·((1 − ε)·t[n,c] + ε/C); mean: D = N;
- a sample whose target is ignore_index has a[n, ·] = 0 and is not counted in D.

mse, bce and bce_with_logits are elementwise over inputs of any shape; mean divides by the
number of entries (PyTorch's element-wise mean).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.checking import bend_within, check_gradients_where, near, softmax_bend
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.fields import (
    read_array,
    read_choice,
    read_int,
    read_scalar,
    shape_text,
)
from gradcalc.core.kinds.loss_trace import LossTrace, bce_clamped, exact_differences, traced
from gradcalc.core.ops import adapter
from gradcalc.core.ops.losses import LOSS_OPS, NoDenominator
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import record, replace
from gradcalc.core.words import (
    count_words,
    entries,
    plain,  # the sentence number formatter (its messages)
)

if TYPE_CHECKING:  # gradcalc check's variants: usual_mistakes imports them
    from gradcalc.core.kinds.mistakes import Variant as Mistake

KIND = "loss"
KEYS = registry.field_names(KIND)
LOSSES = registry.choices(KIND, "loss")
REDUCTIONS = registry.choices(KIND, "reduction")
# Which optional keys each loss takes (PyTorch's constructor arguments).
OPTIONS = {
    "cross_entropy": ("weight", "ignore_index", "label_smoothing"),
    "nll": ("weight", "ignore_index"),
    "mse": (),
    "bce": ("weight",),
    "bce_with_logits": ("weight",),
}
CLASS_LOSSES = ("cross_entropy", "nll")
# The input is written s for the losses that take logits.
NAME_DEFAULTS = {"input": "x", "target": "t", "probabilities": "p", "weight": "w", "loss": "L"}
DEFAULT_IGNORE_INDEX = -100
# A probability target's rows must sum to 1 within this.
DISTRIBUTION_SLACK = Fraction(1, 10**6)
SECTIONS = registry.sections(KIND)
# Every result a loss problem can have (probabilities only for cross_entropy and
# bce_with_logits).
RESULTS = ("loss", "probabilities", "grad_input")


# ---------------------------------------------------------------------------
# Reading


@record
class LossProblem:
    """A validated loss spec.

    ``input``/``values`` are object arrays of Fractions in the spec's shapes;
    ``indices`` (class-index targets) is an int array of N (or 0-D);
    ``weight`` is C (class losses) or broadcastable to the input (bce).
    """

    loss: str
    title: str | None
    input: np.ndarray
    target_kind: str  # "index", "distribution" or "values"
    indices: np.ndarray | None
    values: np.ndarray | None
    weight: np.ndarray | None
    ignore_index: int
    ignore_given: bool
    label_smoothing: Fraction
    reduction: str
    names: dict[str, str]
    index_base: int
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance
    # temporal (cs231n's temporal softmax loss): input N×T×V, indices N×T, step_mask N×T.
    temporal: bool = False
    step_mask: np.ndarray | None = None

    @property
    def single(self) -> bool:
        """One sample of C classes (no batch axis) for the class losses."""
        return self.input.ndim == 1

    def rows(self, values: np.ndarray) -> np.ndarray:
        """A class loss's N×C view of an input-shaped array."""
        return values.reshape(-1, self.input.shape[-1])


def _check_options(spec: Mapping[str, Any], loss: str) -> None:
    if "upstream" in spec:
        raise SpecError(
            ("upstream",),
            "a loss ends the chain (∂L/∂L = 1): kind loss takes no upstream; "
            "put the loss's own options here instead",
            at_key=True,
        )
    for key in ("weight", "ignore_index", "label_smoothing"):
        if key in spec and key not in OPTIONS[loss]:
            takers = [name for name, keys in OPTIONS.items() if key in keys]
            raise SpecError(
                (key,),
                f"{key} does not apply to {loss} (PyTorch takes it for {', '.join(takers)})",
                at_key=True,
            )


def _read_class_target(
    raw: Any, x: np.ndarray, loss: str, ignore_index: int, limits: common.Limits
) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    """(kind, indices, distribution) for cross_entropy or nll."""
    classes = x.shape[-1]
    target = read_array(raw, ("target",), ndims=(0, 1, 2), what="target", limits=limits)
    index_shape = x.shape[:-1]
    if target.ndim == x.ndim and loss == "cross_entropy":
        return "distribution", None, _check_distribution(target, x)
    if target.shape != index_shape:
        if x.ndim == 1:
            wanted = f"one class index (a whole number from 0 to {classes - 1})"
            if loss == "cross_entropy":
                wanted += (
                    f", or a probability for each of the {count_words(classes, 'class', 'classes')}"
                )
        else:
            indices = count_words(x.shape[0], "class index", "class indices")
            wanted = f"a list of {indices}, one per row of the input"
            if loss == "cross_entropy":
                wanted += f", or probabilities: a {x.shape[0]}×{classes} matrix"
        raise SpecError(
            ("target",),
            f"target is {shape_text(target.shape)} but the input is {shape_text(x.shape)}; "
            f"{loss} needs {wanted}",
        )
    indices = np.zeros(index_shape, dtype=np.int64)
    for position in np.ndindex(*index_shape):
        path = ("target", *position)
        value = target[position]
        if value.denominator != 1:
            raise SpecError(path, f"a class index must be a whole number, got {value}")
        index = int(value)
        if index != ignore_index and not 0 <= index < classes:
            raise SpecError(
                path,
                f"class index {index} is out of range: the input has C = {count_words(classes, 'class', 'classes')}, "
                f"so indices run from 0 to {classes - 1} (0-based, as in PyTorch; "
                f"ignore_index is {ignore_index})",
            )
        indices[position] = index
    return "index", indices, None


def _check_distribution(target: np.ndarray, x: np.ndarray) -> np.ndarray:
    if target.shape != x.shape:
        raise SpecError(
            ("target",),
            f"a probability target must have the input's shape {shape_text(x.shape)}, "
            f"got {shape_text(target.shape)}",
        )
    for position in np.ndindex(*target.shape):
        if not 0 <= target[position] <= 1:
            raise SpecError(
                ("target", *position),
                f"a probability must be in [0, 1], got {plain(target[position])}",
            )
    for row_index, row in enumerate(target.reshape(-1, target.shape[-1])):
        total = sum(row, Fraction(0))
        if abs(total - 1) > DISTRIBUTION_SLACK:
            path = ("target", row_index) if target.ndim == 2 else ("target",)
            which = f"row {row_index} of target" if target.ndim == 2 else "target"
            raise SpecError(
                path,
                f"{which} sums to {plain(total)}, not 1: a probability target must sum to 1 "
                f"over the classes (within {float(DISTRIBUTION_SLACK):g}); give class indices "
                "for hard labels",
            )
    return target


def _read_values_target(raw: Any, x: np.ndarray, loss: str, limits: common.Limits) -> np.ndarray:
    """The target of mse, bce or bce_with_logits: the input's shape; bce's input and
    targets in [0, 1]."""
    values = read_array(
        raw,
        ("target",),
        ndims=tuple(range(0, 7)),
        what="target",
        limits=limits,
    )
    if values.shape != x.shape:
        raise SpecError(
            ("target",),
            f"target is {shape_text(values.shape)} but the input is {shape_text(x.shape)}; "
            f"{loss} compares them entry by entry, so they must have the same shape",
        )
    if loss in ("bce", "bce_with_logits"):
        _check_unit_interval(values, "target", "a bce target")
    if loss == "bce":
        _check_unit_interval(
            x,
            "input",
            "bce takes probabilities (apply a sigmoid, or use bce_with_logits): an input",
        )
    return values


def _check_unit_interval(array: np.ndarray, name: str, hint: str) -> None:
    for position in np.ndindex(*array.shape):
        if not 0 <= array[position] <= 1:
            raise SpecError(
                (name, *position), f"{hint} must be in [0, 1], got {plain(array[position])}"
            )


def read(spec: Mapping[str, Any], limits: common.Limits) -> LossProblem:
    """Validate a loss spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, KIND, KEYS)
    loss = read_choice(spec, "loss", LOSSES)
    _check_options(spec, loss)
    raw_input = common.require(spec, "input", KIND, "logits, probabilities or predictions")
    raw_target = common.require(spec, "target", KIND, "class indices, probabilities or values")
    class_loss = loss in CLASS_LOSSES
    x, temporal, indices, step_mask = _read_input(spec, loss, raw_input, raw_target, limits)
    ignore_given = spec.get("ignore_index") is not None
    ignore_index = read_int(
        spec, "ignore_index", DEFAULT_IGNORE_INDEX, what="ignore_index (an integer)"
    )
    values = None
    if temporal:
        target_kind = "index"
    elif class_loss:
        target_kind, indices, values = _read_class_target(raw_target, x, loss, ignore_index, limits)
        if target_kind == "distribution" and ignore_given:
            raise SpecError(
                ("ignore_index",),
                "ignore_index applies to class-index targets only (PyTorch ignores it for "
                "probability targets); remove it or give class indices",
                at_key=True,
            )
    else:
        target_kind = "values"
        values = _read_values_target(raw_target, x, loss, limits)
    weight = _read_weight(spec, loss, x, limits)
    logits = loss in ("cross_entropy", "bce_with_logits")
    names = common.read_names(spec, {**NAME_DEFAULTS, **({"input": "s"} if logits else {})})
    known: dict[str, tuple[int, ...] | None] = {"loss": (), "grad_input": x.shape}
    if logits:
        known["probabilities"] = x.shape
    return LossProblem(
        loss=loss,
        title=common.read_title(spec),
        input=x,
        target_kind=target_kind,
        indices=indices,
        values=values,
        weight=weight,
        ignore_index=ignore_index,
        ignore_given=ignore_given,
        label_smoothing=read_scalar(
            spec, "label_smoothing", Fraction(0), low=Fraction(0), high=Fraction(1)
        ),
        reduction=read_choice(spec, "reduction", REDUCTIONS, default="mean"),
        names=names,
        index_base=common.read_index_base(spec),
        expected=common.read_expected(spec, known, limits),
        tolerance=common.read_tolerance(spec),
        temporal=temporal,
        step_mask=step_mask,
    )


def _read_input(
    spec: Mapping[str, Any], loss: str, raw_input: Any, raw_target: Any, limits: common.Limits
) -> tuple[np.ndarray, bool, np.ndarray | None, np.ndarray | None]:
    """(input, temporal, indices, step mask): a temporal loss's scores N×T×V with its class
    indices and mask N×T (one step of V alone is cross_entropy on one sample: not temporal),
    or any other loss's input, its target read later (indices and mask None)."""
    given = spec.get("temporal")
    if given is not None and given is not False:  # its readers are imported for it alone
        from gradcalc.core.kinds import loss_temporal

        if loss_temporal.read_temporal(spec, loss):
            x = loss_temporal.read_temporal_input(spec, raw_input, limits)
            if x.ndim == 3:
                return x, True, *loss_temporal.read_temporal_parts(spec, x, raw_target, limits)
            loss_temporal.refuse_step_probabilities(raw_target, x.shape[0])
            return x, False, None, None
    x = read_array(
        raw_input,
        ("input",),
        ndims=(1, 2) if loss in CLASS_LOSSES else tuple(range(0, 7)),
        what="input",
        limits=limits,
    )
    return x, False, None, None


def _read_weight(
    spec: Mapping[str, Any], loss: str, x: np.ndarray, limits: common.Limits
) -> np.ndarray | None:
    if spec.get("weight") is None:
        return None
    if loss in CLASS_LOSSES:
        weight = read_array(spec["weight"], ("weight",), ndims=(1,), what="weight", limits=limits)
        if weight.shape[0] != x.shape[-1]:
            raise SpecError(
                ("weight",),
                f"weight has {entries(weight.shape[0])} but the input has C = {x.shape[-1]} classes; "
                "give one weight per class",
            )
    else:
        weight = read_array(
            spec["weight"],
            ("weight",),
            ndims=tuple(range(0, x.ndim + 1)),
            what="weight",
            limits=limits,
        )
        try:
            fits = np.broadcast_shapes(weight.shape, x.shape) == x.shape
        except ValueError:
            fits = False
        if not fits:
            raise SpecError(
                ("weight",),
                f"weight is {shape_text(weight.shape)}, which does not broadcast to the input's "
                f"{shape_text(x.shape)}; give one number, or an array that broadcasts (as in PyTorch)",
            )
    for position in np.ndindex(*weight.shape):
        if weight[position] < 0:
            raise SpecError(
                ("weight", *position), f"a weight must be 0 or more, got {plain(weight[position])}"
            )
    return weight


# ---------------------------------------------------------------------------
# Running


def op_inputs(problem: LossProblem) -> tuple[np.ndarray, dict[str, Any]]:
    """The loss op's input (rows of classes for the class losses) and its parameters."""
    if problem.loss in CLASS_LOSSES:
        params: dict[str, Any] = {
            "weight": problem.weight,
            "label_smoothing": problem.label_smoothing,
            "reduction": problem.reduction,
        }
        if problem.target_kind == "distribution":
            params["target"] = problem.rows(problem.values)
        else:
            params["labels"] = problem.indices.reshape(-1)
            params["ignore_index"] = problem.ignore_index
        if problem.temporal:  # cs231n: masked steps do not count; the mean divides by N
            params["step_mask"] = problem.step_mask.reshape(-1)
            params["sequences"] = problem.input.shape[0]
        return problem.rows(problem.input), params
    params = {
        "target": problem.values,
        "weight": problem.weight,
        "reduction": problem.reduction,
        **exact_differences(problem),
    }
    return problem.input, params


def compute(problem: LossProblem, *, exact: bool) -> LossTrace:
    """The loss and ∂L/∂input, exactly (nll, mse) or in float64 (the adapter decides how)."""
    x, params = op_inputs(problem)
    try:
        loss, trace = adapter.forward(
            LOSS_OPS[problem.loss], x, params, exact=exact, float64=adapter.each_rounded
        )
    except NoDenominator as error:
        what = (
            "every sample's target is ignore_index"
            if not error.counted.any()
            else "the weights of the counted samples sum to 0"
        )
        raise SpecError(
            ("target",),
            f"{what}, so PyTorch's mean divides by 0 (nan); use reduction: sum, or change the targets/weights",
        ) from None
    grad_input = adapter.backward(1, trace)["input"].reshape(problem.input.shape)
    return traced(loss, grad_input, trace.exact, trace.cache)


def run(problem: LossProblem, options: common.SolveOptions) -> Run:
    """The loss, the probabilities (cross_entropy, bce_with_logits) and ∂L/∂input."""
    # nll and mse run exactly; the adapter runs the losses that take log or exp in float64.
    computed = compute(
        problem,
        exact=not options.force_float and problem.input.size <= options.limits.exact_work,
    )
    exact = computed.exact
    results: dict[str, Any] = {"loss": np.array(computed.loss, dtype=object if exact else float)}
    if computed.probabilities is not None:
        results["probabilities"] = computed.probabilities.reshape(problem.input.shape)
    results["grad_input"] = computed.grad_input
    edges = np.zeros(problem.input.shape, dtype=bool)
    clamped = np.zeros(problem.input.shape, dtype=bool)
    if problem.loss == "bce":
        edges = near(problem.input.astype(float), (0.0, 1.0))
        clamped = bce_clamped(problem.input)
    computed.edges, computed.clamped = edges, clamped
    return Run(results=results, trace=computed, exact=exact)


def finite_differences(problem: LossProblem, run: Run) -> GradientCheck | None:
    """∂L/∂input against float64 central differences of L, skipping bce's domain edges."""
    edges = run.trace.edges
    float_problem = as_floats(problem)
    baseline = compute(float_problem, exact=False)
    return check_gradients_where(
        lambda p: float_loss_change(float_problem, baseline, p["input"]),
        {"input": problem.input.astype(float)},
        {"input": run.results["grad_input"]},
        {"input": ~edges},
        skipped_because=(
            "at 0 or 1, the edges of bce's domain (PyTorch clamps there)"
            if set(problem.input.astype(float)[edges].tolist()) <= {0.0, 1.0}
            else "within 2h of 0 or 1, the edges of bce's domain"
        ),
        # The loss sums the probed item's change alone: it rounds like that item's terms.
        scale={"input": rounding_scale(float_problem, baseline)},
        **gradient_bend(float_problem),
    )


def float_loss_change(problem: LossProblem, baseline: LossTrace, values: np.ndarray) -> float:
    """L(values) − L(input) in float64, for finite differences.

    Summed as the change of each sample's (or entry's) loss, so that rounding in a
    sum over every unchanged term cannot swamp the difference quotient.
    """
    moved = compute(replace(problem, input=values), exact=False)
    return float(np.sum(moved.per_item - baseline.per_item) / baseline.denominator)


def gradient_bend(problem: LossProblem) -> dict[str, Any]:
    """Where the loss bends faster than over |x|, for the finite-difference step: softmax
    (cross_entropy) and σ (bce_with_logits) over a distance of 1, at any magnitude."""
    x = problem.input.astype(float)
    if problem.loss == "cross_entropy":
        bend = softmax_bend(problem.rows(x)).reshape(x.shape)
    elif problem.loss == "bce_with_logits":
        bend = bend_within(x)
    else:
        return {}
    return {"bend": {"input": bend}, "bend_text": "1"}


def rounding_scale(problem: LossProblem, baseline: LossTrace) -> np.ndarray:
    """For each input entry, the size of the terms its item's loss sums (in the input's shape).

    float_loss_change rounds by about ε times this when that entry moves: a loss near 0 can
    still be a difference of large terms (bce_with_logits at x = t·x = 1e50).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        per_item = np.abs(np.asarray(baseline.per_item, dtype=float))
        x = np.abs(problem.input.astype(float))
        if problem.loss in CLASS_LOSSES:
            weight = np.abs(np.asarray(baseline.coefficients, dtype=float)).sum(axis=1)
            rows = per_item + weight * problem.rows(x).max(axis=1)
            terms = np.broadcast_to(rows[:, None], problem.rows(x).shape).reshape(x.shape)
        else:
            weight = 1.0 if problem.weight is None else np.abs(problem.weight.astype(float))
            t = np.abs(problem.values.astype(float))
            terms = per_item + weight * x * (1 + t)
        return terms / abs(float(baseline.denominator))


def as_floats(problem: LossProblem) -> LossProblem:
    """The problem with its arrays converted to float64 once (finite differences re-run it)."""
    convert = {
        name: getattr(problem, name).astype(float)
        for name in ("input", "values", "weight")
        if getattr(problem, name) is not None
    }
    return replace(problem, **convert)


# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The mistakes worth trying for this problem, most telling first
    (core/kinds/loss_mistakes.py, imported here: solving a loss needs none of it)."""
    from gradcalc.core.kinds.loss_mistakes import loss_mistakes

    return loss_mistakes(spec, read)
