"""A loss's usual mistakes (``gradcalc check`` diagnoses them; core/kinds/loss.py's
``usual_mistakes`` hands them over): the other reduction, the loss's or the gradient's sign
flipped, and for softmax cross-entropy p given instead of p − y and the softmax forgotten
(the scores used as probabilities).

The cross-entropy slips are built for the plain case only (no class weights, no label
smoothing): the gradient is then (p − y)·m_n/D per row, with m_n 0 for an ignored sample
and D the reduction's denominator (the samples counted for mean, 1 for sum), so the mistaken
answers are p·m_n/D and (s − y)·m_n/D.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.mistakes import Variant, negated


def loss_mistakes(spec: Mapping[str, Any], read: Callable[..., Any]) -> list[Variant]:
    """The mistakes worth trying for this problem, most telling first; ``read`` is
    core/kinds/loss.py's reader (``read(spec, limits)``)."""
    variants = []
    reduction = spec.get("reduction", "mean")
    if reduction in ("mean", "sum"):
        other = "sum" if reduction == "mean" else "mean"
        variants.append(
            Variant(
                f"reduction: {other}",
                f"{{name}} matches the result with reduction: {other}; this problem uses "
                f"reduction: {reduction}",
                (("reduction", other),),
                results=("loss", "grad_input"),
                reveals=("loss", "grad_input"),  # the key times or over the batch size
                slip=f"reduction: {other} was used",
            )
        )
    cross_entropy = spec.get("loss") == "cross_entropy"
    if cross_entropy:
        variants.append(
            Variant(
                "sign flipped",
                "{name} has its sign flipped: 1[i = gt] − p_i (1 − p at the true class) "
                "instead of p_i − 1[i = gt]",
                transform=lambda array, _name: -array,
                results=("grad_input",),
                reveals=("grad_input",),
                slip="the gradient's sign was flipped (1[i = gt] − p_i)",
            )
        )
        variants += _cross_entropy_slips(spec, read)
    variants.append(
        Variant(
            "loss sign flipped",
            "{name} is −L: the loss's sign was flipped",
            transform=lambda array, _name: -array,
            results=("loss",),
            reveals=("loss",),  # the key is the answer negated
            slip="the loss's sign was flipped",
        )
    )
    if not cross_entropy:  # cross-entropy's own sign slip above names these
        variants.append(
            Variant(
                "loss sign flipped, gradient",
                "{name} is the gradient of −L: the loss's sign was flipped",
                transform=lambda array, _name: -array,
                results=("grad_input",),
                reveals=("grad_input",),
                slip="the loss's sign was flipped",
            )
        )
        variants.append(negated(("grad_input",)))
    return variants


def _cross_entropy_slips(spec: Mapping[str, Any], read: Callable[..., Any]) -> list[Variant]:
    """p given instead of p − y, and the softmax forgotten (s − y), for a cross-entropy
    problem without class weights or label smoothing; none for another."""
    try:
        problem = read(spec, common.Limits())
    except SpecError:  # the problem's own error, reported when it is solved
        return []
    if problem.weight is not None or problem.label_smoothing != 0:
        return []
    scores = problem.rows(problem.input)  # N×C, Fractions
    if problem.target_kind == "distribution":
        target = problem.rows(problem.values)
        counted = np.ones(scores.shape[0], dtype=bool)
    else:
        labels = problem.indices.reshape(-1)
        counted = labels != problem.ignore_index
        if problem.temporal:  # cs231n: masked steps do not count
            counted = counted & problem.step_mask.reshape(-1)
        target = np.zeros(scores.shape, dtype=object)
        target[...] = Fraction(0)
        for row, label in enumerate(labels):
            if counted[row]:
                target[row, label] = Fraction(1)
    denominator = int(counted.sum()) if problem.reduction == "mean" else 1
    if problem.temporal and problem.reduction == "mean":
        denominator = problem.input.shape[0]  # cs231n's mean: over the N sequences
    if denominator == 0:
        return []
    scale = np.array([Fraction(int(c), denominator) for c in counted], dtype=object)[:, None]
    floats = scores.astype(float)
    exp = np.exp(floats - floats.max(axis=1, keepdims=True))
    probabilities = exp / exp.sum(axis=1, keepdims=True)
    shape = problem.input.shape
    given_p = (probabilities * scale.astype(float)).reshape(shape)
    without_softmax = ((scores - target) * scale).reshape(shape)

    def answer(value: np.ndarray) -> Callable[[np.ndarray, str], np.ndarray | None]:
        return lambda array, _name: value if array.shape == value.shape else None

    return _temporal_mean_slip(problem, int(counted.sum())) + [
        Variant(
            "p instead of p − y",
            "{name} matches p = softmax(s) without the target subtracted: the gradient of "
            "cross-entropy is p − y (y the target's one-hot row or distribution), not p",
            transform=answer(given_p),
            results=("grad_input",),
            reveals=("grad_input",),  # the key is the answer less y (over D)
            slip="p was given instead of p − y",
        ),
        Variant(
            "softmax forgotten",
            "{name} matches s − y, the scores used as probabilities: the softmax was "
            "forgotten (the gradient is softmax(s) − y)",
            transform=answer(without_softmax),
            results=("grad_input",),
            # s − y says nothing of p = softmax(s), the work the answer left out.
            slip="the softmax was forgotten (s − y instead of p − y)",
        ),
    ]


def _temporal_mean_slip(problem: Any, counted: int) -> list[Variant]:
    """A temporal loss's mean taken over the counted steps (PyTorch's F.cross_entropy on the
    reshaped rows) instead of over the N sequences (cs231n's): the answer times N/counted."""
    sequences = problem.input.shape[0]
    if not problem.temporal or problem.reduction != "mean" or counted in (0, sequences):
        return []
    factor = Fraction(sequences, counted)
    return [
        Variant(
            "temporal mean over the steps",
            "{name} matches the mean over the "
            f"{counted} counted steps (PyTorch's cross_entropy on the reshaped (N·T)×V rows); "
            f"cs231n's temporal softmax loss divides the sum by N = {sequences}, the sequences",
            transform=lambda array, _name: np.asarray(array, dtype=object) * factor,
            results=("loss", "grad_input"),
            reveals=("loss", "grad_input"),  # the key is the answer times counted/N
            slip="the mean was taken over the counted steps, not the N sequences",
        )
    ]
