"""Running `gradcalc dense|activation|softmax|loss` in-process for the CLI tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from gradcalc.cli.main import main

REPO = Path(__file__).resolve().parents[1]
PROBLEMS = REPO / "problems"
# FILE:LINE:COL: message, one line.
ERROR_LINE = re.compile(r"^(?P<file>[^\n:]+):(?P<line>\d+):(?P<col>\d+): (?P<message>[^\n]+)\n?$")
ENV = {"COLUMNS": "100", "LINES": "50", "FORCE_COLOR": None, "NO_COLOR": None}


def run(*args: str) -> Result:
    """Invoke the CLI; stdout and stderr are captured separately."""
    return CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)


def run_spec(tmp_path: Path, kind: str, text: str, *options: str) -> Result:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return run(kind, "--spec", str(path), "--no-color", *options)


def run_json(tmp_path: Path, kind: str, text: str, *options: str) -> tuple[Result, dict[str, Any]]:
    result = run_spec(tmp_path, kind, text, "--format", "json", *options)
    return result, json.loads(result.stdout)


def spec_error(result: Result) -> tuple[int, int, str]:
    """(line, column, message) of the one-line error of a run that exited 2."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    match = ERROR_LINE.match(result.stderr)
    assert match, f"not one FILE:LINE:COL line: {result.stderr!r}"
    assert "Traceback" not in result.stderr
    return int(match["line"]), int(match["col"]), match["message"]


def net_error(tmp_path: Path, text: str) -> tuple[int, int, str]:
    """(line, column, message) of the one-line error of a net spec (``text``: what follows
    its ``kind: net`` line)."""
    return spec_error(run_spec(tmp_path, "net", "kind: net\n" + text))
