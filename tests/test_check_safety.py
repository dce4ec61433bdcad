"""`gradcalc check` as a gate over untrusted files: every spec is validated with or without
answers, each file runs under a time and memory budget (a slow file or a dying worker is that
file's error, every other grade and report is still written), an error about a submission's
problem file never echoes that file's content, no report overwrites an input or a file that is
not an earlier report, and control characters are escaped in every format."""

from __future__ import annotations

import csv
import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gradcalc.cli.main import main
from gradcalc.problems import PROBLEMS_DIR

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}
TASK3 = (PROBLEMS_DIR / "task3.yaml").read_text(encoding="utf-8")
# task3 as handed out: its results in points, no answers.
HANDOUT = TASK3.split("expected:")[0] + "points: {output: 2, grad_kernel: 4}\n"


def check(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", *args], env=ENV, catch_exceptions=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- 1. every spec is validated, answers or not -----------------------------------------------

BROKEN = "kind: conv\ninput: [[1, 2], [3, 'abc']]\nkernel: banana\n"


@pytest.mark.parametrize(
    "tail",
    ["", "expected: {}\n", "expected:\n", "points: {output: 1}\n", "points: 2\n"],
    ids=["no-expected", "empty-expected", "null-expected", "points-only", "points-number"],
)
def test_a_broken_problem_without_answers_is_an_error_not_skipped(tmp_path: Path, tail: str):
    spec = write(tmp_path / "broken.yaml", BROKEN + tail)
    result = check("--format", "json", str(spec))
    assert result.exit_code == 2, result.output
    (entry,) = json.loads(result.output)["files"]
    assert entry["status"] == "error"
    assert entry["error"].startswith(f"{spec}:2:")  # input[1][1], the first thing wrong


@pytest.mark.parametrize("text", ["Name: x\n", "kind: conv\n", "kind: nope\nexpected: {}\n"])
def test_a_file_that_is_no_problem_is_an_error(tmp_path: Path, text: str):
    result = check(str(write(tmp_path / "p.yaml", text)))
    assert result.exit_code == 2, result.output
    assert "1 errors" in result.output and "skipped" not in result.output


def test_a_valid_problem_without_answers_is_skipped_after_it_was_solved(tmp_path: Path):
    write(tmp_path / "handout.yaml", HANDOUT)
    write(tmp_path / "blank.yaml", TASK3.split("expected:")[0])
    result = check("--format", "json", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert [f["status"] for f in json.loads(result.output)["files"]] == ["skipped", "skipped"]


def test_a_handout_whose_points_name_no_result_is_an_error(tmp_path: Path):
    spec = write(tmp_path / "p.yaml", TASK3.split("expected:")[0] + "points: {outptu: 1}\n")
    result = check(str(spec))
    assert result.exit_code == 2, result.output
    assert "outptu" in result.output


def test_an_expr_problem_without_answers_still_proves_its_identity(tmp_path: Path):
    text = (PROBLEMS_DIR / "expr_sigmoid_derivative.yaml").read_text(encoding="utf-8")
    head = text.split("expected:")[0]
    write(tmp_path / "true.yaml", head)
    write(tmp_path / "false.yaml", head.replace("(1 - sigma)", "(2 - sigma)"))
    result = check("--format", "json", str(tmp_path))
    statuses = {Path(f["file"]).name: f["status"] for f in json.loads(result.output)["files"]}
    assert statuses == {"false.yaml": "fail", "true.yaml": "pass"}
    assert result.exit_code == 1
