"""The pre-commit hook a course repository uses (.pre-commit-hooks.yaml): its entry, run as
pre-commit runs it (the changed files appended), passes a good bank and stops a wrong answer."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from click.testing import CliRunner

from gradcalc.cli.main import main

ROOT = Path(__file__).resolve().parent.parent


def hook() -> dict:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (only,) = [h for h in hooks if h["id"] == "gradcalc-run"]
    return only


def run_entry(*files: str):
    words = shlex.split(hook()["entry"])
    assert words[0] == "gradcalc"
    return CliRunner().invoke(main, [*words[1:], *files])


def test_the_hook_is_what_pre_commit_needs() -> None:
    entry = hook()
    assert entry["language"] == "python" and entry["types"] == ["yaml"]
    assert re.search(entry["files"], "problems/task3.yaml")


def test_a_good_bank_passes_and_a_wrong_answer_stops_the_commit(tmp_path: Path) -> None:
    good = run_entry(
        str(ROOT / "problems" / "task3.yaml"), str(ROOT / "problems" / "dense_batch.yaml")
    )
    assert good.exit_code == 0, good.output
    assert "Forward" not in good.output and "OK — every check passed" in good.output
    wrong = tmp_path / "task3.yaml"
    wrong.write_text(
        (ROOT / "problems" / "task3.yaml")
        .read_text()
        .replace("[[2, 1], [-1, 5]]", "[[2, 1], [-1, 6]]")
    )
    stopped = run_entry(str(ROOT / "problems" / "task3.yaml"), str(wrong))
    assert stopped.exit_code == 1 and "MISMATCH" in stopped.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: conv\ninput: [[1, 2]]\nkernel: [[1, 2, 3]]\n")
    assert run_entry(str(broken)).exit_code == 2
