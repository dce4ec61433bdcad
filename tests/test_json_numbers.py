"""JSON `results` are numbers at every magnitude; exact values beyond float64 sit in exact_results."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from nn_cli import run_json

from gradcalc.cli.numbers import to_json_number

TINY = "1/1" + "0" * 350  # 1e-350: below float64's smallest subnormal


def test_tiny_exact_results_are_numbers_with_the_exact_value_beside(tmp_path: Path) -> None:
    result, document = run_json(
        tmp_path, "activation", f'function: relu\ninput: ["{TINY}", "-1/3", 5]\n'
    )
    assert result.exit_code == 0, result.stderr
    assert document["results"]["output"] == [0.0, 0, 5]
    assert all(isinstance(v, (int, float)) for v in document["results"]["output"])
    assert document["exact_results"]["output"][0] == TINY


def test_a_product_below_1e_300_is_a_number(tmp_path: Path) -> None:
    small = "1/1" + "0" * 200
    result, document = run_json(tmp_path, "dense", f'input: ["{small}"]\nweight: [["{small}"]]\n')
    assert result.exit_code == 0, result.stderr
    assert document["results"]["output"] == [0.0]
    assert document["exact_results"]["output"] == ["1/1" + "0" * 400]


def test_to_json_number_rounds_tiny_values_instead_of_writing_text() -> None:
    assert to_json_number(Fraction(1, 10**310)) == 1e-310  # a subnormal
    assert to_json_number(Fraction(-1, 10**400)) == 0.0
    assert to_json_number(Fraction(10**200, 3)) == float(Fraction(10**200, 3))
