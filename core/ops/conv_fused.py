"""conv2d's float64 passes with the compiled loops of core/ops/_net.c; a large batch in two
blocks of samples on core/parallel.py's threads.

im2col and col2im run in C (one pass from the unpadded input; the window gradients added
onto the input's cells without a padded grid, tap by tap as conv.py's NumPy adds go); the
matrix products stay NumPy's (BLAS), one per sample as conv.py takes them.  A block of
samples runs its loops and products on one thread (they release the GIL); each sample's
entries are computed by the same calls whatever the blocks, and the N per-sample partial
sums of ∂L/∂w are added in sample order after all blocks, so the results are the NumPy
path's bit for bit, for any GRADCALC_THREADS.

im2col, forward_columns and backward return None where the NumPy path runs instead: a
small or non-float64 array, a grouped convolution (forward_columns, backward), a geometry
whose NumPy im2col is a view (copies_columns), or the kernel off or not built.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core.ops import fused

if TYPE_CHECKING:
    from gradcalc.core.ops.conv import ConvGeometry


def kernel_dims(g: ConvGeometry, batch: int | None = None) -> tuple[int, ...]:
    """The geometry as _net.c's im2col and col2im take it, for ``batch`` samples (all of
    g's by default); the bottom and right padding are implied by H_out and W_out."""
    return (
        g.batch if batch is None else batch,
        g.in_channels,
        g.in_h,
        g.in_w,
        g.kernel_h,
        g.kernel_w,
        *g.stride,
        *g.dilation,
        g.padding[0],
        g.padding[2],
        g.out_h,
        g.out_w,
    )


def _column_shape(g: ConvGeometry) -> tuple[int, int, int]:
    return (g.batch, g.in_channels * g.kernel_h * g.kernel_w, g.out_h * g.out_w)


def _blocks(g: ConvGeometry) -> list[tuple[int, int]]:
    """Spans of samples, fixed by the im2col matrix's size (never by the thread count): the
    two halves of the batch from 2·BLOCK_COLUMNS entries, else the whole batch."""
    per_sample = g.in_channels * g.kernel_h * g.kernel_w * g.out_h * g.out_w
    if g.batch < 2 or g.batch * per_sample < 2 * BLOCK_COLUMNS:
        return [(0, g.batch)]
    return [(0, g.batch // 2), (g.batch // 2, g.batch)]


# The im2col entries (per block) from which a block's loops and products pay for a thread
# hand-off.  The net benchmark's conv (8×27×1024 entries, 0.8 ms forward and backward) ran
# slower on two threads than on one on the shared 2-core machine, in every interleaved
# run, even at its fastest; two halves beat one block by 10% at best; blocks of one sample
# were slower still.
BLOCK_COLUMNS = 1 << 19


def copies_columns(g: ConvGeometry) -> bool:
    """Whether conv.py's NumPy im2col copies the windows into a new (contiguous) matrix, as
    it does but for degenerate geometries (a 1-wide kernel and stride, one input channel):
    there it is a strided view of the padded input, on which NumPy's matmul takes another
    loop than BLAS and rounds differently, so the NumPy path stays.  Told by NumPy's own
    no-copy reshape (NumPy 2.1+; before it, assumed a view)."""
    key = (*kernel_dims(g), *g.padding)
    if key not in _COPIES:
        if len(_COPIES) > 256:
            _COPIES.clear()
        _COPIES[key] = _reshape_copies(g)
    return _COPIES[key]


# copies_columns by geometry (kernel_dims and the padding): a net runs the same conv often.
_COPIES: dict[tuple[int, ...], bool] = {}


def _reshape_copies(g: ConvGeometry) -> bool:
    from gradcalc.core.ops.conv import tap_windows

    padded = np.empty((g.batch, g.in_channels, g.padded_h, g.padded_w))  # never read
    windows = tap_windows(padded, g).transpose(0, 1, 4, 5, 2, 3)
    try:
        np.reshape(windows, _column_shape(g), copy=False)
    except ValueError:
        return True
    except TypeError:  # NumPy before 2.1: no copy argument
        return False
    return False


def _run_blocks(work: Callable[[int, int], None], g: ConvGeometry) -> None:
    """``work(start, stop)`` on each of g's blocks of samples (core/parallel.py)."""
    # Imported here, where the kernel runs: smaller problems never import the thread pool.
    from gradcalc.core import parallel

    parallel.run_blocks(work, _blocks(g))


def im2col(x: np.ndarray, g: ConvGeometry) -> np.ndarray | None:
    """x (N×C×H×W)'s im2col matrix N×(C·kh·kw)×(H_out·W_out), padding read as 0."""
    kernel = fused.net_kernel(x)
    if kernel is None or not copies_columns(g):
        return None
    x = np.ascontiguousarray(x)
    columns = np.empty(_column_shape(g))

    def work(start: int, stop: int) -> None:
        kernel.im2col(x[start:stop], columns[start:stop], kernel_dims(g, stop - start))

    _run_blocks(work, g)
    return columns


def forward_columns(
    x: np.ndarray, w: np.ndarray, g: ConvGeometry
) -> tuple[np.ndarray, np.ndarray] | None:
    """(y N×O×H_out×W_out, x's im2col matrix) without groups: per sample n, the product
    (O × C·kh·kw) @ (C·kh·kw × H_out·W_out) of conv2d_forward."""
    kernel = fused.net_kernel(x, w)
    if kernel is None or g.groups != 1 or not copies_columns(g):
        return None
    x = np.ascontiguousarray(x)
    w_rows = w.reshape(g.out_channels, -1)
    columns = np.empty(_column_shape(g))
    y = np.empty((g.batch, g.out_channels, g.out_h * g.out_w))

    def work(start: int, stop: int) -> None:
        kernel.im2col(x[start:stop], columns[start:stop], kernel_dims(g, stop - start))
        np.matmul(w_rows, columns[start:stop], out=y[start:stop])

    _run_blocks(work, g)
    return y.reshape(g.output_shape), columns


def backward(
    grad_y: np.ndarray, w: np.ndarray, columns: Any, g: ConvGeometry
) -> tuple[np.ndarray, np.ndarray] | None:
    """(∂L/∂w O×C×kh×kw as slid, ∂L/∂x N×C×H×W) without groups, from ∂L/∂y (N×O×H_out×W_out),
    the kernel as slid (O×C×kh×kw) and x's im2col matrix from the forward pass: per sample,
    ∂L/∂y[n] @ columns[n]ᵀ (summed over n after), and the window gradients
    (kh·kw·C × O) @ ∂L/∂y[n] scattered back by col2im (conv2d_grad_kernel, conv2d_grad_input)."""
    kernel = fused.net_kernel(grad_y, w)
    if kernel is None or g.groups != 1 or not isinstance(columns, np.ndarray):
        return None
    if not copies_columns(g):  # the forward pass's NumPy view: its products stay NumPy's too
        return None
    if columns.dtype != np.float64 or columns.shape != _column_shape(g):
        return None
    upstream = np.ascontiguousarray(grad_y).reshape(g.batch, g.out_channels, -1)
    taps = w.transpose(2, 3, 1, 0).reshape(-1, g.out_channels)  # (kh·kw·C)×O
    per_sample = np.empty((g.batch, g.out_channels, columns.shape[1]))
    window_grads = np.empty((g.batch, taps.shape[0], upstream.shape[2]))
    grad_x = np.empty(g.input_shape)

    def work(start: int, stop: int) -> None:
        part = upstream[start:stop]
        np.matmul(part, columns[start:stop].transpose(0, 2, 1), out=per_sample[start:stop])
        np.matmul(taps, part, out=window_grads[start:stop])
        dims = kernel_dims(g, stop - start)
        kernel.col2im(window_grads[start:stop], grad_x[start:stop], dims)

    _run_blocks(work, g)
    grad_w = per_sample.sum(axis=0).reshape(g.out_channels, g.group_in, g.kernel_h, g.kernel_w)
    return grad_w, grad_x


def col2im(window_grads: np.ndarray, g: ConvGeometry, kernel: ModuleType) -> np.ndarray:
    """The N×kh×kw×C×H_out×W_out window gradients added onto N×C×H×W (padding dropped)."""
    grad_x = np.empty(g.input_shape)
    kernel.col2im(np.ascontiguousarray(window_grads), grad_x, kernel_dims(g))
    return grad_x
