"""Matrix products whose float64 entries keep the sign of their exact sum.

A float64 matrix product adds each entry's products in an order of its own (BLAS blocks,
pairs, fused multiply-adds), and where the products cancel, the last bits left over, and so
the entry's sign and whether it is 0, depend on that order: the explanation adds the same
products left to right and could show ``… = 0`` beside a result of −3.3e-18.  Any order's
sum lies within γ_k·Σ|products| of the exact one (k terms, γ_k ≈ k·2⁻⁵³), so only an entry
that small can have its sign decided by the order; those few are recomputed with
``math.fsum`` (the correctly rounded sum of the rounded products, whatever their order),
the rest keep the vectorized value, which agrees with every order to within that bound.
Integer and object arrays (exact runs) are returned as ``a @ b`` unchanged.
"""

from __future__ import annotations

import math

import numpy as np

# Slack over γ_k: the bound itself is a float64 product of absolute values.
UNIT = 2.0**-52


def exact_sums(size: np.ndarray, *factors: np.ndarray) -> bool:
    """Whether every sum was exact already: whole-number factors whose Σ|products| (``size``)
    stays below 2⁵³ add without rounding in any order (and a Python loop over many exact
    zeros would cost seconds at scale)."""
    return bool(
        size.size == 0 or size.max() < 2.0**53 and all(np.all(f == np.round(f)) for f in factors)
    )


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a: …×n×k, b: …×k×m (batch axes broadcast) -> …×n×m; on float64, each
    entry within the rounding bound of 0 is the ``math.fsum`` of its k products."""
    out = a @ b
    if out.dtype.kind != "f" or a.ndim < 2 or b.ndim < 2 or out.size == 0:
        return out
    size = np.abs(a) @ np.abs(b)  # Σ|products| of each entry
    if exact_sums(size, a, b):
        return out
    bound = size * ((a.shape[-1] + 2) * UNIT)
    doubtful = np.nonzero((np.abs(out) <= bound) & (bound > 0))
    if not doubtful[0].size:
        return out
    rows = np.broadcast_to(a, out.shape[:-2] + a.shape[-2:])
    columns = np.broadcast_to(b, out.shape[:-2] + b.shape[-2:])
    for index in zip(*doubtful, strict=True):
        *batch, i, j = (int(n) for n in index)
        products = rows[(*batch, i)] * columns[(*batch, slice(None), j)]
        out[index] = math.fsum(products.tolist())
    return out
