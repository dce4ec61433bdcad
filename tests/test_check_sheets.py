"""`gradcalc check`'s class reports (issue 18): --grades (a row per student, a column per
problem), --student-from, --gradescope (Gradescope's results.json) and --classroom (a GitHub
Classroom autograding result), end to end with CliRunner."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gradcalc.cli.check_sheets import compile_student_pattern
from gradcalc.cli.main import main

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}

# Seed 004 Task 3 (a): H = [4, −3, −2], ∂L/∂K = [[2, 1], [−1, 5]]; 6 points.
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
# A dense layer: y = Wx + b = [5, 7]; 3 points (output 1, grad_weight 2).
DENSE = """\
kind: dense
input: [1, 2]
weight: [[1, 2], [3, 2]]
bias: [0, 0]
expected:
  output: [5, 7]
points: {output: 1, grad_weight: 2}
"""
TASK3_RIGHT = "output: [[4], [-3], [-2]]\ngrad_kernel: [[2, 1], [-1, 5]]"
DENSE_RIGHT = "output: [5, 7]\ngrad_weight: [[1, 2], [1, 2]]"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", *args], env=ENV, catch_exceptions=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def submission(problem: str, answers: str, student: str = "") -> str:
    head = f"problem: {problem}\n" + (f"student: {student}\n" if student else "")
    return head + "answers:\n" + "".join(f"  {line}\n" for line in answers.splitlines())


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """Two problems and a folder of submissions named STUDENT_PROBLEM.yaml: alice answers
    both right, bob gets one cell of ∂L/∂K wrong and leaves dense out, carol misspells a
    result of dense, dave sends task3 twice; erin's task3 says `student: alice`."""
    write(tmp_path / "task3.yaml", TASK3)
    write(tmp_path / "dense.yaml", DENSE)
    subs = tmp_path / "subs"
    write(subs / "alice_task3.yaml", submission("../task3.yaml", TASK3_RIGHT, "alice"))
    write(subs / "alice_dense.yaml", submission("../dense.yaml", DENSE_RIGHT, "alice"))
    wrong_cell = "output: [[4], [-3], [-2]]\ngrad_kernel: [[2, 1], [-1, 6]]"
    write(subs / "bob_task3.yaml", submission("../task3.yaml", wrong_cell))
    write(subs / "carol_dense.yaml", submission("../dense.yaml", "outptu: [5, 7]"))
    write(subs / "dave_task3.yaml", submission("../task3.yaml", TASK3_RIGHT))
    write(subs / "dave_task3-again.yaml", submission("../task3.yaml", wrong_cell))
    write(subs / "erin_task3.yaml", submission("../task3.yaml", wrong_cell, "alice"))
    return tmp_path


def sheet_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


# ---------------------------------------------------------------------------
# --grades and --student-from


def test_the_grade_sheet_has_a_row_per_student_and_a_column_per_problem(
    course: Path, tmp_path: Path
):
    sheet = tmp_path / "grades.csv"
    result = run(str(course / "subs"), "--grades", str(sheet), "--student-from", "{student}_*.yaml")
    assert result.exit_code == 2  # carol's misspelled result is an error; the rest is graded
    subs = course / "subs"
    assert sheet_rows(sheet) == [
        ["student", "total", "out_of", "dense", "task3", "notes"],
        ["alice", "9", "9", "3", "6", ""],
        ["bob", "5", "9", "", "5", ""],  # no dense submission: an empty cell, 0 in the total
        ["carol", "0", "9", "", "", f"dense: not graded (an error in {subs}/carol_dense.yaml)"],
        [
            "dave",
            "0",
            "9",
            "",
            "",
            f"task3: 2 submissions ({subs}/dave_task3-again.yaml, {subs}/dave_task3.yaml), "
            "none counted",
        ],
        # The file's name wins over the student: key its author wrote.
        ["erin", "5", "9", "", "5", ""],
    ]


def test_without_student_from_the_student_key_names_the_row_else_the_path(
    course: Path, tmp_path: Path
):
    sheet = tmp_path / "grades.csv"
    run(str(course / "subs" / "bob_task3.yaml"), str(course / "subs" / "erin_task3.yaml"),
        str(course / "subs" / "alice_dense.yaml"), "--grades", str(sheet))  # fmt: skip
    assert sheet_rows(sheet) == [
        ["student", "total", "out_of", "task3", "dense", "notes"],
        [str(course / "subs" / "bob_task3.yaml"), "5", "9", "5", "", ""],
        ["alice", "8", "9", "5", "3", ""],
    ]


def test_a_file_that_does_not_fit_the_pattern_is_named_by_its_path_with_a_warning(
    course: Path, tmp_path: Path
):
    sheet = tmp_path / "grades.csv"
    alice = course / "subs" / "alice_task3.yaml"
    result = CliRunner().invoke(
        main, ["check", str(alice), "--grades", str(sheet), "--student-from", "hw/{student}.yaml"]
    )
    assert result.exit_code == 0
    assert (
        f"gradcalc check: --student-from: {str(alice)!r} does not fit 'hw/{{student}}.yaml'; "
        "its row in --grades is named by its path"
    ) in result.output
    assert sheet_rows(sheet)[1] == [str(alice), "6", "6", "6", ""]


def test_a_large_earlier_sheet_is_replaced(tmp_path: Path):
    # 500 problems make a header longer than the bytes read to tell an earlier sheet.
    for number in range(500):
        write(tmp_path / "specs" / f"spec{number:04d}.yaml", TASK3)
    sheet = tmp_path / "grades.csv"
    for _ in range(2):
        assert run(str(tmp_path / "specs"), "--grades", str(sheet)).exit_code == 0
    assert len(sheet_rows(sheet)[0]) == 3 + 500 + 1


@pytest.mark.parametrize(
    ("pattern", "path", "student"),
    [
        ("{student}_*.yaml", "subs/alice_task3.yaml", "alice"),
        ("{student}_*.yaml", "/abs/subs/alice_smith_task3.yaml", "alice"),  # the shortest
        ("{student}/*.yaml", "subs/alice/task3.yaml", "alice"),
        ("*/{student}/hw?.yml", "class/subs/bob/hw1.yml", "bob"),
        ("{student}.yaml", "./subs/carol.yaml", "carol"),
        ("{student}_*.yaml", "subs/_task3.yaml", None),  # a name has at least one character
        ("{student}/*.yaml", "alice.yaml", None),
        ("*/{student}/hw?.yml", "bob/hw1.yml", None),
        ("{student}.yaml", "subs/carol.yml", None),
    ],
)
def test_student_patterns(pattern: str, path: str, student: str | None):
    assert compile_student_pattern(pattern).student(path) == student


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "give a pattern with {student} in it, such as '{student}_*.yaml'"),
        ("*.yaml", "'*.yaml' has no {student}; write where the name is"),
        ("{student}_{student}.yaml", "has {student} 2 times; a file names one student"),
        ("{name}_{student}.yaml", "only {student} may stand in braces"),
        ("{student}_[0-9].yaml", "character classes ([…]) are not supported"),
        ("**/{student}.yaml", "** is not supported"),
        ("/subs/{student}.yaml", "leave out the leading /"),
        ("subs//{student}.yaml", "every part between / must be a name"),
        ("../{student}.yaml", "every part between / must be a name"),
    ],
)
def test_a_bad_student_pattern_is_one_line_and_exit_2(
    course: Path, tmp_path: Path, pattern: str, message: str
):
    result = CliRunner().invoke(
        main, ["check", str(course / "subs"), "--student-from", pattern], env=ENV
    )
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("gradcalc check: --student-from: ")
    assert message in lines[0]


@pytest.mark.parametrize("option", ["--grades", "--gradescope", "--classroom"])
def test_a_report_never_overwrites_an_input(course: Path, option: str):
    alice = course / "subs" / "alice_task3.yaml"
    before = alice.read_text(encoding="utf-8")
    for args in (
        [str(course / "subs"), option, str(alice)],
        ["--problem", str(course / "task3.yaml"), str(alice), option, str(course / "task3.yaml")],
    ):
        result = CliRunner().invoke(main, ["check", *args], env=ENV)
        assert result.exit_code == 2
        lines = result.output.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"gradcalc check: {option}: "), result.output
        assert "the report would overwrite it" in lines[0]
    assert alice.read_text(encoding="utf-8") == before


@pytest.mark.parametrize("option", ["--grades", "--gradescope", "--classroom"])
def test_a_report_replaces_its_own_earlier_file_only(course: Path, tmp_path: Path, option: str):
    report = tmp_path / "out"
    alice = str(course / "subs" / "alice_task3.yaml")
    assert run(alice, option, str(report)).exit_code == 0
    assert run(alice, option, str(report)).exit_code == 0  # an earlier report: replaced
    someone = write(tmp_path / "notes.txt", "my notes\n")
    result = CliRunner().invoke(main, ["check", alice, option, str(someone)], env=ENV)
    assert result.exit_code == 2 and "is not an earlier gradcalc" in result.output
    assert someone.read_text(encoding="utf-8") == "my notes\n"
    assert run(alice, option, str(someone), "--force").exit_code == 0


def test_a_grade_sheet_cell_is_never_a_formula(tmp_path: Path):
    write(tmp_path / "task3.yaml", TASK3)
    write(
        tmp_path / "subs" / "x.yaml",
        submission("../task3.yaml", TASK3_RIGHT, '"=HYPERLINK(\\"http://x\\")\\x1b"'),
    )
    sheet = tmp_path / "grades.csv"
    run(str(tmp_path / "subs"), "--grades", str(sheet))
    assert sheet_rows(sheet)[1][0] == '\'=HYPERLINK("http://x")\\x1b'


# ---------------------------------------------------------------------------
# --gradescope and --classroom


def test_gradescope_results_json(course: Path, tmp_path: Path):
    results = tmp_path / "results.json"
    bob = course / "subs" / "bob_task3.yaml"
    result = run(str(bob), "--gradescope", str(results))
    assert result.exit_code == 1
    document = json.loads(results.read_text(encoding="utf-8"))
    assert document == {
        "extra_data": {"generator": "gradcalc check"},
        "score": 5,
        "output": "gradcalc check: 1 of 2 results right; points 5/6",
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": "task3: output",
                "score": 2,
                "max_score": 2,
                "status": "passed",
                "output": "✓ output: 3 values match, 2/2 points",
                "visibility": "visible",
            },
            {
                "name": "task3: grad_kernel",
                "score": 3,
                "max_score": 4,
                "status": "failed",
                "output": "✗ grad_kernel: 1 of 4 values wrong, 3/4 points\n"
                "    [1, 1]: given 6, correct 5 (off by 1)",
                "visibility": "visible",
            },
        ],
    }
    run(str(bob), "--gradescope", str(results), "--hide-answers")
    hidden = json.loads(results.read_text(encoding="utf-8"))
    assert hidden["tests"][1]["output"] == (
        "✗ grad_kernel: 1 of 4 values wrong, 3/4 points\n    [1, 1]: given 6, wrong"
    )


def test_a_file_with_an_error_is_a_failed_test_worth_its_problems_points(
    course: Path, tmp_path: Path
):
    results = tmp_path / "results.json"
    subs = course / "subs"
    run(str(subs / "alice_dense.yaml"), str(subs / "carol_dense.yaml"), "--gradescope",
        str(results))  # fmt: skip
    document = json.loads(results.read_text(encoding="utf-8"))
    assert document["score"] == 3
    error = document["tests"][-1]
    assert (error["name"], error["score"], error["max_score"], error["status"]) == (
        "dense",
        0,
        3,
        "failed",
    )
    assert error["output"].startswith(f"{subs}/carol_dense.yaml:3:3: answers.outptu: unknown")
    assert document["output"].endswith("points 3/6; 1 file not graded (errors)")


def test_classroom_result_gives_the_reporter_its_points(course: Path, tmp_path: Path):
    result_file = tmp_path / "result.json"
    bob = course / "subs" / "bob_task3.yaml"
    assert run(str(bob), "--classroom", str(result_file)).exit_code == 1
    text = result_file.read_text(encoding="utf-8")
    document = json.loads(text)
    assert {key: document[key] for key in ("version", "status", "max_score")} == {
        "version": 1,
        "status": "fail",
        "max_score": 6,
    }
    assert [(t["name"], t["status"], t["score"]) for t in document["tests"]] == [
        ("task3: output", "pass", 2),
        ("task3: grad_kernel", "fail", 3),
    ]
    assert document["tests"][1]["message"].startswith("✗ grad_kernel: 1 of 4 values wrong")
    assert document["tests"][0]["filename"] == str(bob)
    # What autograding-grading-reporter does with it: base64 in, the tests' scores summed.
    decoded = json.loads(base64.b64decode(base64.b64encode(text.encode())).decode())
    assert sum(t["score"] for t in decoded["tests"]) == 5
    alice = course / "subs" / "alice_task3.yaml"
    assert run(str(alice), "--classroom", str(result_file)).exit_code == 0
    assert json.loads(result_file.read_text(encoding="utf-8"))["status"] == "pass"
    carol = course / "subs" / "carol_dense.yaml"
    assert run(str(carol), "--classroom", str(result_file)).exit_code == 2
    assert json.loads(result_file.read_text(encoding="utf-8"))["status"] == "error"


# ---------------------------------------------------------------------------
# The documented GitHub Classroom workflow


def classroom_workflow() -> dict:
    """The workflow docs/check.md shows for GitHub Classroom."""
    import yaml

    text = (Path(__file__).resolve().parents[1] / "docs" / "check.md").read_text("utf-8")
    block = text.split("```yaml\nname: Autograding Tests\n", 1)[1].split("\n```", 1)[0]
    return yaml.safe_load("name: Autograding Tests\n" + block)


def test_the_documented_classroom_step_gives_the_reporter_its_points(tmp_path: Path):
    import os
    import subprocess
    import sys

    steps = classroom_workflow()["jobs"]["run-autograding-tests"]["steps"]
    step = next(step for step in steps if step.get("id") == "gradcalc")
    reporter = steps[-1]
    assert reporter["uses"].startswith("classroom-resources/autograding-grading-reporter@")
    runner = reporter["with"]["runners"]
    assert reporter["env"] == {
        f"{runner.upper()}_RESULTS": "${{ steps." + step["id"] + ".outputs.result }}"
    }
    write(tmp_path / "problems" / "task3.yaml", TASK3)
    bin_folder = Path(sys.executable).parent
    outputs = tmp_path / "github_output"
    env = {**os.environ, "PATH": f"{bin_folder}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["GITHUB_OUTPUT"] = str(outputs)
    for answers, status, score in (
        (TASK3_RIGHT, "pass", 6),
        ("output: [[4], [-3], [-2]]\ngrad_kernel: [[2, 1], [-1, 6]]", "fail", 5),
    ):
        write(
            tmp_path / "answers.yaml",
            "answers:\n" + "".join(f"  {line}\n" for line in answers.splitlines()),
        )
        outputs.write_text("")
        # GitHub runs a step's script with `bash -e`.
        done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env)
        assert done.returncode == 0
        name, _, value = outputs.read_text().strip().partition("=")
        assert name == "result"
        result = json.loads(base64.b64decode(value))
        # What the reporter sends Classroom: the tests' scores out of max_score.
        assert (
            result["status"],
            sum(t["score"] for t in result["tests"]),
            result["max_score"],
        ) == (
            status,
            score,
            6,
        )
        assert "correct" not in json.dumps(result)  # --hide-answers
    write(tmp_path / "answers.yaml", "answers:\n  outptu: [[4], [-3], [-2]]\n")
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env)
    assert done.returncode != 0  # an error fails the step: no points are sent
