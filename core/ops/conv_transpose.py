"""Transposed convolution (PyTorch's conv_transpose2d; conv_transpose1d as a 2-D one with
H = kh = 1), built on the conv op it is the adjoint of.

Array layout is NCHW: input ``x`` N×C_in×H×W, kernel ``w`` C_in×(C_out/g)×kh×kw (PyTorch's
weight layout for a transposed convolution, ``g`` groups), output ``y`` N×C_out×H_out×W_out
with H_out = (H − 1)·sh − p_top − p_bottom + dh·(kh − 1) + op_h + 1.

A transposed convolution is the input-gradient of an ordinary convolution: the conv (per
group) that maps an N×(C_out/g)×H_out×W_out image with kernel w (read as O×C = (C_in/g)×(C_out/g))
to N×(C_in/g)×H×W, same stride, padding and dilation (:meth:`ConvTransposeGeometry.adjoint`).
So the forward pass is core/ops/conv.py's ``conv2d_grad_input``, ∂L/∂x is that conv's forward
pass on ∂L/∂y and ∂L/∂w its ``conv2d_grad_kernel``: imported, never copied.  Groups run one
after another (a loop over g groups, each vectorized).  When output_padding is at least the
stride (PyTorch allows it while it is below the dilation) the adjoint conv has more output
rows than x: x is extended with zero rows there, and ∂L/∂x is cut back to H×W.
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.ops import Cache, Exactness, Op, Params, Product
from gradcalc.core.ops.conv import (
    ConvGeometry,
    conv2d_forward,
    conv2d_grad_input,
    conv2d_grad_kernel,
    forward_columns,
)
from gradcalc.core.records import record


@record
class ConvTransposeGeometry:
    """Every size and hyper-parameter of one transposed convolution, in NCHW terms."""

    batch: int
    in_channels: int
    out_channels: int
    groups: int
    in_h: int
    in_w: int
    kernel_h: int
    kernel_w: int
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]  # top, bottom, left, right (cut off the full output)
    dilation: tuple[int, int]
    output_padding: tuple[int, int]  # extra rows at the bottom, columns at the right
    # The spec's spatial axes: 1 (conv_transpose1d: H = kh = 1, stride, dilation 1 and no
    # padding or output_padding on H) or 2.
    dims: int = 2

    @property
    def full_h(self) -> int:
        """Rows every scatter reaches before padding is cut: (H − 1)·sh + dh·(kh − 1) + 1."""
        return (self.in_h - 1) * self.stride[0] + self.dilation[0] * (self.kernel_h - 1) + 1

    @property
    def full_w(self) -> int:
        return (self.in_w - 1) * self.stride[1] + self.dilation[1] * (self.kernel_w - 1) + 1

    @property
    def out_h(self) -> int:
        """(H − 1)·sh − p_top − p_bottom + dh·(kh − 1) + op_h + 1."""
        return self.full_h - self.padding[0] - self.padding[1] + self.output_padding[0]

    @property
    def out_w(self) -> int:
        return self.full_w - self.padding[2] - self.padding[3] + self.output_padding[1]

    @property
    def in_per_group(self) -> int:
        return self.in_channels // self.groups

    @property
    def out_per_group(self) -> int:
        return self.out_channels // self.groups

    # Per spatial axis (rows, columns), as the 3-D geometry (core/ops/conv_transpose3d.py)
    # names them, so that the explanation's index arithmetic serves both.
    @property
    def in_size(self) -> tuple[int, int]:
        return (self.in_h, self.in_w)

    @property
    def kernel(self) -> tuple[int, int]:
        return (self.kernel_h, self.kernel_w)

    @property
    def before(self) -> tuple[int, int]:
        """The padding cut off before each axis: top, left."""
        return (self.padding[0], self.padding[2])

    @property
    def after(self) -> tuple[int, int]:
        """The padding cut off after each axis: bottom, right."""
        return (self.padding[1], self.padding[3])

    @property
    def out_size(self) -> tuple[int, int]:
        return (self.out_h, self.out_w)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.in_channels, self.in_h, self.in_w)

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.out_per_group, self.kernel_h, self.kernel_w)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_channels, self.out_h, self.out_w)

    def adjoint(self) -> ConvGeometry:
        """The conv of one group whose input-gradient this is: H_out×W_out in, C_out/g channels
        in, C_in/g out, the same kernel size, stride, padding and dilation."""
        return ConvGeometry(
            batch=self.batch,
            in_channels=self.out_per_group,
            out_channels=self.in_per_group,
            in_h=self.out_h,
            in_w=self.out_w,
            kernel_h=self.kernel_h,
            kernel_w=self.kernel_w,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
        )

    @property
    def work(self) -> int:
        """Multiply-adds of one forward pass: every input entry times its group's kernel."""
        return (
            self.batch
            * self.in_channels
            * self.out_per_group
            * self.in_h
            * self.in_w
            * self.kernel_h
            * self.kernel_w
        )


def _groups(values: np.ndarray, axis: int, groups: int) -> list[np.ndarray]:
    """``values`` cut into ``groups`` equal parts along ``axis``."""
    size = values.shape[axis] // groups
    return [values.take(range(k * size, (k + 1) * size), axis=axis) for k in range(groups)]


def _extended(x: np.ndarray, conv: ConvGeometry) -> np.ndarray:
    """N×C×H×W ``x`` with zero rows/columns added at the end up to the adjoint conv's
    output size (only when output_padding ≥ stride: otherwise ``x`` itself)."""
    extra_h, extra_w = conv.out_h - x.shape[2], conv.out_w - x.shape[3]
    if not extra_h and not extra_w:
        return x
    grown = np.zeros((*x.shape[:2], conv.out_h, conv.out_w), dtype=x.dtype)
    if x.dtype == object:
        grown.fill(0)
    grown[:, :, : x.shape[2], : x.shape[3]] = x
    return grown


def transposed_forward(x: np.ndarray, w: np.ndarray, t: ConvTransposeGeometry) -> np.ndarray:
    """x: N×C_in×H×W, w: C_in×(C_out/g)×kh×kw -> y: N×C_out×H_out×W_out, with
    y[n, o, a·sh + m·dh − p_top, b·sw + q·dw − p_left] += x[n, c, a, b]·w[c, o − g(c)·C_out/g, m, q]
    over every input entry (c in group g(c)) and kernel tap: the input-gradient of the adjoint conv."""
    conv = t.adjoint()
    x = _extended(x, conv)
    parts = [
        conv2d_grad_input(x_part, w_part, conv)
        for x_part, w_part in zip(_groups(x, 1, t.groups), _groups(w, 0, t.groups), strict=True)
    ]
    return parts[0] if t.groups == 1 else np.concatenate(parts, axis=1)


def transposed_grad_input(
    grad_y: np.ndarray, w: np.ndarray, t: ConvTransposeGeometry
) -> np.ndarray:
    """grad_y: N×C_out×H_out×W_out, w: C_in×(C_out/g)×kh×kw -> ∂L/∂x: N×C_in×H×W, the adjoint
    conv's forward pass (an ordinary cross-correlation of ∂L/∂y with w, group by group)."""
    conv = t.adjoint()
    parts = [
        conv2d_forward(up_part, w_part, conv)
        for up_part, w_part in zip(
            _groups(grad_y, 1, t.groups), _groups(w, 0, t.groups), strict=True
        )
    ]
    grad = parts[0] if t.groups == 1 else np.concatenate(parts, axis=1)
    return grad[:, :, : t.in_h, : t.in_w]


def transposed_grad_kernel(
    grad_y: np.ndarray, x: np.ndarray, t: ConvTransposeGeometry
) -> np.ndarray:
    """grad_y: N×C_out×H_out×W_out, x: N×C_in×H×W -> ∂L/∂w: C_in×(C_out/g)×kh×kw, the adjoint
    conv's kernel gradient with x as its upstream and ∂L/∂y as its input."""
    conv = t.adjoint()
    x = _extended(x, conv)
    parts = [
        conv2d_grad_kernel(x_part, up_part, conv)
        for x_part, up_part in zip(
            _groups(x, 1, t.groups), _groups(grad_y, 1, t.groups), strict=True
        )
    ]
    return parts[0] if t.groups == 1 else np.concatenate(parts, axis=0)


def _output(x: np.ndarray, w: np.ndarray, cache: Cache) -> np.ndarray:
    return transposed_forward(x, w, cache["geometry"])


def _grad_kernel(grad_y: np.ndarray, x: np.ndarray, cache: Cache) -> np.ndarray:
    return transposed_grad_kernel(grad_y, x, cache["geometry"])


def _grad_input(grad_y: np.ndarray, w: np.ndarray, cache: Cache) -> np.ndarray:
    return transposed_grad_input(grad_y, w, cache["geometry"])


def forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: N×C_in×H×W; params: ``kernel`` C_in×(C_out/g)×kh×kw, ``geometry``
    (ConvTransposeGeometry).  Returns y: N×C_out×H_out×W_out and the cache {"input": x, **params}."""
    cache = {"input": x, **params}
    return _output(x, params["kernel"], cache), cache


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: N×C_out×H_out×W_out -> {"kernel": C_in×(C_out/g)×kh×kw, "input": N×C_in×H×W}.

    Both are products of ∂L/∂y's windows (the adjoint conv's im2col matrix), made once per
    group here: the same matmuls as transposed_grad_input and transposed_grad_kernel."""
    t, w = cache["geometry"], cache["kernel"]
    conv = t.adjoint()
    x = _extended(cache["input"], conv)
    kernels, inputs = [], []
    for up_part, w_part, x_part in zip(
        _groups(grad_y, 1, t.groups),
        _groups(w, 0, t.groups),
        _groups(x, 1, t.groups),
        strict=True,
    ):
        grad_x, columns = forward_columns(up_part, w_part, conv)
        inputs.append(grad_x)
        kernels.append(conv2d_grad_kernel(x_part, up_part, conv, columns))
    grad_input = inputs[0] if t.groups == 1 else np.concatenate(inputs, axis=1)
    return {
        "kernel": kernels[0] if t.groups == 1 else np.concatenate(kernels, axis=0),
        "input": grad_input[:, :, : t.in_h, : t.in_w],
    }


def _t(cache: Cache) -> ConvTransposeGeometry:
    return cache["geometry"]


def _work(cache: Cache) -> int:
    return _t(cache).work


CONV_TRANSPOSE2D = Op(
    name="conv_transpose2d",
    exactness=Exactness.BILINEAR,
    forward=forward,
    backward=backward,
    products={
        # Bounds on the terms of one entry: an output gathers at most (C_in/g)·kh·kw products,
        # a kernel entry one per input position (of the extended input), an input entry
        # (C_out/g)·kh·kw.
        "output": Product(
            _output,
            ("input", "kernel"),
            lambda c: _t(c).in_per_group * _t(c).kernel_h * _t(c).kernel_w,
            _work,
        ),
        "kernel": Product(
            _grad_kernel,
            ("grad", "input"),
            lambda c: _t(c).batch * _t(c).adjoint().out_h * _t(c).adjoint().out_w,
            _work,
        ),
        "input": Product(
            _grad_input,
            ("grad", "kernel"),
            lambda c: _t(c).out_per_group * _t(c).kernel_h * _t(c).kernel_w,
            _work,
        ),
    },
)
