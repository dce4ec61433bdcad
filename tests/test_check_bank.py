"""A problem bank the student cannot touch (issue 18): ``gradcalc check --problems DIR`` looks
each submission's ``problem:`` up as a name inside DIR only, and a submission gives answers
only.  Without it, folder runs warn that students choose their problems."""

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
ANSWERS = """\
answers:
  output: [[4], [-3], [-2]]
  jacobian_kernel: [[2, -1, 0, -1], [0, -1, 1, 1], [1, 1, -1, 2]]
  grad_kernel: [[2, 1, -1, 5]]
"""
# A 1×1 problem a student wrote, whose answer they know.
EASY = "kind: conv\ninput: [[1]]\nkernel: [[1]]\nexpected: {output: [[1]]}\n"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", *args], env=ENV, catch_exceptions=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """bank/ (task3, week2/task3 and a link out), class/ (honest and cheating submissions)."""
    write(tmp_path / "bank" / "task3.yaml", TASK3)
    write(tmp_path / "bank" / "week2" / "task3.yml", TASK3)
    write(tmp_path / "outside.yaml", EASY)
    os.symlink(tmp_path / "outside.yaml", tmp_path / "bank" / "link.yaml")
    write(tmp_path / "bank" / "notes.txt", "not a problem\n")
    submissions = {
        "ann": "problem: task3\nstudent: ann\n",
        "ben": "problem: week2/task3.yml\nstudent: ben\n",
        "cat": "problem: ../outside.yaml\nstudent: cat\nanswers: {output: [[1]]}\n",
        "dan": f"problem: {tmp_path / 'outside.yaml'}\nstudent: dan\n",
        "eve": "problem: link\nstudent: eve\n",
        "fay": "problem: notes.txt\nstudent: fay\n",
        "gus": "problem: tsak3\nstudent: gus\n",
    }
    for name, head in submissions.items():
        write(tmp_path / "class" / f"{name}.yaml", head if "answers" in head else head + ANSWERS)
    # A spec with its own answers handed in as a submission.
    write(tmp_path / "class" / "hal.yaml", EASY)
    write(tmp_path / "class" / "ivy.yaml", "problem: task3\nkind: conv\n" + ANSWERS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_bank_grades_names_and_refuses_every_way_out(course: Path):
    sheet, junit = course / "grades.csv", course / "report.xml"
    result = run(
        "--problems",
        "bank",
        "class",
        "--format",
        "json",
        "--csv",
        str(sheet),
        "--junit",
        str(junit),
    )
    assert result.exit_code == 2  # the cheating submissions are errors
    files = {Path(f["file"]).stem: f for f in json.loads(result.output)["files"]}
    assert files["ann"]["status"] == "pass" and files["ann"]["problem"] == "bank/task3.yaml"
    assert files["ben"]["status"] == "pass"
    assert "a '..' part" in files["cat"]["error"]
    assert "an absolute path" in files["dan"]["error"]
    assert "leads out of the problem bank" in files["eve"]["error"]
    assert "no problem 'notes.txt' in the problem bank" in files["fay"]["error"]
    assert "no problem 'tsak3' in the problem bank; did you mean 'task3'?" in files["gus"]["error"]
    assert "'kind' belongs to the problem" in files["hal"]["error"]
    assert files["ivy"]["error"].startswith("class/ivy.yaml:2:1: kind: a submission gives answers")
    for stem in "cat", "dan":  # the line says what a name may be
        assert (
            "a name is the path of a .yaml or .yml file inside the problem bank"
            in (files[stem]["error"])
        )
    for stem in "cat", "dan", "eve", "fay", "gus", "hal", "ivy":
        assert files[stem]["status"] == "error" and files[stem]["score"] is None
    assert all(f["warning"] is None for f in files.values())
    rows = {Path(r["file"]).stem: r for r in csv.DictReader(io.StringIO(sheet.read_text()))}
    assert rows["ann"]["score"] == "3" and rows["cat"]["status"] == "error"
    suites = {Path(s.get("name")).stem: s for s in ET.parse(junit).getroot()}
    assert suites["ann"].get("failures") == "0" and suites["eve"].get("errors") == "1"


def test_the_table_says_what_is_allowed(course: Path):
    result = run("--problems", "bank", "class/cat.yaml")
    assert result.exit_code == 2
    assert (
        "class/cat.yaml:1:10: problem: '../outside.yaml' is not a name in the problem bank: a '..' "
        "part; a name is the path of a .yaml or .yml file inside the problem bank (--problems)"
    ) in result.output
    assert "warning" not in result.output


def test_a_cheat_passes_without_the_bank_and_the_folder_run_warns(course: Path):
    result = run("class/cat.yaml", "class/hal.yaml")  # files: no warning, as today
    assert result.exit_code == 0 and "warning" not in result.output
    folder = run("class")
    assert "gradcalc check: warning: " in folder.stderr
    assert "a student can choose what they are graded against" in folder.stderr
    assert "--problems DIR" in folder.stderr
    document = json.loads(run("--format", "json", "class").stdout)
    cat = next(f for f in document["files"] if f["file"].endswith("cat.yaml"))
    assert cat["status"] == "pass" and "--problems DIR" in cat["warning"]
    hal = next(f for f in document["files"] if f["file"].endswith("hal.yaml"))
    assert hal["warning"] is None  # a spec, not a submission


def test_problem_and_problems_do_not_go_together(course: Path):
    result = run("--problem", "bank/task3.yaml", "--problems", "bank", "class")
    assert result.exit_code == 2 and "not both" in result.output
    assert run("--problems", "nowhere", "class").exit_code == 2


def test_the_banks_own_files_are_not_submissions_and_no_report_goes_into_it(course: Path):
    write(course / "class" / "ann.yaml", "problem: task3\nstudent: ann\n" + ANSWERS)
    result = run("--problems", "bank", "bank", "class/ann.yaml")
    assert result.exit_code == 0, result.output
    assert "1 file" in result.output and "bank/task3.yaml" not in result.output.split("\n\n")[1]
    refused = run("--problems", "bank", "class/ann.yaml", "--csv", "bank/grades.csv")
    assert refused.exit_code == 2 and "inside the problem bank" in refused.output
    assert not (course / "bank" / "grades.csv").exists()


def test_a_broken_bank_problem_is_shown_in_full_and_fails_exit_zero(course: Path):
    write(course / "bank" / "broken.yaml", "kind: conv\ninput: [[1]]\nkernel: [[1, 2]]\n")
    write(course / "class" / "jo.yaml", "problem: broken\n" + ANSWERS)
    result = run("--problems", "bank", "--exit-zero", "class/jo.yaml")
    assert result.exit_code == 2
    assert "bank/broken.yaml:3:9: kernel" in result.output  # the teacher's: in full
    honest = run("--problems", "bank", "--exit-zero", "class")
    assert honest.exit_code == 2  # jo's problem is broken
    (course / "bank" / "broken.yaml").unlink()
    (course / "class" / "jo.yaml").unlink()
    assert run("--problems", "bank", "--exit-zero", "class").exit_code == 0


def test_hidden_answers_still_hide_with_the_bank(course: Path):
    # A sign flip on output, graded through the bank: no correct value, no error size.
    write(course / "class" / "kim.yaml", "problem: task3\nanswers: {output: [[-4], [3], [2]]}\n")
    for output_format in ("table", "json"):
        text = run(
            "--problems", "bank", "--hide-answers", "--format", output_format, "class/kim.yaml"
        )
        assert text.exit_code == 1
        assert "correct" not in text.output and "rel_error" not in text.output
        assert "likely mistake" not in text.output
