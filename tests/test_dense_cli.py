"""`gradcalc dense` on the command line: output, JSON, exit codes and bad specs."""

from __future__ import annotations

import pytest
from nn_cli import PROBLEMS, run, run_json, run_spec, spec_error

SEED001 = PROBLEMS / "seed001_fully_connected.yaml"
SEED003 = PROBLEMS / "seed003_problem3_dense_row.yaml"

GOOD = """\
kind: dense
input: [1, 2, -1]
weight: [[1, 0, 2], [-1, 1, 0]]
bias: [0, 1]
upstream: [1, -2]
expected:
  output: [-1, OUT1]
"""


@pytest.mark.parametrize(
    "name", ["seed001_fully_connected.yaml", "seed003_problem3_dense_row.yaml", "dense_batch.yaml"]
)
def test_bundled_dense_problems_pass(name: str) -> None:
    result = run("dense", "--spec", str(PROBLEMS / name), "--no-color")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "OK — every check passed" in result.stdout


def test_seed001_walkthrough_shows_every_step() -> None:
    out = run("dense", "--spec", str(SEED001), "--no-color", "--steps", "all").stdout
    # each y_j as a sum, with numbers
    assert "y_0 = W_00·x_0 + W_01·x_1 + W_02·x_2 + b_0" in out
    assert "= 1·2 + 0·(−1) + (−2)·3 + 1 = −3" in out
    # ∂L/∂W entries as the outer product, ∂L/∂b, ∂L/∂x = Wᵀ·∂L/∂y, each with numbers
    assert "∂L/∂W_12 = ∂L/∂y_1·∂y_1/∂W_12" in out
    assert "= (−1)·3 = −3" in out
    assert "∂L/∂b_0 = ∂L/∂y_0·1" in out
    assert "= ∂L/∂y_0·W_00 + ∂L/∂y_1·W_10" in out
    assert "= (1/2)·1 + (−1)·3 = −5/2" in out
    # shapes in the column layout, and the Jacobian tables
    assert "∂L/∂W = ∂L/∂y·xᵀ: (2×1)·(1×3) = 2×3" in out
    assert "∂y/∂x = W (symbols)" in out
    assert "grad_weight" in out and "✓ finite differences" in out


def test_seed003_row_layout_states_row_shapes() -> None:
    out = run("dense", "--spec", str(SEED003), "--no-color", "--show", "identities").stdout
    assert "∂L/∂W = (∂L/∂y)ᵀ·x: (3×1)·(1×4) = 3×4" in out
    assert "∂L/∂x = ∂L/∂y·W: (1×3)·(3×4) = 1×4" in out
    assert "∂L/∂b = ∂L/∂y (1×3)" in out


def test_json_contract(tmp_path) -> None:
    result, document = run_json(tmp_path, "dense", GOOD.replace("OUT1", "2"))
    assert result.exit_code == 0
    assert document["kind"] == "dense" and document["exact"] is True and document["ok"] is True
    results = document["results"]
    assert results["output"] == [-1, 2]
    assert results["grad_weight"] == [[1, 2, -1], [-2, -4, 2]]
    assert results["grad_bias"] == [1, -2]
    assert results["grad_input"] == [3, -2, 2]
    assert results["jacobian_input"] == [[1, 0, 2], [-1, 1, 0]]
    assert document["checks"][0]["name"] == "output"


def test_fractions_are_exact_in_json(tmp_path) -> None:
    text = "input: [1, 1]\nweight: [['1/3', '1/3']]\n"
    _, document = run_json(tmp_path, "dense", text)
    assert document["exact_results"]["output"] == ["2/3"]


def test_wrong_answer_exits_1_and_marks_the_cell(tmp_path) -> None:
    result = run_spec(tmp_path, "dense", GOOD.replace("OUT1", "3"))
    assert result.exit_code == 1
    assert "✗ output: 1 of 2 values wrong" in result.stdout
    assert "✗ 3 → 2" in result.stdout


BAD_SPECS = {
    "weight transposed": (
        "input: [1, 2, 3]\nweight: [[1, 2], [3, 4], [5, 6]]\n",
        (2, 9),
        "weight is 3×2 but each input sample has L = 3 entries",
    ),
    "bias length": (
        "input: [1, 2]\nweight: [[1, 2], [3, 4]]\nbias: [1, 2, 3]\n",
        (3, 7),
        "bias has 3 entries but the weight has O = 2 rows",
    ),
    "upstream shape": (
        "input: [1, 2]\nweight: [[1, 2], [3, 4]]\nupstream: [1, 2, 3]\n",
        (3, 11),
        "upstream is a list of 3 but the output y is a list of 2",
    ),
    "unknown layout": (
        "input: [1, 2]\nweight: [[1, 2]]\nlayout: diagonal\n",
        (3, 9),
        "unknown layout 'diagonal'; allowed: column, row",
    ),
    "missing weight": ("input: [1, 2]\n", (1, 1), "missing required key 'weight'"),
    "input too deep": (
        "input: [[[1, 2]]]\nweight: [[1, 2]]\n",
        (1, 8),
        "input has 3 dimensions",
    ),
    # Issue 18: a flat [1, 2] for the 1×2 grad_weight is now read (run and check share one
    # reader), so the wrong shape here is a list of 3.
    "expected shape": (
        "input: [1, 2]\nweight: [[1, 2]]\nexpected:\n  grad_weight: [1, 2, 3]\n",
        (4, 16),
        "expected.grad_weight is 3 but grad_weight is 1×2",
    ),
    "unknown key": (
        "input: [1, 2]\nweight: [[1, 2]]\nbiass: [1]\n",
        (3, 1),
        "did you mean 'bias'?",
    ),
}


@pytest.mark.parametrize("case", BAD_SPECS, ids=list(BAD_SPECS))
def test_bad_specs_give_one_positioned_line(tmp_path, case: str) -> None:
    text, position, words = BAD_SPECS[case]
    line, column, message = spec_error(run_spec(tmp_path, "dense", text))
    assert (line, column) == position, message
    assert words in message


def test_spec_of_another_kind_is_refused(tmp_path) -> None:
    _, _, message = spec_error(run_spec(tmp_path, "dense", "kind: loss\ninput: [1]\n"))
    assert "gradcalc loss" in message


def test_help_lists_examples_and_sections() -> None:
    out = run("dense", "--help").stdout
    assert "problems/seed001_fully_connected.yaml" in out
    assert "identities" in out
