"""Softmax and log-softmax over the last axis (PyTorch semantics), float64 (they use exp).

Shapes: scores ``s`` …×C (a vector C or a batch N×C), probabilities ``p`` and
log-probabilities ``log p`` the same; ∂L/∂s from ∂L/∂y where y is p (softmax) or
log p (log_softmax).
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.ops import Cache, Exactness, Op, Params
from gradcalc.core.ops.elementwise import CANCELLED


def softmax_forward(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scores: …×C -> (p, log p) over the last axis, by log-sum-exp (no overflow).

    Normalized after shifting by the row maximum, not as exp(s − lse): at s = 1e10 the
    rounding of lse = 1e10 + log 2 (an ulp of 2e-6) would put p off by 5e-7 and Σ p off 1.
    """
    maxima = np.max(scores, axis=-1, keepdims=True)
    shifted = scores - maxima
    exps = np.exp(shifted)
    totals = np.sum(exps, axis=-1, keepdims=True)
    return exps / totals, shifted - np.log(totals)


# Where a row's largest p_j nears 1, PyTorch's 1 − p_j, g_j − Σ_i g_i·p_i (softmax) and
# g_j − p_j·Σ_i g_i (log_softmax) cancel: softmax of (40, 0) has ∂p_0/∂s_0 = p_0·(1 − p_0) =
# 0 in float64, true 4.25e-18.  That entry (the one above 1/2, at most one a row) is then
# taken from the row's other entries, whose sum is 1 − p_j without cancellation, where the
# plain difference is below CANCELLED of its operands and the two forms differ; every other
# entry, and that one elsewhere, is PyTorch's arithmetic bit for bit.


def dominant(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(…×C bool: each row's entry above 1/2, if any; …×1: the sum of that row's other
    entries, its 1 − p_j without cancellation)."""
    top = p > 0.5
    return top, np.sum(np.where(top, 0.0, p), axis=-1, keepdims=True)


def softmax_backward_forms(upstream: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(∂L/∂s = p ⊙ (g − Σ_i g_i·p_i) for g = ∂L/∂p, and where the dominant entry's
    g_j − Σ_i g_i·p_i was taken as Σ_(i≠j) p_i·(g_j − g_i)); shapes …×C."""
    mean = np.sum(upstream * p, axis=-1, keepdims=True)
    plain = p * (upstream - mean)
    top, _ = dominant(p)
    g_top = np.sum(np.where(top, upstream, 0.0), axis=-1, keepdims=True)
    others = np.sum(np.where(top, 0.0, p * (g_top - upstream)), axis=-1, keepdims=True)
    size = np.maximum(np.abs(upstream), np.abs(mean))
    tail = top & (np.abs(upstream - mean) < size * CANCELLED) & (p * others != plain)
    return np.where(tail, p * others, plain), tail


def log_softmax_backward_forms(
    upstream: np.ndarray, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(∂L/∂s = g − p·Σ_i g_i for g = ∂L/∂(log p), and where the dominant entry's was taken
    as g_j·Σ_(i≠j) p_i − p_j·Σ_(i≠j) g_i); shapes …×C."""
    product = p * np.sum(upstream, axis=-1, keepdims=True)
    plain = upstream - product
    top, rest = dominant(p)
    others = np.sum(np.where(top, 0.0, upstream), axis=-1, keepdims=True)
    taken = upstream * rest - p * others
    size = np.maximum(np.abs(upstream), np.abs(product))
    tail = top & (np.abs(plain) < size * CANCELLED) & (taken != plain)
    return np.where(tail, taken, plain), tail


def softmax_backward(upstream: np.ndarray, p: np.ndarray) -> np.ndarray:
    """∂L/∂s = p ⊙ (g − Σ_i g_i·p_i) for g = ∂L/∂p; shapes …×C."""
    return softmax_backward_forms(upstream, p)[0]


def log_softmax_backward(upstream: np.ndarray, p: np.ndarray) -> np.ndarray:
    """∂L/∂s = g − p·Σ_i g_i for g = ∂L/∂(log p); shapes …×C."""
    return log_softmax_backward_forms(upstream, p)[0]


def softmax_jacobians(p: np.ndarray, log: bool) -> np.ndarray:
    """N×C probabilities -> N×C×C per-sample Jacobians.

    softmax: ∂p_i/∂s_j = p_i·(δ_ij − p_j) = (diag(p) − p·pᵀ)_ij;
    log_softmax: ∂log p_i/∂s_j = δ_ij − p_j.  A dominant entry's 1 − p_i is the sum of
    the others where it would cancel (see :func:`dominant`).
    """
    eye = np.eye(p.shape[-1])
    if log:
        blocks = eye[None, :, :] - p[:, None, :]
    else:
        blocks = p[:, :, None] * (eye[None, :, :] - p[:, None, :])
    top, rest = dominant(p)
    diagonal = np.broadcast_to(rest if log else p * rest, p.shape)
    rows, classes = np.nonzero(top & (rest < CANCELLED))
    blocks[rows, classes, classes] = diagonal[rows, classes]
    return blocks


def forward(scores: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """scores: …×C, params ``log`` (bool: log_softmax) -> y = p or log p (…×C); the cache
    holds the scores (``input``), ``p``, ``log_p`` and ``log``."""
    p, log_p = softmax_forward(scores)
    cache = {"input": scores, "p": p, "log_p": log_p, "log": params["log"]}
    return (log_p if params["log"] else p), cache


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: …×C -> {"input": ∂L/∂s, …×C}."""
    rule = log_softmax_backward if cache["log"] else softmax_backward
    return {"input": rule(grad_y, cache["p"])}


SOFTMAX = Op(name="softmax", exactness=Exactness.IRRATIONAL, forward=forward, backward=backward)


def log_sum_exp(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row maxima m and log Σ_j exp(s_j) = m + log Σ_j exp(s_j − m) over the last axis.

    Subtracting the maximum first keeps every exponent ≤ 0, so logits of 1000
    do not overflow.  Both results keep the last axis (size 1) for broadcasting.
    """
    maxima = np.max(scores, axis=-1, keepdims=True)
    return maxima, maxima + np.log(np.sum(np.exp(scores - maxima), axis=-1, keepdims=True))
