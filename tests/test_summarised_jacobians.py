"""A Jacobian section the table report summarises in one note (cli/summary.py) is built as that
note by the solve when it is told the report's limit (SolveOptions.summarised_above, session 10),
not built in full and then summarised: the report is the same to the byte, in every kind whose
explanation builds the section so (conv, conv_transpose, 1-D to 3-D; in a net too)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gradcalc.cli import problem_command
from gradcalc.cli.main import main
from gradcalc.cli.summary import FULL_OPTIONS, JACOBIAN_CELLS
from gradcalc.core.explain import FULL_JACOBIANS, Note, Section, Summarised, SymbolTable

PROBLEMS = Path(__file__).resolve().parents[1] / "problems"
SPECS = [
    path
    for path in sorted(PROBLEMS.glob("*.yaml"))
    if yaml.safe_load(path.read_text(encoding="utf-8")).get("kind")
    in ("conv", "conv_transpose", "net")
]
VARIANTS = ([], ["--steps", "3"], ["--decimal"], ["--float"])


def _report(args: list[str]) -> tuple[int, str]:
    done = CliRunner().invoke(main, args, env={"COLUMNS": "100"})
    return done.exit_code, done.output


@pytest.mark.parametrize("extra", VARIANTS, ids=lambda extra: " ".join(extra) or "default")
@pytest.mark.parametrize("path", SPECS, ids=lambda path: path.name)
def test_a_summarised_jacobian_section_reads_as_before(
    path: Path, extra: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = yaml.safe_load(path.read_text(encoding="utf-8"))["kind"]
    args = [kind, "--spec", str(path), *extra]
    built_as_summary = _report(args)
    # before: every Jacobian built in full, and summarised by the report
    monkeypatch.setattr(problem_command, "_summarised_above", lambda *_: None)
    assert built_as_summary == _report(args)


def test_the_solve_is_told_the_limit_only_when_the_report_summarises() -> None:
    from gradcalc.cli.options import RunOptions

    def told(*args: str) -> int | None:
        seen = {}
        original = problem_command.solve_options

        def spy(options: RunOptions, sections: frozenset[str] | None) -> object:
            made = original(options, sections)
            seen["limit"] = made.summarised_above
            return made

        problem_command.solve_options = spy
        try:
            CliRunner().invoke(main, ["conv", "--spec", str(PROBLEMS / "task3.yaml"), *args])
        finally:
            problem_command.solve_options = original
        return seen["limit"]

    assert told() == JACOBIAN_CELLS
    assert told("--steps", "4") == JACOBIAN_CELLS
    for whole in (["--steps", "all"], ["--show", "jacobian"], ["--format", "markdown"]):
        assert told(*whole) is None, whole
    assert told("--format", "json") is None


def test_the_summary_note_is_the_reports_own() -> None:
    """One text: the core's summary note is the one cli/summary.py writes."""
    from gradcalc.cli.summary import summarised_section

    table = SymbolTable("∂y/∂x (symbols)", tuple("abcdefghijklmnopqrst"), ("r",) * 20, ())
    summarised = summarised_section(Section("jacobian", "Jacobians", [Note("n"), table]))
    assert FULL_JACOBIANS == FULL_OPTIONS
    assert [item.text for item in summarised.items] == [
        "summarised (a Jacobian here has more than 256 entries): the table of ∂y/∂x (20×20), "
        f"the chain rule as a product and their notes are left out; add {FULL_OPTIONS} to "
        "show them in full"
    ]
    kept = Summarised("jacobian", "Jacobians", [Note("the summary")])
    kept.add(Note("a note the summary leaves out"))
    assert [item.text for item in kept.items] == ["the summary"]
    assert type(kept.with_items(kept.items, title="conv1 · Jacobians")) is Summarised
