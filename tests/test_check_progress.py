"""`gradcalc check`'s progress bar: on standard error, in a terminal, after a second only.

A fake terminal (a Rich console with ``force_terminal``) stands in for a real one, and a
delay in each file's check makes the run slow; piped, or quick, nothing appears, and standard
output is the same report either way."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from gradcalc.cli import check_jobs, check_progress
from gradcalc.cli.main import main

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}

SPEC = """\
kind: conv
input: [[2, -1], [0, -1], [1, 1], [-1, 2]]
kernel: [[1, 0], [-1, -2]]
upstream: [[0], [1], [2]]
expected:
  output: [[4], [-3], [-2]]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for number in range(4):
        (tmp_path / f"spec{number}.yaml").write_text(SPEC, encoding="utf-8")
    return tmp_path


def slow(monkeypatch, seconds: float) -> None:
    """Each file's check takes ``seconds`` more."""
    real = check_jobs.check_file

    def check_file(path, settings):
        time.sleep(seconds)
        return real(path, settings)

    monkeypatch.setattr(check_jobs, "check_file", check_file)


def fake_terminal(monkeypatch) -> None:
    """Standard error (CliRunner's, at the time of the call) is a color terminal."""
    monkeypatch.setattr(
        check_progress,
        "stderr_console",
        lambda: Console(file=sys.stderr, force_terminal=True, width=80),
    )


def run(folder: Path):
    return CliRunner().invoke(
        main, ["check", str(folder), "--jobs", "1"], env=ENV, catch_exceptions=False
    )


def test_slow_run_in_a_terminal_shows_the_bar_on_stderr_only(folder, monkeypatch):
    quiet = run(folder)
    fake_terminal(monkeypatch)
    slow(monkeypatch, 0.4)
    result = run(folder)
    assert result.exit_code == quiet.exit_code == 0
    assert "checking" in result.stderr and "files" in result.stderr
    assert "\x1b[" in result.stderr  # drawn as a terminal's live bar
    assert result.stdout == quiet.stdout  # the report is untouched
    assert "checking" not in result.stdout


def test_quick_run_in_a_terminal_shows_nothing(folder, monkeypatch):
    fake_terminal(monkeypatch)
    result = run(folder)
    assert result.stderr == ""


def test_slow_run_not_in_a_terminal_shows_nothing(folder, monkeypatch):
    slow(monkeypatch, 0.4)
    result = run(folder)  # CliRunner's stderr is no terminal
    assert result.stderr == ""


def test_under_ci_no_bar_even_in_a_terminal(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert check_progress.stderr_console() is None


def test_piped_subprocess_has_no_bar(folder):
    command = [sys.executable, "-m", "gradcalc", "check", str(folder), "--jobs", "1"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stderr == ""
    assert "\x1b[" not in result.stdout


def test_progress_counts_without_drawing_when_asked_not_to():
    with check_progress.CheckProgress(3) as progress:
        progress.started -= 5  # long past the second
        progress.possible = False
        progress.advance(2)
    assert progress.done == 2 and progress.bar is None


def test_with_workers_the_bar_counts_every_file(folder, monkeypatch):
    quiet = CliRunner().invoke(main, ["check", str(folder), "--jobs", "2"], env=ENV)
    fake_terminal(monkeypatch)
    slow(monkeypatch, 0.6)  # the forked worker inherits the delay
    result = CliRunner().invoke(main, ["check", str(folder), "--jobs", "2"], env=ENV)
    assert result.exit_code == 0 and result.stdout == quiet.stdout
    assert "4/4" in result.stderr  # this process's 2 files, then the worker's 2
