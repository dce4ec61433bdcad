"""How a loss spec is read into a LossProblem (``read(spec, limits)``), its usual mistakes
(``usual_mistakes(spec)``, for ``gradcalc check``) and its practice profile (``PRACTICE``).

Which optional keys each loss takes (PyTorch's constructor arguments), the class-index or
probability target, class weights, ignore_index and label smoothing are checked here; the
computation and its explanation are core/losses.py.  The keys themselves are the
registry's Field table for kind loss (KEYS, LOSSES and REDUCTIONS are read from it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.fields import (
    read_array,
    read_choice,
    read_int,
    read_scalar,
    shape_text,
)
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.profile import BATCH, CLASSES, Draw, Knob, Profile, Variant
from gradcalc.core.opkit import plain  # the sentence number formatter (its messages)

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


@dataclass(eq=False)
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
                wanted += f", or a probability for each of the {classes} classes"
        else:
            wanted = f"a list of {x.shape[0]} class indices, one per row of the input"
            if loss == "cross_entropy":
                wanted += f", or an {x.shape[0]}×{classes} matrix of probabilities"
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
                f"class index {index} is out of range: the input has C = {classes} classes, "
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
    x = read_array(
        raw_input,
        ("input",),
        ndims=(1, 2) if class_loss else tuple(range(0, 7)),
        what="input",
        limits=limits,
    )
    ignore_given = spec.get("ignore_index") is not None
    ignore_index = read_int(
        spec, "ignore_index", DEFAULT_IGNORE_INDEX, what="ignore_index (an integer)"
    )
    indices = values = None
    if class_loss:
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
        values = read_array(
            raw_target,
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
    )


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
                f"weight has {weight.shape[0]} entries but the input has C = {x.shape[-1]} classes; "
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
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The mistakes worth trying for this problem, most telling first."""
    variants = []
    reduction = spec.get("reduction", "mean")
    if reduction in ("mean", "sum"):
        other = "sum" if reduction == "mean" else "mean"
        variants.append(
            Mistake(
                f"reduction: {other}",
                f"{{name}} matches the result with reduction: {other}; this problem uses "
                f"reduction: {reduction}",
                (("reduction", other),),
                results=("loss", "grad_input"),
                reveals=("loss", "grad_input"),  # the key times or over the batch size
            )
        )
    if spec.get("loss") == "cross_entropy":
        variants.append(
            Mistake(
                "sign flipped",
                "{name} has its sign flipped: 1[i = gt] − p_i (1 − p at the true class) "
                "instead of p_i − 1[i = gt]",
                transform=lambda array, _name: -array,
                results=("grad_input",),
                reveals=("grad_input",),
            )
        )
    return variants


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

LOSS = Knob(
    "loss",
    "choice",
    "cross_entropy, nll, mse, bce or bce_with_logits (default: mse or nll, by the seed)",
    field="loss",
    choices=("cross_entropy", "nll", "mse", "bce", "bce_with_logits"),
    menu=("mse", "nll"),
    label="{}",
)
REDUCTION = Knob(
    "reduction",
    "choice",
    "mean or sum",
    default="mean",
    field="reduction",
    choices=("mean", "sum"),
    label="{}",
)
LOSS_VALUES = Knob(
    "size", "shape", "input shape: N, AxB or AxBxC", default=(2, 2), maximum=4, label="{} input"
)
BINARY = Draw(0, 1)

PRACTICE = Profile(
    {
        # A row of equal scores has p = 1/C: a gradient (p − 1[i = t])/N.
        "cross_entropy": Variant(
            (CLASSES, BATCH, REDUCTION),
            {"input": ("batch?", "classes"), "target": ("batch?",)},
            {"input": Draw(-2, 2), "target": Draw(0, "classes")},
            decimals=True,
            denominator_from=("classes", "batch"),
        ),
        "nll": Variant(
            (CLASSES, BATCH, REDUCTION),
            {"input": ("batch?", "classes"), "target": ("batch?",)},
            {"input": Draw(-4, 0), "target": Draw(0, "classes")},
            denominator_from=("batch",),
        ),
        "mse": Variant(
            (LOSS_VALUES, REDUCTION),
            {"input": ("size",), "target": ("size",)},
            denominator_from=("size",),
        ),
        # The loss is a log; its gradient (x − t)/(x(1 − x))/N is rational: with x in
        # {1/4, 1/2, 3/4} it is ±2, 4/3 or 4 over N, so 3N is its natural denominator.
        "bce": Variant(
            (LOSS_VALUES, REDUCTION),
            {"input": ("size",), "target": ("size",)},
            {"input": Draw(1, 3, denominator=4), "target": BINARY},
            decimals=True,
            denominator_from=("size", 3),
        ),
        # (σ(x) − t)/N is rational where x = 0: ±1/(2N).
        "bce_with_logits": Variant(
            (LOSS_VALUES, REDUCTION),
            {"input": ("size",), "target": ("size",)},
            {"input": Draw(-2, 2), "target": BINARY},
            decimals=True,
            denominator_from=("size", 2),
        ),
    },
    by=LOSS,
)
