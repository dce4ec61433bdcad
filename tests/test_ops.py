"""Property tests of core/ops/: every op's forward and backward, through the one adapter.

Each op is held against two yardsticks that share no code with it:

- exactly (Fractions in, the adapter's exact path) against the plain-loop references
  in tests/ (conv_reference.py, nn_reference.py, pool_reference.py);
- in float64, its backward against central finite differences of L = Σ ∂L/∂y ⊙ y.

The pooling ops take the window layout the pool kind computes (core/ops/pool_geometry.py).

Shapes, hyper-parameters and values are random (hypothesis, derandomized).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import conv_reference as conv_ref
import nn_reference as nn_ref
import numpy as np
import pool_reference as pool_ref
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradcalc.core.ops import Exactness, Op, adapter
from gradcalc.core.ops.conv import BIAS_ADD as CONV_BIAS
from gradcalc.core.ops.conv import CONV2D, ConvGeometry
from gradcalc.core.ops.elementwise import ELEMENTWISE
from gradcalc.core.ops.linear import BIAS_ADD as ROW_BIAS
from gradcalc.core.ops.linear import LINEAR
from gradcalc.core.ops.losses import LOSS_OPS
from gradcalc.core.ops.pool import AVG_POOL, LP_POOL, MAX_POOL
from gradcalc.core.ops.pool_geometry import (
    PoolGeometry,
    avg_divisors,
    lp_scales,
    tap_layout,
)
from gradcalc.core.ops.softmax import SOFTMAX

EXAMPLES = settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def exact_array(values: Any) -> np.ndarray:
    """Nested lists of numbers -> an object array of Fractions (as the kinds read specs)."""
    array = np.asarray(values, dtype=object)
    flat = np.empty(array.size, dtype=object)
    flat[:] = [Fraction(v) for v in array.ravel().tolist()]
    return flat.reshape(array.shape)


def fractions(shape: tuple[int, ...], low: int = -6, high: int = 6) -> st.SearchStrategy:
    """Arrays of small halves and thirds: exact, and never a float64 rounding problem."""
    size = int(np.prod(shape)) if shape else 1
    entry = st.builds(Fraction, st.integers(low, high), st.sampled_from((1, 2, 3)))
    return st.lists(entry, min_size=size, max_size=size).map(
        lambda flat: exact_array(flat).reshape(shape)
    )


def run(op: Op, x: np.ndarray, params: dict, grad_y: np.ndarray, *, exact: bool) -> tuple:
    """(y, gradients) of one op through the adapter."""
    y, trace = adapter.forward(op, x, params, exact=exact)
    return y, adapter.backward(grad_y, trace), trace


def finite_differences(
    loss: Callable[[dict[str, np.ndarray]], float], arrays: dict[str, np.ndarray], step: float
) -> dict[str, np.ndarray]:
    """Central differences of ``loss`` with respect to every entry of every array."""
    grads = {}
    for name, array in arrays.items():
        grads[name] = np.zeros(array.shape)
        for index in np.ndindex(array.shape):
            moved = {key: value.copy() for key, value in arrays.items()}
            moved[name][index] += step
            up = loss(moved)
            moved[name][index] -= 2 * step
            grads[name][index] = (up - loss(moved)) / (2 * step)
    return grads


def as_floats(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=object).astype(float)


def same_exact(computed: np.ndarray, expected: Any) -> None:
    assert (
        np.asarray(computed, dtype=object).tolist() == np.asarray(expected, dtype=object).tolist()
    )


# ---------------------------------------------------------------------------
# conv2d (+ bias)


@st.composite
def conv_problems(draw: st.DrawFn) -> dict[str, Any]:
    batch, channels, out_channels = (draw(st.integers(1, 2)) for _ in range(3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = tuple(draw(st.integers(0, 1)) for _ in range(4))
    span_h, span_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    height = draw(st.integers(max(1, span_h - padding[0] - padding[1]), span_h + 2))
    width = draw(st.integers(max(1, span_w - padding[2] - padding[3]), span_w + 2))
    geometry = ConvGeometry(
        batch=batch,
        in_channels=channels,
        out_channels=out_channels,
        in_h=height,
        in_w=width,
        kernel_h=kh,
        kernel_w=kw,
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    shared_bias = draw(st.booleans())
    return {
        "geometry": geometry,
        "flip": draw(st.booleans()),
        "x": draw(fractions((batch, channels, height, width))),
        "w": draw(fractions((out_channels, channels, kh, kw))),
        "b": draw(fractions(() if shared_bias else (out_channels,))),
        "up": draw(fractions((batch, out_channels, geometry.out_h, geometry.out_w))),
    }


def conv_forward_backward(case: dict[str, Any], *, exact: bool) -> dict[str, np.ndarray]:
    params = {"kernel": case["w"], "geometry": case["geometry"], "flip": case["flip"]}
    y, conv_trace = adapter.forward(CONV2D, case["x"], params, exact=exact)
    y, bias_trace = adapter.forward(CONV_BIAS, y, {"bias": case["b"]}, exact=exact)
    bias_grads = adapter.backward(case["up"], bias_trace)
    grads = adapter.backward(bias_grads["input"], conv_trace)
    return {"y": y, "x": grads["input"], "w": grads["kernel"], "b": bias_grads["bias"]}


@EXAMPLES
@given(conv_problems())
def test_conv2d_exactly_matches_the_plain_loops(case: dict[str, Any]) -> None:
    g = case["geometry"]
    hyper = {
        "stride": g.stride,
        "padding": g.padding,
        "dilation": g.dilation,
        "flip": case["flip"],
        "bias": case["b"].tolist(),
    }
    x, w, up = (case[k].tolist() for k in ("x", "w", "up"))
    ours = conv_forward_backward(case, exact=True)
    same_exact(ours["y"], conv_ref.conv2d(x, w, **hyper))
    grad_x, grad_w, grad_b = conv_ref.conv2d_backward(x, w, up, **hyper)
    same_exact(ours["x"], grad_x)
    same_exact(ours["w"], grad_w)
    same_exact(ours["b"], grad_b)


@EXAMPLES
@given(conv_problems())
def test_conv2d_backward_is_the_finite_difference_gradient(case: dict[str, Any]) -> None:
    floats = {k: as_floats(case[k]) for k in ("x", "w", "b", "up")}
    ours = conv_forward_backward({**case, **floats}, exact=False)

    def loss(arrays: dict[str, np.ndarray]) -> float:
        y = conv_forward_backward({**case, **floats, **arrays}, exact=False)["y"]
        return float(np.sum(floats["up"] * y))

    numeric = finite_differences(loss, {k: floats[k] for k in ("x", "w", "b")}, 1e-3)
    for name, grad in numeric.items():
        np.testing.assert_allclose(ours[name], grad, rtol=1e-7, atol=1e-9)


def test_conv2d_declares_its_products_bilinear() -> None:
    assert CONV2D.exactness is Exactness.BILINEAR
    assert list(CONV2D.products) == ["output", "kernel", "input"]


# ---------------------------------------------------------------------------
# linear (+ bias)


@st.composite
def linear_problems(draw: st.DrawFn) -> dict[str, Any]:
    batch, ins, outs = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    return {
        "x": draw(fractions((batch, ins))),
        "w": draw(fractions((outs, ins))),
        "b": draw(fractions((outs,))),
        "up": draw(fractions((batch, outs))),
    }


def linear_forward_backward(case: dict[str, Any], *, exact: bool) -> dict[str, np.ndarray]:
    y, linear = adapter.forward(LINEAR, case["x"], {"weight": case["w"]}, exact=exact)
    y, bias = adapter.forward(ROW_BIAS, y, {"bias": case["b"]}, exact=exact)
    bias_grads = adapter.backward(case["up"], bias)
    grads = adapter.backward(bias_grads["input"], linear)
    return {"y": y, "x": grads["input"], "w": grads["weight"], "b": bias_grads["bias"]}


@EXAMPLES
@given(linear_problems())
def test_linear_exactly_matches_the_plain_loops(case: dict[str, Any]) -> None:
    ours = linear_forward_backward(case, exact=True)
    expected = nn_ref.dense(*(case[k].tolist() for k in ("x", "w", "b", "up")))
    same_exact(ours["y"], expected["output"])
    same_exact(ours["x"], expected["grad_input"])
    same_exact(ours["w"], expected["grad_weight"])
    same_exact(ours["b"], expected["grad_bias"])


@EXAMPLES
@given(linear_problems())
def test_linear_backward_is_the_finite_difference_gradient(case: dict[str, Any]) -> None:
    floats = {k: as_floats(v) for k, v in case.items()}
    ours = linear_forward_backward(floats, exact=False)

    def loss(arrays: dict[str, np.ndarray]) -> float:
        y = linear_forward_backward({**floats, **arrays}, exact=False)["y"]
        return float(np.sum(floats["up"] * y))

    numeric = finite_differences(loss, {k: floats[k] for k in ("x", "w", "b")}, 1e-3)
    for name, grad in numeric.items():
        np.testing.assert_allclose(ours[name], grad, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------------
# elementwise activations


PARAMS = {
    "relu": {},
    "leaky_relu": {"alpha": Fraction(1, 10)},
    "sigmoid": {},
    "tanh": {},
    "softplus": {"beta": Fraction(2), "threshold": Fraction(3)},
    "elu": {"alpha": Fraction(3, 2)},
    "gelu": {},
}


@EXAMPLES
@given(
    st.sampled_from(sorted(ELEMENTWISE)),
    st.tuples(st.integers(1, 3), st.integers(1, 4)).flatmap(fractions),
    st.data(),
)
def test_activations_match_the_reference_and_finite_differences(
    name: str, x: np.ndarray, data: st.DataObject
) -> None:
    op = ELEMENTWISE[name]
    up = data.draw(fractions(x.shape))
    params = {**PARAMS[name], "subgradient": None}
    # Away from the kinks (0, softplus's threshold) a central difference measures the slope.
    x = x + Fraction(1, 7)
    y, grads, trace = run(op, x, params, up, exact=True)
    assert trace.exact == (op.exactness is Exactness.PIECEWISE)
    reference = [nn_ref.activation(name, v, **PARAMS[name]) for v in x.ravel().tolist()]
    values = np.array([r[0] for r in reference], dtype=object).reshape(x.shape)
    slopes = np.array([r[1] for r in reference], dtype=object).reshape(x.shape)
    if trace.exact:
        same_exact(y, values)
        same_exact(grads["input"], up * slopes)
    else:
        np.testing.assert_allclose(as_floats(y), as_floats(values), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(grads["input"], as_floats(up * slopes), rtol=1e-12, atol=1e-15)

    xf, upf = as_floats(x), as_floats(up)
    y_float, grads_float, _ = run(op, xf, params, upf, exact=False)

    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float(np.sum(upf * adapter.forward(op, arrays["x"], params, exact=False)[0]))

    numeric = finite_differences(loss, {"x": xf}, 1e-6)["x"]
    np.testing.assert_allclose(grads_float["input"], numeric, rtol=1e-5, atol=1e-7)


def test_a_chosen_subgradient_replaces_the_slope_at_zero_only() -> None:
    x = exact_array([-1, 0, 2])
    _, grads, _ = run(
        ELEMENTWISE["relu"], x, {"subgradient": Fraction(1, 2)}, exact_array([1, 1, 1]), exact=True
    )
    same_exact(grads["input"], [0, Fraction(1, 2), 1])


# ---------------------------------------------------------------------------
# softmax and log_softmax


@EXAMPLES
@given(
    st.booleans(),
    st.tuples(st.integers(1, 3), st.integers(1, 5)).flatmap(lambda s: fractions(s, -20, 20)),
    st.data(),
)
def test_softmax_matches_the_reference_and_finite_differences(
    log: bool, scores: np.ndarray, data: st.DataObject
) -> None:
    up = as_floats(data.draw(fractions(scores.shape)))
    y, grads, trace = run(SOFTMAX, scores, {"log": log}, up, exact=True)
    assert not trace.exact  # softmax uses exp: the adapter runs it in float64
    rows = as_floats(scores).tolist()
    expected = [(nn_ref.log_softmax if log else nn_ref.softmax)(row) for row in rows]
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-15)
    by_jacobian = [
        np.array(nn_ref.softmax_jacobian(row, log)).T @ u for row, u in zip(rows, up, strict=True)
    ]
    np.testing.assert_allclose(grads["input"], by_jacobian, rtol=1e-10, atol=1e-12)

    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float(
            np.sum(up * adapter.forward(SOFTMAX, arrays["s"], {"log": log}, exact=False)[0])
        )

    numeric = finite_differences(loss, {"s": as_floats(scores)}, 1e-6)["s"]
    np.testing.assert_allclose(grads["input"], numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "op", [CONV2D, CONV_BIAS, LINEAR, ROW_BIAS, SOFTMAX, *ELEMENTWISE.values()]
)
def test_every_op_declares_an_exactness(op: Op) -> None:
    assert isinstance(op.exactness, Exactness)
    assert op.forward.__doc__ and op.backward.__doc__, f"{op.name}: docstrings state the shapes"


@pytest.mark.parametrize(("name", "slope_at_zero"), [("relu", 0), ("leaky_relu", Fraction(1, 10))])
def test_the_slope_at_a_kink_is_the_left_one_as_in_pytorch(name: str, slope_at_zero: Any) -> None:
    x = exact_array([-2, 0, 3])
    _, grads, _ = run(
        ELEMENTWISE[name], x, {**PARAMS[name], "subgradient": None}, x * 0 + 1, exact=True
    )
    same_exact(grads["input"], [PARAMS[name].get("alpha", 0), slope_at_zero, 1])


# ---------------------------------------------------------------------------
# max, avg and LP pooling


@st.composite
def pool_problems(draw: st.DrawFn, *, padded: bool, dilated: bool) -> dict[str, Any]:
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))) if padded else (0, 0)
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilated else (1, 1)
    span_h, span_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    geometry = PoolGeometry(
        batch=draw(st.integers(1, 2)),
        channels=draw(st.integers(1, 2)),
        in_h=draw(st.integers(max(1, span_h - 2 * padding[0]), span_h + 3)),
        in_w=draw(st.integers(max(1, span_w - 2 * padding[1]), span_w + 3)),
        kernel_h=kh,
        kernel_w=kw,
        stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        padding=padding,
        dilation=dilation,
        ceil_mode=draw(st.booleans()),
    )
    assume(geometry.out_h >= 1 and geometry.out_w >= 1)
    layout = tap_layout(geometry)
    assume(layout.real.any(axis=-1).all())  # every window reads the input (read_problem's rule)
    shape = (geometry.batch, geometry.channels, geometry.in_h, geometry.in_w)
    return {
        "geometry": geometry,
        "layout": layout,
        "x": draw(fractions(shape)),
        "up": draw(fractions((*shape[:2], geometry.out_h, geometry.out_w))),
    }


def _pool_hyper(g: PoolGeometry) -> dict[str, Any]:
    return {
        "kernel": (g.kernel_h, g.kernel_w),
        "stride": g.stride,
        "padding": g.padding,
        "ceil_mode": g.ceil_mode,
    }


@EXAMPLES
@given(pool_problems(padded=True, dilated=True), st.sampled_from(("first", "all", "split")))
def test_max_pool_exactly_matches_the_plain_loops(case: dict[str, Any], ties: str) -> None:
    g = case["geometry"]
    params = {"geometry": g, "layout": case["layout"], "ties": ties}
    y, grads, trace = run(MAX_POOL, case["x"], params, case["up"], exact=True)
    assert trace.exact
    out, grad, _ = pool_ref.max_pool(
        case["x"].tolist(), case["up"].tolist(), dilation=g.dilation, ties=ties, **_pool_hyper(g)
    )
    same_exact(y, out)
    same_exact(grads["input"], grad)


@EXAMPLES
@given(pool_problems(padded=True, dilated=False), st.booleans(), st.sampled_from((None, 1, 5)))
def test_avg_pool_exactly_matches_the_plain_loops(
    case: dict[str, Any], count_include_pad: bool, divisor_override: int | None
) -> None:
    g, layout = case["geometry"], case["layout"]
    divisors = avg_divisors(layout.codes, count_include_pad, divisor_override)
    params = {"geometry": g, "layout": layout, "divisors": divisors}
    y, grads, _ = run(AVG_POOL, case["x"], params, case["up"], exact=True)
    out, grad = pool_ref.avg_pool(
        case["x"].tolist(),
        case["up"].tolist(),
        count_include_pad=count_include_pad,
        divisor_override=divisor_override,
        **_pool_hyper(g),
    )
    same_exact(y, out)
    same_exact(grads["input"], grad)


def _lp_params(case: dict[str, Any], p: int) -> dict[str, Any]:
    g, layout = case["geometry"], case["layout"]
    return {
        "geometry": g,
        "layout": layout,
        "p": Fraction(p),
        "scales": lp_scales(layout.codes, g.taps),
    }


@EXAMPLES
@given(pool_problems(padded=False, dilated=False), st.sampled_from((1, 2, 3)))
def test_lp_pool_matches_the_plain_loops_in_float64(case: dict[str, Any], p: int) -> None:
    x = abs(case["x"]) + 1  # positive: no window sums to 0, x^p is real
    y, grads, trace = run(LP_POOL, x, _lp_params(case, p), case["up"], exact=True)
    assert not trace.exact  # x^(1/p): the adapter runs LP in float64
    g = case["geometry"]
    out, grad = pool_ref.lp_pool(
        x.tolist(), case["up"].tolist(), float(p), (g.kernel_h, g.kernel_w), g.stride, g.ceil_mode
    )
    np.testing.assert_allclose(y, out, rtol=1e-12)
    np.testing.assert_allclose(grads["input"], grad, rtol=1e-10, atol=1e-12)


@EXAMPLES
@given(pool_problems(padded=True, dilated=True), st.sampled_from(("max", "avg", "lp")))
def test_pool_backward_is_the_finite_difference_gradient(case: dict[str, Any], mode: str) -> None:
    g, layout = case["geometry"], case["layout"]
    if mode == "max":
        op, params = MAX_POOL, {"geometry": g, "layout": layout, "ties": "first"}
        # Distinct values a step apart: no ties, so max is differentiable everywhere.
        order = np.random.default_rng(0).permutation(case["x"].size).reshape(case["x"].shape)
        x = order.astype(float)
    elif mode == "avg":
        divisors = avg_divisors(layout.codes, True, None)
        op, params = AVG_POOL, {"geometry": g, "layout": layout, "divisors": divisors}
        x = as_floats(case["x"])
    else:
        op, params = LP_POOL, _lp_params(case, 3)
        x = as_floats(abs(case["x"]) + 1)
    up = as_floats(case["up"])
    _, grads, _ = run(op, x, params, up, exact=False)

    def loss(arrays: dict[str, np.ndarray]) -> float:
        return float(np.sum(up * adapter.forward(op, arrays["x"], params, exact=False)[0]))

    numeric = finite_differences(loss, {"x": x}, 1e-4)["x"]
    np.testing.assert_allclose(grads["input"], numeric, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------
# losses: L against the reference, ∂L/∂x against central differences of the reference


@st.composite
def class_loss_problems(draw: st.DrawFn) -> dict[str, Any]:
    count, classes = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    labels = draw(st.lists(st.integers(0, classes - 1), min_size=count, max_size=count))
    ignored = draw(st.integers(0, count - 1)) if count > 1 and draw(st.booleans()) else None
    if ignored is not None:
        labels[ignored] = -100
    weight = draw(st.none() | fractions((classes,), 1, 4))
    return {
        "x": draw(fractions((count, classes))),
        "labels": np.array(labels),
        "weight": weight,
        "reduction": draw(st.sampled_from(("mean", "sum"))),
    }


def _class_params(case: dict[str, Any], smoothing: Fraction) -> dict[str, Any]:
    return {
        "weight": case["weight"],
        "label_smoothing": smoothing,
        "reduction": case["reduction"],
        "labels": case["labels"],
        "ignore_index": -100,
    }


def _reference_gradient(reference: Callable[[list], float], x: np.ndarray) -> np.ndarray:
    flat = as_floats(x).ravel().tolist()
    return np.array(
        [
            nn_ref.central_difference(lambda v: reference(np.reshape(v, x.shape).tolist()), flat, i)
            for i in range(len(flat))
        ]
    ).reshape(x.shape)


@EXAMPLES
@given(class_loss_problems(), st.sampled_from((Fraction(0), Fraction(1, 10))))
def test_class_losses_match_the_reference(case: dict[str, Any], smoothing: Fraction) -> None:
    weight = None if case["weight"] is None else case["weight"].tolist()
    labels = case["labels"].tolist()
    options = {"weight": weight, "reduction": case["reduction"]}
    # nll takes no label smoothing (PyTorch's NLLLoss has none).
    loss, grads, trace = run(
        LOSS_OPS["nll"], case["x"], _class_params(case, Fraction(0)), 1, exact=True
    )
    assert trace.exact
    assert loss == nn_ref.nll(case["x"].tolist(), labels, **options)
    nll_grad = _reference_gradient(lambda rows: nn_ref.nll(rows, labels, **options), case["x"])
    np.testing.assert_allclose(as_floats(grads["input"]), nll_grad, rtol=1e-6, atol=1e-8)

    options = {**options, "label_smoothing": float(smoothing)}
    params = _class_params(case, smoothing)
    loss, grads, trace = run(LOSS_OPS["cross_entropy"], case["x"], params, 1, exact=True)
    assert not trace.exact
    assert loss == pytest.approx(
        nn_ref.cross_entropy(as_floats(case["x"]).tolist(), labels, **options)
    )
    ce_grad = _reference_gradient(
        lambda rows: nn_ref.cross_entropy(rows, labels, **options), case["x"]
    )
    np.testing.assert_allclose(grads["input"], ce_grad, rtol=1e-5, atol=1e-7)


@EXAMPLES
@given(
    st.sampled_from(("mse", "bce", "bce_with_logits")),
    st.integers(1, 5).flatmap(lambda n: st.tuples(fractions((n,)), fractions((n,), 0, 1))),
    st.sampled_from(("mean", "sum")),
)
def test_elementwise_losses_match_the_reference(
    loss_name: str, arrays: tuple[np.ndarray, np.ndarray], reduction: str
) -> None:
    x, t = arrays
    if loss_name == "bce":  # probabilities strictly inside (0, 1)
        x = (abs(x) % 1 + Fraction(1, 4)) / 2
    params = {"target": t, "weight": None, "reduction": reduction}
    loss, grads, trace = run(LOSS_OPS[loss_name], x, params, 1, exact=True)
    assert trace.exact == (loss_name == "mse")
    reference = {"mse": nn_ref.mse, "bce": nn_ref.bce, "bce_with_logits": nn_ref.bce_with_logits}[
        loss_name
    ]
    targets = as_floats(t).tolist()
    if trace.exact:
        assert loss == reference(x.tolist(), t.tolist(), reduction=reduction)
    else:
        assert loss == pytest.approx(reference(as_floats(x).tolist(), targets, reduction=reduction))
    numeric = _reference_gradient(lambda v: reference(v, targets, reduction=reduction), x)
    np.testing.assert_allclose(as_floats(grads["input"]), numeric, rtol=1e-5, atol=1e-7)
