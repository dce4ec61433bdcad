"""The Jacobian maps of a conv_transpose problem (core/kinds/conv_transpose.py): which input or
kernel entry every cell of ∂y/∂w and ∂y/∂x is, found from where each input entry times each
kernel tap scatters.  2-D (and 1-D, as 2-D with one row) in NCHW, 3-D in NCDHW
(core/ops/conv_transpose.py, core/ops/conv_transpose3d.py).
"""

from __future__ import annotations

import math

import numpy as np

from gradcalc.core.ops.conv_transpose import ConvTransposeGeometry
from gradcalc.core.ops.conv_transpose3d import ConvTranspose3dGeometry


def jacobian_maps(
    t: ConvTransposeGeometry | ConvTranspose3dGeometry,
) -> tuple[np.ndarray, np.ndarray]:
    """(kernel_map R×K, input_map R×I) of either geometry (see jacobian_maps2d)."""
    if isinstance(t, ConvTranspose3dGeometry):
        return jacobian_maps3d(t)
    return jacobian_maps2d(t)


def scatter_targets(t: ConvTransposeGeometry) -> np.ndarray:
    """N×C_in×H×W×(C_out/g)×kh×kw: the flat output index (N×C_out×H_out×W_out, row-major)
    that input entry (n, c, a, b) times kernel entry (c, o, m, q) adds to, −1 where the
    target row a·sh + m·dh − p_top (or column) falls in the cut-off padding."""
    n, c, a, b, o, m, q = np.meshgrid(
        *(
            np.arange(size)
            for size in (
                t.batch,
                t.in_channels,
                t.in_h,
                t.in_w,
                t.out_per_group,
                t.kernel_h,
                t.kernel_w,
            )
        ),
        indexing="ij",
    )
    rows = a * t.stride[0] + m * t.dilation[0] - t.padding[0]
    cols = b * t.stride[1] + q * t.dilation[1] - t.padding[2]
    channel = (c // t.in_per_group) * t.out_per_group + o
    inside = (rows >= 0) & (rows < t.out_h) & (cols >= 0) & (cols < t.out_w)
    flat = ((n * t.out_channels + channel) * t.out_h + rows) * t.out_w + cols
    return np.where(inside, flat, -1)


def jacobian_maps2d(t: ConvTransposeGeometry) -> tuple[np.ndarray, np.ndarray]:
    """(kernel_map R×K, input_map R×I): ∂y_r/∂w_k = input.flat[kernel_map[r, k]] and
    ∂y_r/∂x_i = kernel.flat[input_map[r, i]] (−1: the cell is 0), all row-major.  One
    output and one kernel entry meet at most one input entry (the row is a·s + m·d − p)."""
    targets = scatter_targets(t)
    rows = t.batch * t.out_channels * t.out_h * t.out_w
    x_index = np.arange(t.batch * t.in_channels * t.in_h * t.in_w).reshape(
        t.batch, t.in_channels, t.in_h, t.in_w
    )
    w_index = np.arange(t.in_channels * t.out_per_group * t.kernel_h * t.kernel_w).reshape(
        t.in_channels, t.out_per_group, t.kernel_h, t.kernel_w
    )
    x_of = np.broadcast_to(x_index[..., None, None, None], targets.shape)
    w_of = np.broadcast_to(w_index[None, :, None, None], targets.shape)
    valid = targets >= 0
    kernel_map = np.full((rows, w_index.size), -1, dtype=np.int64)
    input_map = np.full((rows, x_index.size), -1, dtype=np.int64)
    kernel_map[targets[valid], w_of[valid]] = x_of[valid]
    input_map[targets[valid], x_of[valid]] = w_of[valid]
    return kernel_map, input_map


def scatter_targets3d(t: ConvTranspose3dGeometry) -> np.ndarray:
    """N×C_in×D×H×W×(C_out/g)×kd×kh×kw: the flat output index (N×C_out×D_out×H_out×W_out,
    row-major) that input entry (n, c, a, b, c') times kernel entry (c, o, e, m, q) adds to,
    −1 where the target (a·sd + e·dd − p_front, …) falls in the cut-off padding."""
    n, c, a, b, col, o, e, m, q = np.meshgrid(
        *(np.arange(size) for size in (*t.input_shape, t.out_per_group, *t.kernel)),
        indexing="ij",
    )
    spots = [
        cell * t.stride[axis] + tap * t.dilation[axis] - t.before[axis]
        for axis, (cell, tap) in enumerate(((a, e), (b, m), (col, q)))
    ]
    inside = np.ones(spots[0].shape, dtype=bool)
    for axis, spot in enumerate(spots):
        inside &= (spot >= 0) & (spot < t.out_size[axis])
    channel = (c // t.in_per_group) * t.out_per_group + o
    flat = n * t.out_channels + channel
    for axis, spot in enumerate(spots):
        flat = flat * t.out_size[axis] + spot
    return np.where(inside, flat, -1)


def jacobian_maps3d(t: ConvTranspose3dGeometry) -> tuple[np.ndarray, np.ndarray]:
    """(kernel_map R×K, input_map R×I): ∂y_r/∂w_k = input.flat[kernel_map[r, k]] and
    ∂y_r/∂x_i = kernel.flat[input_map[r, i]] (−1: the cell is 0), all row-major.  One
    output and one kernel entry meet at most one input entry."""
    targets = scatter_targets3d(t)
    rows = math.prod(t.output_shape)
    x_index = np.arange(math.prod(t.input_shape)).reshape(t.input_shape)
    w_index = np.arange(math.prod(t.kernel_shape)).reshape(t.kernel_shape)
    x_of = np.broadcast_to(x_index[(...,) + (None,) * 4], targets.shape)
    w_of = np.broadcast_to(w_index[None, :, None, None, None], targets.shape)
    valid = targets >= 0
    kernel_map = np.full((rows, w_index.size), -1, dtype=np.int64)
    input_map = np.full((rows, x_index.size), -1, dtype=np.int64)
    kernel_map[targets[valid], w_of[valid]] = x_of[valid]
    input_map[targets[valid], x_of[valid]] = w_of[valid]
    return kernel_map, input_map
