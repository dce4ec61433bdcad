"""Issue 18's course folder, end to end: an instructor's bank of five problems, a class of
submissions with each classic slip, cheat attempts through ``problem:``, and one run of
``gradcalc check --problems bank subs/`` writing every class report.  The whole grade sheet
is asserted cell by cell, with and without ``--hide-answers``, and the hidden reports are
checked to say nothing beyond right, wrong and missing."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gradcalc.cli.main import main

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}

# -- the bank: five problems of four kinds, each with its points --------------------------

BANK = {
    # Seed 004 Task 3 (a): H = [4, −3, −2], ∂L/∂K = [[2, 1], [−1, 5]].
    "task3": """\
kind: conv
input: [[2, -1], [0, -1], [1, 1], [-1, 2]]
kernel: [[1, 0], [-1, -2]]
upstream: [[0], [1], [2]]
expected:
  output: [[4], [-3], [-2]]
  grad_kernel: [[2, 1], [-1, 5]]
points: {output: 2, grad_kernel: 4}
""",
    # The issue's 6×6 input, 3×3 kernel, stride 2, padding 1: a 3×3 output.
    "strided": """\
kind: conv
input:
  - [0, 1, 2, 3, 4, 0]
  - [3, 4, 0, 1, 2, 3]
  - [1, 2, 3, 4, 0, 1]
  - [4, 0, 1, 2, 3, 4]
  - [2, 3, 4, 0, 1, 2]
  - [0, 1, 2, 3, 4, 0]
kernel: [[1, 0, -1], [2, 1, 0], [0, 1, 1]]
stride: 2
padding: 1
expected:
  output_shape: [3, 3]
  output: [[7, 5, 15], [1, 13, 13], [3, 13, 3]]
points: {output_shape: 1, output: 3}
""",
    # Seed 000 Exercise 2: a three-way tie, every maximum gets the gradient.
    "pool": """\
kind: pool
mode: max
input: [[1, 3, 2, 1], [4, 2, 1, 0], [1, 1, 5, 5], [0, 2, 5, 1]]
size: 2
stride: 2
ties: all
upstream: [[1, 2], [3, 4]]
expected:
  output: [[4, 2], [2, 5]]
  grad_input: [[0, 0, 2, 0], [1, 0, 0, 0], [0, 0, 4, 4], [0, 3, 4, 0]]
points: {output: 1, grad_input: 3}
""",
    # Seed 001 B: y = Wx + b with ∂L/∂y = [1/2, −1].
    "dense": """\
kind: dense
input: [2, -1, 3]
weight: [[1, 0, -2], [3, 1, 1]]
bias: [1, -1]
upstream: ["1/2", -1]
expected:
  output: [-3, 7]
  grad_weight: [[1, "-1/2", "3/2"], [-2, 1, -3]]
  grad_input: ["-5/2", -1, -2]
points: {output: 1, grad_weight: 2, grad_input: 2}
""",
    # Mean squared error: L = ((1−0)² + (2−1)² + (3−5)²)/3 = 2, ∂L/∂x = 2(x − t)/3.
    "mse": """\
kind: loss
loss: mse
input: [1, 2, 3]
target: [0, 1, 5]
expected:
  loss: 2
  grad_input: ["2/3", "2/3", "-4/3"]
points: {loss: 1, grad_input: 2}
""",
}
OUT_OF = 6 + 4 + 4 + 5 + 3  # every problem's points: 22

# -- the class: one file per student and problem, STUDENT_PROBLEM.yaml ---------------------

TASK3_OUTPUT = "output: [[4], [-3], [-2]]"
TASK3_GRAD = "grad_kernel: [[2, 1], [-1, 5]]"
DENSE_OUTPUT = "output: [-3, 7]"
DENSE_GRAD_W = 'grad_weight: [[1, "-1/2", "3/2"], [-2, 1, -3]]'
DENSE_GRAD_X = 'grad_input: ["-5/2", -1, -2]'
CLASS = {
    # Everything right (task3's ∂L/∂K flat, as seed 004 writes it).
    "alice_task3": ("task3", [TASK3_OUTPUT, "grad_kernel: [2, 1, -1, 5]"]),
    "alice_dense": ("dense", [DENSE_OUTPUT, DENSE_GRAD_W, DENSE_GRAD_X]),
    "alice_mse": ("mse", ["loss: 2", 'grad_input: ["2/3", "2/3", "-4/3"]']),
    # The kernel flipped: a true convolution's output.
    "bob_task3": ("task3", ["output: [[-4], [2], [-1]]", TASK3_GRAD]),
    # ∂L/∂K transposed.
    "carol_task3": ("task3", [TASK3_OUTPUT, "grad_kernel: [[2, -1], [1, 5]]"]),
    # The tie rule: PyTorch's first maximum only, where the course routes to every maximum.
    "dan_pool": (
        "pool",
        ["output: [[4, 2], [2, 5]]", "grad_input: [[0,0,2,0], [1,0,0,0], [0,0,4,0], [0,3,0,0]]"],
    ),
    # The stride ignored: the stride-1 output (6×6) of the padded input.
    "eve_strided": (
        "strided",
        [
            "output_shape: [3, 3]",
            "output: [[7, 5, 5, 10, 15, 11], [5, 13, 13, 3, 8, 12], [1, 8, 13, 13, 13, 7], "
            "[7, 13, 3, 8, 13, 12], [3, 13, 13, 13, 3, 7], [-3, -1, 7, 10, 8, 9]]",
        ],
    ),
    # The padding ignored: the 2×2 output of the unpadded input.
    "finn_strided": ("strided", ["output_shape: [3, 3]", "output: [[13, 3], [13, 8]]"]),
    # The "+1" dropped: a 2×2 size, and the first 2×2 of the right output.
    "gus_strided": ("strided", ["output_shape: [2, 2]", "output: [[7, 5], [1, 13]]"]),
    # The upstream forgotten (ones used) on both gradients.
    "hana_dense": (
        "dense",
        [DENSE_OUTPUT, "grad_weight: [[2, -1, 3], [2, -1, 3]]", "grad_input: [4, 1, -1]"],
    ),
    # The sign flipped: ∂L/∂x negated.
    "ivan_mse": ("mse", ["loss: 2", 'grad_input: ["-2/3", "-2/3", "4/3"]']),
    # Right, with ∂L/∂K written as a 1×4 row.
    "jade_task3": ("task3", [TASK3_OUTPUT, "grad_kernel: [[2, 1, -1, 5]]"]),
    # An unreadable entry: that result scores 0, the rest is graded.
    "kim_dense": ("dense", ["output: [-3, seven]", DENSE_GRAD_W, DENSE_GRAD_X]),
    # A misspelled result key: grad_weight unanswered, the rest graded.
    "leo_dense": ("dense", [DENSE_OUTPUT, 'grad_wieght: [[1, "-1/2", "3/2"], [-2, 1, -3]]']),
}
# A 1×1 problem a student wrote, whose answer they know.
EASY = "kind: conv\ninput: [[1]]\nkernel: [[1]]\nexpected: {output: [[1]]}\n"
EASY_ANSWERS = "answers:\n  output: [[1]]\n"
# Cheat attempts through `problem:`: each is that submission's error, never a grade.
CHEATS = {
    "mal_task3": "problem: {outside}\n" + EASY_ANSWERS,  # an absolute path
    "ned_task3": "problem: ../easy.yaml\n" + EASY_ANSWERS,  # a '..'
    "oli_task3": "problem: shortcut\n" + EASY_ANSWERS,  # a link in the bank that leads out
    # A spec with its own `expected`, handed in as a submission to task3.
    "pat_task3": "problem: task3\n" + EASY,
}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """bank/ (five problems and a symbolic link out of it), subs/ (the class), easy.yaml."""
    for name, text in BANK.items():
        write(tmp_path / "bank" / f"{name}.yaml", text)
    outside = write(tmp_path / "easy.yaml", EASY)
    os.symlink(outside, tmp_path / "bank" / "shortcut.yaml")
    for stem, (problem, answers) in CLASS.items():
        lines = "".join(f"  {line}\n" for line in answers)
        write(tmp_path / "subs" / f"{stem}.yaml", f"problem: {problem}\nanswers:\n{lines}")
    for stem, text in CHEATS.items():
        write(tmp_path / "subs" / f"{stem}.yaml", text.replace("{outside}", str(outside)))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", *args], env=ENV, catch_exceptions=False)


REPORTS = (
    "--grades",
    "sheet.csv",
    "--student-from",
    "{student}_*.yaml",
    "--gradescope",
    "results.json",
    "--classroom",
    "classroom.json",
)


def grade_class(*extra: str) -> Result:
    return run("--problems", "bank", "subs", *REPORTS, *extra)


# The whole grade sheet: a row per student, a column per problem (in the order the files
# name them), an empty cell where nothing was graded, a note for each file not graded.
SHEET = [
    ["student", "total", "out_of", "dense", "mse", "task3", "pool", "strided", "notes"],
    ["alice", "14", "22", "5", "3", "6", "", "", ""],
    ["bob", "4", "22", "", "", "4", "", "", ""],  # output 0/2: the kernel flipped
    ["carol", "4", "22", "", "", "4", "", "", ""],  # ∂L/∂K 2/4: transposed
    ["dan", "3.625", "22", "", "", "", "3.625", "", ""],  # 14 of 16 cells of ∂L/∂x: ties
    ["eve", "1", "22", "", "", "", "", "1", ""],  # output 0/3: the stride
    ["finn", "1", "22", "", "", "", "", "1", ""],  # output 0/3: the padding
    ["gus", "0", "22", "", "", "", "", "0", ""],  # both 0: the "+1"
    ["hana", "1", "22", "1", "", "", "", "", ""],  # both gradients 0: the upstream
    ["ivan", "1", "22", "", "1", "", "", "", ""],  # ∂L/∂x 0/2: the sign
    ["jade", "6", "22", "", "", "6", "", "", ""],  # the 1×4 row counts
    ["kim", "4", "22", "4", "", "", "", "", ""],  # output unreadable: 0/1, the rest graded
    ["leo", "1", "22", "1", "", "", "", "", ""],  # grad_weight misspelled, grad_input missing
    ["mal", "0", "22", "", "", "", "", "", "subs/mal_task3.yaml: not graded (an error)"],
    ["ned", "0", "22", "", "", "", "", "", "subs/ned_task3.yaml: not graded (an error)"],
    ["oli", "0", "22", "", "", "", "", "", "subs/oli_task3.yaml: not graded (an error)"],
    ["pat", "0", "22", "", "", "", "", "", "subs/pat_task3.yaml: not graded (an error)"],
]
# What each slip is called in the (not hidden) table.
NAMED = {
    "bob_task3": "output matches the result for true convolution (flip_kernel: true)",
    "carol_task3": "grad_kernel is the transpose of ∂L/∂kernel",
    "dan_pool": "grad_input matches the result under ties: first",
    "eve_strided": "output matches the result with stride 1: the stride (2) was ignored",
    "finn_strided": "output matches the result without padding: the padding (1) was ignored",
    "gus_strided": "output_shape: either the padding (1) was ignored or the “+1” of the output "
    "size was dropped: both give [2, 2]",
    "hana_dense": "grad_weight matches the result with an upstream of ones",
    "ivan_mse": "grad_input: either the loss's sign was flipped or the gradient's sign was "
    "flipped: both give this answer",
    "kim_dense": "subs/kim_dense.yaml:3:16: answers.output[1]: expected a number, got the text "
    "'seven'",
    "leo_dense": "unknown result 'grad_wieght'; did you mean 'grad_weight'?",
    "jade_task3": "read the 1×4 row in row-major order as 2×2",
    "mal_task3": "is not a name in the problem bank: an absolute path",
    "ned_task3": "is not a name in the problem bank: a '..' part",
    "oli_task3": "problem 'shortcut' leads out of the problem bank (a symbolic link)",
    "pat_task3": "kind: a submission gives answers only",
}
# Slips whose naming would give the key away (the key follows from the answer): hidden.
REVEALING = ("carol_task3", "dan_pool", "eve_strided", "gus_strided", "ivan_mse")


def read_sheet(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def detail(table: str, stem: str) -> str:
    """What the table says of one file below its summary line: its failure section, or its
    lines in the notes."""
    if f"── subs/{stem}.yaml" in table:
        return re.split(r"\n(?:── |Notes)", table.split(f"── subs/{stem}.yaml", 1)[1])[0]
    return "\n".join(line for line in table.splitlines() if line.startswith(f"subs/{stem}.yaml:"))


def test_the_course_folder_is_graded_as_issue_18_asks(course: Path):
    shown = grade_class()
    assert shown.exit_code == 2, shown.output  # the cheats are errors
    assert read_sheet(course / "sheet.csv") == SHEET
    sheet = (course / "sheet.csv").read_bytes()
    for stem, words in NAMED.items():
        assert words in detail(shown.stdout, stem), stem
    assert "4 passed, 10 failed, 4 errors; points 40.625/66" in shown.stdout

    gradescope = json.loads((course / "results.json").read_text(encoding="utf-8"))
    assert gradescope["score"] == 40.625 == sum(t["score"] for t in gradescope["tests"])
    assert sum(t["max_score"] for t in gradescope["tests"]) == 66
    assert gradescope["output"] == (
        "gradcalc check: 19 of 36 results right; points 40.625/66; 4 files not graded (errors)"
    )
    assert len(gradescope["tests"]) == 32 + 4  # a test per graded result, one per error
    classroom = json.loads((course / "classroom.json").read_text(encoding="utf-8"))
    assert (classroom["status"], classroom["max_score"]) == ("error", 66)
    assert sum(t["score"] for t in classroom["tests"]) == 40.625
    assert [t["filename"] for t in classroom["tests"] if t["status"] == "error"] == [
        f"subs/{stem}.yaml" for stem in CHEATS
    ]

    hidden = grade_class("--hide-answers")
    assert hidden.exit_code == 2
    assert (course / "sheet.csv").read_bytes() == sheet  # points only: the same sheet
    reports = hidden.stdout + "".join(
        (course / name).read_text(encoding="utf-8") for name in ("results.json", "classroom.json")
    )
    for leak in ("correct", "off by", "relative error", "rel_error", "abs_error"):
        assert leak not in reports, leak
    for stem in REVEALING:
        assert NAMED[stem] not in reports, stem
    for stem in ("bob_task3", "finn_strided", "hana_dense", "kim_dense", "leo_dense"):
        assert NAMED[stem] in reports, stem  # slips that reveal nothing are still named
    for name in ("results.json", "classroom.json"):
        document = json.loads((course / name).read_text(encoding="utf-8"))
        assert sum(t["score"] for t in document["tests"]) == 40.625

    report_only = grade_class("--exit-zero")
    assert report_only.exit_code == 0 and read_sheet(course / "sheet.csv") == SHEET


def test_a_sign_flip_under_hide_answers_tells_nothing_of_the_key(course: Path):
    """ivan's negated ∂L/∂x, hidden, gives every report byte for byte what an answer wrong in
    the same cells gives against another key with no slip to name (the loss right in both)."""
    outputs, shown = [], []
    # The bank's key, then a target whose loss is also 2 but whose ∂L/∂x = [4/3, 2/3, 2/3].
    for target, key in (("[0, 1, 5]", '["2/3", "2/3", "-4/3"]'), ("[-1, 1, 2]", "")):
        text = BANK["mse"].replace("target: [0, 1, 5]", f"target: {target}")
        if not key:
            text = text.replace('["2/3", "2/3", "-4/3"]', '["4/3", "2/3", "2/3"]')
        write(course / "bank" / "mse.yaml", text)
        files = ("grades.csv", "csv.csv", "junit.xml", "results.json", "classroom.json")
        run_args = ["--problems", "bank", "subs/ivan_mse.yaml", "--hide-answers"]
        reports = ["--grades", files[0], "--csv", files[1], "--junit", files[2]]
        reports += ["--gradescope", files[3], "--classroom", files[4]]
        table = run(*run_args, *reports)
        document = run(*run_args, "--format", "json")
        assert table.exit_code == document.exit_code == 1
        shown.append(run(*run_args[:-1]).stdout)  # not hidden: the keys differ
        outputs.append(
            [table.stdout, document.stdout]
            + [(course / name).read_text(encoding="utf-8") for name in files]
        )
    assert outputs[0] == outputs[1]
    assert "correct 0.666667" in shown[0] and "correct 1.33333" in shown[1]
    assert "sign was flipped" in shown[0] and "likely mistake" not in shown[1]
    assert "given -0.666667, wrong" in outputs[0][0]
    grade = json.loads(outputs[0][5])
    assert [(t["name"], t["score"], t["max_score"]) for t in grade["tests"]] == [
        ("mse: loss", 1, 1),
        ("mse: grad_input", 0, 2),
    ]
    classroom = json.loads(outputs[0][6])
    assert base64.b64encode(outputs[0][6].encode())  # what the reporter is handed
    assert (classroom["status"], classroom["max_score"]) == ("fail", 3)
    assert not re.search(r"sign|negat", "".join(outputs[0]))
