"""Convolution ops: 2-D cross-correlation (PyTorch's conv2d, with groups) and the per-channel
bias add.  A 1-D convolution (conv1d) runs as a 2-D one with H = kh = 1.

Array layout is NCHW throughout: input ``x`` N×C×H×W, kernel ``w`` O×(C/g)×kh×kw (g groups:
output channel o reads only the C/g input channels of its group o // (O/g)),
output ``y`` N×O×H_out×W_out.  The array code is vectorized (stride tricks +
matmul) and runs on float64, int64 and object (Python int) arrays alike: the
adapter (:mod:`gradcalc.core.ops.adapter`) makes it exact by running it on
integers (both ops are declared bilinear).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from gradcalc.core.ops import Cache, Exactness, Op, Params, Product, conv_fused, fused
from gradcalc.core.records import record

if TYPE_CHECKING:  # imported when --focus is used (start-up cost)
    from gradcalc.core.ops.windows import WindowAxis


@record
class ConvGeometry:
    """Every size and hyper-parameter of one convolution, in NCHW terms."""

    batch: int
    in_channels: int
    out_channels: int
    in_h: int
    in_w: int
    kernel_h: int
    kernel_w: int
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]  # top, bottom, left, right
    dilation: tuple[int, int]
    groups: int = 1  # divides in_channels and out_channels; the kernel is O×(C/g)×kh×kw
    dims: int = (
        2  # the spec's spatial axes: 1 (H = kh = 1, stride/dilation 1 and no padding on H) or 2
    )

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
    def padded_h(self) -> int:
        return self.in_h + self.padding[0] + self.padding[1]

    @property
    def padded_w(self) -> int:
        return self.in_w + self.padding[2] + self.padding[3]

    @property
    def span_h(self) -> int:
        """Rows one (dilated) kernel window covers: d·(kh − 1) + 1."""
        return self.dilation[0] * (self.kernel_h - 1) + 1

    @property
    def span_w(self) -> int:
        return self.dilation[1] * (self.kernel_w - 1) + 1

    @property
    def out_h(self) -> int:
        return (self.padded_h - self.span_h) // self.stride[0] + 1

    @property
    def out_w(self) -> int:
        return (self.padded_w - self.span_w) // self.stride[1] + 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        """N×C×H×W (the 3-D geometry, core/ops/conv3d.py, has the same shape properties)."""
        return (self.batch, self.in_channels, self.in_h, self.in_w)

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.group_in, self.kernel_h, self.kernel_w)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_channels, self.out_h, self.out_w)

    def window_axes(self) -> tuple[WindowAxis, WindowAxis]:
        """The row and column axes of the sliding window (core/ops/windows.py, for ``--focus``)."""
        from gradcalc.core.ops.windows import WindowAxis

        top, bottom, left, right = self.padding
        return (
            WindowAxis(
                self.in_h, self.kernel_h, self.stride[0], self.dilation[0], top, bottom, self.out_h
            ),
            WindowAxis(
                self.in_w, self.kernel_w, self.stride[1], self.dilation[1], left, right, self.out_w
            ),
        )

    @property
    def work(self) -> int:
        """Multiply-adds of one forward pass."""
        return (
            self.batch
            * self.out_channels
            * self.out_h
            * self.out_w
            * self.group_in
            * self.kernel_h
            * self.kernel_w
        )

    @property
    def most_terms(self) -> int:
        """The most products one entry sums: of y (C·kh·kw), ∂L/∂w (N·H_out·W_out) or ∂L/∂x
        (O·kh·kw), as the conv2d products below count them."""
        taps = self.kernel_h * self.kernel_w
        return max(
            self.in_channels * taps, self.batch * self.out_h * self.out_w, self.out_channels * taps
        )


def pad_input(x: np.ndarray, padding: tuple[int, int, int, int]) -> np.ndarray:
    """Zero-pad the last two axes of N×C×H×W ``x`` by (top, bottom, left, right)."""
    top, bottom, left, right = padding
    if not any(padding):
        return x
    padded = np.zeros(
        (*x.shape[:2], x.shape[2] + top + bottom, x.shape[3] + left + right), dtype=x.dtype
    )
    if x.dtype == object:
        padded.fill(0)
    padded[:, :, top : top + x.shape[2], left : left + x.shape[3]] = x
    return padded


def tap_windows(x_padded: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """View N×C×H_out×W_out×kh×kw: the padded input under every kernel tap of every window."""
    view = sliding_window_view(x_padded, (g.span_h, g.span_w), axis=(2, 3))
    sh, sw = g.stride
    dh, dw = g.dilation
    return view[:, :, ::sh, ::sw, ::dh, ::dw][:, :, : g.out_h, : g.out_w]


def im2col(x: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """x (N×C×H×W, unpadded)'s im2col matrix N×(C·kh·kw)×(H_out·W_out), padding read as 0:
    by the compiled loop (core/ops/conv_fused.py) for a large float64 x, else by NumPy."""
    columns = conv_fused.im2col(x, g)
    return _columns(pad_input(x, g.padding), g) if columns is None else columns


def _columns(x_padded: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """im2col per batch item: N×(C·kh·kw)×(H_out·W_out) matrix of window entries.

    The output positions are the innermost axis, so the copy moves whole rows of
    W_out (contiguous when the stride is 1) instead of kw-long pieces.
    """
    windows = tap_windows(x_padded, g)  # N×C×H_out×W_out×kh×kw
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(
        g.batch, g.in_channels * g.kernel_h * g.kernel_w, g.out_h * g.out_w
    )


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, g: ConvGeometry, columns: np.ndarray | None = None
) -> np.ndarray:
    """Cross-correlation without bias.

    x: N×C×H×W, w: O×(C/g)×kh×kw -> y: N×O×H_out×W_out, with
    y[n,o,i,j] = Σ_c,m,q x_pad[n, c0(o) + c, i·sh + m·dh, j·sw + q·dw] · w[o,c,m,q]
    (c0(o): the first input channel of o's group; 0 without groups).
    One matmul per batch item (and group), (O × C·kh·kw) @ (C·kh·kw × H_out·W_out): the
    result is already N×O×H_out×W_out, with no transpose.  ``columns``: x's im2col matrix
    when the caller made it already.
    """
    if columns is None:
        columns = im2col(x, g)
    if g.groups == 1:
        out = w.reshape(g.out_channels, -1) @ columns
    else:  # N×g×(C/g·kh·kw)×P columns, g×(O/g)×(C/g·kh·kw) kernels: one matmul per group
        per_group = columns.reshape(g.batch, g.groups, -1, columns.shape[-1])
        out = w.reshape(g.groups, g.group_out, -1)[None] @ per_group
    return out.reshape(g.batch, g.out_channels, g.out_h, g.out_w)


def conv2d_forward_kernels(
    x: np.ndarray, kernels: np.ndarray, g: ConvGeometry, flipped: bool = False
) -> np.ndarray:
    """conv2d_forward(x, kernels[b], g) for every b, x's im2col matrix made once: x N×C×H×W,
    kernels B×O×(C/g)×kh×kw (rotated 180° first when ``flipped``) -> B×N×O×H_out×W_out.
    Each (b, n) is the same matrix product, on the same operands, as conv2d_forward's (the
    whole-chain finite differences of a net move one kernel entry per b)."""
    columns = im2col(x, g)
    w = flip(kernels) if flipped else kernels
    stacked = len(w)
    if g.groups == 1:
        out = w.reshape(stacked, 1, g.out_channels, -1) @ columns[None]
    else:
        per_group = columns.reshape(g.batch, g.groups, -1, columns.shape[-1])
        out = w.reshape(stacked, 1, g.groups, g.group_out, -1) @ per_group[None]
    return out.reshape(stacked, g.batch, g.out_channels, g.out_h, g.out_w)


def forward_columns(x: np.ndarray, w: np.ndarray, g: ConvGeometry) -> tuple[np.ndarray, np.ndarray]:
    """conv2d_forward(x, w, g) and x's im2col matrix (N×(C·kh·kw)×(H_out·W_out)), which
    ∂L/∂w takes again (conv's backward pass, conv_transpose's)."""
    fast = conv_fused.forward_columns(x, w, g)
    if fast is not None:
        return fast
    columns = im2col(x, g)
    return conv2d_forward(x, w, g, columns), columns


def conv2d_grad_kernel(
    upstream: np.ndarray, x: np.ndarray, g: ConvGeometry, columns: np.ndarray | None = None
) -> np.ndarray:
    """∂L/∂w for the correlation above.

    upstream: N×O×H_out×W_out, x: N×C×H×W -> O×(C/g)×kh×kw,
    ∂L/∂w[o,c,m,q] = Σ_n,i,j upstream[n,o,i,j] · x_pad[n, c0(o) + c, i·sh + m·dh, j·sw + q·dw].
    One matmul per batch item (and group), then the N partial sums are added.  ``columns``:
    x's im2col matrix when the forward pass kept it.
    """
    if columns is None:
        columns = im2col(x, g)
    if g.groups == 1:
        per_item = upstream.reshape(g.batch, g.out_channels, -1) @ columns.transpose(0, 2, 1)
    else:
        per_group = columns.reshape(g.batch, g.groups, -1, columns.shape[-1])
        grouped_up = upstream.reshape(g.batch, g.groups, g.group_out, -1)
        per_item = grouped_up @ per_group.transpose(0, 1, 3, 2)  # N×g×(O/g)×(C/g·kh·kw)
    return per_item.sum(axis=0).reshape(g.out_channels, g.group_in, g.kernel_h, g.kernel_w)


def conv2d_grad_input(upstream: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """∂L/∂x for the correlation above.

    upstream: N×O×H_out×W_out, w: O×(C/g)×kh×kw -> N×C×H×W.  Each window's
    gradient (upstream · w) is scattered back onto the cells it read (col2im);
    overlapping windows add up; padding cells are dropped at the end.  The
    window gradients are computed tap-major (N×kh×kw×C×H_out×W_out) so that each
    tap's add reads and writes whole rows of W_out.
    """
    window_grads = _window_grads(upstream, w, g)
    kernel = fused.net_kernel(window_grads)
    if kernel is not None:  # the same adds, tap by tap, without the padded grid
        return conv_fused.col2im(window_grads, g, kernel)
    grad_padded = np.zeros(
        (g.batch, g.in_channels, g.padded_h, g.padded_w), dtype=window_grads.dtype
    )
    if grad_padded.dtype == object:
        grad_padded.fill(0)
    sh, sw = g.stride
    dh, dw = g.dilation
    rows_end = sh * (g.out_h - 1) + 1
    cols_end = sw * (g.out_w - 1) + 1
    # One vectorized add per kernel tap (kh·kw of them), not per element.
    for m in range(g.kernel_h):
        for q in range(g.kernel_w):
            grad_padded[:, :, m * dh : m * dh + rows_end : sh, q * dw : q * dw + cols_end : sw] += (
                window_grads[:, m, q]
            )
    top, _, left, _ = g.padding
    return grad_padded[:, :, top : top + g.in_h, left : left + g.in_w]


def _window_grads(upstream: np.ndarray, w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """N×kh×kw×C×H_out×W_out: each window tap's gradient upstream · w, per input channel."""
    if g.groups == 1:
        taps = w.transpose(2, 3, 1, 0).reshape(-1, g.out_channels)  # (kh·kw·C)×O
        return (taps @ upstream.reshape(g.batch, g.out_channels, -1)).reshape(
            g.batch, g.kernel_h, g.kernel_w, g.in_channels, g.out_h, g.out_w
        )
    # Per group: (kh·kw·C/g)×(O/g) taps times that group's N×(O/g)×P upstream.
    taps = (
        w.reshape(g.groups, g.group_out, g.group_in, g.kernel_h, g.kernel_w)
        .transpose(0, 3, 4, 2, 1)
        .reshape(g.groups, -1, g.group_out)
    )
    grouped = taps[None] @ upstream.reshape(g.batch, g.groups, g.group_out, -1)
    shape = (g.batch, g.groups, g.kernel_h, g.kernel_w, g.group_in, g.out_h, g.out_w)
    return (
        grouped.reshape(shape)
        .transpose(0, 2, 3, 1, 4, 5, 6)
        .reshape(g.batch, g.kernel_h, g.kernel_w, g.in_channels, g.out_h, g.out_w)
    )


def flip(w: np.ndarray) -> np.ndarray:
    """Rotate the last two axes by 180° (true convolution slides the flipped kernel)."""
    return w[..., ::-1, ::-1]


# ---------------------------------------------------------------------------
# conv2d: y = x ⋆ w (the kernel rotated 180° first when ``flip``)


def correlate(x: np.ndarray, w: np.ndarray, cache: Cache) -> np.ndarray:
    """x: N×C×H×W, w: O×(C/g)×kh×kw (as given; slid flipped when ``cache["flip"]``) -> N×O×H_out×W_out."""
    return conv2d_forward(x, flip(w) if cache["flip"] else w, cache["geometry"])


def grad_kernel(grad_y: np.ndarray, x: np.ndarray, cache: Cache) -> np.ndarray:
    """grad_y: N×O×H_out×W_out, x: N×C×H×W -> ∂L/∂w: O×(C/g)×kh×kw, in the given (unflipped) layout."""
    columns = cache.get("columns") if x is cache.get("input") else None
    slid = conv2d_grad_kernel(grad_y, x, cache["geometry"], columns)
    return flip(slid) if cache["flip"] else slid


def grad_input(grad_y: np.ndarray, w: np.ndarray, cache: Cache) -> np.ndarray:
    """grad_y: N×O×H_out×W_out, w: O×(C/g)×kh×kw (as given) -> ∂L/∂x: N×C×H×W."""
    return conv2d_grad_input(grad_y, flip(w) if cache["flip"] else w, cache["geometry"])


def forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: N×C×H×W; params: ``kernel`` O×(C/g)×kh×kw, ``geometry`` (ConvGeometry), ``flip`` (bool:
    true convolution).  Returns y: N×O×H_out×W_out and the cache {"input": x, **params}."""
    cache = {"input": x, **params}
    g, w = params["geometry"], params["kernel"]
    # x's im2col matrix, which ∂L/∂w takes again in the backward pass: made once (float64:
    # the exact path evaluates the products on integers instead of running forward).
    y, cache["columns"] = forward_columns(x, flip(w) if cache["flip"] else w, g)
    return y, cache


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: N×O×H_out×W_out -> {"kernel": O×(C/g)×kh×kw, "input": N×C×H×W}."""
    w = flip(cache["kernel"]) if cache["flip"] else cache["kernel"]
    fast = conv_fused.backward(grad_y, w, cache.get("columns"), cache["geometry"])
    if fast is not None:  # both from the same blocks of samples
        slid, grad_x = fast
        return {"kernel": flip(slid) if cache["flip"] else slid, "input": grad_x}
    return {
        "kernel": grad_kernel(grad_y, cache["input"], cache),
        "input": grad_input(grad_y, cache["kernel"], cache),
    }


def _geometry(cache: Cache) -> ConvGeometry:
    return cache["geometry"]


def _work(cache: Cache) -> int:
    return _geometry(cache).work


CONV2D = Op(
    name="conv2d",
    exactness=Exactness.BILINEAR,
    forward=forward,
    backward=backward,
    products={
        # Terms each entry sums: (C/g)·kh·kw taps, N·H_out·W_out positions, (O/g)·kh·kw windows; each
        # of the three products makes the forward pass's multiply-adds.
        "output": Product(
            correlate,
            ("input", "kernel"),
            lambda c: _geometry(c).group_in * _geometry(c).kernel_h * _geometry(c).kernel_w,
            _work,
        ),
        "kernel": Product(
            grad_kernel,
            ("grad", "input"),
            lambda c: _geometry(c).batch * _geometry(c).out_h * _geometry(c).out_w,
            _work,
        ),
        "input": Product(
            grad_input,
            ("grad", "kernel"),
            lambda c: _geometry(c).group_out * _geometry(c).kernel_h * _geometry(c).kernel_w,
            _work,
        ),
    },
)


# ---------------------------------------------------------------------------
# bias_add: y = x + b, one bias per channel (b: O) or one for all (b: 0-D); x is N×O×H×W
# (conv2d, conv1d) or N×O×D×H×W (conv3d)


def _bias_axes(bias: np.ndarray, ndim: int = 4) -> tuple[int, ...]:
    """The axes of N×O×… (``ndim`` axes: N×O×H×W, or N×O×D×H×W in 3-D) a bias of this shape
    is broadcast over."""
    return tuple(a for a in range(ndim) if a != 1 or bias.ndim == 0)


def bias_forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: N×O×H×W, params ``bias``: O or 0-D -> y: N×O×H×W.

    The cache holds the bias and ``shared``, how many entries of y share one bias entry.
    With ``overwrite`` (a caller whose x is a fresh float64 array no one else holds: a
    net's conv output) the sums are written into x, the same sums without a new array.
    """
    bias = params["bias"]
    per_channel = bias.reshape(1, -1, *(1,) * (x.ndim - 2)) if bias.ndim == 1 else bias
    shared = math.prod(x.shape[axis] for axis in _bias_axes(bias, x.ndim))
    cache = {"bias": bias, "shared": shared}
    if params.get("overwrite") and x.dtype == np.float64 and bias.dtype == np.float64:
        return np.add(x, per_channel, out=x), cache
    return x + per_channel, cache


def bias_grad(grad_y: np.ndarray, cache: Cache) -> np.ndarray:
    """grad_y: N×O×H×W -> ∂L/∂b: the bias's shape (upstream summed over what it is shared by)."""
    return grad_y.sum(axis=_bias_axes(cache["bias"], grad_y.ndim))


def bias_backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: N×O×H×W -> {"bias": O or 0-D, "input": N×O×H×W (grad_y itself)}."""
    return {"bias": bias_grad(grad_y, cache), "input": grad_y}


BIAS_ADD = Op(
    name="bias_add",
    exactness=Exactness.BILINEAR,  # linear: its gradients are sums of ∂L/∂y, scaled to integers
    forward=bias_forward,
    backward=bias_backward,
    products={
        "bias": Product(bias_grad, ("grad",), lambda c: c["shared"]),
        "input": Product(lambda grad_y, cache: grad_y, ("grad",), lambda c: 1),
    },
)
