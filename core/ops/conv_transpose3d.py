"""3-D transposed convolution (PyTorch's conv_transpose3d, with groups), built on the conv3d op
it is the adjoint of.

Array layout is NCDHW: input ``x`` N×C_in×D×H×W, kernel ``w`` C_in×(C_out/g)×kd×kh×kw
(PyTorch's weight layout for a transposed convolution, ``g`` groups), output ``y``
N×C_out×D_out×H_out×W_out with, on each axis, size_out = (size − 1)·s − p_before − p_after +
d·(k − 1) + output_padding + 1.

A transposed convolution is the input-gradient of an ordinary convolution: the conv3d that
maps an N×C_out×D_out×H_out×W_out volume with kernel w (read as conv3d's O×(C/g) =
C_in×(C_out/g), the same groups) to N×C_in×D×H×W, same stride, padding and dilation
(:meth:`ConvTranspose3dGeometry.adjoint`).  So the forward pass is core/ops/conv3d.py's
``conv3d_grad_input``, ∂L/∂x is that conv's forward pass on ∂L/∂y and ∂L/∂w its
``conv3d_grad_kernel`` with x as the upstream: imported, never copied (conv3d runs the groups
itself).  When output_padding is at least the stride (PyTorch allows it while it is below the
dilation) the adjoint conv has more output cells than x on that axis: x is extended with zeros
there, and ∂L/∂x is cut back to D×H×W.
"""

from __future__ import annotations

import math

import numpy as np

from gradcalc.core.ops import Cache, Exactness, Op, Params, Product
from gradcalc.core.ops.conv3d import (
    Conv3dGeometry,
    conv3d_forward,
    conv3d_grad_input,
    conv3d_grad_kernel,
)
from gradcalc.core.records import record

Triple = tuple[int, int, int]


@record
class ConvTranspose3dGeometry:
    """Every size and hyper-parameter of one 3-D transposed convolution; each triple is
    (depth, rows, columns), ``padding`` (front, back, top, bottom, left, right) is cut off the
    scattered output and ``output_padding`` adds cells at the back, bottom and right."""

    batch: int
    in_channels: int
    out_channels: int
    groups: int
    in_size: Triple  # D, H, W
    kernel: Triple  # kd, kh, kw
    stride: Triple
    padding: tuple[int, int, int, int, int, int]
    dilation: Triple
    output_padding: Triple
    dims: int = 3

    @property
    def before(self) -> Triple:
        """Padding cut before each axis: front, top, left."""
        return self.padding[0], self.padding[2], self.padding[4]

    @property
    def after(self) -> Triple:
        """Padding cut after each axis: back, bottom, right."""
        return self.padding[1], self.padding[3], self.padding[5]

    @property
    def full_size(self) -> Triple:
        """Cells every scatter reaches on each axis before the padding is cut:
        (size − 1)·s + d·(k − 1) + 1."""
        return tuple(  # type: ignore[return-value]
            (n - 1) * s + d * (k - 1) + 1
            for n, s, d, k in zip(
                self.in_size, self.stride, self.dilation, self.kernel, strict=True
            )
        )

    @property
    def out_size(self) -> Triple:
        """D_out, H_out, W_out: (size − 1)·s − p_before − p_after + d·(k − 1) + op + 1."""
        return tuple(  # type: ignore[return-value]
            full - a - b + extra
            for full, a, b, extra in zip(
                self.full_size, self.before, self.after, self.output_padding, strict=True
            )
        )

    @property
    def in_per_group(self) -> int:
        return self.in_channels // self.groups

    @property
    def out_per_group(self) -> int:
        return self.out_channels // self.groups

    @property
    def taps(self) -> int:
        return math.prod(self.kernel)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.in_channels, *self.in_size)

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.out_per_group, *self.kernel)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_channels, *self.out_size)

    def adjoint(self) -> Conv3dGeometry:
        """The conv3d whose input-gradient this is: D_out×H_out×W_out in, C_out channels in,
        C_in out, the same kernel size, stride, padding, dilation and groups."""
        return Conv3dGeometry(
            batch=self.batch,
            in_channels=self.out_channels,
            out_channels=self.in_channels,
            in_size=self.out_size,
            kernel=self.kernel,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
        )

    @property
    def work(self) -> int:
        """Multiply-adds of one forward pass: every input entry times its group's kernel."""
        return (
            self.batch * self.in_channels * math.prod(self.in_size) * self.out_per_group * self.taps
        )


def _extended(x: np.ndarray, conv: Conv3dGeometry) -> np.ndarray:
    """N×C×D×H×W ``x`` with zeros added at the end of each axis up to the adjoint conv's output
    size (only when output_padding ≥ stride there: otherwise ``x`` itself)."""
    if tuple(x.shape[2:]) == tuple(conv.out_size):
        return x
    grown = np.zeros((*x.shape[:2], *conv.out_size), dtype=x.dtype)
    if x.dtype == object:
        grown.fill(0)
    d, h, w = x.shape[2:]
    grown[:, :, :d, :h, :w] = x
    return grown


def transposed3d_forward(x: np.ndarray, w: np.ndarray, t: ConvTranspose3dGeometry) -> np.ndarray:
    """x: N×C_in×D×H×W, w: C_in×(C_out/g)×kd×kh×kw -> y: N×C_out×D_out×H_out×W_out, with
    y[n, o, a·sd + e·dd − p_front, b·sh + m·dh − p_top, c'·sw + q·dw − p_left]
    += x[n, c, a, b, c']·w[c, o − g(c)·C_out/g, e, m, q] over every input entry and kernel tap
    (c in group g(c)): the input-gradient of the adjoint conv3d with x as its upstream."""
    conv = t.adjoint()
    return conv3d_grad_input(_extended(x, conv), w, conv)


def transposed3d_grad_input(
    grad_y: np.ndarray, w: np.ndarray, t: ConvTranspose3dGeometry
) -> np.ndarray:
    """grad_y: N×C_out×D_out×H_out×W_out, w: C_in×(C_out/g)×kd×kh×kw -> ∂L/∂x: N×C_in×D×H×W,
    the adjoint conv3d's forward pass (a cross-correlation of ∂L/∂y with w, per group)."""
    d, h, w_ = t.in_size
    return conv3d_forward(grad_y, w, t.adjoint())[:, :, :d, :h, :w_]


def transposed3d_grad_kernel(
    grad_y: np.ndarray, x: np.ndarray, t: ConvTranspose3dGeometry
) -> np.ndarray:
    """grad_y: N×C_out×D_out×H_out×W_out, x: N×C_in×D×H×W -> ∂L/∂w: C_in×(C_out/g)×kd×kh×kw,
    the adjoint conv3d's kernel gradient with x as its upstream and ∂L/∂y as its input."""
    conv = t.adjoint()
    return conv3d_grad_kernel(_extended(x, conv), grad_y, conv)


def _output(x: np.ndarray, w: np.ndarray, cache: Cache) -> np.ndarray:
    return transposed3d_forward(x, w, cache["geometry"])


def _grad_kernel(grad_y: np.ndarray, x: np.ndarray, cache: Cache) -> np.ndarray:
    return transposed3d_grad_kernel(grad_y, x, cache["geometry"])


def _grad_input(grad_y: np.ndarray, w: np.ndarray, cache: Cache) -> np.ndarray:
    return transposed3d_grad_input(grad_y, w, cache["geometry"])


def forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: N×C_in×D×H×W; params: ``kernel`` C_in×(C_out/g)×kd×kh×kw, ``geometry``
    (ConvTranspose3dGeometry).  Returns y: N×C_out×D_out×H_out×W_out and the cache
    {"input": x, **params}."""
    cache = {"input": x, **params}
    return _output(x, params["kernel"], cache), cache


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: N×C_out×D_out×H_out×W_out -> {"kernel": C_in×(C_out/g)×kd×kh×kw,
    "input": N×C_in×D×H×W}."""
    return {
        "kernel": _grad_kernel(grad_y, cache["input"], cache),
        "input": _grad_input(grad_y, cache["kernel"], cache),
    }


def _t(cache: Cache) -> ConvTranspose3dGeometry:
    return cache["geometry"]


def _work(cache: Cache) -> int:
    return _t(cache).work


CONV_TRANSPOSE3D = Op(
    name="conv_transpose3d",
    exactness=Exactness.BILINEAR,
    forward=forward,
    backward=backward,
    products={
        # Bounds on the terms of one entry: an output gathers at most (C_in/g)·kd·kh·kw
        # products, a kernel entry one per input position (of the extended input), an input
        # entry (C_out/g)·kd·kh·kw.
        "output": Product(
            _output, ("input", "kernel"), lambda c: _t(c).in_per_group * _t(c).taps, _work
        ),
        "kernel": Product(
            _grad_kernel,
            ("grad", "input"),
            lambda c: _t(c).batch * math.prod(_t(c).adjoint().out_size),
            _work,
        ),
        "input": Product(
            _grad_input, ("grad", "kernel"), lambda c: _t(c).out_per_group * _t(c).taps, _work
        ),
    },
)
