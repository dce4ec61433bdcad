"""Activation derivatives in their tails: σ′ and tanh′ where PyTorch's forms cancel.

σ(x)·(1 − σ(x)) and 1 − tanh²(x) are 0 in float64 above x ≈ 37 and |x| ≈ 19 while σ′(40)
is 4.25e-18 and tanh′(20) 1.70e-17; gradcalc takes σ(x)·σ(−x) and 4·e/(1 + e)², e =
exp(−2|x|), there, and prints the step in that form.  Every elementwise derivative is
compared with a 50-digit mpmath reference over |x| from 1e-300 to 700.
"""

from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from test_pool_properties import examples

from gradcalc.cli.main import main
from gradcalc.core.ops.elementwise import ELEMENTWISE, sigmoid_slope, tanh_slope

# Where 1 − σ(x) or 1 − tanh²(x) cancels by less than 2^-20, PyTorch's form is kept, off by
# at most about 2^-53/2^-20 relative; below, the tail form is good to a few units of 2^-53.
TOLERANCE = 2.0**-32
# Results below the smallest normal float64 (σ′(−740)) keep only the bits left to them.
SUBNORMAL = 2.0**-1068


def gradcalc(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code in (0, 1), result.output
    return result.output


def test_sigmoid_at_40_is_not_zero() -> None:
    """The audit's case: ∂L/∂x printed 0; σ′(40) = σ(40)·σ(−40) = 4.24835e-18."""
    args = ("activation", "--function", "sigmoid", "--input", "40")
    grad = json.loads(gradcalc(*args, "--format", "json"))["results"]["grad_input"]
    with mpmath.workdps(50):
        true = mpmath.sech(20) ** 2 / 4
    assert abs(grad / float(true) - 1) < 1e-15
    text = gradcalc(*args)
    assert "sigmoid′(x) = σ(x)·σ(−x)\n    = 1·4.24835e-18 = 4.24835e-18\n" in text
    assert "1·(1 − 1)" not in text
    assert "PyTorch's σ(x)·(1 − σ(x)) loses those digits" in " ".join(text.split())


def test_tanh_at_20_is_not_zero() -> None:
    """The audit's case: ∂L/∂x printed 0; tanh′(20) = 1/cosh²(20) = 1.69934e-17."""
    args = ("activation", "--function", "tanh", "--input", "20")
    grad = json.loads(gradcalc(*args, "--format", "json"))["results"]["grad_input"]
    with mpmath.workdps(50):
        true = mpmath.sech(20) ** 2
    assert abs(grad / float(true) - 1) < 1e-15
    text = gradcalc(*args)
    assert (
        "tanh′(x) = 4·exp(−2·|x|)/(1 + exp(−2·|x|))²\n"
        "    = 4·exp(−40)/(1 + exp(−40))² = 1.69934e-17\n"
    ) in text
    assert "1 − 1² = 0" not in text
    assert "PyTorch's 1 − tanh²(x) loses those digits" in " ".join(text.split())


@pytest.mark.parametrize("function", ["sigmoid", "tanh"])
def test_ordinary_inputs_keep_pytorchs_form(function: str) -> None:
    """Where nothing cancels the steps and the conventions are as before."""
    text = gradcalc("activation", "--function", function, "--input", "1/2 -3 3")
    assert "σ(−x" not in text and "exp(−2" not in text and "loses those digits" not in text


def test_tail_forms_only_where_pytorchs_cancel() -> None:
    """Bit for bit PyTorch's arithmetic below the switch (|x| < 13.8 for σ, 7.6 for tanh)."""
    x = np.linspace(-13.8, 13.8, 200_001)
    s = 1 / (1 + np.exp(-x))
    slope, tail = sigmoid_slope(x)
    plain = ELEMENTWISE["sigmoid"].remember(x, {})["slope"]
    assert not tail.any() and np.array_equal(slope, plain)
    assert np.array_equal(slope[x >= 0], (s * (1 - s))[x >= 0])
    x = np.linspace(-7.6, 7.6, 200_001)
    slope, tail = tanh_slope(x)
    assert not tail.any() and np.array_equal(slope, 1 - np.tanh(x) ** 2)


def _sigma(x: mpmath.mpf) -> mpmath.mpf:
    return 1 / (1 + mpmath.exp(-x))


REFERENCE = {
    "sigmoid": lambda x: _sigma(x) * _sigma(-x),
    "tanh": lambda x: mpmath.sech(x) ** 2,
    "softplus": lambda x: mpmath.mpf(1) if x > 20 else _sigma(x),
    "elu": lambda x: mpmath.mpf(1) if x > 0 else mpmath.exp(x),
    "gelu": lambda x: mpmath.ncdf(x) + x * mpmath.npdf(x),
    "leaky_relu": lambda x: mpmath.mpf(1) if x > 0 else mpmath.mpf(1) / 100,
    "relu": lambda x: mpmath.mpf(1 if x > 0 else 0),
}
PARAMS = {
    "softplus": {"beta": 1.0, "threshold": 20.0},
    "elu": {"alpha": 1.0},
    "leaky_relu": {"alpha": 0.01},
}


def magnitudes() -> st.SearchStrategy[float]:
    """±10^k for k from −300 to log10(700) (tiny and ordinary), and x up to ±700 (the tails)."""
    return st.one_of(
        st.builds(
            lambda k, sign: sign * 10.0**k,
            st.floats(-300, math.log10(700)),
            st.sampled_from([1.0, -1.0]),
        ),
        st.floats(-700, 700),
    )


@pytest.mark.parametrize("function", sorted(REFERENCE))
@given(x=magnitudes())
@examples(300)
def test_derivatives_match_50_digits(function: str, x: float) -> None:
    slope = float(
        ELEMENTWISE[function].remember(np.array([x]), PARAMS.get(function, {}))["slope"][0]
    )
    with mpmath.workdps(50):
        true = REFERENCE[function](mpmath.mpf(x))
        allowed = TOLERANCE * abs(true) + SUBNORMAL
        if function == "gelu":
            # Φ(x) + x·φ(x) has a root at x ≈ −0.7518: there its two terms cancel whatever
            # the form, and the error is a few units of 2^-53 of the terms, not of the sum.
            allowed += 2.0**-50 * (mpmath.ncdf(x) + abs(x) * mpmath.npdf(x))
        assert abs(slope - true) <= allowed, (function, x, slope, true)


# -- softmax and log_softmax: a dominant entry's 1 − p_j cancels the same way ---------------


@pytest.mark.parametrize("function", ["softmax", "log_softmax"])
def test_softmax_dominant_entry_keeps_its_digits(function: str) -> None:
    """∂L/∂s_0 was 1·(1 − 1) = 0 (softmax) and 1 − 1·1 = 0 (log_softmax) at scores (40, 0),
    upstream (1, 0): true p_0·p_1 and p_1, 4.24835e-18; the Jacobian's diagonal likewise."""
    args = ("softmax", "--function", function, "--input", "40 0", "--upstream", "1 0")
    found = json.loads(gradcalc(*args, "--format", "json", "--show", "jacobian"))["results"]
    with mpmath.workdps(50):
        p0, p1 = _sigma(mpmath.mpf(40)), _sigma(mpmath.mpf(-40))
        true = p0 * p1 if function == "softmax" else p1
    assert abs(found["grad_input"][0] / float(true) - 1) < 1e-15, found
    assert abs(found["jacobian"][0][0] / float(true) - 1) < 1e-15, found
    text = " ".join(gradcalc(*args).split())
    if function == "softmax":
        assert "= 1·((1 − 0)·4.24835e-18) = 4.24835e-18" in text
    else:
        assert "= 1·4.24835e-18 − 1·0 = 4.24835e-18" in text
    assert "PyTorch's float64 loses those digits" in text


# The op's gradients against 50 digits over logits up to ±700: tests/test_softmax_tails.py.
