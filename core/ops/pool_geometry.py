"""Where a 2-D pooling window's taps land: the sizes of one pooling and its tap layout.

Arrays are NCHW: input N×C×H×W, output N×C×H_out×W_out.  A window's taps lie on one last
axis of T = kh·kw entries in row-major order.  The pool ops (core/ops/pool.py) take the
layout computed here; the pool kind (core/kinds/pool.py) reads a spec into a PoolGeometry.
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.ops.windows import BEYOND, REAL, WindowAxis
from gradcalc.core.records import record


def pooled_size(
    size: int, kernel: int, pad: int, stride: int, dilation: int, ceil_mode: bool
) -> int:
    """PyTorch's pooling_output_shape: the number of windows along one axis (may be < 1).

    floor: ⌊(size + 2·pad − d·(k − 1) − 1)/s⌋ + 1; ceil: the same with ⌈·⌉, then
    the last window is dropped when it would start past the input and the left
    padding ((out − 1)·s ≥ size + pad).
    """
    numerator = size + 2 * pad - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return numerator // stride + 1
    out = -(-numerator // stride) + 1
    if (out - 1) * stride >= size + pad:
        out -= 1
    return out


@record(frozen=True)
class PoolGeometry:
    """Every size and hyper-parameter of one pooling, in NCHW terms."""

    batch: int
    channels: int
    in_h: int
    in_w: int
    kernel_h: int
    kernel_w: int
    stride: tuple[int, int]
    padding: tuple[int, int]  # rows (top and bottom), cols (left and right)
    dilation: tuple[int, int]
    ceil_mode: bool

    @property
    def span_h(self) -> int:
        """Rows one (dilated) window covers: d·(kh − 1) + 1."""
        return self.dilation[0] * (self.kernel_h - 1) + 1

    @property
    def span_w(self) -> int:
        return self.dilation[1] * (self.kernel_w - 1) + 1

    @property
    def out_h(self) -> int:
        return pooled_size(
            self.in_h,
            self.kernel_h,
            self.padding[0],
            self.stride[0],
            self.dilation[0],
            self.ceil_mode,
        )

    @property
    def out_w(self) -> int:
        return pooled_size(
            self.in_w,
            self.kernel_w,
            self.padding[1],
            self.stride[1],
            self.dilation[1],
            self.ceil_mode,
        )

    @property
    def taps(self) -> int:
        return self.kernel_h * self.kernel_w

    @property
    def windows(self) -> int:
        return self.batch * self.channels * self.out_h * self.out_w

    @property
    def work(self) -> int:
        """Taps read by one forward pass."""
        return self.windows * self.taps

    def window_axes(self) -> tuple[WindowAxis, WindowAxis]:
        """The row and column axes of the sliding window (pooling pads both sides alike)."""
        return (
            WindowAxis(
                self.in_h,
                self.kernel_h,
                self.stride[0],
                self.dilation[0],
                self.padding[0],
                self.padding[0],
                self.out_h,
            ),
            WindowAxis(
                self.in_w,
                self.kernel_w,
                self.stride[1],
                self.dilation[1],
                self.padding[1],
                self.padding[1],
                self.out_w,
            ),
        )

    def tap_position(self, i: int, j: int, m: int, q: int) -> tuple[int, int]:
        """Input (row, col) that tap (m, q) of window (i, j) reads (may be outside the input)."""
        return (
            i * self.stride[0] + m * self.dilation[0] - self.padding[0],
            j * self.stride[1] + q * self.dilation[1] - self.padding[1],
        )


@record(frozen=True)
class TapLayout:
    """What every tap of every window reads (the same for every n and c).

    ``codes``: H_out×W_out×T, REAL / PADDING / BEYOND;
    ``positions``: H_out×W_out×T, the flat input index r·W + c of a REAL tap, −1 otherwise.
    """

    codes: np.ndarray
    positions: np.ndarray

    @property
    def real(self) -> np.ndarray:
        return self.codes == REAL


def tap_layout(g: PoolGeometry) -> TapLayout:
    row_axis, col_axis = g.window_axes()
    rows, cols = row_axis.taps(), col_axis.taps()  # H_out×kh, W_out×kw
    codes_h, codes_w = row_axis.where(rows), col_axis.where(cols)
    # REAL < PADDING < BEYOND: a tap is as far out as its farther coordinate.
    codes = np.maximum(codes_h[:, None, :, None], codes_w[None, :, None, :])
    positions = rows[:, None, :, None] * g.in_w + cols[None, :, None, :]
    positions = np.where(codes == REAL, positions, -1)
    shape = (g.out_h, g.out_w, g.taps)
    return TapLayout(codes=codes.reshape(shape), positions=positions.reshape(shape))


def avg_divisors(
    codes: np.ndarray, count_include_pad: bool, divisor_override: int | None
) -> np.ndarray:
    """H_out×W_out divisors, PyTorch's rule.

    divisor_override wins; else count_include_pad counts the taps up to the
    padded edge (a ceil_mode window is clipped there), else only the input cells.
    """
    if divisor_override is not None:
        return np.full(codes.shape[:2], divisor_override, dtype=np.int64)
    counted = codes != BEYOND if count_include_pad else codes == REAL
    return counted.sum(axis=-1)


def lp_scales(codes: np.ndarray, taps: int) -> np.ndarray:
    """PyTorch's LPPool2d is avg_pool2d(x^p)·kh·kw: with no padding its divisor is the
    number of cells inside the window, so a window clipped by ceil_mode has its sum
    scaled by kh·kw/cells (1 for every whole window)."""
    inside = (codes == REAL).sum(axis=-1)
    return taps / inside
