"""Fair shapes, one rule everywhere (issue 18): every result accepts its own shape and its
entries in row-major order written flat, as one row (1×n) or as one column (n×1), with a note
naming the reading; any other shape is a named mistake.  ``run``'s ``expected`` and
``check``'s answers go through the one reader (core/answers.py)."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from gradcalc.cli.main import main
from gradcalc.core.answers import fit, reading_note, shape_mistake
from gradcalc.core.grading import Problem
from gradcalc.problems import PROBLEMS_DIR

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}

# Seed 004 Task 3 (a): ∂L/∂K = [[2, 1], [−1, 5]], which seed 004 writes as the row [2, 1, −1, 5].
TASK3 = (PROBLEMS_DIR / "task3.yaml").read_text(encoding="utf-8")
KERNEL = "grad_kernel: [[2, 1], [-1, 5]]"
# One dense layer: output [7, 0] (2), ∂L/∂x [1, 1, 1] (3), ∂L/∂W = [[1, 2, 3], [1, 2, 3]] (2×3).
DENSE = """\
kind: dense
input: [1, 2, 3]
weight: [[1, 0, 2], [0, 1, -1]]
bias: [0, 1]
points: {output: 1, grad_input: 1, grad_weight: 1}
"""


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)


def submission(tmp_path: Path, answers: dict, problem: str = "p.yaml") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps({"problem": problem, "answers": answers}), encoding="utf-8")
    return path


# -- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer_shape", "how"),
    [((2, 2), ""), ((4,), "flat"), ((1, 4), "the 1×4 row"), ((4, 1), "the 4×1 column")],
)
def test_a_result_accepts_its_shape_a_flat_list_a_row_and_a_column(answer_shape, how):
    answer = np.arange(4, dtype=object).reshape(answer_shape)
    fitted, read = fit(answer, (2, 2))
    assert fitted is not None and fitted.tolist() == [[0, 1], [2, 3]]
    assert read == how


@pytest.mark.parametrize("answer_shape", [(2, 2, 1), (1, 2, 2), (4, 1, 1)])
def test_no_other_shape_is_read(answer_shape):
    assert fit(np.zeros(answer_shape, dtype=object), (2, 2)) == (None, "")


def test_a_transpose_is_not_read_but_named():
    assert fit(np.zeros((3, 2), dtype=object), (2, 3)) == (None, "")
    assert "rows and columns swapped" in shape_mistake((3, 2), (2, 3))
    assert "4 entries instead of 3" in shape_mistake((2, 2), (3,))
    assert "another shape" in shape_mistake((2, 3), (3, 2, 1))


def test_the_note_names_the_reading():
    assert reading_note("flat", (2, 2)) == "read flat in row-major order as 2×2"
    assert reading_note("the 1×4 row", (2, 2)) == "read the 1×4 row in row-major order as 2×2"
    assert reading_note("", (2, 2)) == ""


# -- check --------------------------------------------------------------------------------------


def test_seed_004s_row_for_grad_kernel_scores(tmp_path: Path):
    (tmp_path / "p.yaml").write_text(TASK3, encoding="utf-8")
    answers = {"output": [[4], [-3], [-2]], "jacobian_kernel": [[2, -1, 0, -1], [0, -1, 1, 1]]}
    answers["jacobian_kernel"].append([1, 1, -1, 2])
    answers["grad_kernel"] = [[2, 1, -1, 5]]  # seed 004's own 1×4 row
    source = submission(tmp_path, answers)
    sheet, junit = tmp_path / "g.csv", tmp_path / "r.xml"
    table = invoke("check", str(source), "--csv", str(sheet), "--junit", str(junit))
    assert table.exit_code == 0, table.output
    assert (
        "grad_kernel: 4 values match, 1/1 points (read the 1×4 row in row-major order as 2×2)"
        in (table.output)
    )
    document = json.loads(invoke("check", "--format", "json", str(source)).output)
    kernel = document["files"][0]["results"][2]
    assert kernel["ok"] and kernel["score"] == 1 and kernel["flat_as"] == "2×2"
    assert kernel["reading"] == "read the 1×4 row in row-major order as 2×2"
    row = next(csv.DictReader(io.StringIO(sheet.read_text(encoding="utf-8"))))
    assert row["grad_kernel"] == "1" and row["status"] == "pass"
    assert ET.parse(junit).getroot().get("failures") == "0"


def test_a_column_and_a_flat_list_score_too(tmp_path: Path):
    (tmp_path / "p.yaml").write_text(DENSE, encoding="utf-8")
    answers = {"output": [[7], [0]], "grad_input": [1, 1, 1], "grad_weight": [1, 2, 3, 1, 2, 3]}
    result = invoke("check", str(submission(tmp_path, answers)))
    assert result.exit_code == 0, result.output
    assert (
        "output: 2 values match, 1/1 points (read the 2×1 column in row-major order as a list of 2)"
        in (result.output)
    )
    assert "(read flat in row-major order as 2×3)" in result.output


def test_a_transposed_answer_is_diagnosed_not_excused(tmp_path: Path):
    (tmp_path / "p.yaml").write_text(DENSE, encoding="utf-8")
    answers = {"output": [7, 0], "grad_input": [1, 1, 1], "grad_weight": [[1, 1], [2, 2], [3, 3]]}
    source = submission(tmp_path, answers)
    junit = tmp_path / "r.xml"
    result = invoke("check", str(source), "--junit", str(junit))
    assert result.exit_code == 1
    assert "✗ grad_weight: the answer is 3×2, not the result's shape, 0/1 points" in result.output
    assert "likely mistake: grad_weight is the transpose of ∂L/∂W" in result.output
    failure = ET.parse(junit).getroot().find(".//failure")
    assert failure is not None and "transpose" in (failure.text or "")
    hidden = invoke("check", "--hide-answers", str(source))
    assert "likely mistake" not in hidden.output and "2×3" not in hidden.output


def test_a_transpose_in_a_kind_without_its_own_diagnosis_is_named(tmp_path: Path):
    # A pool's ∂L/∂input (2×4) answered 4×2, its values those of the result transposed.
    spec = "kind: pool\nmode: avg\ninput: [[1, 2, 3, 4], [5, 6, 7, 8]]\nsize: 2\nstride: 2\n"
    key = Problem(spec_dict := _yaml(spec)).solution.results["grad_input"]
    (tmp_path / "p.yaml").write_text(spec + "points: {grad_input: 1}\n", encoding="utf-8")
    transposed = np.swapaxes(np.asarray(key, dtype=object), -1, -2).tolist()
    source = submission(tmp_path, {"grad_input": [[str(v) for v in row] for row in transposed]})
    document = json.loads(invoke("check", "--format", "json", str(source)).output)
    result = document["files"][0]["results"][0]
    assert result["wrong_shape"] == "4×2" and result["score"] == 0
    assert (
        result["diagnosis"] == "grad_input is the transpose of the result: rows and columns swapped"
    )
    assert spec_dict["kind"] == "pool"


def test_another_shape_is_a_named_mistake(tmp_path: Path):
    (tmp_path / "p.yaml").write_text(DENSE, encoding="utf-8")
    source = submission(tmp_path, {"output": [7, 0], "grad_input": [[1, 1], [1, 1]]})
    document = json.loads(invoke("check", "--format", "json", str(source)).output)
    result = document["files"][0]["results"][1]
    assert result["diagnosis"] == (
        "grad_input is 2×2 where the result is a list of 3: 4 entries instead of 3"
    )
    hidden = json.loads(invoke("check", "--hide-answers", "--format", "json", str(source)).output)
    assert hidden["files"][0]["results"][1]["diagnosis"] is None


# -- run: the same reader -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "note"),
    [
        ("grad_kernel: [2, 1, -1, 5]", "read flat in row-major order as 2×2"),
        ("grad_kernel: [[2, 1, -1, 5]]", "read the 1×4 row in row-major order as 2×2"),
        ("grad_kernel: [[2], [1], [-1], [5]]", "read the 4×1 column in row-major order as 2×2"),
    ],
)
def test_run_accepts_what_check_accepts(tmp_path: Path, written: str, note: str):
    spec = tmp_path / "t.yaml"
    spec.write_text(TASK3.replace(KERNEL, written), encoding="utf-8")
    table = invoke("conv", "--spec", str(spec), "--no-color")
    assert table.exit_code == 0, table.output
    assert f"✓ grad_kernel: 4 values match ({note})" in table.output
    document = json.loads(invoke("conv", "--spec", str(spec), "--format", "json").output)
    check = next(c for c in document["checks"] if c["name"] == "grad_kernel")
    assert check["ok"] and check["reading"] == note
    markdown = invoke("conv", "--spec", str(spec), "--format", "markdown").output
    assert f"grad\\_kernel: 4 values match ({note})" in markdown
    graded = invoke("check", str(spec))
    assert graded.exit_code == 0 and note in graded.output


def test_run_names_a_shape_mistake_and_what_is_accepted(tmp_path: Path):
    spec = tmp_path / "t.yaml"
    spec.write_text(TASK3.replace(KERNEL, "grad_kernel: [[2, 1, -1], [5, 0, 0]]"), "utf-8")
    result = invoke("conv", "--spec", str(spec))
    assert result.exit_code == 2
    assert (
        "expected.grad_kernel: expected.grad_kernel is 2×3 but grad_kernel is 2×2: "
        "6 entries instead of 4"
    ) in result.output
    assert "accepted: 2×2, or its 4 entries in row-major order as a flat list" in result.output


def test_run_refuses_a_transposed_expected_answer(tmp_path: Path):
    spec = tmp_path / "t.yaml"
    spec.write_text(TASK3.replace("output: [[4], [-3], [-2]]", "output: [[4, -3], [-2, 0]]"))
    result = invoke("conv", "--spec", str(spec))
    assert result.exit_code == 2 and "right number of entries" not in result.output
    spec.write_text(
        DENSE.replace("points: {output: 1, grad_input: 1, grad_weight: 1}", "")
        + "expected: {grad_weight: [[1, 1], [2, 2], [3, 3]]}\n"
    )
    result = invoke("dense", "--spec", str(spec))
    assert result.exit_code == 2
    assert "is 3×2 but grad_weight is 2×3: rows and columns swapped" in result.output


def test_a_mismatch_still_names_the_reading(tmp_path: Path):
    spec = tmp_path / "t.yaml"
    spec.write_text(TASK3.replace(KERNEL, "grad_kernel: [[2, 1, -1, 6]]"), encoding="utf-8")
    result = invoke("conv", "--spec", str(spec), "--no-color")
    assert result.exit_code == 1
    assert "grad_kernel: 1 of 4 values wrong (read the 1×4 row in row-major order as 2×2)" in (
        result.output
    )


def _yaml(text: str) -> dict:
    import yaml

    return yaml.safe_load(text)


# -- expr: its own comparisons, the same shape rule ---------------------------------------------

EXPR = 'kind: expr\nfunction: "x**2*y"\nvariables: [x, y]\n'


def test_expr_reads_a_row_a_column_and_a_flat_list_by_the_same_rule(tmp_path: Path):
    spec = tmp_path / "e.yaml"
    answers = (
        'expected:\n  gradient: [["2*x*y"], ["x**2"]]\n  hessian: ["2*y", "2*x", "2*x", "0"]\n'
    )
    spec.write_text(EXPR + answers, encoding="utf-8")
    result = invoke("expr", "--spec", str(spec), "--no-color")
    assert result.exit_code == 0, result.output
    assert "✓ gradient: 2 values match (read the 2×1 column in row-major order as a list of 2)" in (
        result.output
    )
    assert "✓ hessian: 4 values match (read flat in row-major order as 2×2)" in result.output
    (tmp_path / "p.yaml").write_text(EXPR + "points: {gradient: 1, hessian: 1}\n", "utf-8")
    source = submission(
        tmp_path, {"gradient": [["2*x*y", "x**2"]], "hessian": [["2*y", "2*x"], ["2*x", "1"]]}
    )
    document = json.loads(invoke("check", "--format", "json", str(source)).output)
    gradient, hessian = document["files"][0]["results"][:2]
    assert (
        gradient["ok"]
        and gradient["reading"] == "read the 1×2 row in row-major order as a list of 2"
    )
    assert not hessian["ok"] and hessian["score"] == 0.75 and hessian["reading"] is None
