"""Plain-loop references for dropout and embedding (PyTorch semantics), sharing no code
with gradcalc (no NumPy): flat Python lists and ``fractions``.

- nn.Dropout in training: y[i] = x[i]·m[i]/(1 − p), ∂L/∂x[i] = ∂L/∂y[i]·m[i]/(1 − p);
  in evaluation y = x, ∂L/∂x = ∂L/∂y.
- nn.Embedding: y[k][d] = W[idx[k]][d] for each position k (indices flattened row-major),
  ∂L/∂W[v][d] = Σ over the positions k with idx[k] = v of ∂L/∂y[k][d], and 0 for the
  padding_idx row (a negative padding_idx counts from the end: V + padding_idx).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any


def dropout(
    x: list[Any], mask: list[int], up: list[Any], p: Any, training: bool = True
) -> tuple[list[Any], list[Any]]:
    """(output, grad_input) as flat lists, for flat x, mask and upstream."""
    if not training:
        return list(x), list(up)
    scale = 1 / (1 - Fraction(p))
    output, grad = [], []
    for i in range(len(x)):
        output.append(Fraction(x[i]) * mask[i] * scale)
        grad.append(Fraction(up[i]) * mask[i] * scale)
    return output, grad


def embedding(
    indices: list[int], weight: list[list[Any]], up: list[list[Any]], padding_idx: int | None
) -> tuple[list[list[Any]], list[list[Any]]]:
    """(output rows, grad_weight rows): flat indices (one output row each), weight V×D rows,
    upstream one row per index."""
    vocab, width = len(weight), len(weight[0])
    output = []
    for k in range(len(indices)):
        output.append([Fraction(weight[indices[k]][d]) for d in range(width)])
    grad = [[Fraction(0)] * width for _ in range(vocab)]
    padding = None if padding_idx is None else padding_idx % vocab
    for k in range(len(indices)):
        if indices[k] == padding:
            continue
        for d in range(width):
            grad[indices[k]][d] += Fraction(up[k][d])
    return output, grad
