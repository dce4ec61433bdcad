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
import re
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
    assert "1 error;" in result.output and "skipped" not in result.output


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


# -- 5. a time and memory budget per file; a dying worker ----------------------------------------


def _sabotage(monkeypatch, action) -> list[str]:
    """Make the solver call ``action(title)`` first for every spec; returns the titles seen
    (in this process).  Forked workers inherit the patch."""
    from gradcalc.core import registry

    solve = registry.solve
    seen: list[str] = []

    def sabotaged(spec, options, **kwargs):
        seen.append(str(spec.get("title")))
        action(str(spec.get("title")))
        return solve(spec, options, **kwargs)

    monkeypatch.setattr(registry, "solve", sabotaged)
    return seen


def _spin(title: str) -> None:
    while title == "spin":  # interruptible, like any slow pure-Python solve
        pass


def titled(title: str) -> str:
    return re.sub("(?m)^title: .*$", f'title: "{title}"', TASK3, count=1)


def _class_with(tmp_path: Path, bad: str, count: int = 5) -> list[Path]:
    files = [write(tmp_path / f"s{n}.yaml", TASK3) for n in range(count)]
    files.append(write(tmp_path / "bad.yaml", titled(bad)))
    return files


def _reports_say(tmp_path: Path, bad_error: str, good: int = 5) -> None:
    rows = list(csv.DictReader(io.StringIO((tmp_path / "grades.csv").read_text("utf-8"))))
    statuses = {Path(row["file"]).name: row["status"] for row in rows}
    assert statuses == {**{f"s{n}.yaml": "pass" for n in range(good)}, "bad.yaml": "error"}
    suites = ET.parse(tmp_path / "report.xml").getroot()
    assert (suites.get("errors"), suites.get("failures")) == ("1", "0")
    assert len(suites.findall("testsuite")) == good + 1
    (error,) = suites.iter("error")
    assert bad_error in error.get("message")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_over_its_time_budget_is_its_error_and_every_report_is_written(
    tmp_path: Path, monkeypatch, jobs: str
):
    _sabotage(monkeypatch, _spin)
    files = _class_with(tmp_path, "spin")
    csv_path, junit = tmp_path / "grades.csv", tmp_path / "report.xml"
    result = check(
        *map(str, files), "--timeout", "0.3", "--jobs", jobs, "--csv", str(csv_path),
        "--junit", str(junit),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    line = f"{files[-1]}: checking it took more than the time budget of 0.3 s of processor time"
    assert line in result.output
    assert "5 passed, 0 failed, 1 error" in result.output
    _reports_say(tmp_path, "time budget of 0.3 s")


def test_a_problem_over_budget_is_solved_once_for_all_its_submissions(tmp_path: Path, monkeypatch):
    seen = _sabotage(monkeypatch, _spin)
    write(tmp_path / "task3.yaml", titled("spin"))
    for name in ("a", "b", "c"):
        write(tmp_path / "subs" / f"{name}.yaml", "problem: ../task3.yaml\nanswers: {output: 1}\n")
    result = check(str(tmp_path / "subs"), "--timeout", "0.3", "--jobs", "1")
    assert result.exit_code == 2, result.output
    assert result.output.count("took more than the time budget of 0.3 s") == 3
    assert seen == ["spin"]  # the second and third submission did not wait again


def test_a_file_over_its_memory_budget_is_its_error(tmp_path: Path, monkeypatch):
    from gradcalc.cli import check as check_module
    from gradcalc.cli.check_budget import _address_space

    if _address_space() is None:
        pytest.skip("needs /proc/self/statm (Linux) to set a memory budget")
    monkeypatch.setattr(check_module, "MEMORY_BUDGET", 256 * 2**20)
    hoard: list[bytearray] = []
    _sabotage(monkeypatch, lambda title: title == "hog" and hoard.append(bytearray(2**31)))
    files = _class_with(tmp_path, "hog")
    result = check(
        *map(str, files), "--jobs", "1", "--csv", str(tmp_path / "grades.csv"),
        "--junit", str(tmp_path / "report.xml"),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"{files[-1]}: checking it needs more than the memory budget of 256 MiB" in result.output
    _reports_say(tmp_path, "memory budget of 256 MiB")
    assert not hoard


@pytest.mark.parametrize("death", ["exit", "kill"])
def test_a_worker_that_dies_loses_only_its_own_file(tmp_path: Path, monkeypatch, death: str):
    import signal

    from gradcalc.cli import check_jobs as check_module

    parent = os.getpid()
    check_file = check_module.check_file

    def dying(path, settings):
        if os.getpid() != parent and path.endswith("bad.yaml"):  # only in a worker
            if death == "exit":
                os._exit(70)
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer does
        return check_file(path, settings)

    monkeypatch.setattr(check_module, "check_file", dying)
    files = _class_with(tmp_path, "dies", count=7)
    result = check(
        *map(str, files), "--jobs", "2", "--csv", str(tmp_path / "grades.csv"),
        "--junit", str(tmp_path / "report.xml"),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"{files[-1]}: the process checking it died" in result.output
    assert "7 passed, 0 failed, 1 error" in result.output
    _reports_say(tmp_path, "the process checking it died", good=7)


def test_reports_travel_back_from_a_worker_one_by_one():
    from fractions import Fraction

    from gradcalc.cli.check_jobs import FileReport, _pack, _unpack
    from gradcalc.core.grading import CellError, Grade, ResultGrade

    # Python 3.10 pickles a Fraction as its text, refused above 4,300 digits.
    huge = Fraction(10**5000 + 1, 3)
    cell = CellError((0,), huge, Fraction(1), 1.0, None)
    result = ResultGrade("output", False, Fraction(1), Fraction(0), 1, (cell,))
    grade = Grade("dense", None, [result])
    (whole,) = _unpack(_pack([FileReport(source="a.yaml", grade=grade)]), ["a.yaml"])
    assert whole.grade.results[0].wrong[0].given == huge
    packed = [_pack(FileReport(source="a.yaml", grade=grade)), b"not a pickle"]
    first, second = _unpack(packed, ["a.yaml", "b.yaml"])
    assert first.grade.results[0].wrong[0].given == huge
    assert second.status == "error" and second.error.startswith("b.yaml: internal error:")


def test_a_report_that_cannot_be_sent_back_is_only_its_files_error(tmp_path: Path, monkeypatch):
    from gradcalc.cli import check_jobs as check_module

    check_file = check_module.check_file

    def unpicklable(path, settings):
        report = check_file(path, settings)
        if path.endswith("bad.yaml"):
            report.student = lambda: None  # pickle refuses a lambda
        return report

    monkeypatch.setattr(check_module, "check_file", unpicklable)
    files = _class_with(tmp_path, "odd", count=7)
    result = check(*map(str, files), "--jobs", "2")
    assert result.exit_code == 2, result.output
    assert "7 passed, 0 failed, 1 error" in result.output
    assert f"{files[-1]}: internal error: its report cannot be sent back" in result.output


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "abc", "1e9"])
def test_timeout_takes_positive_seconds(tmp_path: Path, value: str):
    result = check(str(write(tmp_path / "p.yaml", TASK3)), "--timeout", value)
    assert result.exit_code == 2
    assert "--timeout" in result.output and "is not a number of seconds" in result.output


@pytest.mark.parametrize(
    ("option", "value", "why"),
    [
        ("--jobs", "1_0", "underscores are not read"),
        ("--jobs", "０１", "use ASCII digits"),
        ("--jobs", "02", "may not start with 0"),
        ("--timeout", "１_０", "use ASCII digits"),
        ("--timeout", "010", "leading zeros are not read as octal"),
        ("--timeout", "1_0", "underscores are not read"),
    ],
)
def test_jobs_and_timeout_are_read_like_every_number_option(
    tmp_path: Path, option: str, value: str, why: str
):
    """int() and float() took "1_0", "０１", "02" and "010"; every other option refuses them."""
    result = check(str(write(tmp_path / "p.yaml", TASK3)), option, value)
    assert result.exit_code == 2, result.output
    assert f"gradcalc check: {option}: {value!r} is not a number" in result.output
    assert why in result.output


@pytest.mark.parametrize(("option", "value"), [("--jobs", "1e1"), ("--timeout", "1/2")])
def test_jobs_and_timeout_take_what_every_number_option_takes(
    tmp_path: Path, option: str, value: str
):
    result = check(str(write(tmp_path / "p.yaml", TASK3)), option, value)
    assert result.exit_code == 0, result.output


# -- 10. a submission's problem: file is named, never quoted ----------------------------------

SECRET = "s3cr3t-t0ken-AKIAIOSFODNN7"


@pytest.mark.parametrize(
    "problem_text",
    [
        f"kind: {SECRET}\n",  # unknown kind, echoed before
        f"{SECRET}: 1\nkind: conv\n",  # unknown key, echoed with a did-you-mean
        f"kind: conv\ninput: [[1]]\nkernel: {SECRET}\n",  # a bad value
        f"kind: conv\ninput: [[1]]\nkernel: [[1]]\npoints: {{{SECRET}: 1}}\n",  # a bad result
        f"kind: conv\n{SECRET}: [1\n",  # not YAML
        f"Name: {SECRET}\nUmask: 0022\n",  # /proc/self/status's shape
        f"kind: conv\nkind: {SECRET}\n",  # a duplicate key
    ],
    ids=["kind", "key", "value", "points", "yaml", "status", "duplicate"],
)
@pytest.mark.parametrize("hide", [False, True])
def test_an_error_about_a_submissions_problem_file_shows_none_of_it(
    tmp_path: Path, problem_text: str, hide: bool
):
    write(tmp_path / "secret.txt", problem_text)
    sub = write(tmp_path / "subs" / "a.yaml", "problem: ../secret.txt\nanswers: {output: 1}\n")
    csv_path, junit = tmp_path / "grades.csv", tmp_path / "report.xml"
    outputs = []
    for output_format in ("table", "json"):
        result = check(
            str(sub), "--format", output_format, "--csv", str(csv_path), "--junit", str(junit),
            *(["--hide-answers"] if hide else []),
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        outputs += [result.output, csv_path.read_text("utf-8"), junit.read_text("utf-8")]
    for text in outputs:
        assert SECRET not in text and "Name" not in text and "Umask" not in text
        assert "secret.txt" in text  # the file is named
    assert f"run `gradcalc check {tmp_path / 'secret.txt'}` to see the error" in outputs[0]


def test_a_submissions_problem_that_cannot_be_read_says_why(tmp_path: Path):
    sub = write(tmp_path / "a.yaml", "problem: missing.yaml\nanswers: {output: 1}\n")
    result = check(str(sub))
    assert f"problem {tmp_path / 'missing.yaml'}: no such file" in result.output


def test_a_submissions_problem_too_large_to_read_says_why(tmp_path: Path):
    """Whole-file errors carry FILE:1:1; the line still says why the file was not read (it
    was told apart by the error's class, not by the words of its message)."""
    from gradcalc.cli.spec_loader import MAX_FILE_BYTES

    with open(tmp_path / "big.yaml", "wb") as big:
        big.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    sub = write(tmp_path / "a.yaml", "problem: big.yaml\nanswers: {output: 1}\n")
    output = " ".join(check(str(sub), "--format", "json").output.split())
    assert (
        f"problem {tmp_path / 'big.yaml'}:1:1: the file has {MAX_FILE_BYTES + 1:,} bytes, "
        f"above the limit of {MAX_FILE_BYTES:,}"
    ) in output
    assert "cannot be read as a YAML spec" not in output


# -- 4. no report overwrites an input or someone's file ---------------------------------------


def usage_error(*args: str) -> Result:
    result = CliRunner().invoke(main, ["check", *args], env=ENV)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def spec_class(tmp_path: Path) -> Path:
    """Submissions pointing at task3.spec: a problem that no .yaml rule protects."""
    write(tmp_path / "task3.spec", TASK3)
    answers = "answers:" + TASK3.split("expected:")[1]
    for name in ("a", "b"):
        write(tmp_path / "subs" / f"{name}.yaml", "problem: ../task3.spec\n" + answers)
    return tmp_path


def test_a_report_is_never_a_hard_link_to_an_input_or_a_problem(spec_class: Path):
    """Inputs and reports are told apart by device and inode (as --export does), not only by
    their resolved paths: a hard link to a submission or a problem is the same file."""
    sub = spec_class / "subs" / "a.yaml"
    hard = spec_class / "grades.csv"
    os.link(sub, hard)
    result = usage_error(str(sub), "--force", "--csv", str(hard))
    assert f"{str(hard)!r} is one of the files being checked" in result.output
    assert sub.read_text(encoding="utf-8").startswith("problem:")
    problem_link = spec_class / "report.xml"
    os.link(spec_class / "task3.spec", problem_link)
    result = usage_error(str(spec_class / "subs"), "--force", "--junit", str(problem_link))
    assert f"gradcalc check: --junit: {str(problem_link)!r} is the problem file of " in (
        result.output
    )
    assert (spec_class / "task3.spec").read_text(encoding="utf-8") == TASK3


def test_only_a_blank_file_counts_as_empty(tmp_path: Path):
    """A file whose first 4096 bytes are blank is not empty: what follows is someone's."""
    spec = write(tmp_path / "p.yaml", TASK3)
    notes = tmp_path / "notes.csv"
    notes.write_text(" " * 5000 + "my notes\n", encoding="utf-8")
    result = usage_error(str(spec), "--csv", str(notes))
    assert "exists and is not an earlier gradcalc CSV grade sheet" in result.output
    blank = tmp_path / "blank.csv"
    blank.write_text("\n  \n", encoding="utf-8")
    assert check(str(spec), "--csv", str(blank)).exit_code == 0
    assert blank.read_text(encoding="utf-8").startswith("file,student,problem,status")


def test_a_report_never_overwrites_the_problem_a_submission_names(spec_class: Path):
    problem, subs = spec_class / "task3.spec", str(spec_class / "subs")
    result = usage_error(subs, "--csv", str(problem))
    assert "exists and is not an earlier gradcalc CSV grade sheet" in result.output
    assert "gradcalc check —" not in result.output  # refused before grading
    # Even with --force, and through a symbolic link: the problem is known once read.
    link = spec_class / "link.csv"
    link.symlink_to(problem)
    junit = spec_class / "report.xml"
    for target in (str(problem), str(link)):
        result = usage_error(subs, "--force", "--csv", target, "--junit", str(junit))
        assert f"gradcalc check: --csv: {target!r} is the problem file of " in result.output
        assert "2 passed, 0 failed, 0 errors" in result.output  # graded all the same
        assert problem.read_text("utf-8") == TASK3
        assert ET.parse(junit).getroot().get("tests") == "6"  # the other report is written
        junit.unlink()


def test_a_report_replaces_only_an_earlier_report_of_its_kind(spec_class: Path):
    subs = str(spec_class / "subs")
    sheet, junit, notes = spec_class / "g.csv", spec_class / "r.xml", spec_class / "notes.txt"
    for _ in range(2):  # the second run replaces the first run's reports
        result = check(subs, "--csv", str(sheet), "--junit", str(junit))
        assert result.exit_code == 0, result.output
    result = usage_error(subs, "--junit", str(sheet))  # a grade sheet is no JUnit report
    assert "is not an earlier gradcalc JUnit report" in result.output
    result = usage_error(subs, "--csv", str(junit))
    assert "is not an earlier gradcalc CSV grade sheet" in result.output
    write(notes, "file,student,problem,status\nmy own notes\n")
    result = usage_error(subs, "--csv", str(notes))
    assert "use --force" in result.output
    assert notes.read_text("utf-8").endswith("my own notes\n")
    result = check(subs, "--csv", str(notes), "--force")
    assert result.exit_code == 0 and notes.read_text("utf-8").startswith("file,student,problem")
    empty = write(spec_class / "empty.xml", "")  # mktemp's file: nothing to lose
    assert check(subs, "--junit", str(empty)).exit_code == 0
    assert ET.parse(empty).getroot().get("name") == "gradcalc check"


def test_force_never_overwrites_a_file_being_checked(spec_class: Path):
    sub = spec_class / "subs" / "a.yaml"
    before = sub.read_text("utf-8")
    result = usage_error(str(spec_class / "subs"), "--force", "--csv", str(sub))
    assert "is one of the files being checked" in result.output
    assert sub.read_text("utf-8") == before


# -- 8. control characters escaped in every format ----------------------------------------------


def test_control_characters_never_reach_the_grade_sheet(spec_class: Path):
    subs = spec_class / "subs"
    answers = (subs / "a.yaml").read_text("utf-8").split("\n", 1)[1]
    write(
        subs / "f\x1b[31mred.yaml",
        'problem: ../task3.spec\nstudent: "x\\ey\\tz\\u0085"\n' + answers,
    )
    write(subs / "two\nlines.yaml", "problem: ../task3.spec\nstudent: '\tTAB'\n" + answers)
    sheet = spec_class / "g.csv"
    result = check(str(subs), "--csv", str(sheet))
    assert result.exit_code == 0, result.output
    text = sheet.read_text("utf-8")
    assert not any(ch in text for ch in "\x1b\t\x85\r")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(text.splitlines()) == len(rows) + 1  # one line per file
    by_name = {Path(row["file"]).name: row for row in rows}
    assert by_name["f\\x1b[31mred.yaml"]["student"] == "x\\x1by\\x09z\\x85"
    assert by_name["two\\x0alines.yaml"]["student"] == "\\x09TAB"


def test_bidi_controls_never_reach_the_grade_sheet_or_junit_raw(spec_class: Path):
    """A student or file named "\u202e..." would reverse the rest of the row in a viewer."""
    subs = spec_class / "subs"
    answers = (subs / "a.yaml").read_text("utf-8").split("\n", 1)[1]
    write(
        subs / "c\u202e.yaml",
        'problem: ../task3.spec\nstudent: "x\\u202ey\\u2066z\\u2028w"\n' + answers,
    )
    sheet, junit = spec_class / "g.csv", spec_class / "j.xml"
    result = check(str(subs), "--csv", str(sheet), "--junit", str(junit), "--format", "json")
    assert result.exit_code == 0, result.output
    raw = re.compile("[\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
    for text in (sheet.read_text("utf-8"), junit.read_text("utf-8"), result.stdout):
        assert not raw.search(text), text
    rows = {
        Path(row["file"]).name: row for row in csv.DictReader(io.StringIO(sheet.read_text("utf-8")))
    }
    assert rows["c\\u202e.yaml"]["student"] == "x\\u202ey\\u2066z\\u2028w"
    assert "c\\u202e" in junit.read_text("utf-8")


def test_json_report_escapes_what_json_leaves_raw(spec_class: Path):
    """DEL, C1 and the non-characters U+FFFE/U+FFFF (which check's own copy of the rule
    missed) are written as \\u escapes: the same JSON strings, safe on a terminal."""
    subs = spec_class / "subs"
    answers = (subs / "a.yaml").read_text("utf-8").split("\n", 1)[1]
    write(
        subs / "a.yaml",
        'problem: ../task3.spec\nstudent: "x\\u007fy\\u0085z\\ufffe\\uffff"\n' + answers,
    )
    result = check(str(subs), "--format", "json")
    assert result.exit_code == 0, result.output
    assert not any(ch in result.output for ch in "\x7f\x85\ufffe\uffff")
    assert "\\u007f" in result.output and "\\ufffe" in result.output
    students = [file["student"] for file in json.loads(result.output)["files"]]
    assert "x\x7fy\x85z\ufffe\uffff" in students


def test_a_newline_in_a_file_name_or_key_cannot_forge_a_report_line(spec_class: Path):
    subs = spec_class / "subs"
    forged = "\n9 passed, 0 failed, 0 errors; points 9\n"
    write(subs / f"z{forged}.yaml", 'problem: ../task3.spec\nanswers: {"out\\nput": 1}\n')
    junit = spec_class / "r.xml"
    result = check(str(subs), "--junit", str(junit))
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert not any(line.startswith("9 passed") for line in lines)
    assert any(line.startswith("2 passed, 0 failed, 1 error") for line in lines)
    assert "answers.out\\x0aput: unknown result" in result.output
    names = [suite.get("name") for suite in ET.parse(junit).getroot().iter("testsuite")]
    assert any(
        name.endswith("z\\x0a9 passed, 0 failed, 0 errors; points 9\\x0a.yaml") for name in names
    )


def test_a_submission_naming_the_grade_sheet_as_its_problem_cannot_block_it(spec_class: Path):
    write(spec_class / "subs" / "c.yaml", "problem: ../g.csv\nanswers: {output: 1}\n")
    sheet = spec_class / "g.csv"
    for _ in range(2):  # the first run creates the sheet, the second replaces it
        result = check(str(spec_class / "subs"), "--csv", str(sheet))
        assert result.exit_code == 2, result.output
        assert "is the problem file" not in result.output
        rows = list(csv.DictReader(io.StringIO(sheet.read_text("utf-8"))))
        assert [row["status"] for row in rows] == ["pass", "pass", "error"]


def test_a_worker_stuck_where_the_budget_cannot_interrupt_it_is_ended(tmp_path: Path, monkeypatch):
    import signal

    def stuck(title: str) -> None:
        if title == "stuck":  # as a long computation inside C: the budget's signal waits
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPROF})
            _spin("spin")

    _sabotage(monkeypatch, stuck)
    files = _class_with(tmp_path, "stuck")
    result = check(*map(str, files), "--timeout", "0.1", "--jobs", "2")
    assert result.exit_code == 2, result.output
    assert f"{files[-1]}: the process checking it died" in result.output
    assert "5 passed, 0 failed, 1 error" in result.output
