"""Softmax and log-softmax over the last axis (PyTorch semantics), float64 (they use exp).

Shapes: scores ``s`` …×C (a vector C or a batch N×C), probabilities ``p`` and
log-probabilities ``log p`` the same; ∂L/∂s from ∂L/∂y where y is p (softmax) or
log p (log_softmax).
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.ops import Cache, Exactness, Op, Params


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


def softmax_backward(upstream: np.ndarray, p: np.ndarray) -> np.ndarray:
    """∂L/∂s = p ⊙ (g − Σ_i g_i·p_i) for g = ∂L/∂p; shapes …×C."""
    return p * (upstream - np.sum(upstream * p, axis=-1, keepdims=True))


def log_softmax_backward(upstream: np.ndarray, p: np.ndarray) -> np.ndarray:
    """∂L/∂s = g − p·Σ_i g_i for g = ∂L/∂(log p); shapes …×C."""
    return upstream - p * np.sum(upstream, axis=-1, keepdims=True)


def softmax_jacobians(p: np.ndarray, log: bool) -> np.ndarray:
    """N×C probabilities -> N×C×C per-sample Jacobians.

    softmax: ∂p_i/∂s_j = p_i·(δ_ij − p_j) = (diag(p) − p·pᵀ)_ij;
    log_softmax: ∂log p_i/∂s_j = δ_ij − p_j.
    """
    eye = np.eye(p.shape[-1])
    if log:
        return eye[None, :, :] - p[:, None, :]
    return p[:, :, None] * (eye[None, :, :] - p[:, None, :])


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
