"""conv_transpose with dims 3 (issue 15: PyTorch's conv_transpose3d): the op
(core/ops/conv_transpose3d.py, built on conv3d's) against a plain-loop scatter
(tests/conv_transpose3d_reference.py) exactly on rationals and against float64 central
differences of the loops."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from conv_transpose3d_reference import conv_transpose3d, out_sizes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcalc.core.ops.conv_transpose3d import (
    ConvTranspose3dGeometry,
    transposed3d_forward,
    transposed3d_grad_input,
    transposed3d_grad_kernel,
)

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENTRY = st.fractions(min_value=-3, max_value=3, max_denominator=4)


def _nested(draw: Any, shape: tuple[int, ...]) -> list:
    if len(shape) == 1:
        return [draw(ENTRY) for _ in range(shape[0])]
    return [_nested(draw, shape[1:]) for _ in range(shape[0])]


@st.composite
def geometries(draw: Any) -> dict[str, Any]:
    """A conv_transpose3d PyTorch accepts: groups dividing C_in, output_padding below the
    stride or the dilation on each axis, at least one output cell on each axis."""
    groups = draw(st.integers(1, 2))
    in_channels, per_out = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    size = tuple(draw(st.integers(1, 3)) for _ in range(3))
    kernel = tuple(draw(st.integers(1, 2)) for _ in range(3))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3))
    extra = tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    padding = tuple(draw(st.integers(0, 1)) for _ in range(6))
    if min(out_sizes(size, kernel, stride, padding, dilation, extra)) < 1:
        padding = (0,) * 6
    return dict(
        batch=draw(st.integers(1, 2)),
        in_channels=in_channels,
        out_channels=per_out * groups,
        groups=groups,
        in_size=size,
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=extra,
    )


def _hyper(g: dict[str, Any]) -> dict[str, Any]:
    keys = ("stride", "padding", "dilation", "output_padding", "groups")
    return {k: g[k] for k in keys}


@SETTINGS
@given(data=st.data())
def test_op_equals_the_plain_loop_scatter_exactly(data: Any) -> None:
    g = data.draw(geometries())
    t = ConvTranspose3dGeometry(**g)
    x = _nested(data.draw, t.input_shape)
    w = _nested(data.draw, t.kernel_shape)
    up = _nested(data.draw, t.output_shape)
    want = conv_transpose3d(x, w, upstream=up, zero=Fraction(0), **_hyper(g))
    xa, wa, upa = (np.array(v, dtype=object) for v in (x, w, up))
    y = transposed3d_forward(xa, wa, t)
    assert y.shape == t.output_shape
    assert (y == np.array(want["output"], dtype=object)).all()
    assert (transposed3d_grad_input(upa, wa, t) == np.array(want["grad_input"], dtype=object)).all()
    grad_w = transposed3d_grad_kernel(upa, xa, t)
    assert (grad_w == np.array(want["grad_kernel"], dtype=object)).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_op_gradients_match_central_differences_of_the_loops(data: Any) -> None:
    """∂L/∂x and ∂L/∂w of L = Σ up ⊙ y (float64) against central differences of the loops."""
    g = data.draw(geometries())
    t = ConvTranspose3dGeometry(**g)
    x, w, up = (
        np.array(_nested(data.draw, shape), dtype=object).astype(float)
        for shape in (t.input_shape, t.kernel_shape, t.output_shape)
    )

    def loss(x_values: np.ndarray, w_values: np.ndarray) -> float:
        out = conv_transpose3d(x_values.tolist(), w_values.tolist(), zero=0.0, **_hyper(g))
        return float(np.sum(np.array(out["output"]) * up))

    h = 1e-6
    for name, array, got in (
        ("x", x, transposed3d_grad_input(up, w, t)),
        ("w", w, transposed3d_grad_kernel(up, x, t)),
    ):
        for index in np.ndindex(*array.shape):
            plus, minus = array.copy(), array.copy()
            plus[index] += h
            minus[index] -= h
            numeric = (
                loss(plus, w) - loss(minus, w) if name == "x" else loss(x, plus) - loss(x, minus)
            ) / (2 * h)
            assert abs(numeric - got[index]) < 1e-5, (name, index, numeric, got[index])
