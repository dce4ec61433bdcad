"""Reports that several test files read, made once per test session for each spec.

``gradcalc run SPEC --format markdown --steps all`` is what test_displayed_equations audits
and what test_fit_terminal compares its wrapped table with, over the same bundled problems
and the same random ones (tests/random_problems.py).  The Markdown depends on the spec alone
(not its path, the terminal width or colour: test_fit_terminal checks the width), so it is
made once for each spec's bytes.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from gradcalc.cli.main import main

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}


_MARKDOWN: dict[bytes, str] = {}


def markdown_steps_all(path: Path) -> str:
    """``gradcalc run PATH --format markdown --steps all`` (exit 0 or 1: answers that do not
    match are still reported), made the first time a spec with these bytes is asked for."""
    spec = path.read_bytes()
    if spec not in _MARKDOWN:
        result = CliRunner().invoke(
            main,
            ["run", str(path), "--format", "markdown", "--steps", "all"],
            env=ENV,
            catch_exceptions=False,
        )
        assert result.exit_code in (0, 1), result.output
        _MARKDOWN[spec] = result.output
    return _MARKDOWN[spec]
