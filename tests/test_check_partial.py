"""Partial results, never a lost submission (issue 18): an answer that cannot be read scores 0
with its reason and a name that is no result is listed with a did-you-mean, while the rest is
graded; ``--exit-zero`` reports without failing the job."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner, Result

from gradcalc.cli.main import main

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}

# output [7, 0], ∂L/∂x [1, 1, 1], ∂L/∂W [[1, 2, 3], [1, 2, 3]]
DENSE = """\
kind: dense
input: [1, 2, 3]
weight: [[1, 0, 2], [0, 1, -1]]
bias: [0, 1]
expected: {output: [7, 0], grad_input: [1, 1, 1], grad_weight: [[1, 2, 3], [1, 2, 3]]}
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", *args], env=ENV, catch_exceptions=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def submission(answers: str) -> str:
    return "problem: ../p.yaml\nanswers:\n" + "".join(f"  {a}\n" for a in answers.splitlines())


def classroom(tmp_path: Path) -> Path:
    write(tmp_path / "p.yaml", DENSE)
    subs = tmp_path / "subs"
    write(
        subs / "ann.yaml",
        submission("output: [7, 0]\ngrad_input: [1, 1, 1]\ngrad_weight: [1, 2, 3, 1, 2, 3]"),
    )
    # One entry is not a number: output scores 0, the rest is graded.
    write(
        subs / "ben.yaml",
        submission("output: [7, seven]\ngrad_input: [1, 1, 1]\ngrad_weight: [1, 2, 3, 1, 2, 3]"),
    )
    # A misspelled key: grad_weight is unanswered (0), the key is named with a did-you-mean.
    write(
        subs / "cat.yaml",
        submission("output: [7, 0]\ngrad_input: [1, 1, 1]\ngrad_wieght: [1, 2, 3, 1, 2, 3]"),
    )
    return subs


def test_an_unreadable_entry_scores_zero_and_the_rest_is_graded(tmp_path: Path):
    subs = classroom(tmp_path)
    result = run(str(subs / "ben.yaml"))
    assert result.exit_code == 1  # a mismatch, not a broken file
    assert "ben.yaml  dense  2/3    FAIL    2/3" in result.output
    assert "✗ output: the answer cannot be read, 0/1 points" in result.output
    assert "ben.yaml:3:15: answers.output[1]: expected a number, got the text 'seven'" in (
        result.output
    )


def test_an_unknown_key_is_named_with_a_did_you_mean_and_the_rest_is_graded(tmp_path: Path):
    subs = classroom(tmp_path)
    result = run(str(subs / "cat.yaml"))
    assert result.exit_code == 1
    assert "✗ grad_weight: no answer, 0/1 points" in result.output
    assert (
        "· not graded (no such result): "
        f"{subs / 'cat.yaml'}:5:3: answers.grad_wieght: unknown result 'grad_wieght'; "
        "did you mean 'grad_weight'?"
    ) in result.output


def test_partial_results_in_every_report(tmp_path: Path):
    subs = classroom(tmp_path)
    sheet, junit = tmp_path / "g.csv", tmp_path / "r.xml"
    result = run("--format", "json", "--csv", str(sheet), "--junit", str(junit), str(subs))
    assert result.exit_code == 1
    files = {Path(f["file"]).stem: f for f in json.loads(result.output)["files"]}
    assert files["ann"]["status"] == "pass" and files["ann"]["score"] == 3
    ben = files["ben"]
    assert ben["status"] == "fail" and ben["score"] == 2 and ben["error"] is None
    assert ben["results"][0]["score"] == 0 and "'seven'" in ben["results"][0]["error"]
    assert ben["results"][1]["error"] is None
    cat = files["cat"]
    assert cat["status"] == "fail" and cat["score"] == 2 and cat["results"][2]["missing"]
    assert len(cat["unknown"]) == 1 and "did you mean 'grad_weight'?" in cat["unknown"][0]
    rows = {Path(r["file"]).stem: r for r in csv.DictReader(io.StringIO(sheet.read_text()))}
    assert rows["ben"]["output"] == "0" and rows["ben"]["grad_input"] == "1"
    assert rows["ben"]["score"] == "2" and rows["ben"]["status"] == "fail"
    assert rows["cat"]["grad_weight"] == "0" and rows["cat"]["score"] == "2"
    suites = {Path(s.get("name")).stem: s for s in ET.parse(junit).getroot()}
    assert suites["ben"].get("failures") == "1" and suites["ben"].get("errors") == "0"
    failure = suites["ben"].find("testcase[@name='output']/failure")
    assert failure is not None and "'seven'" in (failure.text or "")
    out = suites["cat"].find("system-out")
    assert out is not None and "did you mean 'grad_weight'?" in (out.text or "")


def test_a_right_submission_with_a_stray_key_passes_with_a_note(tmp_path: Path):
    write(tmp_path / "p.yaml", DENSE)
    answers = "output: [7, 0]\ngrad_input: [1, 1, 1]\ngrad_weight: [1, 2, 3, 1, 2, 3]\nlos: 1"
    source = write(tmp_path / "subs" / "s.yaml", submission(answers))
    result = run(str(source))
    assert result.exit_code == 0, result.output
    assert "Notes (answers that pass)" in result.output
    assert "not graded (no such result)" in result.output and "'los'" in result.output


def test_a_submission_of_which_nothing_can_be_read_stays_an_error(tmp_path: Path):
    write(tmp_path / "p.yaml", DENSE)
    source = write(tmp_path / "subs" / "s.yaml", submission("outptu: [7, 0]"))
    result = run("--format", "json", str(source))
    assert result.exit_code == 2
    document = json.loads(result.output)["files"][0]
    assert document["status"] == "error" and "did you mean 'output'?" in document["error"]


def test_hidden_answers_keep_the_reasons_which_reveal_nothing(tmp_path: Path):
    subs = classroom(tmp_path)
    texts = []
    for key in ("[7, 0]", "[8, 0]"):  # two keys: output[0] right in one, wrong in the other
        write(tmp_path / "p.yaml", DENSE.replace("output: [7, 0]", f"output: {key}"))
        texts.append(run("--hide-answers", "--format", "json", str(subs / "ben.yaml")).output)
    assert texts[0] == texts[1]
    assert "'seven'" in texts[0]


# -- --exit-zero ----------------------------------------------------------------------------------


def test_exit_zero_reports_mismatches_and_broken_submissions_without_failing(tmp_path: Path):
    subs = classroom(tmp_path)
    write(subs / "dan.yaml", "problem: ../p.yaml\nanswers: [\n")  # not YAML
    sheet = tmp_path / "g.csv"
    plain = run("--csv", str(sheet), str(subs))
    assert plain.exit_code == 2
    reported = run("--exit-zero", "--csv", str(sheet), str(subs))
    assert reported.exit_code == 0, reported.output
    assert reported.output == plain.output
    assert "dan.yaml" in sheet.read_text(encoding="utf-8")
    only_wrong = run("--exit-zero", str(subs / "ben.yaml"))
    assert only_wrong.exit_code == 0


def test_exit_zero_still_fails_on_usage_errors_and_a_broken_problem(tmp_path: Path):
    assert run("--exit-zero", str(tmp_path / "nothing-here")).exit_code == 2
    problem = write(tmp_path / "p.yaml", "kind: dense\ninput: [1, 2]\nweight: [[1, 2, 3]]\n")
    source = write(tmp_path / "subs" / "s.yaml", submission("output: [1]"))
    # The --problem file is the instructor's: its error fails the job.
    assert run("--exit-zero", "--problem", str(problem), str(source)).exit_code == 2
    # A problem the submission names itself is the submission's error: reported.
    assert run("--exit-zero", str(source)).exit_code == 0
