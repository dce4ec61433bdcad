"""The conventions of a temporal loss's explanation (core/explain/loss.py): cs231n's
temporal_softmax_loss over scores N×T×V, class indices N×T and a 0/1 mask N×T; the loss is
summed over the counted steps and its mean divided by N (the sequences), which is not what
PyTorch's F.cross_entropy gives on the same scores reshaped to (N·T)×V."""

from __future__ import annotations

from typing import Any

from gradcalc.core.words import count_words


def temporal_conventions(problem: Any) -> list[str]:
    """What the rows are, the target and the mask."""
    sequences, steps, classes = problem.input.shape
    counted = int(problem.step_mask.sum())
    total = sequences * steps
    base = problem.index_base
    return [
        f"temporal (cs231n's temporal_softmax_loss): N = {sequences} sequences of T = {steps} "
        f"steps over V = {classes} classes; each step (n, t) is a softmax cross-entropy row, "
        "ℓ_nt = −log p_nt[gt], and every symbol is indexed (n, t, class)",
        "target: one class index per step (N×T), 0-based as in PyTorch"
        + (" (index_base 1 only changes how indices are printed)" if base else ""),
        f"mask: 1 counts a step, 0 leaves it out (ℓ = 0, gradient 0); {counted} of the "
        f"{count_words(total, 'step')} counted",
    ]


def temporal_reduction_words(problem: Any, counted: int) -> str:
    """The reduction, and how it differs from PyTorch's on the reshaped scores."""
    sequences = problem.input.shape[0]
    if problem.reduction == "sum":
        return (
            "reduction sum: L = Σ_n Σ_t mask_nt·ℓ_nt (the same as PyTorch's F.cross_entropy "
            "with reduction sum on the scores reshaped to (N·T)×V, masked steps' targets set to "
            "ignore_index)"
        )
    ratio = f"{sequences}/{counted}" if counted else "undefined (no step counted)"
    return (
        f"reduction mean, as cs231n: L = Σ_n Σ_t mask_nt·ℓ_nt / N with N = {sequences} "
        f"sequences (not the {counted} counted steps): PyTorch's F.cross_entropy on the scores "
        "reshaped to (N·T)×V, masked steps' targets set to ignore_index, divides by the counted "
        f"steps instead and gives this L times N/(counted steps) = {ratio}"
        if counted != sequences
        else f"reduction mean, as cs231n: L = Σ_n Σ_t mask_nt·ℓ_nt / N with N = {sequences} "
        "sequences (here also the number of counted steps, which PyTorch's F.cross_entropy on "
        f"the reshaped (N·T)×V scores divides by: the two agree)"
    )
