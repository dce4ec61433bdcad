"""`gradcalc check` end to end with CliRunner: files, folders and globs, submissions,
points and partial credit, flat answers, tolerances, hidden answers, JSON, CSV, JUnit,
exit codes, a broken spec among good ones, and sharding."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from child_process import run_with_open_stdin
from click.testing import CliRunner, Result

from gradcalc.cli.main import main
from gradcalc.problems import PROBLEMS_DIR

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}

# Seed 004 Task 3 (a): H = [4, −3, −2], ∂L/∂K = [[2, 1], [−1, 5]].
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


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", *args], env=ENV, catch_exceptions=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def submission(answers: str, problem: str = "../task3.yaml", student: str = "") -> str:
    head = f"problem: {problem}\n" + (f"student: {student}\n" if student else "")
    return head + "answers:\n" + "".join(f"  {line}\n" for line in answers.splitlines())


@pytest.fixture
def classroom(tmp_path: Path) -> Path:
    """task3.yaml and a folder of good, partly wrong, flat and broken submissions."""
    write(tmp_path / "task3.yaml", TASK3)
    subs = tmp_path / "subs"
    write(
        subs / "alice.yaml",
        submission("output: [[4], [-3], [-2]]\ngrad_kernel: [[2, 1], [-1, 5]]", student="alice"),
    )
    write(  # seed 004 writes ∂L/∂K flat: [K00, K01, K10, K11]
        subs / "bob.yaml",
        submission("output: [[4], [-3], [-2]]\ngrad_kernel: [2, 1, -1, 5]", student="bob"),
    )
    write(  # one cell of four wrong: 3 of 4 points
        subs / "carol.yaml",
        submission("output: [[4], [-3], [-2]]\ngrad_kernel: [[2, 1], [-1, 6]]", student="carol"),
    )
    write(subs / "dave.yaml", submission("outptu: [[4], [-3], [-2]]", student="dave"))
    return tmp_path


# ---------------------------------------------------------------------------
# The bundled problems, folders, globs and exit codes


def test_bundled_problems_all_pass():
    result = run(str(PROBLEMS_DIR))
    assert result.exit_code == 0, result.output
    assert "0 failed, 0 errors" in result.output
    assert "task3.yaml" in result.output and "pass" in result.output


def test_folder_is_recursive_sorted_and_skips_specs_without_answers(tmp_path: Path):
    write(tmp_path / "b" / "two.yml", TASK3)
    write(tmp_path / "a.yaml", TASK3)
    write(tmp_path / "c.yaml", "kind: conv\ninput: [[1]]\nkernel: [[1]]\n")
    write(tmp_path / "notes.txt", "not a spec")
    result = run("--format", "json", str(tmp_path))
    assert result.exit_code == 0, result.output
    files = json.loads(result.output)["files"]
    names = [Path(f["file"]).relative_to(tmp_path).as_posix() for f in files]
    assert names == ["a.yaml", "b/two.yml", "c.yaml"]
    assert [f["status"] for f in files] == ["pass", "pass", "skipped"]


def test_glob_and_missing_path(tmp_path: Path):
    write(tmp_path / "one.yaml", TASK3)
    write(tmp_path / "two.yaml", TASK3)
    result = run(str(tmp_path / "*.yaml"))
    assert result.exit_code == 0
    assert "2 passed" in result.output
    missing = run(str(tmp_path / "one.yaml"), str(tmp_path / "nothing*.yaml"))
    assert missing.exit_code == 2
    assert "no such file, folder or match" in missing.output
    assert "1 passed" in missing.output


def test_wrong_answer_exits_1_with_details(tmp_path: Path):
    write(tmp_path / "wrong.yaml", TASK3.replace("[[2, 1], [-1, 5]]", "[[2, 1], [-1, 7]]"))
    result = run(str(tmp_path / "wrong.yaml"))
    assert result.exit_code == 1
    assert "FAIL" in result.output
    assert "✗ grad_kernel: 1 of 4 values wrong, 3/4 points" in result.output
    assert "[1, 1]: given 7, correct 5 (off by 2)" in result.output
    assert "points 5/6" in result.output


def test_broken_spec_never_stops_the_others(tmp_path: Path):
    write(tmp_path / "a_good.yaml", TASK3)
    write(tmp_path / "b_broken.yaml", "kind: conv\ninput: [[1, 2]\n")
    write(tmp_path / "c_bad_key.yaml", TASK3 + "strid: 2\n")
    write(tmp_path / "d_wrong.yaml", TASK3.replace("[[4], [-3], [-2]]", "[[4], [-3], [2]]"))
    result = run("--format", "json", str(tmp_path))
    assert result.exit_code == 2
    document = json.loads(result.output)
    assert [f["status"] for f in document["files"]] == ["pass", "error", "error", "fail"]
    errors = [f["error"] for f in document["files"] if f["error"]]
    assert "b_broken.yaml:" in errors[0] and "YAML syntax error" in errors[0]
    assert "c_bad_key.yaml:9:1: strid: unknown key 'strid'" in errors[1]
    assert document["totals"] == {
        "files": 4,
        "passed": 1,
        "failed": 1,
        "errors": 2,
        "skipped": 0,
        "score": pytest.approx(6 + 4 + 2 * 2 / 3),  # 2 of 3 output cells right: 4/3 points
        "points": 12,
    }


def test_no_files_is_a_usage_error(tmp_path: Path):
    result = CliRunner().invoke(main, ["check", str(tmp_path)], env=ENV)
    assert result.exit_code == 2
    assert f"{tmp_path}: folder has no .yaml or .yml files" in result.output
    assert "no such file" not in result.output


def test_folders_skip_hidden_files_and_folders(tmp_path: Path, monkeypatch):
    write(tmp_path / "sub" / "a.yaml", TASK3)
    write(tmp_path / ".github" / "workflows" / "ci.yml", "on: [push]\n")
    write(tmp_path / ".gitlab-ci.yml", "stages: [\n")
    write(tmp_path / "sub" / ".draft.yaml", "kind: [\n")
    monkeypatch.chdir(tmp_path)
    result = run("--format", "json", ".")
    assert result.exit_code == 0, result.output
    assert [f["file"] for f in json.loads(result.output)["files"]] == ["sub/a.yaml"]
    # Named explicitly, a hidden file still counts; so does a hidden folder given itself.
    named = run("--format", "json", ".gitlab-ci.yml", ".github")
    assert [f["file"] for f in json.loads(named.output)["files"]] == [
        ".gitlab-ci.yml",
        ".github/workflows/ci.yml",
    ]


def test_a_file_named_twice_is_checked_once(tmp_path: Path, monkeypatch):
    write(tmp_path / "task3.yaml", TASK3)
    monkeypatch.chdir(tmp_path)
    result = run(
        "--format", "json", "task3.yaml", str(tmp_path / "task3.yaml"), "./task3.yaml", "."
    )
    assert [f["file"] for f in json.loads(result.output)["files"]] == ["task3.yaml"]


# ---------------------------------------------------------------------------
# Submissions, points, flat answers


def test_folder_of_submissions(classroom: Path):
    result = run("--format", "json", str(classroom / "subs"))
    assert result.exit_code == 2  # dave's answer names an unknown result
    files = {Path(f["file"]).stem: f for f in json.loads(result.output)["files"]}
    assert files["alice"]["status"] == "pass" and files["alice"]["score"] == 6
    assert files["bob"]["status"] == "pass"
    assert files["bob"]["results"][1]["flat_as"] == "2×2"
    assert files["carol"]["status"] == "fail" and files["carol"]["score"] == 5
    assert files["carol"]["results"][1]["score"] == 3  # 3 of 4 cells: 3 of 4 points
    assert (
        "answers.outptu: unknown result 'outptu'; did you mean 'output'?" in files["dave"]["error"]
    )
    assert files["dave"]["error"].startswith(str(classroom / "subs" / "dave.yaml") + ":4:3:")
    assert files["alice"]["problem"] == str(classroom / "task3.yaml")


def test_flat_answer_is_reported(classroom: Path):
    result = run(str(classroom / "subs" / "bob.yaml"))
    assert result.exit_code == 0, result.output
    assert "1 passed" in result.output
    assert "grad_kernel: 4 values match, 4/4 points (read flat in row-major order as 2×2)" in (
        result.output
    )


def test_problem_option_grades_a_folder(classroom: Path, tmp_path: Path):
    other = tmp_path / "elsewhere"
    write(other / "erin.yaml", "answers:\n  output: [[4], [-3], [-2]]\n")
    result = run("--problem", str(classroom / "task3.yaml"), "--format", "json", str(other))
    files = json.loads(result.output)["files"]
    assert len(files) == 1
    grade = files[0]
    # grad_kernel is in the problem's key but not answered: 0 of its 4 points.
    assert grade["score"] == 2 and grade["points"] == 6
    assert grade["results"][1]["missing"] is True
    assert result.exit_code == 1


def test_problem_option_skips_the_problem_itself(classroom: Path):
    shutil.copy(classroom / "task3.yaml", classroom / "subs" / "task3.yaml")
    result = run("--problem", str(classroom / "subs" / "task3.yaml"), str(classroom / "subs"))
    assert "4 files" in result.output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_pipe_or_device_is_an_error_not_a_hang(tmp_path: Path):
    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)
    write(tmp_path / "s.yaml", "problem: pipe.yaml\nanswers:\n  output: [1]\n")
    result = run("--format", "json", str(pipe), str(tmp_path / "s.yaml"))
    assert result.exit_code == 2
    errors = [f["error"] for f in json.loads(result.output)["files"]]
    assert errors == [
        f"{pipe}: not a regular file (a FIFO); give a .yaml file",
        f"{tmp_path / 's.yaml'}: problem {pipe}: not a regular file (a FIFO); give a .yaml file",
    ]


def test_submission_without_problem(tmp_path: Path):
    write(tmp_path / "s.yaml", "answers:\n  output: [1]\n")
    result = run(str(tmp_path / "s.yaml"))
    assert result.exit_code == 2
    assert "a submission names its problem file" in result.output


def test_points_everywhere_and_bad_points(tmp_path: Path):
    write(tmp_path / "p.yaml", TASK3.replace("points: {output: 2, grad_kernel: 4}", "points: 5"))
    result = run("--format", "json", str(tmp_path / "p.yaml"))
    assert json.loads(result.output)["totals"]["points"] == 10
    write(tmp_path / "p.yaml", TASK3.replace("grad_kernel: 4}", "grad_kernal: 4}"))
    bad = run(str(tmp_path / "p.yaml"))
    assert bad.exit_code == 2
    assert "points.grad_kernal: unknown result 'grad_kernal'; did you mean 'grad_kernel'?" in (
        bad.output
    )
    write(tmp_path / "p.yaml", TASK3.replace("output: 2,", "output: -2,"))
    assert "points must be 0 or more" in run(str(tmp_path / "p.yaml")).output


def test_error_messages_say_each_thing_once_and_end_sentences(tmp_path: Path):
    write(tmp_path / "task3.yaml", TASK3)
    ragged = write(tmp_path / "subs" / "r.yaml", submission("output: [[4], [-3], [-2, 1]]"))
    assert f"{ragged}:3:23: answers.output[2]: this row has 2 entries but the first row has 1;" in (
        run(str(ragged)).output
    )
    expr = write(
        tmp_path / "e.yaml",
        "kind: expr\nfunction: x**2\nvariables: [x]\nexpected:\n  nosuch: [1]\n",
    )
    assert "expected.nosuch: unknown result 'nosuch'. This problem's results:" in (
        run(str(expr)).output
    )
    write(tmp_path / "p.yaml", TASK3.replace("output: 2,", "output: abc,"))
    words = run(str(tmp_path / "p.yaml")).output
    assert "points.output: expected points, got the text 'abc'; allowed: a number ≥ 0" in words
    assert "-0.5" not in words
    write(tmp_path / "t.yaml", TASK3 + "tolerance: {atol: abc}\n")
    words = run(str(tmp_path / "t.yaml")).output
    assert "tolerance.atol: expected a number, got the text 'abc'; allowed: a number ≥ 0" in words


def test_points_and_accept_do_not_bother_the_problem_commands(tmp_path: Path):
    spec = write(tmp_path / "p.yaml", TASK3 + "accept: {flip_kernel: [true]}\n")
    result = CliRunner().invoke(main, ["conv", "--spec", str(spec), "--show", "checks"], env=ENV)
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------------------
# Tolerances


def test_tolerance_per_spec_and_per_result(tmp_path: Path):
    close = TASK3.replace("[[2, 1], [-1, 5]]", "[[2, 1], [-1, 5.004]]").replace(
        "[[4], [-3], [-2]]", "[[4], [-3], [-2.02]]"
    )
    write(tmp_path / "t.yaml", close)
    assert run(str(tmp_path / "t.yaml")).exit_code == 1
    write(tmp_path / "t.yaml", close + "tolerance: 0.01\n")
    result = run("--format", "json", str(tmp_path / "t.yaml"))
    results = json.loads(result.output)["files"][0]["results"]
    assert [r["ok"] for r in results] == [False, True]
    write(tmp_path / "t.yaml", close + "tolerance: 0.01\naccept:\n  tolerance: {output: 0.05}\n")
    result = run("--format", "json", str(tmp_path / "t.yaml"))
    results = json.loads(result.output)["files"][0]["results"]
    assert [r["ok"] for r in results] == [True, True]
    assert results[0]["tolerance"] == {"atol": 0.05, "rtol": 0.0}


def test_relative_tolerance_is_sign_correct(tmp_path: Path):
    # rtol 3 would forgive 4 → −4 by magnitude; a sign is never forgiven by rtol.
    flipped = TASK3.replace("[[4], [-3], [-2]]", "[[-4], [-3], [-2]]")
    write(tmp_path / "s.yaml", flipped + "tolerance: {atol: 0, rtol: 3}\n")
    result = run("--format", "json", str(tmp_path / "s.yaml"))
    output = json.loads(result.output)["files"][0]["results"][0]
    assert output["ok"] is False
    assert output["wrong"][0]["index"] == [0, 0]
    # Same sign, inside rtol: right.
    write(
        tmp_path / "s.yaml",
        TASK3.replace("[[4], [-3], [-2]]", "[[5], [-3], [-2]]")
        + "tolerance: {atol: 0, rtol: 0.5}\n",
    )
    assert run(str(tmp_path / "s.yaml")).exit_code == 0


# ---------------------------------------------------------------------------
# Hidden answers


DISTINCT = """\
kind: dense
input: [3, 7]
weight: [[11, 13], [17, 19]]
upstream: [23, 29]
expected:
  output: [1, 2]
  grad_input: [5, 6]
  grad_weight: [[8, 9], [10, 12]]
"""
# The correct values: output [124, 184]; grad_input [746, 850]; grad_weight [[69, 161], [87, 203]].
CORRECT_VALUES = ("124", "184", "746", "850", "69", "161", "87", "203")


def test_hide_answers_never_shows_the_correct_values(tmp_path: Path, monkeypatch):
    # Relative paths: the numbered pytest folder (pytest-87) must not look like a value.
    monkeypatch.chdir(tmp_path)
    spec = write(Path("d.yaml"), DISTINCT)
    shown = run(str(spec))
    assert "124" in shown.output and "203" in shown.output  # without the flag they are shown
    junit = Path("r.xml")
    for output_format in ("table", "json"):
        result = run("--hide-answers", "--format", output_format, "--junit", str(junit), str(spec))
        assert result.exit_code == 1
        for text in (result.output, junit.read_text(encoding="utf-8")):
            for value in CORRECT_VALUES:
                assert not re.search(rf"(?<![\d.]){value}(?![\d.])", text), (output_format, value)
        # No error size either: with the answer it gives the key away (issue 18).
        assert "relative error" not in result.output and "rel_error" not in result.output
    table = run("--hide-answers", str(spec)).output
    assert "[0]: given 1, wrong" in table
    document = json.loads(run("--hide-answers", "--format", "json", str(spec)).output)
    cell = document["files"][0]["results"][0]["wrong"][0]
    assert set(cell) == {"index", "given"}


def test_hidden_shape_mismatch_does_not_reveal_the_shape(tmp_path: Path):
    spec = write(tmp_path / "d.yaml", DISTINCT.replace("output: [1, 2]", "output: [1, 2, 3]"))
    result = run("--hide-answers", str(spec))
    assert "output: the answer is a list of 3, not the result's shape" in result.output
    assert "a list of 2" not in result.output


# ---------------------------------------------------------------------------
# CSV and JUnit


def test_csv_grade_sheet(classroom: Path, tmp_path: Path):
    sheet = tmp_path / "grades.csv"
    run("--csv", str(sheet), str(classroom / "subs"))
    rows = list(csv.DictReader(io.StringIO(sheet.read_text(encoding="utf-8"))))
    assert [row["student"] for row in rows] == ["alice", "bob", "carol", "dave"]
    carol = rows[2]
    assert carol["output"] == "2" and carol["grad_kernel"] == "3"
    assert carol["score"] == "5" and carol["points"] == "6" and carol["status"] == "fail"
    assert rows[3]["status"] == "error" and rows[3]["score"] == ""
    assert not list(tmp_path.glob(".gradcalc-*"))  # the temporary file was renamed


def test_csv_cells_are_never_formulas_but_numbers_stay_numbers(
    classroom: Path, tmp_path: Path, monkeypatch
):
    subs = classroom / "subs"
    answer = "output: [[4], [-3], [-2]]"
    write(subs / "=evil.yaml", submission(answer, student="\"=cmd|' /C calc'!A0\""))
    write(subs / "minus.yaml", submission(answer, student="-3"))
    write(subs / "half.yaml", submission(answer, student="'-1/2'"))
    write(subs / "at.yaml", submission(answer, student="'@SUM(A1)'"))
    write(subs / "plus.yaml", submission(answer, student="'+1e-6'"))
    sheet = tmp_path / "grades.csv"
    monkeypatch.chdir(subs)
    run("--csv", str(sheet), "=evil.yaml", "minus.yaml", "half.yaml", "at.yaml", "plus.yaml")
    rows = list(csv.DictReader(io.StringIO(sheet.read_text(encoding="utf-8"))))
    assert [row["file"] for row in rows] == [
        "'=evil.yaml",
        "minus.yaml",
        "half.yaml",
        "at.yaml",
        "plus.yaml",
    ]
    assert [row["student"] for row in rows] == [
        "'=cmd|' /C calc'!A0",
        "-3",
        "-1/2",
        "'@SUM(A1)",
        "+1e-6",
    ]
    assert rows[0]["score"] == "2" and rows[0]["output"] == "2"


def test_student_must_be_a_name_or_a_number(classroom: Path, tmp_path: Path):
    subs = classroom / "subs"
    write(subs / "list.yaml", submission("output: [[4], [-3], [-2]]", student="[a, b]"))
    write(subs / "id.yaml", submission("output: [[4], [-3], [-2]]", student="12345"))
    result = run("--format", "json", str(subs / "list.yaml"), str(subs / "id.yaml"))
    files = json.loads(result.output)["files"]
    assert files[0]["error"] == (
        f"{subs / 'list.yaml'}:2:10: student: student must be a name or a number "
        "(student: alice), got a list"
    )
    assert files[1]["student"] == "12345"


def test_junit_is_well_formed_with_required_attributes(classroom: Path, tmp_path: Path):
    report = tmp_path / "report.xml"
    result = run("--junit", str(report), str(classroom / "subs"))
    assert result.exit_code == 2
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [Path(s.get("name")).stem for s in suites] == ["alice", "bob", "carol", "dave"]
    assert root.get("tests") == "7" and root.get("failures") == "1" and root.get("errors") == "1"
    for suite in suites:
        for attribute in ("name", "tests", "failures", "errors"):
            assert suite.get(attribute) is not None
        for case in suite.findall("testcase"):
            assert case.get("classname") and case.get("name")
    carol = suites[2]
    failure = carol.find("testcase[@name='grad_kernel']/failure")
    assert failure is not None
    assert "wrong cells: [1, 1]" in failure.get("message")
    assert suites[3].find("testcase/error") is not None


def usage_error(*args: str) -> Result:
    """A run expected to stop with a usage error: exit 2, no traceback."""
    result = CliRunner().invoke(main, ["check", *args], env=ENV)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result


def test_report_paths_are_checked_before_grading(classroom: Path, tmp_path: Path):
    subs = str(classroom / "subs")
    result = usage_error(subs, "--csv", str(tmp_path / "nodir" / "g.csv"))
    assert "gradcalc check: --csv: " in result.output and "no folder" in result.output
    assert "gradcalc check —" not in result.output  # nothing was graded
    result = usage_error(subs, "--junit", str(tmp_path))
    assert "gradcalc check: --junit: " in result.output and "is a folder" in result.output
    result = usage_error(subs, "--csv", "")
    assert "give a file name" in result.output
    same = str(tmp_path / "r.txt")
    result = usage_error(subs, "--csv", same, "--junit", same)
    assert "also the --csv file" in result.output


def test_a_report_that_cannot_be_written_is_one_line(classroom: Path, tmp_path: Path, monkeypatch):
    from gradcalc.cli import check as check_module

    def refuse(path: str, text: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(check_module, "write_atomically", refuse)
    sheet = tmp_path / "g.csv"
    result = usage_error(str(classroom / "subs" / "alice.yaml"), "--csv", str(sheet))
    assert result.output.splitlines()[-1] == (
        f"gradcalc check: --csv: cannot write {str(sheet)!r}: Permission denied"
    )


def test_a_report_never_overwrites_a_spec(classroom: Path, tmp_path: Path):
    subs = classroom / "subs"
    alice = subs / "alice.yaml"
    before = alice.read_text(encoding="utf-8")
    result = usage_error(str(subs), "--csv", str(alice))
    assert "is one of the files being checked" in result.output
    # `--csv subs/*.yaml`: the shell makes the first submission the CSV path.
    result = usage_error("--csv", str(alice), str(subs / "bob.yaml"))
    assert "is an existing .yaml/.yml file" in result.output
    relative = os.path.relpath(alice)
    result = usage_error(str(alice), "--junit", relative)
    assert "one of the files being checked" in result.output
    problem = classroom / "task3.yaml"
    result = usage_error("--problem", str(problem), str(subs), "--junit", str(problem))
    assert "is the --problem file" in result.output
    assert alice.read_text(encoding="utf-8") == before


def test_reports_get_the_usual_permissions(classroom: Path, tmp_path: Path):
    sheet, report = tmp_path / "g.csv", tmp_path / "r.xml"
    run(str(classroom / "subs" / "alice.yaml"), "--csv", str(sheet), "--junit", str(report))
    umask = os.umask(0)
    os.umask(umask)
    assert sheet.stat().st_mode & 0o777 == 0o666 & ~umask
    assert report.stat().st_mode & 0o777 == 0o666 & ~umask


def test_control_characters_never_reach_the_junit_file_or_the_terminal(
    classroom: Path, tmp_path: Path
):
    subs = classroom / "subs"
    write(subs / "e\x01ve.yaml", submission('"outpu\\x01t": [[4], [-3], [-2]]'))
    write(subs / "f\x1b[31mred.yaml", submission("output: [[4], [-3], [2]]", student='"x\\ey"'))
    report = tmp_path / "r.xml"
    result = run("--junit", str(report), str(subs))
    assert result.exit_code == 2
    root = ET.parse(report).getroot()  # well-formed XML 1.0
    names = [Path(suite.get("name")).name for suite in root.findall("testsuite")]
    assert "e\\x01ve.yaml" in names and "f\\x1b[31mred.yaml" in names
    eve = root.find("testsuite[@name='" + str(subs / "e\\x01ve.yaml") + "']/testcase/error")
    assert eve is not None and "answers.outpu\\x01t: unknown result" in eve.get("message")
    text = report.read_text(encoding="utf-8")
    assert "\x01" not in text and "\x1b" not in text
    assert "\x01" not in result.output and "\x1b" not in result.output
    assert "f\\x1b[31mred.yaml" in result.output and "answers.outpu\\x01t" in result.output
    document = run("--format", "json", str(subs)).output
    assert "\x1b" not in document and "\x01" not in document
    files = [Path(f["file"]).name for f in json.loads(document)["files"]]
    assert "e\x01ve.yaml" in files  # exact in JSON, written as \u0001


def test_a_raw_control_character_is_one_located_line(classroom: Path):
    raw = write(classroom / "subs" / "raw.yaml", submission("out\x01put: [[4], [-3], [-2]]"))
    result = run(str(raw))
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith(f"{raw}:")]
    assert errors == [
        f"{raw}:3:6: control character U+0001 is not allowed in YAML; remove it "
        "(tabs and newlines are fine)"
    ]
    assert "position" not in result.output


# ---------------------------------------------------------------------------
# Sharding and jobs


def test_shards_are_a_deterministic_partition(tmp_path: Path):
    for i in range(7):
        write(tmp_path / f"s{i}.yaml", TASK3)
    seen = []
    for index in (1, 2, 3):
        first = json.loads(run("--shard", f"{index}/3", "--format", "json", str(tmp_path)).output)
        again = json.loads(run("--shard", f"{index}/3", "--format", "json", str(tmp_path)).output)
        names = [Path(f["file"]).name for f in first["files"]]
        assert names == [Path(f["file"]).name for f in again["files"]]
        seen += names
    assert sorted(seen) == [f"s{i}.yaml" for i in range(7)]
    for bad in ("4/3", "0/2", "1/0", "x", "1/2/3"):
        result = usage_error("--shard", bad, str(tmp_path))
        assert "gradcalc check: --shard: " in result.output, bad


def test_shards_do_not_depend_on_the_order_of_the_arguments(tmp_path: Path, monkeypatch):
    names = ["a.yaml", "B.yaml", "c.yaml", "D.yaml", "é.yaml"]
    for name in names:
        write(tmp_path / name, TASK3)
    monkeypatch.chdir(tmp_path)

    def shard(index: int, args: list[str]) -> list[str]:
        result = run("--shard", f"{index}/2", "--format", "json", *args)
        return [f["file"] for f in json.loads(result.output)["files"]]

    # Sorted by code point of the absolute path: B, D, a, c, é; dealt round-robin
    # (1: B, a, é; 2: D, c), and reported in the order the files were given.
    assert shard(1, names) == ["a.yaml", "B.yaml", "é.yaml"]
    assert shard(2, names) == ["c.yaml", "D.yaml"]
    backwards = names[::-1]
    assert shard(1, backwards) == ["é.yaml", "B.yaml", "a.yaml"]
    assert shard(2, [str(tmp_path / n) for n in backwards] + ["c.yaml"]) == [
        str(tmp_path / "D.yaml"),
        str(tmp_path / "c.yaml"),
    ]


def test_an_empty_shard_passes_with_a_note_and_empty_reports(tmp_path: Path):
    for name in ("a.yaml", "b.yaml"):
        write(tmp_path / "subs" / name, TASK3)
    sheet, report = tmp_path / "g.csv", tmp_path / "r.xml"
    args = ("--shard", "3/3", "--csv", str(sheet), "--junit", str(report), str(tmp_path / "subs"))
    result = CliRunner().invoke(main, ["check", *args], env=ENV)
    assert result.exit_code == 0, result.output
    assert "gradcalc check: shard 3/3 has no files: 2 files over 3 shards" in result.output
    assert "0 passed, 0 failed, 0 errors" in result.output
    assert sheet.read_text(encoding="utf-8") == "file,student,problem,status,score,points\n"
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "0" and not list(root)
    as_json = CliRunner().invoke(main, ["check", "--format", "json", *args], env=ENV)
    document = json.loads(as_json.stdout)  # the note goes to standard error
    assert document["files"] == [] and document["ok"] is True
    # Nothing to check at all stays an error, sharded or not.
    assert usage_error("--shard", "3/3", str(tmp_path / "nothing*.yaml")).exit_code == 2


def test_jobs_give_the_same_report(classroom: Path):
    for i in range(6):
        shutil.copy(classroom / "subs" / "carol.yaml", classroom / "subs" / f"extra{i}.yaml")
    one = run("--format", "json", str(classroom / "subs"))
    two = run("--format", "json", "--jobs", "2", str(classroom / "subs"))
    assert one.output == two.output
    assert one.exit_code == two.exit_code == 2


def test_jobs_option_takes_a_number_or_auto(classroom: Path, monkeypatch):
    from gradcalc.cli import check_jobs as check_module

    one = run("--format", "json", "--jobs", "1", str(classroom / "subs"))
    auto = run("--format", "json", "--jobs", "auto", str(classroom / "subs"))
    assert auto.output == one.output  # the default, auto, as well
    for bad in ("0", "65", "many", "-1"):
        result = CliRunner().invoke(main, ["check", "--jobs", bad, str(classroom / "subs")])
        assert result.exit_code == 2, bad
        assert "from 1 to 64, or auto" in result.output
    monkeypatch.setattr(check_module, "_cpu_quota", lambda: 2)
    assert check_module.auto_jobs(check_module.AUTO_JOBS_MIN_FILES - 1) == 1
    assert check_module.auto_jobs(10_000) <= 2


def test_hidden_answers_keep_diagnoses_that_do_not_give_the_values_away(classroom: Path):
    write(
        classroom / "subs" / "frank.yaml",
        # output: true convolution; grad_kernel: transposed (which would give the key away)
        submission("output: [[-4], [2], [-1]]\ngrad_kernel: [[2, -1], [1, 5]]"),
    )
    shown = run(str(classroom / "subs" / "frank.yaml")).output
    assert "grad_kernel is the transpose" in shown
    hidden = run("--hide-answers", str(classroom / "subs" / "frank.yaml")).output
    assert "output matches the result for true convolution" in hidden
    assert "transpose" not in hidden


def test_symbolic_submission(tmp_path: Path):
    problem = PROBLEMS_DIR / "expr_sigmoid_derivative.yaml"
    write(
        tmp_path / "s.yaml",
        f"problem: {problem}\nanswers:\n  gradient: ['sigmoid(x)*(1 + sigmoid(x))']\n",
    )
    result = run("--format", "json", str(tmp_path / "s.yaml"))
    assert result.exit_code == 1
    graded = {r["name"]: r for r in json.loads(result.output)["files"][0]["results"]}
    assert graded["gradient"]["ok"] is False
    assert graded["hessian"]["missing"] is True
    hidden = run("--hide-answers", str(tmp_path / "s.yaml")).output
    assert "[0]: given sigmoid(x)*(1 + sigmoid(x)), wrong" in hidden
    assert "exp(x)" not in hidden


def test_broken_problem_is_an_error_for_each_submission(classroom: Path):
    write(classroom / "task3.yaml", TASK3.replace("kernel:", "kernal:"))
    result = run("--format", "json", str(classroom / "subs"))
    assert result.exit_code == 2
    for report in json.loads(result.output)["files"]:
        assert report["status"] == "error"
        # Named by the submission's problem: key, so located but not quoted (it may be any file).
        assert (
            "problem " + str(classroom / "task3.yaml") + ":3:1: is not a valid problem spec"
            in (report["error"])
        )
        assert "kernal" not in report["error"]
    # Named by the teacher with --problem: the whole error.
    result = run("--problem", str(classroom / "task3.yaml"), str(classroom / "subs"))
    assert ":3:1: kernal: unknown key" in result.output


def test_every_kind_ignores_the_grading_and_submission_keys():
    from gradcalc.cli.spec_loader import load_file
    from gradcalc.core import registry
    from gradcalc.core.spec import SolveOptions

    seen: set[str] = set()
    for path in sorted(PROBLEMS_DIR.glob("*.yaml")):
        spec = dict(load_file(str(path)).data)
        if spec["kind"] in seen:
            continue
        seen.add(spec["kind"])
        spec.update(points=2, accept={"tolerance": {}}, problem="p.yaml", answers={})
        options = SolveOptions(sections=frozenset(), gradient_check=False)
        assert registry.solve(spec, options).ok, path.name
    assert seen == set(registry.OPS)


def run_check_process(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_with_open_stdin(["check", "--format", "json", *args], cwd=cwd)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
@pytest.mark.parametrize(
    ("args", "errors"),
    [
        (("fi.yaml",), {"fi.yaml": "fi.yaml: problem ff.yaml: not a regular file (a FIFO)"}),
        (("ff.yaml",), {"ff.yaml": "ff.yaml: not a regular file (a FIFO)"}),
        (
            ("--problem", "ff.yaml", "answers.yaml"),
            {"answers.yaml": "answers.yaml: problem ff.yaml: not a regular file (a FIFO)"},
        ),
    ],
    ids=["problem: FIFO", "FIFO given", "--problem FIFO"],
)
def test_fifo_is_refused_not_waited_on(tmp_path: Path, args: tuple[str, ...], errors: dict):
    os.mkfifo(tmp_path / "ff.yaml")
    write(tmp_path / "fi.yaml", "problem: ff.yaml\nanswers: {output: [[4], [-3], [-2]]}\n")
    write(tmp_path / "answers.yaml", "answers: {output: [[4], [-3], [-2]]}\n")
    result = run_check_process(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    reports = {report["file"]: report for report in json.loads(result.stdout)["files"]}
    for file, error in errors.items():
        assert reports[file]["error"] == error + "; give a .yaml file"


@pytest.mark.parametrize("args", [("sub.yaml",), ("--problem", "-", "answers.yaml")])
def test_a_problem_named_dash_is_a_file_not_standard_input(tmp_path: Path, args):
    write(tmp_path / "sub.yaml", "problem: '-'\nanswers: {output: [[4], [-3], [-2]]}\n")
    write(tmp_path / "answers.yaml", "answers: {output: [[4], [-3], [-2]]}\n")
    result = run_check_process(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    [report] = json.loads(result.stdout)["files"]
    assert report["error"] == f"{args[-1]}: problem -: no such file"


def test_a_numeric_answers_key_is_blamed_on_the_submission(tmp_path: Path):
    shutil.copy(PROBLEMS_DIR / "task3.yaml", tmp_path / "task3.yaml")
    k1 = write(tmp_path / "k1.yaml", "problem: task3.yaml\nanswers:\n  1: 5\n")
    result = run("--format", "json", str(k1))
    assert result.exit_code == 2
    [report] = json.loads(result.output)["files"]
    assert report["error"].startswith(f"{k1}:3:3: answers.1: unknown result '1'"), report["error"]


def test_a_numeric_expected_key_is_blamed_on_its_line(tmp_path: Path):
    spec = write(tmp_path / "spec.yaml", TASK3.replace("expected:\n", "expected:\n  2: 5\n"))
    result = run("--format", "json", str(spec))
    assert result.exit_code == 2
    [report] = json.loads(result.output)["files"]
    assert report["error"].startswith(f"{spec}:6:3: expected.2: unknown result '2'")


def test_a_file_over_budget_during_the_first_sympy_import_breaks_no_later_file(tmp_path: Path):
    """SymPy is imported before the first file's budget starts: a budget that ran out in the
    middle of the import left a half-made `sympy` module (no attribute 'polys') behind."""
    names = []
    for index in range(3):
        shutil.copy(PROBLEMS_DIR / "expr_sigmoid_derivative.yaml", tmp_path / f"e{index}.yaml")
        names.append(f"e{index}.yaml")
    result = run_check_process(*names, "--timeout", "0.1", "--jobs", "1", cwd=tmp_path)
    assert "internal error" not in result.stdout, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    for file in json.loads(result.stdout)["files"]:
        assert file["status"] == "pass" or "time budget" in file["error"], file


def test_a_budget_timer_that_fires_before_the_body_leaves_nothing_behind():
    """The processor-time alarm raised just after the timer starts, before the body: the
    budget must end there too (no timer left, no handler left)."""
    import signal
    import sys

    from gradcalc.cli.check_budget import OverBudget, file_budget
    from gradcalc.core.deadline import _Profile

    handler = signal.getsignal(signal.SIGPROF)

    def alarm_after_setitimer(frame, event: str, arg) -> None:
        if event == "c_return" and arg is signal.setitimer:
            sys.setprofile(None)
            signal.raise_signal(signal.SIGPROF)

    sys.setprofile(alarm_after_setitimer)
    try:
        with file_budget(5, None):
            sys.setprofile(None)
    except OverBudget:
        pass
    finally:
        sys.setprofile(None)
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
    assert not _Profile.armed
    assert signal.getsignal(signal.SIGPROF) is handler


def test_sympy_is_imported_before_the_first_budget_starts(tmp_path: Path):
    """In a fresh process: when the first file's budget starts, SymPy is already imported."""
    import sys

    shutil.copy(PROBLEMS_DIR / "expr_sigmoid_derivative.yaml", tmp_path / "e.yaml")
    script = (
        "import sys\n"
        "from gradcalc.cli import check_jobs as check\n"
        "budget, seen = check.file_budget, []\n"
        "def recorded(*args):\n"
        "    seen.append('sympy' in sys.modules and hasattr(sys.modules['sympy'], 'polys'))\n"
        "    return budget(*args)\n"
        "check.file_budget = recorded\n"
        "check.check_files(['e.yaml'], check.Settings(), 1)\n"
        "print(seen)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[True]", result.stderr
