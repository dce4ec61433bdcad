"""Exact arithmetic is bounded by digits as well as by work: beyond the cap, one line and exit 2.

The audit's cases: 1,000 (18-30 s) and 2,500 (SIGSEGV under 2 GiB) different 1/<390-digit>
inputs to a dense layer; 12 of them ("Exceeds the limit (4300 digits)"); x**1000 at
123456789/987654321 in kind expr.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from nn_cli import ERROR_LINE, run, run_spec

from gradcalc.core import exact
from gradcalc.core.errors import LimitError

BIG = 10**390


def dense_text(count: int, *, shared: bool = False) -> str:
    entries = ", ".join(f'"1/{BIG + (0 if shared else i)}"' for i in range(count))
    return f"input: [{entries}]\nweight: [[{', '.join('1' for _ in range(count))}]]\n"


@pytest.mark.parametrize("count", [12, 1000, 2500])
def test_many_huge_denominators_are_refused_in_one_line_before_any_heavy_work(
    tmp_path: Path, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = []
    real_lcm = math.lcm

    def counted(*numbers: int) -> int:
        steps.append(len(numbers))
        return real_lcm(*numbers)

    monkeypatch.setattr(exact.math, "lcm", counted)
    result = run_spec(tmp_path, "dense", dense_text(count))
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    assert ERROR_LINE.match(result.stderr), result.stderr
    assert "1,000 digits" in result.stderr and "--float" in result.stderr
    assert "4300" not in result.stderr and "Traceback" not in result.stderr
    # Stopped after a handful of denominators, not after the lcm of all of them.
    assert len(steps) <= 4


def test_the_same_spec_runs_in_float64(tmp_path: Path) -> None:
    result = run_spec(tmp_path, "dense", dense_text(2500), "--float", "--show", "checks")
    assert result.exit_code == 0, result.stderr
    assert "✗" not in result.stdout


def test_huge_denominators_within_the_cap_stay_exact(tmp_path: Path) -> None:
    """Two different 391-digit denominators: a 781-digit common one, under the cap."""
    result = run_spec(tmp_path, "dense", dense_text(2), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert '"exact": true' in result.stdout
    shared = run_spec(tmp_path, "dense", dense_text(1000, shared=True), "--show", "results")
    assert shared.exit_code == 0, shared.stderr


def test_the_cost_of_big_integer_products_is_capped() -> None:
    with pytest.raises(LimitError, match="--float"):
        exact.check_cost(10**6, 10**900, 10**900)
    exact.check_cost(10**4, 10**900, 10**900)  # 10,000 × 2,209 word products: allowed


def test_x_to_the_1000_at_a_fraction_is_not_a_4300_digit_error() -> None:
    for output in ("table", "json", "markdown"):
        result = run(
            "expr", "--function", "x**1000", "--variables", "[x]",
            "--at", "{x: 123456789/987654321}", "--format", output, "--no-color",
        )  # fmt: skip
        assert result.exit_code == 0, (output, result.stderr)
        assert "4300" not in result.stdout + result.stderr
    table = run(
        "expr", "--function", "x**1000", "--variables", "[x]",
        "--at", "{x: 123456789/987654321}", "--no-color",
    )  # fmt: skip
    assert "5.19702E-896" in table.stdout  # (13717421/109739369)^1000, not a false 0
