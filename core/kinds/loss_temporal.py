"""The ``temporal`` option of kind loss (core/kinds/loss.py): cs231n's temporal_softmax_loss.

Scores ``input`` N×T×V (N sequences of T steps over a vocabulary of V), class-index
``target`` N×T, and ``temporal: true`` or, in its place, the N×T mask of 0/1 (1: the step
counts).
Each step is a softmax cross-entropy row; the loss is summed over the counted steps and,
with reduction mean, divided by N, the number of sequences, as cs231n does:

  L = (1/N)·Σ_n Σ_t mask[n,t]·(−log p[n,t,y[n,t]]),  ∂L/∂s[n,t,v] = mask[n,t]·(p − 1[v = y])/N.

(PyTorch's F.cross_entropy on the reshaped (N·T)×V scores with the masked steps'
targets set to ignore_index would divide by the number of counted steps instead: cs231n's
L is that times (counted steps)/N.)  Class weights, label smoothing, ignore_index and
probability targets are cs231n's loss's business no more than PyTorch's temporal view:
refused with temporal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.fields import read_array, shape_text
from gradcalc.core.values import describe
from gradcalc.core.words import plain

# The keys a temporal loss refuses (what it takes instead is said in each refusal).
NOT_TEMPORAL = ("weight", "label_smoothing", "ignore_index")
# The losses that may be temporal.
TEMPORAL_LOSSES = ("cross_entropy",)


def read_temporal(spec: Mapping[str, Any], loss: str) -> bool:
    """Whether the spec asks for a temporal loss: ``temporal`` true or a mask (false or left
    out: no); it needs cross_entropy and none of NOT_TEMPORAL."""
    raw = spec.get("temporal")
    if raw is None or raw is False:
        return False
    if not isinstance(raw, (bool, list)):
        raise SpecError(
            ("temporal",),
            "temporal is true, false, or the N×T mask of 0/1 (1: the step counts), got "
            f"{describe(raw)}",
        )
    if loss not in TEMPORAL_LOSSES:
        raise SpecError(
            ("temporal",),
            f"temporal applies to {', '.join(TEMPORAL_LOSSES)} (cs231n's temporal softmax "
            f"loss), not {loss}",
        )
    for key in NOT_TEMPORAL:
        if spec.get(key) is not None:
            raise SpecError(
                (key,),
                f"{key} does not apply to a temporal loss (cs231n's temporal_softmax_loss has "
                "class-index targets and a mask over the steps only); use temporal's mask to "
                "leave steps out",
                at_key=True,
            )
    return True


def read_temporal_input(
    spec: Mapping[str, Any], raw_input: Any, limits: common.Limits
) -> np.ndarray:
    """The scores: N×T×V, or V alone (one sequence of one step, which is plain cross_entropy
    on one sample: the same numbers, so the kind runs it as that; a mask is refused there)."""
    x = read_array(raw_input, ("input",), ndims=(1, 3), what="input", limits=limits)
    if x.ndim == 1 and isinstance(spec.get("temporal"), list):
        raise SpecError(
            ("temporal",),
            "a mask over the steps needs scores N×T×V; the input is a single step of V",
        )
    return x


def refuse_step_probabilities(raw_target: Any, vocabulary: int) -> None:
    """A single step of V scores with ``temporal`` takes one class index: a list there would
    be read as probabilities, which a temporal loss refuses (cs231n's targets are indices)."""
    if isinstance(raw_target, list):
        raise SpecError(
            ("target",),
            "a temporal loss takes class indices, not probabilities: a single step of V = "
            f"{vocabulary} scores takes one class index from 0 to {vocabulary - 1}, got a list",
        )


def read_temporal_parts(
    spec: Mapping[str, Any], x: np.ndarray, raw_target: Any, limits: common.Limits
) -> tuple[np.ndarray, np.ndarray]:
    """(class indices N×T int64, step mask N×T bools) for scores x N×T×V, each checked where
    it is written."""
    steps = x.shape[:2]
    vocabulary = x.shape[2]
    target = read_array(raw_target, ("target",), ndims=(2,), what="target", limits=limits)
    if target.shape != steps:
        raise SpecError(
            ("target",),
            f"target is {shape_text(target.shape)} but the input is {shape_text(x.shape)} "
            f"(N×T×V): a temporal loss needs one class index per step, N×T = {shape_text(steps)}",
        )
    indices = np.zeros(steps, dtype=np.int64)
    for position in np.ndindex(*steps):
        value = target[position]
        if value.denominator != 1 or not 0 <= value < vocabulary:
            raise SpecError(
                ("target", *position),
                f"a class index is a whole number from 0 to {vocabulary - 1} (V = "
                f"{vocabulary}), got {plain(value)}",
            )
        indices[position] = int(value)
    return indices, _read_mask(spec, steps, limits)


def _read_mask(
    spec: Mapping[str, Any], steps: tuple[int, int], limits: common.Limits
) -> np.ndarray:
    """The N×T 0/1 mask temporal holds (true/false too); all ones for temporal: true."""
    raw = spec.get("temporal")
    if not isinstance(raw, list):
        return np.ones(steps, dtype=bool)
    mask = read_array(
        _numbers(raw), ("temporal",), ndims=(2,), what="temporal's mask", limits=limits
    )
    if mask.shape != steps:
        raise SpecError(
            ("temporal",),
            f"temporal's mask is {shape_text(mask.shape)} but the input has N×T = "
            f"{shape_text(steps)} steps",
        )
    for position in np.ndindex(*steps):
        if mask[position] not in (0, 1):
            raise SpecError(
                ("temporal", *position),
                f"a mask entry is 0 or 1 (1: the step counts), got {plain(mask[position])}",
            )
    return mask.astype(int).astype(bool)


def _numbers(value: Any) -> Any:
    """true/false as 1/0, the rest as written."""
    if isinstance(value, list):
        return [_numbers(item) for item in value]
    return int(value) if isinstance(value, bool) else value
