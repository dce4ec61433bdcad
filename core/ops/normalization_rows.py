"""The float64 normalization of core/ops/normalization.py for its two large layouts, x seen
as R×M rows processed a block of rows at a time, the blocks spread over core/parallel.py's
threads:

- layer norm (``rows_*``): each statistic averages one row (the trailing axes), γ and β
  vary only along the row;
- batch norm 2d (``channels_*``): x is N×C×L (L = H·W) seen as N·C rows of L, and each
  statistic averages the N rows of one channel (row r is channel r mod C), γ and β are one
  number per channel.

Why blocks: at scale the op is bound by passes over memory, not by arithmetic, and NumPy
makes one pass (and, for arrays of 32 MB and more, one fresh allocation) per operation.  A
block of about BLOCK entries stays in the CPU cache through all of its operations, so x and
∂L/∂y are read once or twice and x̂, y and ∂L/∂x written once.  The arithmetic is the same as
the whole-array path's: μ = Σx/M, x̃ = x − μ, σ² = Σx̃²/M, x̂ = x̃·(1/σ), y = γ·x̂ + β, and
∂L/∂x = (∂L/∂x̂ − x̂·(Σ∂L/∂x̂·x̂)/M − (Σ∂L/∂x̂)/M)/σ.

Why the results do not depend on the thread count: every sum is taken per row (NumPy's
einsum over one row, as its whole-array einsum takes it) and the rows' sums are then added
in row order (batch norm's channels), or per block of BLOCK // M rows, the blocks' sums
added in block order (layer norm's γ and β); the blocks depend on the sizes only.  Batch
norm's sums are so the whole-array path's einsum sums bit for bit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from gradcalc.core import parallel

# Entries of a block: 32K float64 (256 KB) stays in a typical L2 cache.
BLOCK = 1 << 15
# Below this many entries the whole-array path is as fast.
SMALLEST = 1 << 16

T = TypeVar("T")


def fits(
    shape: tuple[int, ...], axes: tuple[int, ...], param_shape: tuple[int, ...] | None
) -> bool:
    """Whether the rows path applies: large, the trailing axes averaged, γ along them only."""
    lead = len(shape) - len(axes)
    trailing = axes == tuple(range(lead, len(shape)))
    along = param_shape is None or all(n == 1 for n in param_shape[:lead])
    return trailing and along and int(np.prod(shape)) >= SMALLEST


def fits_channels(
    shape: tuple[int, ...], axes: tuple[int, ...], param_shape: tuple[int, ...] | None
) -> bool:
    """Whether the channels path applies: large, N×C×… averaged over every axis but 1, none
    of them of length 1 (the whole-array path sums γ's gradient over fewer axes then, and
    takes another order of operations), γ one number per channel."""
    every_but_channels = len(shape) >= 3 and axes == (0, *range(2, len(shape)))
    every_but_channels = every_but_channels and all(shape[axis] > 1 for axis in axes)
    per_channel = param_shape is None or all(
        n == 1 for axis, n in enumerate(param_shape) if axis != 1
    )
    return every_but_channels and per_channel and int(np.prod(shape)) >= SMALLEST


def _step(width: int, least: int = 1) -> int:
    """Rows in a block (the last block may have one more, see _each_block)."""
    return max(least, BLOCK // width)


def _each_block(
    rows: int, width: int, work: Callable[[slice], T], least: int = 1, whole: bool = False
) -> list[T]:
    """[work(block) for every block of _step(width, least) rows, in order], spread over the
    threads.  With ``least`` 2 no block is a single row: a last row left alone joins the
    block before it (NumPy's einsum sums a lone row of more than 8192 entries in another
    order than it sums the same row among others, as the whole-array path does).  With
    ``whole``, work takes a thread's span of blocks at once (a pass that sums each row and
    keeps nothing in cache: fewer calls, so fewer hand-offs of Python's lock between the
    threads).

    A thread takes consecutive blocks (a span of core/parallel.py), so its blocks are the
    ones a single thread would make, whatever the thread count."""
    step = _step(width, least)
    count = -(-rows // step)
    if least > 1 and count > 1 and rows % step == 1:
        count -= 1

    def stop(i: int) -> int:
        return rows if i == count - 1 else (i + 1) * step

    def span(first: int, last: int) -> list[T]:
        if whole:
            return [work(slice(first * step, stop(last - 1)))]
        return [work(slice(i * step, stop(i))) for i in range(first, last)]

    parts = parallel.run_blocks(span, parallel.spans(count, step * width))
    return [result for part in parts for result in part]


def _scratch(rows: int, width: int, least: int = 1) -> Callable[[], np.ndarray]:
    """A buffer for the largest block, one per thread, made on its first use there."""
    local = threading.local()

    def buffer() -> np.ndarray:
        if not hasattr(local, "buffer"):
            local.buffer = np.empty((min(_step(width, least) + 1, rows), width))
        return local.buffer

    return buffer


# ---------------------------------------------------------------------------
# Layer norm: a statistic per row


def _along_rows(
    values: np.ndarray | None, rows: int, width: int
) -> Callable[[int], np.ndarray] | None:
    """γ or β (M) to combine with a block of k rows (None stays None): for short rows a
    block's worth of copies, k×M (same-shape operations, see SHORT_ROW; the same numbers),
    for long ones the M vector."""
    if values is None:
        return None
    if width > SHORT_ROW:
        return lambda _count: values
    copies = np.tile(values, (min(_step(width), rows), 1))
    return lambda count: copies[:count]


def rows_forward(
    x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x: R×M, weight/bias: M or None -> (y, x̂: R×M; μ, σ², σ: R×1)."""
    rows, width = x.shape
    y, x_hat = np.empty_like(x), np.empty_like(x)
    mean, var = np.empty((rows, 1)), np.empty((rows, 1))
    weights, biases = _along_rows(weight, rows, width), _along_rows(bias, rows, width)

    def work(block: slice) -> None:
        xs, hs = x[block], x_hat[block]
        mean[block, 0] = np.einsum("rm->r", xs) / width
        np.subtract(xs, mean[block], out=hs)
        var[block, 0] = np.einsum("rm,rm->r", hs, hs) / width
        hs *= 1 / np.sqrt(var[block] + eps)
        ys = y[block]
        if weights is None:
            ys[...] = hs
        else:
            np.multiply(hs, weights(len(ys)), out=ys)
        if biases is not None:
            ys += biases(len(ys))

    _each_block(rows, width, work)
    return y, x_hat, mean, var, np.sqrt(var + eps)


def rows_backward(
    grad_y: np.ndarray, x_hat: np.ndarray, sigma: np.ndarray, weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """grad_y, x̂: R×M, σ: R×1, weight: M or None -> (∂L/∂x: R×M, ∂L/∂γ: M or None,
    ∂L/∂β: M)."""
    rows, width = grad_y.shape
    grad = np.empty_like(grad_y)
    # ∂L/∂x̂ = ∂L/∂y·γ of a block, in one buffer per thread (no allocation each block).
    scratch = _scratch(rows, width)
    weights = _along_rows(weight, rows, width)

    def work(block: slice) -> tuple[np.ndarray, np.ndarray | None]:
        ds, hs, out = grad_y[block], x_hat[block], grad[block]
        bias_part = np.einsum("rm->m", ds)
        weight_part = None if weight is None else np.einsum("rm,rm->m", ds, hs)
        g_hat = (
            ds if weights is None else np.multiply(ds, weights(len(ds)), out=scratch()[: len(ds)])
        )
        total = np.einsum("rm->r", g_hat)[:, None] / width
        projected = np.einsum("rm,rm->r", g_hat, hs)[:, None] / width
        np.multiply(hs, projected, out=out)
        out += total
        np.subtract(g_hat, out, out=out)
        out /= sigma[block]
        return bias_part, weight_part

    grad_weight = None if weight is None else np.zeros(width)
    grad_bias = np.zeros(width)
    for bias_part, weight_part in _each_block(rows, width, work):
        grad_bias += bias_part  # in block order: the same sums for any thread count
        if grad_weight is not None:
            grad_weight += weight_part
    return grad, grad_weight, grad_bias


# ---------------------------------------------------------------------------
# Batch norm 2d: a statistic per channel, over the rows r ≡ c (mod C)


def _channel_sums(row_sums: list[np.ndarray], channels: int) -> np.ndarray:
    """Σ over rows of each channel (C) from the blocks' row sums (R in all), added in row
    order as the whole-array einsum adds them."""
    return np.einsum("nc->c", np.concatenate(row_sums).reshape(-1, channels))


# Rows up to this long pay NumPy's per-row cost (about 0.4 µs a row and operation) when a
# per-row constant is broadcast down a block as a column; one period of such constants laid
# out as whole rows (at most PERIODIC entries) turns those operations into same-shape ones.
SHORT_ROW = 1 << 12
PERIODIC = 1 << 17


def _per_row(values: np.ndarray, rows: int, width: int) -> Callable[[slice], np.ndarray]:
    """A per-channel vector (C) as an array to combine with a block of rows of x: row r of
    the block gets channel r mod C's value, the same numbers either way.

    Short rows: the values spread along rows, (C + k_max)×L laid out once, and a block
    [s, s + k) takes rows s mod C to s mod C + k of it; else a column, R×1."""
    channels = len(values)
    longest = _step(width, 2) + 1  # rows in the largest block (see _each_block)
    if width > SHORT_ROW or (channels + longest) * width > PERIODIC:
        column = np.tile(values, rows // channels)[:, None]
        return lambda block: column[block]
    period = np.repeat(np.resize(values, channels + longest), width).reshape(-1, width)

    def rows_of(block: slice) -> np.ndarray:
        first = block.start % channels
        return period[first : first + block.stop - block.start]

    return rows_of


def channels_forward(
    x: np.ndarray, channels: int, weight: np.ndarray | None, bias: np.ndarray | None, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x: R×L (R = N·C rows), weight/bias: C or None -> (y, x̂: R×L; μ, σ², σ: C).

    Three passes, a block at a time: Σx; x̃ = x − μ (into x̂'s array) and Σx̃²; x̂ = x̃·(1/σ)
    and y."""
    rows, width = x.shape
    count = rows // channels * width
    sums = _each_block(rows, width, lambda b: np.einsum("rl->r", x[b]), 2, whole=True)
    mean = _channel_sums(sums, channels)
    mean /= count
    mean_rows = _per_row(mean, rows, width)
    y, x_hat = np.empty_like(x), np.empty_like(x)

    def squares(block: slice) -> np.ndarray:
        centred = np.subtract(x[block], mean_rows(block), out=x_hat[block])
        return np.einsum("rl,rl->r", centred, centred)

    var = _channel_sums(_each_block(rows, width, squares, 2), channels) / count
    sigma = np.sqrt(var + eps)
    inverse_rows = _per_row(1 / sigma, rows, width)
    weight_rows = None if weight is None else _per_row(weight, rows, width)
    bias_rows = None if bias is None else _per_row(bias, rows, width)

    def normalize(block: slice) -> None:
        hs, ys = x_hat[block], y[block]
        hs *= inverse_rows(block)  # x̃ becomes x̂
        if weight_rows is None:
            ys[...] = hs
        else:
            np.multiply(hs, weight_rows(block), out=ys)
        if bias_rows is not None:
            ys += bias_rows(block)

    _each_block(rows, width, normalize, 2)
    return y, x_hat, mean, var, sigma


def channels_backward(
    grad_y: np.ndarray, x_hat: np.ndarray, sigma: np.ndarray, weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """grad_y, x̂: R×L (R = N·C rows), σ: C, weight: C or None -> (∂L/∂x: R×L,
    Σ∂L/∂y·x̂: C (∂L/∂γ), Σ∂L/∂y: C (∂L/∂β)).

    With γ one number per channel, Σ∂L/∂x̂ = γ·Σ∂L/∂y and Σ∂L/∂x̂·x̂ = γ·Σ∂L/∂y·x̂: one pass
    for both sums, one for ∂L/∂x = ∂L/∂y·γ/σ − x̂·slope − shift."""
    rows, width = grad_y.shape
    channels = len(sigma)
    count = rows // channels * width

    def sums(block: slice) -> tuple[np.ndarray, np.ndarray]:
        ds = grad_y[block]
        return np.einsum("rl->r", ds), np.einsum("rl,rl->r", ds, x_hat[block])

    parts = _each_block(rows, width, sums, 2, whole=True)
    grad_bias = _channel_sums([total for total, _ in parts], channels)
    grad_weight = _channel_sums([projected for _, projected in parts], channels)
    inverse = 1 / sigma
    total, projected, scale = grad_bias, grad_weight, inverse
    if weight is not None:
        total, projected, scale = weight * grad_bias, weight * grad_weight, weight * inverse
    scale_rows = _per_row(scale, rows, width)
    slope_rows = _per_row(projected * inverse / count, rows, width)
    shift_rows = _per_row(total * inverse / count, rows, width)
    grad = np.empty_like(grad_y)
    scratch = _scratch(rows, width, 2)

    def gradient(block: slice) -> None:
        part = grad[block]
        np.multiply(grad_y[block], scale_rows(block), out=part)
        part -= np.multiply(x_hat[block], slope_rows(block), out=scratch()[: len(part)])
        part -= shift_rows(block)

    _each_block(rows, width, gradient, 2)
    return grad, grad_weight, grad_bias
