"""A submission that names a real problem of the bank but carries keys of its own (issue 18):
it is refused, never graded against anything the student wrote, and the TA still sees it on
the grade sheet under that problem's column (empty: 0 in the total), with the problem's
points in ``out_of``, even when no other submission names that problem."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gradcalc.cli.main import main

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}

TASK3 = """\
kind: conv
input: [[2, -1], [0, -1], [1, 1], [-1, 2]]
kernel: [[1, 0], [-1, -2]]
upstream: [[0], [1], [2]]
expected:
  output: [[4], [-3], [-2]]
  grad_kernel: [[2, 1], [-1, 5]]
points: {output: 2, grad_kernel: 4}
"""
MSE = """\
kind: loss
loss: mse
input: [1, 2, 3]
target: [0, 1, 5]
expected:
  loss: 2
  grad_input: ["2/3", "2/3", "-4/3"]
points: {loss: 1, grad_input: 2}
"""
ANSWERS = "answers:\n  output: [[4], [-3], [-2]]\n  grad_kernel: [[2, 1], [-1, 5]]\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write(tmp_path / "bank" / "task3.yaml", TASK3)
    write(tmp_path / "bank" / "mse.yaml", MSE)
    write(tmp_path / "subs" / "ann_mse.yaml", "problem: mse\nanswers: {loss: 2}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def grade(*files: str) -> tuple[Result, list[list[str]]]:
    result = CliRunner().invoke(
        main,
        ["check", "--problems", "bank", *files, "--grades", "sheet.csv"]
        + ["--student-from", "{student}_*.yaml"],
        env=ENV,
        catch_exceptions=False,
    )
    sheet = list(csv.reader(io.StringIO(Path("sheet.csv").read_text(encoding="utf-8"))))
    return result, sheet


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        # Right answers, and a kind: refused (the problem is the bank's, not the student's).
        ("kind: conv\n", "kind: a submission gives answers only"),
        # A spec key that would change the problem: refused, the bank's kernel is the one.
        ("kernel: [[1]]\n", "unknown key 'kernel' in a submission"),
        # Grading keys a student could loosen: refused as well.
        ("tolerance: 100\n", "unknown key 'tolerance' in a submission"),
        ("points: {output: 100}\n", "unknown key 'points' in a submission"),
    ],
)
def test_a_refused_submission_keeps_its_problem_column(course: Path, extra: str, words: str):
    write(course / "subs" / "bob_task3.yaml", "problem: task3\n" + extra + ANSWERS)
    result, sheet = grade("subs")
    assert result.exit_code == 2, result.output  # the submission's error, as before
    assert words in result.output
    assert sheet == [
        ["student", "total", "out_of", "mse", "task3", "notes"],
        ["ann", "1", "9", "1", "", ""],
        ["bob", "0", "9", "", "", "subs/bob_task3.yaml: not graded (an error)"],
    ]


def test_a_refused_submission_alone_still_names_its_problem(course: Path):
    """No other submission names task3: its column and its 6 points are there all the same."""
    write(course / "subs" / "bob_task3.yaml", "problem: task3\nexpected: {output: [[1]]}\n")
    _, sheet = grade("subs/bob_task3.yaml")
    assert sheet == [
        ["student", "total", "out_of", "task3", "notes"],
        ["bob", "0", "6", "", "subs/bob_task3.yaml: not graded (an error)"],
    ]


def test_no_column_for_a_name_outside_the_bank(course: Path):
    """A refused submission whose problem: is not a bank name gives no column (nothing to name)."""
    write(course / "easy.yaml", "kind: conv\ninput: [[1]]\nkernel: [[1]]\n")
    write(course / "subs" / "cat_task3.yaml", "problem: ../easy.yaml\nkind: conv\n" + ANSWERS)
    result, sheet = grade("subs")
    assert result.exit_code == 2
    assert sheet == [
        ["student", "total", "out_of", "mse", "notes"],
        ["ann", "1", "3", "1", ""],
        ["cat", "0", "3", "", "subs/cat_task3.yaml: not graded (an error)"],
    ]
