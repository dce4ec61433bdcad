"""LP pooling at any magnitude: tiny and huge inputs give the true norm and gradient.

PyTorch's LPPool2d computes Σ x^p in float and its 1/p-th power: at x = 1e-170 with
p = 2 the square underflows to 0, so the output is 0 and the gradient 0; at 1e100 with
p = 4 it overflows.  gradcalc scales such a window by its largest |x|.  Each result is
compared with a 50-digit Decimal reference written as plain loops
(tests/pool_reference.py), over inputs from 1e-300 to 1e300.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pool_reference as ref
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from test_pool_properties import examples, flat, nest, solve, spec_text

from gradcalc.cli.main import main
from gradcalc.core.ops.pool import lp_pool

POWERS = [1, 2, 3, "3/2", "5/2", 4, 8]
# The spec refuses numbers above 1e100; the op itself is tested up to 1e300.
SPEC_LARGEST_EXPONENT = 96


def close(value: float, reference: Decimal, scale: Decimal, rel: float = 1e-11) -> bool:
    """|value − reference| ≤ rel·(|reference| + scale): relative, with an absolute floor
    ``scale`` for entries that are negligible next to the rest of their window."""
    error = abs(Decimal(float(value)) - reference)
    return error <= Decimal(rel) * (abs(reference) + scale)


@st.composite
def magnitudes(draw, count: int, lowest: int, highest: int, signed: bool) -> list[Fraction]:
    """``count`` values m·10^e around one common exponent (windows whose entries differ by
    up to 10^12, so that several terms matter), some of them 0."""
    center = draw(st.integers(lowest + 12, highest))
    values = []
    for _ in range(count):
        mantissa = draw(st.integers(0, 9999))
        exponent = center - draw(st.integers(0, 12))
        value = Fraction(mantissa) * Fraction(10) ** exponent
        values.append(-value if signed and draw(st.booleans()) else value)
    return values


@st.composite
def windows_cases(draw) -> tuple[list[list[Fraction]], Fraction]:
    p = Fraction(draw(st.sampled_from(POWERS)))
    signed = p.denominator == 1 and p % 2 == 0
    taps = draw(st.integers(1, 9))
    windows = draw(st.lists(magnitudes(taps, -300, 296, signed), min_size=1, max_size=3))
    return windows, p


def decimal_window(values: list[Fraction], p: Fraction) -> tuple[Decimal, list[Decimal]]:
    """One window's y and ∂y/∂x from the plain-loop Decimal reference (upstream 1)."""
    x = [[[values]]]
    out, grad = ref.lp_pool_decimal(x, [[[[1]]]], p, (1, len(values)), (1, len(values)), False)
    return out[0][0][0][0], grad[0][0][0]


@given(windows_cases())
@examples(200)
def test_the_lp_op_is_true_from_1e_minus_300_to_1e300(case) -> None:
    windows, p = case
    exact = [[Fraction(float(v)) for v in window] for window in windows]  # what float64 holds
    # N×C×H_out×W_out×T: one row of windows, each of the same number of taps.
    array = np.array([[[[[float(v) for v in window] for window in windows]]]])
    real = np.ones(array.shape[2:], dtype=bool)
    output, weights, _ = lp_pool(array, real, float(p), np.ones(array.shape[2:4]))
    for k, window in enumerate(exact):
        y, grad = decimal_window(window, p)
        assert close(output[0, 0, 0, k], y, Decimal(0)), (window, p, output[0, 0, 0, k], y)
        largest = max((abs(g) for g in grad), default=Decimal(0))
        for t, g in enumerate(grad):
            assert close(weights[0, 0, 0, k, t], g, largest), (window, p, t, g)


@st.composite
def spec_cases(draw) -> dict[str, Any]:
    """A whole LP spec (windows that overlap, clip with ceil_mode, several channels) with
    inputs from 1e-300 to the spec's limit, and its Decimal reference."""
    p = Fraction(draw(st.sampled_from(POWERS)))
    signed = p.denominator == 1 and p % 2 == 0
    channels, height, width = (
        draw(st.integers(1, 2)),
        draw(st.integers(1, 4)),
        draw(st.integers(1, 4)),
    )
    kh, kw = draw(st.integers(1, min(height, 3))), draw(st.integers(1, min(width, 3)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    ceil_mode = draw(st.booleans())
    values = draw(magnitudes(channels * height * width, -300, SPEC_LARGEST_EXPONENT, signed))
    out_h = ref.output_size(height, kh, 0, stride[0], 1, ceil_mode)
    out_w = ref.output_size(width, kw, 0, stride[1], 1, ceil_mode)
    upstream = [Fraction(draw(st.integers(-3, 3))) for _ in range(channels * out_h * out_w)]
    spec = {
        "kind": "pool",
        "mode": "lp",
        "p": spec_text(p),
        "input": nest([spec_text(v) for v in values], (channels, height, width)),
        "size": [kh, kw],
        "stride": list(stride),
        "ceil_mode": ceil_mode,
        "upstream": nest([spec_text(v) for v in upstream], (channels, out_h, out_w)),
    }
    output, grad = ref.lp_pool_decimal(
        nest(values, (1, channels, height, width)),
        nest(upstream, (1, channels, out_h, out_w)),
        p,
        (kh, kw),
        stride,
        ceil_mode,
    )
    return {"spec": spec, "output": flat(output), "grad": flat(grad), "upstream": upstream}


@given(spec_cases())
@examples(120)
def test_lp_pool_specs_are_true_at_every_magnitude(case: dict[str, Any]) -> None:
    results = solve(case).results
    output = flat(results["output"])
    assert len(output) == len(case["output"])
    for value, reference in zip(output, case["output"], strict=True):
        assert close(value, reference, Decimal(0)), (case["spec"], value, reference)
    # A cell's gradient sums over the windows that read it: bound by the largest term.
    scale = Decimal(int(sum(abs(u) for u in case["upstream"]))) * 2
    for value, reference in zip(flat(results["grad_input"]), case["grad"], strict=True):
        assert close(value, reference, scale), (case["spec"], value, reference)


def run(spec: dict[str, Any], *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["run", "-", *options], input=json.dumps(spec), catch_exceptions=False
    )
    return result.exit_code, result.output


TINY = {
    "kind": "pool",
    "mode": "lp",
    "p": 2,
    "size": 2,
    "input": [["1e-170", 0], [0, 0]],
    "upstream": [[1]],
    "expected": {"output": [["1e-170"]], "grad_input": [[1, 0], [0, 0]]},
}


def test_a_tiny_window_is_not_zero() -> None:
    """The audit's case: (1e-340)^(1/2) was shown as 0 and the correct answer marked ✗."""
    code, text = run(TINY, "--format", "json")
    assert code == 0, text
    results = json.loads(text)["results"]
    assert results["output"] == [[1e-170]]
    assert results["grad_input"] == [[1, 0], [0, 0]]


def test_a_scaled_window_says_so() -> None:
    code, text = run(TINY, "--decimal", "--no-color")
    assert code == 0
    assert "y_00 = m·((x_00/m)^2 + (x_01/m)^2 + (x_10/m)^2 + (x_11/m)^2)^(1/2)" in text
    assert "= 1e-170·(1^2 + 0^2 + 0^2 + 0^2)^(1/2) = 1e-170·(1)^(1/2) = 1e-170" in text
    assert "scaled by its largest |x|" in " ".join(text.split())
    # A window of ordinary numbers is shown (and computed) as before, without m.
    ordinary = {**TINY, "input": [[3, 4], [0, 0]], "expected": {"output": [[5]]}}
    code, text = run(ordinary, "--no-color")
    assert code == 0 and "m·(" not in text and "largest |x|" not in text


def test_huge_windows_with_a_fractional_power_do_not_crash() -> None:
    """(1e100)^(7/2) overflows a Python float: the step used to raise OverflowError."""
    spec = {
        "kind": "pool",
        "mode": "lp",
        "p": "7/2",
        "size": 2,
        "input": [["1e100", "3e99"], [0, 0]],
    }
    code, text = run(spec, "--format", "json")
    assert code == 0, text
    output = json.loads(text)["results"]["output"][0][0]
    assert abs(output / 1.00420e100 - 1) < 1e-5


def test_large_p_does_not_underflow() -> None:
    """p = 64 of 1/1000: (1/1000)^64 = 1e-192 is fine, 1/3000's 1e-223 too, but p = 128
    underflows below 1e-308; the norm is still about the largest entry."""
    spec = {
        "kind": "pool",
        "mode": "lp",
        "p": 128,
        "size": 2,
        "input": [["1/1000", "1/2000"], [0, 0]],
    }
    code, text = run(spec, "--format", "json")
    assert code == 0, text
    results = json.loads(text)["results"]
    assert abs(results["output"][0][0] / 1e-3 - 1) < 1e-12
    assert results["grad_input"][0][0] == 1.0
