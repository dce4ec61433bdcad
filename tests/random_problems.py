"""`gradcalc random` problem files, made once per test session for each command line.

A seed makes the same problem every time, and several test files read the random problem of
every kind and variant at the same seeds (test_displayed_equations, test_fit_terminal,
test_practice): each command line runs once (its exit status checked then), later asks copy
the file it wrote.  Making a problem solves it, for its answers, and the expr kinds simplify
with sympy: about a second for some, so making each of them once saves much of the suite's
time.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from click.testing import CliRunner

from gradcalc.cli.main import main

_WRITTEN: dict[tuple[str, ...], bytes] = {}


def write_random(path: Path, *args: str) -> Path:
    """The file ``gradcalc random ARGS --output PATH --force`` writes, at ``path``."""
    if args not in _WRITTEN:
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "problem.yaml"
            result = CliRunner().invoke(
                main, ["random", *args, "--output", str(target), "--force"], catch_exceptions=False
            )
            assert result.exit_code == 0, result.output
            _WRITTEN[args] = target.read_bytes()
    path.write_bytes(_WRITTEN[args])
    return path
