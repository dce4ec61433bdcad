"""Scaled dot-product attention (PyTorch's F.scaled_dot_product_attention), float64 (exp).

Shapes, with ``B`` the leading (batch, head) dimensions shared by every array (none, or up
to two): query Q B×L×E, key K B×S×E, value V B×S×Ev, upstream ∂L/∂Y B×L×Ev.

- scores A = Q·Kᵀ·scale + bias (B×L×S; ``bias`` is an additive mask, broadcast, or 0);
- weights P = softmax over each row of A, taken over the ``allowed`` entries only (a boolean
  mask broadcast to B×L×S, or None: all); a left-out entry gets weight 0, as adding −∞
  would give it (rows with nothing allowed are refused by the kind before this runs);
- output Y = P·V (B×L×Ev).

Backward, for G = ∂L/∂Y:

- ∂L/∂V = Pᵀ·G, ∂L/∂P = G·Vᵀ;
- through each softmax row, its Jacobian diag(p) − p·pᵀ:
  ∂L/∂A_ij = p_ij·(∂L/∂P_ij − Σ_k ∂L/∂P_ik·p_ik) (0 where P is 0 by the mask);
- ∂L/∂Q = ∂L/∂A·K·scale, ∂L/∂K = ∂L/∂Aᵀ·Q·scale.

Every step is a batched matmul or an elementwise pass: no Python loop over entries.
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.ops import Cache, Exactness, Op, Params


def swap(array: np.ndarray) -> np.ndarray:
    """The last two axes exchanged (a batched transpose)."""
    return np.swapaxes(array, -1, -2)


def attention_scores(
    query: np.ndarray, key: np.ndarray, scale: float, bias: np.ndarray | None
) -> np.ndarray:
    """Q: B×L×E, K: B×S×E -> A = Q·Kᵀ·scale (+ bias, broadcast to B×L×S)."""
    scores = np.matmul(query, swap(key))
    scores *= scale
    if bias is not None:
        scores += bias
    return scores


def masked_softmax(scores: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """B×L×S scores -> the softmax of each row over its allowed entries (0 elsewhere);
    shifted by the row's largest allowed score, so no exponent is above 0."""
    if allowed is None:
        shifted = scores - scores.max(axis=-1, keepdims=True)
    else:
        shifted = np.where(allowed, scores, -np.inf)
        shifted -= shifted.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    return shifted


def softmax_rows_backward(grad_weights: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """∂L/∂P and P (B×L×S) -> ∂L/∂A through each row's diag(p) − p·pᵀ:
    p_ij·(∂L/∂P_ij − Σ_k ∂L/∂P_ik·p_ik), in one new array (no temporary)."""
    row_sums = np.einsum("...ij,...ij->...i", grad_weights, weights)[..., None]
    grad_scores = np.subtract(grad_weights, row_sums)
    grad_scores *= weights
    return grad_scores


def softmax_rows_backward_diagonal(grad_weights: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The usual slip, for ``gradcalc check``: each row's Jacobian replaced by its diagonal,
    ∂L/∂A_ij = p_ij·(1 − p_ij)·∂L/∂P_ij (the −p_ij·p_ik cross terms dropped)."""
    return weights * (1 - weights) * grad_weights


def forward(query: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """query: B×L×E; params ``key`` B×S×E, ``value`` B×S×Ev, ``scale`` (float), ``bias``
    (additive mask broadcastable to B×L×S, or None), ``allowed`` (bool, broadcastable to
    B×L×S, or None) -> Y: B×L×Ev; the cache holds the inputs, ``scores`` and ``weights``."""
    key, value, scale = params["key"], params["value"], float(params["scale"])
    scores = attention_scores(query, key, scale, params.get("bias"))
    weights = masked_softmax(scores, params.get("allowed"))
    output = np.matmul(weights, value)
    cache = {
        "input": query,
        "key": key,
        "value": value,
        "scale": scale,
        "scores": scores,
        "weights": weights,
        "diagonal_only": bool(params.get("diagonal_only", False)),
    }
    return output, cache


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: B×L×Ev -> {"input": ∂L/∂Q B×L×E, "key": ∂L/∂K B×S×E, "value": ∂L/∂V
    B×S×Ev, "weights": ∂L/∂P and "scores": ∂L/∂A, B×L×S}."""
    weights, scale = cache["weights"], cache["scale"]
    grad_value = np.matmul(swap(weights), grad_y)
    grad_weights = np.matmul(grad_y, swap(cache["value"]))
    rows = softmax_rows_backward_diagonal if cache["diagonal_only"] else softmax_rows_backward
    grad_scores = rows(grad_weights, weights)
    grad_query = np.matmul(grad_scores, cache["key"])
    grad_query *= scale
    grad_key = np.matmul(swap(grad_scores), cache["input"])
    grad_key *= scale
    return {
        "input": grad_query,
        "key": grad_key,
        "value": grad_value,
        "weights": grad_weights,
        "scores": grad_scores,
    }


def attention_output(
    query: np.ndarray,
    key: np.ndarray,
    value: np.ndarray,
    scale: float,
    bias: np.ndarray | None,
    allowed: np.ndarray | None,
) -> np.ndarray:
    """Y = softmax(Q·Kᵀ·scale + bias over the allowed entries)·V in float64 (finite
    differences)."""
    return np.matmul(masked_softmax(attention_scores(query, key, scale, bias), allowed), value)


ATTENTION = Op(name="attention", exactness=Exactness.IRRATIONAL, forward=forward, backward=backward)
