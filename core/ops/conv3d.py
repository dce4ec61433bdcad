"""The 3-D convolution op: cross-correlation over depth, rows and columns (PyTorch's conv3d,
with groups).  The per-channel bias add is core/ops/conv.py's BIAS_ADD (any number of axes).

Array layout is NCDHW throughout: input ``x`` N×C×D×H×W, kernel ``w`` O×(C/g)×kd×kh×kw
(g groups: output channel o reads only the C/g input channels of its group o // (O/g)),
output ``y`` N×O×D_out×H_out×W_out.  The array code is vectorized (stride tricks + matmul,
as the 2-D op) and runs on float64, int64 and object (Python int) arrays alike: the adapter
(core/ops/adapter.py) makes it exact by running it on integers (the op is bilinear).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from gradcalc.core.ops import Cache, Exactness, Op, Params, Product
from gradcalc.core.records import record

if TYPE_CHECKING:  # imported when --focus is used (start-up cost)
    from gradcalc.core.ops.windows import WindowAxis

Triple = tuple[int, int, int]


@record
class Conv3dGeometry:
    """Every size and hyper-parameter of one 3-D convolution; each triple is (depth, rows,
    columns) and ``padding`` is (front, back, top, bottom, left, right)."""

    batch: int
    in_channels: int
    out_channels: int
    in_size: Triple  # D, H, W
    kernel: Triple  # kd, kh, kw
    stride: Triple
    padding: tuple[int, int, int, int, int, int]
    dilation: Triple
    groups: int = 1  # divides in_channels and out_channels; the kernel is O×(C/g)×kd×kh×kw
    dims: int = 3

    @property
    def group_in(self) -> int:
        """Input channels each group (and so each output channel) reads: C/g."""
        return self.in_channels // self.groups

    @property
    def group_out(self) -> int:
        """Output channels of each group: O/g."""
        return self.out_channels // self.groups

    def group_inputs(self, o: int) -> range:
        """The input channels output channel ``o`` reads."""
        start = (o // self.group_out) * self.group_in
        return range(start, start + self.group_in)

    def group_outputs(self, c: int) -> range:
        """The output channels that read input channel ``c``."""
        start = (c // self.group_in) * self.group_out
        return range(start, start + self.group_out)

    @property
    def before(self) -> Triple:
        """Padding before each axis: front, top, left."""
        return self.padding[0], self.padding[2], self.padding[4]

    @property
    def after(self) -> Triple:
        """Padding after each axis: back, bottom, right."""
        return self.padding[1], self.padding[3], self.padding[5]

    @property
    def padded(self) -> Triple:
        return tuple(
            s + a + b for s, a, b in zip(self.in_size, self.before, self.after, strict=True)
        )  # type: ignore[return-value]

    @property
    def span(self) -> Triple:
        """Cells one (dilated) kernel window covers on each axis: d·(k − 1) + 1."""
        return tuple(d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel, strict=True))  # type: ignore[return-value]

    @property
    def out_size(self) -> Triple:
        """D_out, H_out, W_out."""
        return tuple(
            (p - span) // s + 1
            for p, span, s in zip(self.padded, self.span, self.stride, strict=True)
        )  # type: ignore[return-value]

    @property
    def taps(self) -> int:
        """Kernel entries per channel: kd·kh·kw."""
        return math.prod(self.kernel)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.in_channels, *self.in_size)

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.group_in, *self.kernel)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_channels, *self.out_size)

    def window_axes(self) -> tuple[WindowAxis, WindowAxis, WindowAxis]:
        """The depth, row and column axes of the sliding window (core/ops/windows.py)."""
        from gradcalc.core.ops.windows import WindowAxis

        return tuple(  # type: ignore[return-value]
            WindowAxis(*values)
            for values in zip(
                self.in_size,
                self.kernel,
                self.stride,
                self.dilation,
                self.before,
                self.after,
                self.out_size,
                strict=True,
            )
        )

    @property
    def work(self) -> int:
        """Multiply-adds of one forward pass."""
        return self.batch * self.out_channels * math.prod(self.out_size) * self.group_in * self.taps

    @property
    def most_terms(self) -> int:
        """The most products one entry sums: of y (C·kd·kh·kw), ∂L/∂w (N·D_out·H_out·W_out)
        or ∂L/∂x (O·kd·kh·kw)."""
        return max(
            self.in_channels * self.taps,
            self.batch * math.prod(self.out_size),
            self.out_channels * self.taps,
        )


def pad_input3(x: np.ndarray, padding: tuple[int, ...]) -> np.ndarray:
    """Zero-pad the last three axes of N×C×D×H×W ``x`` by (front, back, top, bottom, left, right)."""
    if not any(padding):
        return x
    front, back, top, bottom, left, right = padding
    d, h, w = x.shape[2:]
    padded = np.zeros(
        (*x.shape[:2], d + front + back, h + top + bottom, w + left + right), dtype=x.dtype
    )
    if x.dtype == object:
        padded.fill(0)
    padded[:, :, front : front + d, top : top + h, left : left + w] = x
    return padded


def tap_windows3(x_padded: np.ndarray, g: Conv3dGeometry) -> np.ndarray:
    """View N×C×D_out×H_out×W_out×kd×kh×kw: the padded input under every tap of every window."""
    view = sliding_window_view(x_padded, g.span, axis=(2, 3, 4))
    sd, sh, sw = g.stride
    dd, dh, dw = g.dilation
    od, oh, ow = g.out_size
    return view[:, :, ::sd, ::sh, ::sw, ::dd, ::dh, ::dw][:, :, :od, :oh, :ow]


def _columns(x_padded: np.ndarray, g: Conv3dGeometry) -> np.ndarray:
    """im2col per batch item: N×(C·kd·kh·kw)×(D_out·H_out·W_out), output positions innermost."""
    windows = tap_windows3(x_padded, g)
    return windows.transpose(0, 1, 5, 6, 7, 2, 3, 4).reshape(
        g.batch, g.in_channels * g.taps, math.prod(g.out_size)
    )


def conv3d_forward(
    x: np.ndarray, w: np.ndarray, g: Conv3dGeometry, columns: np.ndarray | None = None
) -> np.ndarray:
    """Cross-correlation without bias.

    x: N×C×D×H×W, w: O×(C/g)×kd×kh×kw -> y: N×O×D_out×H_out×W_out, with
    y[n,o,t,i,j] = Σ_c,e,m,q x_pad[n, c0(o) + c, t·sd + e·dd, i·sh + m·dh, j·sw + q·dw]·w[o,c,e,m,q]
    (c0(o): the first input channel of o's group).  One matmul per batch item (and group).
    """
    if columns is None:
        columns = _columns(pad_input3(x, g.padding), g)
    if g.groups == 1:
        out = w.reshape(g.out_channels, -1) @ columns
    else:  # N×g×(C/g·taps)×P columns, g×(O/g)×(C/g·taps) kernels: one matmul per group
        per_group = columns.reshape(g.batch, g.groups, -1, columns.shape[-1])
        out = w.reshape(g.groups, g.group_out, -1)[None] @ per_group
    return out.reshape(g.output_shape)


def conv3d_grad_kernel(
    upstream: np.ndarray, x: np.ndarray, g: Conv3dGeometry, columns: np.ndarray | None = None
) -> np.ndarray:
    """∂L/∂w: upstream N×O×D_out×H_out×W_out, x N×C×D×H×W -> O×(C/g)×kd×kh×kw,
    ∂L/∂w[o,c,e,m,q] = Σ_n,t,i,j upstream[n,o,t,i,j]·x_pad[n, c0(o)+c, t·sd+e·dd, i·sh+m·dh, j·sw+q·dw]."""
    if columns is None:
        columns = _columns(pad_input3(x, g.padding), g)
    if g.groups == 1:
        per_item = upstream.reshape(g.batch, g.out_channels, -1) @ columns.transpose(0, 2, 1)
    else:
        per_group = columns.reshape(g.batch, g.groups, -1, columns.shape[-1])
        grouped_up = upstream.reshape(g.batch, g.groups, g.group_out, -1)
        per_item = grouped_up @ per_group.transpose(0, 1, 3, 2)  # N×g×(O/g)×(C/g·taps)
    return per_item.sum(axis=0).reshape(g.kernel_shape)


def conv3d_grad_input(upstream: np.ndarray, w: np.ndarray, g: Conv3dGeometry) -> np.ndarray:
    """∂L/∂x: upstream N×O×D_out×H_out×W_out, w O×(C/g)×kd×kh×kw -> N×C×D×H×W.  Each window's
    gradient (upstream·w) is scattered back onto the cells it read, one vectorized add per
    kernel tap; overlapping windows add up; padding cells are dropped at the end."""
    window_grads = _window_grads(upstream, w, g)  # N×kd×kh×kw×C×D_out×H_out×W_out
    grad_padded = np.zeros((g.batch, g.in_channels, *g.padded), dtype=window_grads.dtype)
    if grad_padded.dtype == object:
        grad_padded.fill(0)
    ends = [s * (o - 1) + 1 for s, o in zip(g.stride, g.out_size, strict=True)]
    sd, sh, sw = g.stride
    dd, dh, dw = g.dilation
    kd, kh, kw = g.kernel
    for e in range(kd):
        for m in range(kh):
            for q in range(kw):
                grad_padded[
                    :,
                    :,
                    e * dd : e * dd + ends[0] : sd,
                    m * dh : m * dh + ends[1] : sh,
                    q * dw : q * dw + ends[2] : sw,
                ] += window_grads[:, e, m, q]
    (front, top, left), (d, h, w_) = g.before, g.in_size
    return grad_padded[:, :, front : front + d, top : top + h, left : left + w_]


def _window_grads(upstream: np.ndarray, w: np.ndarray, g: Conv3dGeometry) -> np.ndarray:
    """N×kd×kh×kw×C×D_out×H_out×W_out: each window tap's gradient upstream·w, per input channel."""
    shape = (g.batch, *g.kernel, g.in_channels, *g.out_size)
    if g.groups == 1:
        taps = w.transpose(2, 3, 4, 1, 0).reshape(-1, g.out_channels)  # (taps·C)×O
        return (taps @ upstream.reshape(g.batch, g.out_channels, -1)).reshape(shape)
    taps = (
        w.reshape(g.groups, g.group_out, g.group_in, *g.kernel)
        .transpose(0, 3, 4, 5, 2, 1)
        .reshape(g.groups, -1, g.group_out)
    )
    grouped = taps[None] @ upstream.reshape(g.batch, g.groups, g.group_out, -1)
    return (
        grouped.reshape(g.batch, g.groups, *g.kernel, g.group_in, *g.out_size)
        .transpose(0, 2, 3, 4, 1, 5, 6, 7, 8)
        .reshape(shape)
    )


def flip3(w: np.ndarray) -> np.ndarray:
    """Reverse the last three axes (true convolution slides the kernel flipped on every axis)."""
    return w[..., ::-1, ::-1, ::-1]


# ---------------------------------------------------------------------------
# conv3d: y = x ⋆ w (the kernel flipped on every spatial axis first when ``flip``)


def correlate(x: np.ndarray, w: np.ndarray, cache: Cache) -> np.ndarray:
    """x: N×C×D×H×W, w: O×(C/g)×kd×kh×kw (as given) -> N×O×D_out×H_out×W_out."""
    return conv3d_forward(x, flip3(w) if cache["flip"] else w, cache["geometry"])


def grad_kernel(grad_y: np.ndarray, x: np.ndarray, cache: Cache) -> np.ndarray:
    """grad_y: N×O×D_out×H_out×W_out, x: N×C×D×H×W -> ∂L/∂w O×(C/g)×kd×kh×kw (unflipped layout)."""
    columns = cache.get("columns") if x is cache.get("input") else None
    slid = conv3d_grad_kernel(grad_y, x, cache["geometry"], columns)
    return flip3(slid) if cache["flip"] else slid


def grad_input(grad_y: np.ndarray, w: np.ndarray, cache: Cache) -> np.ndarray:
    """grad_y: N×O×D_out×H_out×W_out, w: O×(C/g)×kd×kh×kw (as given) -> ∂L/∂x: N×C×D×H×W."""
    return conv3d_grad_input(grad_y, flip3(w) if cache["flip"] else w, cache["geometry"])


def forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: N×C×D×H×W; params: ``kernel`` O×(C/g)×kd×kh×kw, ``geometry`` (Conv3dGeometry),
    ``flip`` (bool).  Returns y: N×O×D_out×H_out×W_out and the cache {"input": x, **params}."""
    cache = {"input": x, **params}
    g, w = params["geometry"], params["kernel"]
    columns = cache["columns"] = _columns(pad_input3(x, g.padding), g)  # ∂L/∂w reads it again
    return conv3d_forward(x, flip3(w) if cache["flip"] else w, g, columns), cache


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: N×O×D_out×H_out×W_out -> {"kernel": O×(C/g)×kd×kh×kw, "input": N×C×D×H×W}."""
    return {
        "kernel": grad_kernel(grad_y, cache["input"], cache),
        "input": grad_input(grad_y, cache["kernel"], cache),
    }


def _geometry(cache: Cache) -> Conv3dGeometry:
    return cache["geometry"]


def _work(cache: Cache) -> int:
    return _geometry(cache).work


CONV3D = Op(
    name="conv3d",
    exactness=Exactness.BILINEAR,
    forward=forward,
    backward=backward,
    products={
        # Terms each entry sums: (C/g)·kd·kh·kw taps, N·D_out·H_out·W_out positions,
        # (O/g)·kd·kh·kw windows; each product makes the forward pass's multiply-adds.
        "output": Product(
            correlate,
            ("input", "kernel"),
            lambda c: _geometry(c).group_in * _geometry(c).taps,
            _work,
        ),
        "kernel": Product(
            grad_kernel,
            ("grad", "input"),
            lambda c: _geometry(c).batch * math.prod(_geometry(c).out_size),
            _work,
        ),
        "input": Product(
            grad_input,
            ("grad", "kernel"),
            lambda c: _geometry(c).group_out * _geometry(c).taps,
            _work,
        ),
    },
)
