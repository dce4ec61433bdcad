"""The float64 normalization of core/ops/normalization.py when each statistic averages the
trailing axes and γ, β vary only along them (layer norm): x seen as R×M rows, processed a
block of rows at a time.

Why blocks: at scale the op is bound by passes over memory, not by arithmetic, and NumPy
makes one pass (and, for arrays of 32 MB and more, one fresh allocation) per operation.  A
block of about BLOCK entries stays in the CPU cache through all of its operations, so x and
∂L/∂y are read once and x̂, y and ∂L/∂x written once.  The arithmetic is the same as the
whole-array path's: μ = Σx/M, x̃ = x − μ, σ² = Σx̃²/M, x̂ = x̃/σ, y = γ·x̂ + β, and
∂L/∂x = (∂L/∂x̂ − x̂·(Σ∂L/∂x̂·x̂)/M − (Σ∂L/∂x̂)/M)/σ.
"""

from __future__ import annotations

import numpy as np

# Entries of a block: 32K float64 (256 KB) stays in a typical L2 cache.
BLOCK = 1 << 15
# Below this many entries the whole-array path is as fast.
SMALLEST = 1 << 16


def fits(
    shape: tuple[int, ...], axes: tuple[int, ...], param_shape: tuple[int, ...] | None
) -> bool:
    """Whether the rows path applies: large, the trailing axes averaged, γ along them only."""
    lead = len(shape) - len(axes)
    trailing = axes == tuple(range(lead, len(shape)))
    along = param_shape is None or all(n == 1 for n in param_shape[:lead])
    return trailing and along and int(np.prod(shape)) >= SMALLEST


def _blocks(rows: int, width: int) -> range:
    return range(0, rows, max(1, BLOCK // width))


def rows_forward(
    x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x: R×M, weight/bias: M or None -> (y, x̂: R×M; μ, σ², σ: R×1)."""
    rows, width = x.shape
    y, x_hat = np.empty_like(x), np.empty_like(x)
    mean, var = np.empty((rows, 1)), np.empty((rows, 1))
    step = max(1, BLOCK // width)
    for start in _blocks(rows, width):
        block = slice(start, start + step)
        xs, hs = x[block], x_hat[block]
        mean[block, 0] = np.einsum("rm->r", xs) / width
        np.subtract(xs, mean[block], out=hs)
        var[block, 0] = np.einsum("rm,rm->r", hs, hs) / width
        hs *= 1 / np.sqrt(var[block] + eps)
        ys = y[block]
        if weight is None:
            ys[...] = hs
        else:
            np.multiply(hs, weight, out=ys)
        if bias is not None:
            ys += bias
    return y, x_hat, mean, var, np.sqrt(var + eps)


def rows_backward(
    grad_y: np.ndarray, x_hat: np.ndarray, sigma: np.ndarray, weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """grad_y, x̂: R×M, σ: R×1, weight: M or None -> (∂L/∂x: R×M, ∂L/∂γ: M or None,
    ∂L/∂β: M)."""
    rows, width = grad_y.shape
    grad = np.empty_like(grad_y)
    grad_weight = None if weight is None else np.zeros(width)
    grad_bias = np.zeros(width)
    step = max(1, BLOCK // width)
    # ∂L/∂x̂ = ∂L/∂y·γ of a block, in one buffer reused by every block (no allocation each).
    scratch = None if weight is None else np.empty((min(step, rows), width))
    for start in _blocks(rows, width):
        block = slice(start, start + step)
        ds, hs, out = grad_y[block], x_hat[block], grad[block]
        grad_bias += np.einsum("rm->m", ds)
        if grad_weight is not None:
            grad_weight += np.einsum("rm,rm->m", ds, hs)
        g_hat = ds if scratch is None else np.multiply(ds, weight, out=scratch[: len(ds)])
        total = np.einsum("rm->r", g_hat)[:, None] / width
        projected = np.einsum("rm,rm->r", g_hat, hs)[:, None] / width
        np.multiply(hs, projected, out=out)
        out += total
        np.subtract(g_hat, out, out=out)
        out /= sigma[block]
    return grad, grad_weight, grad_bias
