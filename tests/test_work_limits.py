"""No spec makes gradcalc's work grow past its documented caps.

Each refusal is one ``FILE:LINE:COL`` line and exit 2; whether the work stays
bounded is checked by what runs (a composer that must not be called, an
operation count), never by wall-clock time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from nn_cli import run, spec_error

from gradcalc.cli import spec_loader
from gradcalc.cli.spec_loader import SpecFileError, parse_text

# ---------------------------------------------------------------------------
# The value cap bounds the YAML work before anything is composed

CAP = 1_000


@pytest.mark.parametrize(
    "body",
    [
        "x:\n" + "- [[[[[[]]]]]]\n" * CAP,
        "x: [" + ",".join(["{}"] * CAP) + "]\n",
        "x:\n" + "-\n" * (2 * CAP),
        "x:\n" + "- - - - - - - - - - 1\n" * (CAP // 5),
    ],
    ids=["nested empty lists", "empty mappings", "empty items", "items of items"],
)
def test_node_heavy_text_is_refused_before_composing(monkeypatch, body: str) -> None:
    text = "kind: conv\n" + body

    def no_compose(*args, **kwargs):
        raise AssertionError("composed a text above the value cap")

    monkeypatch.setattr(yaml, "compose", no_compose)
    monkeypatch.setattr(spec_loader, "read_plain", no_compose)
    with pytest.raises(SpecFileError) as error:
        parse_text(text, "spec.yaml", max_values=CAP)
    assert str(error.value).startswith("spec.yaml:1:1: the spec holds about ")
    assert f"above the limit of {CAP:,}" in str(error.value)


def test_a_spec_at_the_value_cap_still_reads() -> None:
    rows = CAP // 10 - 5
    text = "kind: conv\ninput:\n" + "  - [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" * rows + "kernel: [[1]]\n"
    # PyYAML's path too (a comment with a tab is outside the plain reader's subset).
    for spec in (text, "#\t\n" + text):
        data = parse_text(spec, "spec.yaml", max_values=CAP).data
        assert len(data["input"]) == rows


def test_node_heavy_file_is_one_located_line(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("input:\n" + "- [[[[[[]]]]]]\n" * 200_000 + "kernel: [[1]]\n")
    line, column, message = spec_error(run("conv", "--spec", str(spec)))
    assert (line, column) == (1, 1)
    assert "the spec holds about 1,400,004 values" in message
    assert "--max-elements" in message


# ---------------------------------------------------------------------------
# Exact arithmetic's cost cap counts the multiply-adds the op makes


def _primes(count: int, start: int) -> list[int]:
    found: list[int] = []
    candidate = start
    while len(found) < count:
        if all(candidate % p for p in range(2, int(candidate**0.5) + 1)):
            found.append(candidate)
        candidate += 1
    return found


def _reciprocal_rows(size: int) -> str:
    primes = _primes(140, 100)
    return "".join(
        "  - [" + ", ".join(f'"1/{primes[(r * size + c) % 140]}"' for c in range(size)) + "]\n"
        for r in range(size)
    )


def test_exact_cost_counts_the_real_multiply_adds(tmp_path: Path) -> None:
    """A 1×1 kernel over 100×100 entries makes 10,000 multiply-adds a pass, not 10,000²."""
    spec = tmp_path / "spec.yaml"
    spec.write_text("input:\n" + _reciprocal_rows(100) + "kernel: [[1]]\n")
    result = run("conv", "--spec", str(spec), "--format", "json")
    assert result.exit_code == 0, result.stderr


def test_exact_cost_still_refuses_a_costly_product(tmp_path: Path) -> None:
    """89×89 outputs of 144 terms each, of numbers of ~369 digits: above the cost cap."""
    spec = tmp_path / "spec.yaml"
    kernel = _reciprocal_rows(12).replace("  - ", "    - ")
    spec.write_text("input:\n" + _reciprocal_rows(100) + "kernel:\n" + kernel)
    line, column, message = spec_error(run("conv", "--spec", str(spec)))
    assert "exact arithmetic would need 1,140,624 multiply-adds" in message
    assert "rerun with --float" in message


# ---------------------------------------------------------------------------
# expr: the time budget covers writing out the results too


def test_expr_budget_covers_printing_and_evaluating(tmp_path: Path, monkeypatch) -> None:
    """Printing a huge derivative (60 nested sin: 34 s) ran after the 20 s budget, unbounded."""
    import time

    from gradcalc.core.kinds import expr as expr_module

    monkeypatch.setattr(expr_module, "TOTAL_SECONDS", 2.0)
    monkeypatch.setattr(expr_module, "EXPLAIN_SECONDS", 0.5)
    slow_results = expr_module.results_document

    def results(*args):
        time.sleep(5)  # printing and evaluating a very large expression
        return slow_results(*args)

    monkeypatch.setattr(expr_module, "results_document", results)
    spec = tmp_path / "spec.yaml"
    spec.write_text('kind: expr\nfunction: "sin(sin(x))"\nvariables: [x]\nat: {x: 1}\n')
    line, column, message = spec_error(run("expr", "--spec", str(spec)))
    assert (line, column) == (2, 11)
    assert message == (
        "function: writing out the results took longer than the time limit (2 s for the "
        "whole run, at least 0.5 s for the output); this expression is too large for a "
        "symbolic answer"
    )


# ---------------------------------------------------------------------------
# Write-ups show every step of a problem worked by hand, and a cap of rows beyond


def _pool_spec(tmp_path: Path, size: int) -> Path:
    spec = tmp_path / "pool.yaml"
    rows = "".join(
        "  - [" + ", ".join(str((r * 7 + c * 3) % 19 - 9) for c in range(size)) + "]\n"
        for r in range(size)
    )
    spec.write_text("kind: pool\nmode: avg\nsize: 2\nstride: 1\ninput:\n" + rows)
    return spec


@pytest.mark.parametrize("output_format", ["markdown", "latex"])
def test_documents_cap_rows_per_section(tmp_path: Path, monkeypatch, output_format) -> None:
    """A 300×300 avg pool wrote 110 MB of LaTeX (over 60 s): documents now stop at
    DOCUMENT_ROWS rows a section, say so, and show every row with --steps all."""
    from gradcalc.cli import options

    monkeypatch.setattr(options, "DOCUMENT_ROWS", 50)
    spec = _pool_spec(tmp_path, 12)  # 11×11 = 121 windows
    capped = run("run", str(spec), "--format", output_format)
    assert capped.exit_code == 0, capped.stderr
    assert "71 more rows not shown" in capped.stdout
    every = run("run", str(spec), "--format", output_format, "--steps", "all")
    assert every.exit_code == 0, every.stderr
    assert "more rows not shown" not in every.stdout
    assert len(every.stdout) > 2 * len(capped.stdout)


def test_documents_of_a_small_problem_show_every_row(tmp_path: Path) -> None:
    spec = _pool_spec(tmp_path, 12)
    auto = run("run", str(spec), "--format", "markdown")
    every = run("run", str(spec), "--format", "markdown", "--steps", "all")
    assert auto.exit_code == 0 and auto.stdout == every.stdout
