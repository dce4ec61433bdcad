"""Embedding lookup (PyTorch's nn.Embedding): rows of a V×D table picked by integer indices.

``indices`` has any shape S (int64, each in [0, V)); ``weight`` is V×D; the output is
S×D, y[k] = W[indices[k]].  The backward pass scatters ∂L/∂y's rows back onto the table,
adding where an index repeats (``np.add.at``, unbuffered: a plain ``grad[idx] += u`` would
keep only the last write), and leaves the ``padding_idx`` row zero.  Both results are
linear in one array (W, or ∂L/∂y), so exact runs scale that array to integers once and run
this same code (declared BILINEAR, with one-operand products).  The indices get no
gradient: they are not differentiable.
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.ops import Cache, Exactness, Op, Params, Product


def embedding_forward(indices: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """indices: S (int64), weight: V×D -> S×D, the rows picked."""
    return weight[indices]


def embedding_grad_weight(
    upstream: np.ndarray, indices: np.ndarray, vocabulary: int, padding_idx: int | None
) -> np.ndarray:
    """upstream: S×D, indices: S -> V×D: row v is the sum of the upstream rows at the
    positions whose index is v (0 for the padding_idx row, and for rows never picked)."""
    width = upstream.shape[-1]
    rows = upstream.reshape(-1, width)
    flat = indices.reshape(-1)
    if padding_idx is not None:
        kept = flat != padding_idx
        rows, flat = rows[kept], flat[kept]
    grad = np.zeros((vocabulary, width), dtype=upstream.dtype)
    np.add.at(grad, flat, rows)
    return grad


def forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: the indices (int64, any shape S), params ``weight`` V×D and ``padding_idx`` (int or
    None) -> y: S×D; cache {"input": indices, "weight": W, "padding_idx": …}."""
    return embedding_forward(x, params["weight"]), {"input": x, **params}


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: S×D -> {"weight": V×D}."""
    weight = cache["weight"]
    return {
        "weight": embedding_grad_weight(
            grad_y, cache["input"], weight.shape[0], cache["padding_idx"]
        )
    }


def _most_repeats(cache: Cache) -> int:
    """How many upstream rows one table row can sum: the most often repeated index."""
    return int(np.bincount(cache["input"].reshape(-1)).max(initial=1))


EMBEDDING = Op(
    name="embedding",
    exactness=Exactness.BILINEAR,
    forward=forward,
    backward=backward,
    products={
        "output": Product(lambda w, c: embedding_forward(c["input"], w), ("weight",), lambda _: 1),
        "weight": Product(
            lambda u, c: embedding_grad_weight(
                u, c["input"], c["weight"].shape[0], c["padding_idx"]
            ),
            ("grad",),
            _most_repeats,
        ),
    },
)
