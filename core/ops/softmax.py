"""Softmax and log-softmax over the last axis (PyTorch semantics), float64 (they use exp).

Shapes: scores ``s`` …×C (a vector C or a batch N×C), probabilities ``p`` and
log-probabilities ``log p`` the same; ∂L/∂s from ∂L/∂y where y is p (softmax) or
log p (log_softmax).

Where a row's largest probability is within 2^-20 of 1 (the others' exp(s_j − m) sum to
r < 2^-20, a gap of about 14 between the top score and the rest), the differences from 1
that softmax's formulas take would cancel in float64: log Z = log(1 + r) rounds to 0 at
s = [40, 0] (true 4.25e-18), and 1 − p_max to 0.  There they are taken without the 1:
log Z as log1p(r) and 1 − p_max as r/Z (see :func:`softmax_parts`); elsewhere as written
(PyTorch's arithmetic, off by less than 2^-33 relative).
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.ops import Cache, Exactness, Op, Params

# A difference of rounded floats below CANCELLED (2^-20, about 1e-6) of its operands is taken
# in a form without the cancellation (core/ops/elementwise.py says why that threshold).
from gradcalc.core.ops.elementwise import CANCELLED
from gradcalc.core.records import record


@record(frozen=True)
class SoftmaxParts:
    """One softmax pass over the last axis, every array …×C unless noted.

    ``shifted`` s − m, ``exps`` exp(s − m), ``totals`` Z and ``log_totals`` log Z (…×1), ``top`` the index of each
    row's first maximum (…), ``rest`` r = Σ_{j≠top} exp(s_j − m) summed without the top's 1
    (…×1), ``log1p_rows`` where log Z was taken as log1p(r) (…×1 bools), ``p``, ``log_p``,
    ``one_minus_p`` 1 − p (r/Z at the top where 1 − p cancels) and ``complement_taken``
    where it was (…×C bools).
    """

    shifted: np.ndarray
    exps: np.ndarray
    totals: np.ndarray
    log_totals: np.ndarray
    top: np.ndarray
    rest: np.ndarray
    log1p_rows: np.ndarray
    p: np.ndarray
    log_p: np.ndarray
    one_minus_p: np.ndarray
    complement_taken: np.ndarray


def softmax_parts(scores: np.ndarray) -> SoftmaxParts:
    """scores: …×C floats -> its :class:`SoftmaxParts`, by log-sum-exp (no overflow).

    Normalized after shifting by the row maximum, not as exp(s − lse): at s = 1e10 the
    rounding of lse = 1e10 + log 2 (an ulp of 2e-6) would put p off by 5e-7 and Σ p off 1.
    """
    maxima = np.max(scores, axis=-1, keepdims=True)
    shifted = scores - maxima
    exps = np.exp(shifted)
    totals = np.sum(exps, axis=-1, keepdims=True)
    top = np.argmax(scores, axis=-1)
    is_top = np.arange(scores.shape[-1]) == top[..., None]
    rest = np.sum(np.where(is_top, 0.0, exps), axis=-1, keepdims=True)
    plain_log, stable_log = np.log(totals), np.log1p(rest)
    log1p_rows = (rest < CANCELLED) & (stable_log != plain_log)
    log_totals = np.where(log1p_rows, stable_log, plain_log)
    p = exps / totals
    plain_rest = 1 - p
    stable_rest = np.where(is_top, rest / totals, plain_rest)
    complement_taken = (np.abs(stable_rest) < CANCELLED) & (stable_rest != plain_rest)
    return SoftmaxParts(
        shifted=shifted,
        exps=exps,
        totals=totals,
        log_totals=log_totals,
        top=top,
        rest=rest,
        log1p_rows=log1p_rows,
        p=p,
        log_p=shifted - log_totals,
        one_minus_p=np.where(complement_taken, stable_rest, plain_rest),
        complement_taken=complement_taken,
    )


def softmax_forward(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scores: …×C -> (p, log p) over the last axis (see :func:`softmax_parts`)."""
    parts = softmax_parts(scores)
    return parts.p, parts.log_p


def others_sums(values: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Σ_{i≠k} values[n, i] for each (n, k) in zip(rows, columns) (values N×C; F pairs -> F),
    summed without entry k: the total minus values[n, k] would cancel where that entry holds
    most of it."""
    picked = values[rows]
    return np.sum(np.where(np.arange(values.shape[-1]) == columns[:, None], 0.0, picked), axis=-1)


def others_sum(values: np.ndarray, n: int, k: int) -> float:
    """Σ_{i≠k} values[n, i] (see :func:`others_sums`)."""
    return float(others_sums(values, np.array([n]), np.array([k]))[0])


def softmax_backward(upstream: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """∂L/∂s = p ⊙ (g − Σ_i g_i·p_i) for g = ∂L/∂p (N×C), and where g_k − Σ_i g_i·p_i was
    taken as Σ_{i≠k} (g_k − g_i)·p_i (N×C bools): where it cancels (below 2^-20 of its
    terms; p_k near 1 and the other p_i tiny), the same value, since Σ_i p_i = 1, from
    differences of the upstream as given (the i = k term is 0)."""
    inner = upstream - np.sum(upstream * p, axis=-1, keepdims=True)
    size = np.maximum(np.abs(upstream), np.sum(np.abs(upstream * p), axis=-1, keepdims=True))
    rows, columns = np.nonzero(np.abs(inner) < size * CANCELLED)
    differences = upstream[rows, columns][:, None] - upstream[rows]
    values = np.sum(differences * p[rows], axis=-1)
    stable = np.zeros(inner.shape, dtype=bool)
    stable[rows, columns] = values != inner[rows, columns]
    inner[rows, columns] = values
    return p * inner, stable


def log_softmax_backward(
    upstream: np.ndarray, p: np.ndarray, one_minus_p: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """∂L/∂s = g − p·Σ_i g_i for g = ∂L/∂(log p) (N×C), and where it was taken as
    g_k·(1 − p_k) − p_k·Σ_{i≠k} g_i (N×C bools): where g − p·Σ g cancels (below 2^-20 of
    its terms: p_k near 1 and the other g_i small), the same value without the cancelling
    g_k − p_k·g_k."""
    grad = upstream - p * np.sum(upstream, axis=-1, keepdims=True)
    size = np.maximum(np.abs(upstream), np.abs(p * np.sum(upstream, axis=-1, keepdims=True)))
    rows, columns = np.nonzero(np.abs(grad) < size * CANCELLED)
    values = upstream[rows, columns] * one_minus_p[rows, columns] - p[rows, columns] * others_sums(
        upstream, rows, columns
    )
    stable = np.zeros(grad.shape, dtype=bool)
    stable[rows, columns] = values != grad[rows, columns]
    grad[rows, columns] = values
    return grad, stable


def softmax_jacobians(p: np.ndarray, one_minus_p: np.ndarray, log: bool) -> np.ndarray:
    """N×C probabilities and 1 − p (as :func:`softmax_parts` takes it) -> N×C×C per-sample
    Jacobians.

    softmax: ∂p_i/∂s_j = p_i·(δ_ij − p_j) = (diag(p) − p·pᵀ)_ij, the diagonal p_i·(1 − p_i);
    log_softmax: ∂log p_i/∂s_j = δ_ij − p_j, the diagonal 1 − p_i.
    """
    eye = np.eye(p.shape[-1], dtype=bool)
    off = -p[:, None, :] * (1.0 if log else p[:, :, None])
    diagonal = one_minus_p if log else p * one_minus_p
    return np.where(eye[None, :, :], diagonal[:, :, None], off)


def forward(scores: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """scores: N×C, params ``log`` (bool: log_softmax) -> y = p or log p (N×C); the cache
    holds the scores (``input``), ``p``, ``log_p``, ``one_minus_p``, ``log1p_rows``,
    ``complement_taken`` (see :class:`SoftmaxParts`) and ``log``."""
    parts = softmax_parts(scores)
    cache = {
        "input": scores,
        "p": parts.p,
        "log_p": parts.log_p,
        "one_minus_p": parts.one_minus_p,
        "log1p_rows": parts.log1p_rows,
        "complement_taken": parts.complement_taken,
        "log": params["log"],
    }
    return (parts.log_p if params["log"] else parts.p), cache


def backward_forms(grad_y: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray]:
    """grad_y: N×C -> (∂L/∂s, where a cancelling entry was taken in the other form), N×C."""
    if cache["log"]:
        return log_softmax_backward(grad_y, cache["p"], cache["one_minus_p"])
    return softmax_backward(grad_y, cache["p"])


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: N×C -> {"input": ∂L/∂s, N×C} (see :func:`backward_forms`)."""
    return {"input": backward_forms(grad_y, cache)[0]}


SOFTMAX = Op(name="softmax", exactness=Exactness.IRRATIONAL, forward=forward, backward=backward)


def log_sum_exp(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row maxima m and log Σ_j exp(s_j) = m + log Σ_j exp(s_j − m) over the last axis
    (log Z as :func:`softmax_parts` takes it).

    Subtracting the maximum first keeps every exponent ≤ 0, so logits of 1000
    do not overflow.  Both results keep the last axis (size 1) for broadcasting.
    """
    maxima = np.max(scores, axis=-1, keepdims=True)
    return maxima, maxima + softmax_parts(scores).log_totals
