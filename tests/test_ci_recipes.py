"""The grading recipes the docs give, run as written (issue 18): the README's GitHub Actions
job (the instructor's bank and a student's repository, checked out side by side) and
docs/check.md's Gradescope ``run_autograder`` script, each run by bash with the installed
``gradcalc`` on the PATH, their reports read back.  (docs/check.md's GitHub Classroom
workflow is run in tests/test_check_sheets.py.)"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TASK3 = (REPO / "problems" / "task3.yaml").read_text(encoding="utf-8")
RIGHT = """\
answers:
  output: [[4], [-3], [-2]]
  jacobian_kernel: [[2, -1, 0, -1], [0, -1, 1, 1], [1, 1, -1, 2]]
  grad_kernel: [[2, 1, -1, 5]]
"""
# A true convolution's output (the kernel flipped), the rest right.
WRONG = RIGHT.replace("[[4], [-3], [-2]]", "[[-4], [2], [-1]]")
EASY = "kind: conv\ninput: [[1]]\nkernel: [[1]]\nexpected: {output: [[1]]}\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def fenced(path: Path, lang: str, first: str) -> str:
    """The text of the ```lang block of ``path`` whose first line is ``first``."""
    text = path.read_text(encoding="utf-8")
    return first + text.split(f"\n```{lang}\n{first}", 1)[1].split("\n```", 1)[0] + "\n"


def bash(script: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """A step's ``script`` as GitHub Actions runs it (``bash -e``)."""
    return execute(["bash", "-e", "-c", script], folder)


def execute(command: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    """``command`` in ``folder`` with the installed gradcalc on the PATH."""
    bin_folder = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_folder}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.update({"COLUMNS": "120", "NO_COLOR": "1"})
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)


def test_the_readme_ci_recipe_runs_as_written(tmp_path: Path):
    readme = REPO / "README.md"
    shown = fenced(
        readme,
        "sh",
        "gradcalc check --problems bank/ class/ --csv grades.csv --junit "
        "report.xml --hide-answers --exit-zero",
    ).strip()
    job = yaml.safe_load(
        fenced(
            readme,
            "yaml",
            "- uses: actions/checkout@v4          # the student's repository: their submissions",
        )
    )
    student, instructor, step = job
    assert student["with"] == {"path": "class"}  # the student's repository
    assert instructor["with"]["path"] == "bank" and "repository" in instructor["with"]
    assert step["run"] == shown  # the job runs the command the README explains
    # The two checkouts: the bank, and a student's repository with a right answer, a kernel
    # flipped, and two cheats (a path out of the bank, a spec of their own as a submission).
    write(tmp_path / "bank" / "task3.yaml", TASK3)
    write(tmp_path / "class" / "task3.yaml", "problem: task3\n" + RIGHT)
    write(tmp_path / "class" / "week2" / "task3.yaml", "problem: task3.yaml\n" + WRONG)
    write(tmp_path / "class" / "easy.yaml", EASY)
    write(
        tmp_path / "class" / "mine.yaml", "problem: ../class/easy.yaml\nanswers: {output: [[1]]}\n"
    )
    write(
        tmp_path / "class" / ".github" / "workflows" / "grade.yml", yaml.safe_dump({"on": "push"})
    )

    done = bash(step["run"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr  # --exit-zero: the job stays green
    rows = list(csv.DictReader(io.StringIO((tmp_path / "grades.csv").read_text("utf-8"))))
    assert [(r["file"], r["problem"], r["status"], r["score"], r["points"]) for r in rows] == [
        ("class/easy.yaml", "", "error", "", ""),
        ("class/mine.yaml", "", "error", "", ""),
        ("class/task3.yaml", "bank/task3.yaml", "pass", "3", "3"),
        ("class/week2/task3.yaml", "bank/task3.yaml", "fail", "2", "3"),
    ]
    suites = {s.get("name"): s for s in ET.parse(tmp_path / "report.xml").getroot()}
    assert sorted(suites) == [r["file"] for r in rows]
    assert suites["class/task3.yaml"].get("failures") == "0"
    assert suites["class/week2/task3.yaml"].get("failures") == "1"
    assert suites["class/easy.yaml"].get("errors") == "1"  # a spec is not a submission
    assert "a '..' part" in ET.tostring(suites["class/mine.yaml"], encoding="unicode")
    # --hide-answers: no correct value in any report.
    for name in ("grades.csv", "report.xml"):
        assert "correct" not in (tmp_path / name).read_text("utf-8"), name
    assert "correct" not in done.stdout
    # A broken bank problem is the instructor's: it fails the job even with --exit-zero.
    write(tmp_path / "bank" / "task3.yaml", TASK3.replace("kernel: [[1, 0]", "kernel: [[1, x]"))
    assert bash(step["run"], tmp_path).returncode == 2


def test_the_gradescope_run_autograder_script_runs_as_written(tmp_path: Path):
    """docs/check.md's run_autograder, with /autograder under a temporary folder, run as
    Gradescope runs it: an executable file (its own shebang, no ``-e``)."""
    script = fenced(REPO / "docs" / "check.md", "bash", "#!/usr/bin/env bash")
    root = tmp_path / "autograder"
    assert script.count("/autograder/") == 3
    script = script.replace("/autograder/", f"{root}/")
    write(root / "source" / "task3.yaml", TASK3)
    (root / "results").mkdir()
    run_autograder = write(root / "run_autograder", script)
    run_autograder.chmod(0o755)
    for answers, score, passed in ((RIGHT, 3, 3), (WRONG, 2, 2)):
        write(root / "submission" / "answers.yaml", answers)
        done = execute([str(run_autograder)], tmp_path)
        assert done.returncode == 0, done.stderr  # a wrong answer is a grade
        results = json.loads((root / "results" / "results.json").read_text("utf-8"))
        assert results["score"] == score == sum(t["score"] for t in results["tests"])
        assert sum(t["max_score"] for t in results["tests"]) == 3
        assert [t["status"] for t in results["tests"]].count("passed") == passed
        assert "correct" not in json.dumps(results)  # --hide-answers
