"""bce and bce_with_logits where a float difference cancels: 1 − x near x = 1, σ(s) − t
near σ(s) = t.  Rounding x to float64 before taking 1 − x kept 4 digits of 1e-13; the
exact input keeps them all.  Compared with a 50-digit Decimal reference (plain formulas
with PyTorch's clamps), and the steps as printed.
"""

from __future__ import annotations

import json
from decimal import Decimal, localcontext
from fractions import Fraction

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from test_pool_properties import examples, spec_text

from gradcalc.cli.main import main
from gradcalc.core.ops.losses import BCE_EPSILON

NEAR_ONE = "9999999999999/10000000000000"  # 1 − 1e-13
# Where a difference cancels by less than 2^-20 gradcalc keeps PyTorch's float arithmetic,
# off by at most about 2^-53/2^-20 relative; below, it is exact to rounding.
TOLERANCE = Decimal(2) ** -32


def gradcalc(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    return result.exit_code, result.output


def results(*args: str) -> dict:
    code, text = gradcalc(*args, "--format", "json")
    assert code in (0, 1), text
    return json.loads(text)["results"]


def test_bce_near_one_takes_one_minus_x_exactly() -> None:
    """The audit's case: ∂L/∂x printed −0.100031; x·(1 − x) = 1e-13 is clamped to 1e-12, so
    ∂L/∂x = (x − 1)/1e-12 = −0.1 (1e-12 as PyTorch's float32 constant holds it).
    L = −log x = 1e-13 (+ 5e-27), not 1.00031e-13."""
    found = results("loss", "--loss", "bce", "--input", NEAR_ONE, "--target", "1")
    assert abs(found["grad_input"] / (-1e-13 / BCE_EPSILON) - 1) < 1e-12
    assert abs(found["loss"] / 1e-13 - 1) < 1e-12
    _, text = gradcalc("loss", "--loss", "bce", "--input", NEAR_ONE, "--target", "1")
    assert "= (≈1 − 1)/max(≈1·1e-13, 1e-12) = −0.1\n" in text
    assert "−0.100031" not in text and "= 1.00031e-13" not in text
    # The conventions say where gradcalc differs from PyTorch's float arithmetic.
    assert "its 1 − x at x = 0.9999999999999 is 1.00031e-13" in " ".join(text.split())


def test_bce_near_one_in_the_target_and_with_weights() -> None:
    """1 − t and x − t are taken exactly too: t = 1 − 1e-13 at x = 1/2 has ℓ = log 2 and
    ∂ℓ/∂x = (1/2 − t)/(1/4); x = t gives ∂ℓ/∂x = 0 however both round."""
    found = results(
        "loss", "--loss", "bce", "--input", f"1/2 {NEAR_ONE}", "--target", f"{NEAR_ONE} {NEAR_ONE}",
        "--weight", "3 2", "--reduction", "sum",
    )  # fmt: skip
    assert abs(found["grad_input"][0] / (3 * (0.5 - (1 - 1e-13)) * 4) - 1) < 1e-12
    assert found["grad_input"][1] == 0
    # ℓ_1 = 2·(−t·log x − (1 − t)·log(1 − x)) at x = t = 1 − 1e-13, with log(1 − x) = log 1e-13
    x = 1e-13
    second = 2 * (-(1 - x) * -x * (1 + x / 2) + x * 29.933606208922594)
    assert abs(found["loss"] - (3 * 0.6931471805599453 + second)) < 1e-15


def test_bce_with_logits_near_one_half_is_tanh() -> None:
    """The audit's case: (0.5 − 0.5) = 2.498e-14 was printed; σ(1e-13) − 1/2 is 2.5e-14."""
    args = ["loss", "--loss", "bce_with_logits", "--input", "1e-13", "--target", "0.5"]
    assert abs(results(*args)["grad_input"] / 2.5e-14 - 1) < 1e-12
    _, text = gradcalc(*args)
    assert (
        "∂L/∂s = (tanh(s/2)/2 + (1/2 − t))\n    = (tanh(1e-13/2)/2 + (1/2 − 0.5)) = 2.5e-14" in text
    )
    assert "2.498e-14" not in text


def test_bce_with_logits_near_one_and_zero() -> None:
    """σ(40) − 1 = −σ(−40) = −4.25e-18 (it was 0); σ(−40) − 0 stays as written; for s > 0,
    max(s, 0) − s·t is s·(1 − t): 1e6·1e-13 = 1e-7, not 1e6·1.00031e-13."""
    found = results(
        "loss", "--loss", "bce_with_logits", "--input", "40 -40 1000000", "--target",
        f"1 0 {NEAR_ONE}", "--reduction", "sum",
    )  # fmt: skip
    sigma = 4.248354255291589e-18
    assert found["grad_input"][0] == -sigma
    assert found["grad_input"][1] == sigma
    assert abs(found["loss"] - (sigma + sigma + 1e-7)) < 1e-20
    _, text = gradcalc("loss", "--loss", "bce_with_logits", "--input", "40", "--target", "1")
    assert "= ((1 − 1) − 4.24835e-18) = −4.24835e-18" in text


# -- against a 50-digit reference -----------------------------------------------------------


def decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def bce_reference(x: Fraction, t: Fraction) -> tuple[Decimal, Decimal]:
    """ℓ and ∂ℓ/∂x with PyTorch's clamps (log ≥ −100, x·(1 − x) ≥ ε), in 50 digits."""
    with localcontext() as context:
        context.prec = 50
        dx, dt = decimal(x), decimal(t)
        log_x = max(dx.ln(), Decimal(-100)) if x > 0 else Decimal(-100)
        log_rest = max((1 - dx).ln(), Decimal(-100)) if x < 1 else Decimal(-100)
        loss = -(dt * log_x + (1 - dt) * log_rest)
        grad = (dx - dt) / max(dx * (1 - dx), Decimal(BCE_EPSILON))
        return +loss, +grad


def logits_reference(s: Fraction, t: Fraction) -> tuple[Decimal, Decimal]:
    with localcontext() as context:
        context.prec = 50
        ds, dt = decimal(s), decimal(t)
        sigma = 1 / (1 + (-ds).exp())
        loss = max(ds, Decimal(0)) - ds * dt + (1 + (-abs(ds)).exp()).ln()
        return +loss, +(sigma - dt)


def near(value: Fraction) -> st.SearchStrategy[Fraction]:
    """value ± m·10^−k: numbers whose float64 rounding loses the digits of their distance."""
    return st.builds(
        lambda m, k, sign: value + sign * Fraction(m, 10**k),
        st.integers(1, 999),
        st.integers(3, 15),
        st.sampled_from([1, -1]),
    )


def relative(found: float, reference: Decimal) -> Decimal:
    if reference == 0:
        return abs(Decimal(found))
    return abs(Decimal(found) - reference) / abs(reference)


@given(
    st.one_of(near(Fraction(1)), near(Fraction(0)), near(Fraction(1, 2))),
    st.one_of(st.sampled_from([Fraction(0), Fraction(1), Fraction(1, 2)]), near(Fraction(1))),
)
@examples(150)
def test_bce_matches_50_digits(x: Fraction, t: Fraction) -> None:
    x = min(max(x, Fraction(0)), Fraction(1))
    t = min(max(t, Fraction(0)), Fraction(1))
    found = results(
        "loss", "--loss", "bce", "--input", str(spec_text(x)), "--target", str(spec_text(t))
    )
    loss, grad = bce_reference(x, t)
    assert relative(found["loss"], loss) < TOLERANCE or abs(found["loss"] - float(loss)) < 1e-300
    assert relative(found["grad_input"], grad) < TOLERANCE, (x, t, found, grad)


@given(
    st.one_of(near(Fraction(0)), st.integers(-40, 40).map(Fraction)),
    st.one_of(near(Fraction(1, 2)), near(Fraction(1)), near(Fraction(0))),
)
@examples(150)
def test_bce_with_logits_gradient_matches_50_digits(s: Fraction, t: Fraction) -> None:
    t = min(max(t, Fraction(0)), Fraction(1))
    args = ["--input", str(spec_text(s)), "--target", str(spec_text(t))]
    found = results("loss", "--loss", "bce_with_logits", *args)
    _, grad = logits_reference(s, t)
    # What float64 can hold of σ(s) − t: the rounding of its larger term, 2^-53·max(σ(s), t)
    # at worst, where σ(s) is irrational and t a number within that of it.
    floor = Decimal(2**-53) * max(decimal(t), Decimal(1) / 2 if abs(s) < 1 else Decimal(0))
    error = abs(Decimal(found["grad_input"]) - grad)
    assert error <= TOLERANCE * abs(grad) + floor, (s, t, found, grad)
