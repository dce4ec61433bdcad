"""How numbers are written: one formatter, exact rounding for --decimal."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcalc.cli.main import main
from gradcalc.cli.numbers import NumberStyle

# Wide enough that no line is wrapped to fit (these tests read whole sentences and steps).
ENV = {"COLUMNS": "1000", "NO_COLOR": "1", "FORCE_COLOR": None}


@pytest.mark.parametrize(
    ("value", "precision", "shown"),
    [
        # Exact halves round to even, from the exact value (through a binary float 9/20 was
        # 0.45000000000000001 and became 0.5, while 7/20 became 0.3).
        (Fraction(7, 20), 1, "0.4"),
        (Fraction(9, 20), 1, "0.4"),
        (Fraction(-9, 20), 1, "−0.4"),
        (Fraction(1, 8), 2, "0.12"),
        (Fraction(3, 8), 2, "0.38"),
        (Fraction(5, 8), 2, "0.62"),
        (Fraction(1, 3), 6, "0.333333"),
        (Fraction(2, 3), 6, "0.666667"),
        # A rounded value that would read as a whole number says it is rounded.
        (Fraction(5, 2), 1, "≈2"),
        (Fraction(-5, 2), 1, "≈−2"),
        (Fraction(7, 2), 1, "≈4"),
        (Fraction(123456789, 1000), 6, "≈123457"),
        # Exact values print as they are.
        (Fraction(3), 1, "3"),
        (Fraction(1, 4), 6, "0.25"),
        (Fraction(10**400, 3), 3, "3.33e399"),
        (Fraction(1, 10**400), 6, "1e-400"),
    ],
)
def test_decimals_round_the_exact_value(value: Fraction, precision: int, shown: str) -> None:
    assert NumberStyle(decimal=True, precision=precision).format(value) == shown


def test_a_float_rounded_to_a_whole_number_is_marked() -> None:
    style = NumberStyle(decimal=True, precision=6)
    assert style.format(0.9999999) == "≈1"
    assert style.format(1.0) == "1"
    assert style.format(0.5) == "0.5"
    assert style.factor(Fraction(-5, 2)) == "(−2.5)"
    assert NumberStyle(decimal=True, precision=1).factor(Fraction(5, 2)) == "(≈2)"


def test_a_rounded_exponent_form_is_marked_too() -> None:
    """1.00000001e21 printed as 1e21 read as exactly 10^21; the exact path printed
    1.00000e21 for the same kind of value.  Both now read ≈1e21; exact values stay bare."""
    style = NumberStyle(decimal=True, precision=6)
    assert style.format(1.00000001e21) == "≈1e21"
    assert style.format(Fraction(2 * 10**21 + 1, 2)) == "≈1e21"
    assert style.format(-1.00000001e21) == "≈−1e21"
    assert style.format(1.0000000000065512e-05) == "≈1e-5"
    assert style.format(1e21) == "1e21"
    assert style.format(1e-13) == "1e-13"
    assert style.format(Fraction(10**22, 3)) == "3.33333e21"
    assert NumberStyle(decimal=True, precision=1).format(Fraction(10**22, 3)) == "≈3e21"
    assert style.factor(1.00000001e21) == "(≈1e21)"


def test_decimal_output_of_exact_halves() -> None:
    args = ["dense", "--input", "7/20; 9/20; 5/2; -5/2", "--weight", "1;", "--decimal"]
    result = CliRunner().invoke(
        main, [*args, "--precision", "1", "--show", "forward,results"], env=ENV
    )
    assert result.exit_code == 0, result.output
    assert "= 1·0.4 = 0.4\n" in result.output
    assert "= 1·0.4 = 0.4\n" in result.output.split("y_10")[1]
    assert "= 1·(≈2) = ≈2\n" in result.output
    assert "= 1·(≈−2) = ≈−2\n" in result.output
    assert "exact halves to even" in result.output


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=ENV)
    assert result.exit_code == 0, result.output
    return result.output


TIE = ["pool", "--mode", "max", "--input", "1 -2; -2 1", "--size", "2", "--ties", "split"]


def test_tie_sentences_write_numbers_as_the_tables_do() -> None:
    exact = run(*TIE, "--upstream", "[[9/5]]", "--show", "ties")
    assert "y_00: x_00 = x_11 = 1 (2-way tie; upstream 9/5)" in exact
    decimal = run(*TIE, "--upstream", "[[9/5]]", "--show", "ties", "--decimal")
    assert "(2-way tie; upstream 1.8)" in decimal
    negative = run(*TIE, "--upstream", "[[-1]]", "--show", "ties")
    assert "(2-way tie; upstream −1)" in negative and "-1" not in negative


def test_a_negative_log_sum_exp_is_subtracted() -> None:
    text = run("loss", "--loss", "cross_entropy", "--input", "-1 -2 -3", "--target", "0")
    assert "= −(−1) − 0.592394 = 0.407606" in text
    assert "+ −" not in text


def test_expr_hessian_cells_are_written_as_its_expressions() -> None:
    args = ["expr", "--function", "-x**2*y - 3*y", "--variables", "[x, y]"]
    text = run(*args, "--at", "{x: 1, y: -2}", "--show", "partials,hessian")
    assert "∂²f/∂x² = ∂/∂x (-2*x*y) = -2*y" in text
    assert "x  -2*y  -2*x" in text and "−2*" not in text


def test_sentences_follow_decimal() -> None:
    args = ["activation", "--function", "leaky_relu", "--alpha", "1/4", "--input", "0 1"]
    assert "slope 1/4 on the left, 1 on the right" in run(*args, "--show", "derivative")
    decimal = run(*args, "--show", "derivative", "--decimal")
    assert "slope 0.25 on the left, 1 on the right" in decimal


def test_expr_expected_lines_write_numbers_with_the_formatter() -> None:
    args = ["expr", "--function", "x*y", "--variables", "[x, y]", "--at", "{x: 1/3, y: 2}"]
    args += ["--expected", "{gradient_at: [1/2, 1/3]}", "--show", "expected"]
    result = CliRunner().invoke(main, [*args, "--decimal"], env=ENV)
    assert result.exit_code == 1, result.output
    assert "expected 1/3, computed 0.333333 — ✓" in result.output
    result = CliRunner().invoke(main, [*args, "--at", "{x: -1/3, y: -2}"], env=ENV)
    assert "the expected side is 0.5, the computed side −2" in result.output


def test_an_ignored_sample_names_ignore_index_with_a_minus_sign() -> None:
    text = run("loss", "--loss", "nll", "--input", "-1 -2; -1 -1", "--target", "0 -100")
    assert "target = ignore_index (−100), so" in text


def test_conventions_write_numbers_with_the_formatter() -> None:
    path = str(Path(__file__).parent.parent / "problems" / "cross_entropy_label_smoothing.yaml")
    exact = run("run", path, "--show", "problem")
    assert "label smoothing ε = 1/10: the target mixes (1 − ε) of itself with ε/C = 1/30" in exact
    assert "ignore_index = −100 (no sample has it)" in exact
    decimal = run("run", path, "--show", "problem", "--decimal")
    assert "label smoothing ε = 0.1: the target mixes (1 − ε) of itself with ε/C = 0.0333333" in (
        decimal
    )
    leaky = run("activation", "--function", "leaky_relu", "--alpha", "1/4", "--input", "0 1")
    assert "alpha = 1/4\n" in leaky and "another slope in [1/4, 1]" in leaky


# Numbers of every class a report formats: equal values of different classes among them.
_NUMBERS = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.fractions(max_denominator=10**6),
    st.floats(width=64).map(np.float64),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
    st.booleans(),
    st.booleans().map(np.bool_),
)


@settings(deadline=None)  # a loaded CI machine must not fail it on time alone
@given(
    st.lists(_NUMBERS, min_size=1, max_size=30),
    st.booleans(),
    st.integers(1, 12),
    st.booleans(),
)
def test_a_style_writes_a_number_alike_whatever_it_wrote_before(
    values: list, decimal: bool, precision: int, unicode_minus: bool
) -> None:
    """A style remembers what it wrote, by class and value: what it writes still depends on
    the number alone, never on the numbers written before it (0.5 after Fraction(1, 2), 0.0
    after −0.0, np.float64 after float)."""
    settings = {"decimal": decimal, "precision": precision, "unicode_minus": unicode_minus}
    used = NumberStyle(**settings)
    for value in [*values, *reversed(values)]:
        assert used.format(value) == NumberStyle(**settings).format(value)
        assert used.factor(value) == NumberStyle(**settings).factor(value)


def test_a_style_keeps_equal_numbers_of_other_classes_apart() -> None:
    style = NumberStyle()
    assert [style.format(v) for v in (Fraction(1, 2), 0.5, Fraction(1, 2))] == ["1/2", "0.5", "1/2"]
    assert [style.factor(v) for v in (Fraction(-1, 2), -0.5, np.float64(-0.5))] == [
        "(−1/2)",
        "(−0.5)",
        "(−0.5)",
    ]
    assert [style.format(v) for v in (True, 1, np.bool_(True), np.int64(1))] == [
        "true",
        "1",
        "true",
        "1",
    ]


def test_a_style_cannot_change_after_it_writes() -> None:
    """What a style remembered would no longer be what it writes."""
    style = NumberStyle(decimal=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        style.precision = 3  # type: ignore[misc]
