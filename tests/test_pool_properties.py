"""Property tests: gradcalc's pool against a plain-loop reference and finite differences.

Every example is a random pool problem (mode, rank, channels, batch, window,
stride, padding, dilation, ceil_mode, count_include_pad, divisor_override, p,
tie policy), given to the core as plain Python data exactly as a YAML spec
would give it.  The reference (tests/pool_reference.py) follows PyTorch's loops.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pool_reference as ref
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradcalc.core import registry
from gradcalc.core.spec import Limits, SolveOptions

PROPERTY_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def examples(count: int) -> settings:
    return settings(PROPERTY_SETTINGS, max_examples=count)


BIG_JACOBIAN = Limits(max_jacobian=10**6)
FD_STEP = 1e-6


def nest(flat: list[Any], shape: tuple[int, ...]) -> Any:
    if not shape:
        return flat[0]
    step = math.prod(shape[1:])
    return [nest(flat[k * step : (k + 1) * step], shape[1:]) for k in range(shape[0])]


def spec_text(value: Fraction) -> Any:
    """A Fraction as a spec writes it: an int, or "p/q"."""
    return int(value) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


@st.composite
def pool_cases(draw, mode: str | None = None, distinct: bool = False) -> dict[str, Any]:
    """A random pool problem: the spec plus what the reference needs (NCHW lists).

    ``distinct``: every input value differs from every other by at least 1/3
    (no ties, so max is differentiable; LP inputs then stay positive).
    """
    mode = mode or draw(st.sampled_from(["max", "avg", "lp"]))
    rank = draw(st.sampled_from([2, 3, 4]))
    batch = draw(st.integers(1, 2)) if rank == 4 else 1
    channels = draw(st.integers(1, 2)) if rank >= 3 else 1
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    default_stride = draw(st.booleans())
    if default_stride:
        stride = (kh, kw)
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if mode == "max" else (1, 1)
    padding = (0, 0)
    if mode != "lp":
        padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    ceil_mode = draw(st.booleans())
    height, width = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    out_h = ref.output_size(height, kh, padding[0], stride[0], dilation[0], ceil_mode)
    out_w = ref.output_size(width, kw, padding[1], stride[1], dilation[1], ceil_mode)
    assume(out_h >= 1 and out_w >= 1)
    shape4 = (batch, channels, height, width)
    size = math.prod(shape4)
    if distinct:
        low = 1 if mode == "lp" else -30
        numerators = draw(
            st.lists(st.integers(low, 200), min_size=size, max_size=size, unique=True)
        )
        denominator = draw(st.sampled_from([1, 2, 3]))
        values = [Fraction(v, denominator) for v in numerators]
    else:
        low = 0 if mode == "lp" else -3
        values = [
            Fraction(draw(st.integers(low, 3)), draw(st.sampled_from([1, 1, 2, 3])))
            for _ in range(size)
        ]
    x4 = nest(values, shape4)
    spec_shape = shape4[4 - rank :]
    spec: dict[str, Any] = {
        "kind": "pool",
        "mode": mode,
        "input": nest([spec_text(v) for v in values], spec_shape),
        "size": kh if kh == kw and draw(st.booleans()) else [kh, kw],
    }
    if not default_stride or draw(st.booleans()):
        spec["stride"] = [stride[0], stride[1]]
    if mode == "max":
        spec["dilation"] = [dilation[0], dilation[1]]
        spec["ties"] = draw(st.sampled_from(["first", "all", "split"]))
    if mode != "lp" and (any(padding) or draw(st.booleans())):
        spec["padding"] = [padding[0], padding[1]]
    if ceil_mode or draw(st.booleans()):
        spec["ceil_mode"] = ceil_mode
    if mode == "avg":
        spec["count_include_pad"] = draw(st.booleans())
        if draw(st.booleans()):
            spec["divisor_override"] = draw(st.integers(1, 5))
    if mode == "lp":
        spec["p"] = draw(st.sampled_from([1, 2, 3, "3/2", "5/2"]))
    out_shape4 = (batch, channels, out_h, out_w)
    if draw(st.booleans()):
        upstream_values = [
            Fraction(draw(st.integers(-3, 3)), draw(st.sampled_from([1, 2])))
            for _ in range(math.prod(out_shape4))
        ]
        spec["upstream"] = nest(
            [spec_text(v) for v in upstream_values], spec_shape[:-2] + (out_h, out_w)
        )
    else:
        upstream_values = [Fraction(1)] * math.prod(out_shape4)
    if mode == "max":
        try:  # a dilated window may read padding only: gradcalc refuses such a spec
            ref.max_pool(
                x4,
                nest(upstream_values, out_shape4),
                (kh, kw),
                stride,
                padding,
                dilation,
                ceil_mode,
                "first",
            )
        except ValueError:
            assume(False)
    return {
        "spec": spec,
        "x": x4,
        "upstream": nest(upstream_values, out_shape4),
        "hyper": {
            "kernel": (kh, kw),
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "ceil_mode": ceil_mode,
        },
        "spec_shape": spec_shape,
        "output_shape": spec_shape[:-2] + (out_h, out_w),
    }


def reference(case: dict[str, Any], x: Any = None, upstream: Any = None) -> tuple[Any, Any, Any]:
    """(output, grad_input, argmax or None) from the plain-loop reference, NCHW."""
    spec, h = case["spec"], case["hyper"]
    x = case["x"] if x is None else x
    upstream = case["upstream"] if upstream is None else upstream
    if spec["mode"] == "max":
        return ref.max_pool(
            x,
            upstream,
            h["kernel"],
            h["stride"],
            h["padding"],
            h["dilation"],
            h["ceil_mode"],
            spec["ties"],
        )
    if spec["mode"] == "avg":
        output, grad = ref.avg_pool(
            x,
            upstream,
            h["kernel"],
            h["stride"],
            h["padding"],
            h["ceil_mode"],
            spec["count_include_pad"],
            spec.get("divisor_override"),
        )
        return output, grad, None
    p = float(Fraction(str(spec["p"])))
    output, grad = ref.lp_pool(x, upstream, p, h["kernel"], h["stride"], h["ceil_mode"])
    return output, grad, None


def solve(case: dict[str, Any], **options: Any):
    options.setdefault("limits", BIG_JACOBIAN)
    options.setdefault("gradient_check", False)
    options.setdefault("sections", frozenset())
    return registry.solve(case["spec"], SolveOptions(**options))


def flat(value: Any) -> list[Any]:
    """Row-major entries of a nested list or an array (tuples stay whole)."""
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    if isinstance(value, list):
        return [item for part in value for item in flat(part)]
    return [value]


def lp_is_real(case: dict[str, Any]) -> bool:
    """PyTorch's LP pooling is NaN (gradcalc refuses) for a negative Σ x^p with odd p."""
    return case["spec"]["mode"] != "lp" or all(v >= 0 for v in flat(case["x"]))


# ---------------------------------------------------------------------------
# (a) exact results equal the reference exactly (max and avg, ties included)


@examples(150)
@given(pool_cases(mode="max"))
def test_max_pool_matches_reference_exactly(case: dict[str, Any]) -> None:
    solution = solve(case)
    assert solution.exact
    output, grad, argmax = reference(case)
    assert tuple(solution.results["output_shape"]) == case["output_shape"]
    assert flat(solution.results["output"]) == flat(output)
    assert all(isinstance(v, (Fraction, int)) for v in flat(solution.results["grad_input"]))
    assert flat(solution.results["grad_input"]) == flat(grad)
    got_argmax = [v if isinstance(v, tuple) else int(v) for v in flat(solution.results["argmax"])]
    assert got_argmax == flat(argmax)


@examples(150)
@given(pool_cases(mode="avg"))
def test_avg_pool_matches_reference_exactly(case: dict[str, Any]) -> None:
    solution = solve(case)
    assert solution.exact
    output, grad, _ = reference(case)
    assert flat(solution.results["output"]) == flat(output)
    assert flat(solution.results["grad_input"]) == flat(grad)
    assert "argmax" not in solution.results


@examples(120)
@given(pool_cases(mode="lp"))
def test_lp_pool_matches_reference(case: dict[str, Any]) -> None:
    solution = solve(case)
    assert not solution.exact
    output, grad, _ = reference(case)
    np.testing.assert_allclose(
        np.asarray(flat(solution.results["output"]), dtype=float),
        flat(output),
        rtol=1e-10,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        np.asarray(flat(solution.results["grad_input"]), dtype=float),
        flat(grad),
        rtol=1e-9,
        atol=1e-12,
    )


# ---------------------------------------------------------------------------
# (b) gradients equal central finite differences where the function is differentiable


@examples(90)
@given(pool_cases(distinct=True))
def test_gradients_match_central_finite_differences(case: dict[str, Any]) -> None:
    """Distinct inputs: no ties, so every policy is the derivative; LP inputs > 0."""
    solution = solve(case)
    up = [
        [[[float(v) for v in row] for row in channel] for channel in sample]
        for sample in case["upstream"]
    ]

    def loss(values: list[float]) -> float:
        x = nest(values, tuple(len_ for len_ in shape4(case["x"])))
        output = reference(case, x=x, upstream=up)[0]
        return sum(float(y) * u for y, u in zip(flat(output), flat(up), strict=True))

    base = [float(v) for v in flat(case["x"])]
    analytic = [float(v) for v in flat(solution.results["grad_input"])]
    for k in range(len(base)):
        plus, minus = list(base), list(base)
        plus[k] += FD_STEP
        minus[k] -= FD_STEP
        numeric = (loss(plus) - loss(minus)) / (2 * FD_STEP)
        assert abs(numeric - analytic[k]) <= 1e-5 * (1 + abs(analytic[k])), (
            f"∂L/∂x[{k}]: gradcalc {analytic[k]}, finite differences {numeric}"
        )


def shape4(value: Any) -> tuple[int, ...]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0]
    return tuple(shape)


@examples(80)
@given(pool_cases())
def test_built_in_gradient_check_passes_and_skips_ties(case: dict[str, Any]) -> None:
    """The run-time check skips tied maxima (and LP's Σ x^p = 0 windows) and passes elsewhere."""
    assume(lp_is_real(case))
    solution = solve(case, gradient_check=True)
    check = solution.gradient_check
    if check is None:  # every entry was skipped (e.g. all windows tied)
        return
    assert check.ok, (case["spec"], check)
    if check.entries_checked < min(check.entries_total, 32):
        assert check.note


# ---------------------------------------------------------------------------
# (c) float mode agrees with exact mode; (d) the Jacobian carries the gradient


@examples(60)
@given(pool_cases())
def test_float_mode_agrees_with_exact_mode(case: dict[str, Any]) -> None:
    assume(lp_is_real(case))
    exact = solve(case, sections=frozenset({"jacobian"}))
    approx = solve(case, sections=frozenset({"jacobian"}), force_float=True)
    assert not approx.exact
    assert set(exact.results) == set(approx.results)
    for name, value in exact.results.items():
        if name in ("output_shape", "argmax"):
            assert flat(approx.results[name]) == flat(value)
            continue
        got = np.asarray(approx.results[name])
        assert got.dtype == np.float64, name
        np.testing.assert_allclose(
            got, np.asarray(value, dtype=object).astype(float), rtol=1e-12, atol=1e-12
        )


@examples(60)
@given(pool_cases())
def test_jacobian_times_upstream_gives_gradient(case: dict[str, Any]) -> None:
    assume(lp_is_real(case))
    solution = solve(case, sections=frozenset({"jacobian"}))
    jacobian = np.asarray(solution.results["jacobian_input"], dtype=object)
    upstream = np.asarray(flat(case["upstream"]), dtype=object)
    assert jacobian.shape == (upstream.size, len(flat(case["x"])))
    by_jacobian = upstream @ jacobian
    grad = flat(solution.results["grad_input"])
    if solution.exact:
        assert list(by_jacobian) == grad
    else:
        np.testing.assert_allclose(
            by_jacobian.astype(float), np.asarray(grad, dtype=float), rtol=1e-12, atol=1e-12
        )
