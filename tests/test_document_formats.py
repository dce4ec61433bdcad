"""Markdown and LaTeX output: every bundled problem renders, and the LaTeX compiles."""

from __future__ import annotations

import difflib
import functools
import os
import re
from pathlib import Path

import pytest
import tex
from click.testing import CliRunner
from tex import assert_compiles

from gradcalc.cli.main import main
from gradcalc.cli.spec_loader import load_file
from gradcalc.problems import bundled


@functools.cache
def render(path, output_format: str) -> str:
    """The problem at ``path`` in ``output_format``: rendered once, for the tests that read it
    (every problem renders, the LaTeX compiles, the snapshots)."""
    kind = load_file(str(path)).data["kind"]
    result = CliRunner().invoke(main, [kind, "--spec", str(path), "--format", output_format])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", bundled(), ids=lambda p: p.name)
@pytest.mark.parametrize("output_format", ["markdown", "latex"])
def test_every_problem_renders(path, output_format: str) -> None:
    text = render(path, output_format)
    assert text.strip()
    if output_format == "latex":
        assert "\\textbackslash{}frac" not in text  # SymPy's LaTeX is typeset, not escaped


def test_expr_latex_is_display_math() -> None:
    path = next(p for p in bundled() if p.name == "expr_sigmoid_derivative.yaml")
    assert "\\[\n\\frac{1}{1 + e^{- x}}\n\\]" in render(path, "latex")
    assert "$$ \\frac{1}{1 + e^{- x}} $$" in render(path, "markdown")


def test_latex_compiles(tmp_path) -> None:
    """Every bundled problem's LaTeX compiles: all in one document, one pdflatex run instead
    of one each; when that fails, each alone, to name the ones that fail."""
    bodies = {path.name: render(path, "latex") for path in bundled()}
    try:
        assert_compiles(tmp_path, *bodies.values())
    except AssertionError:
        failing = []
        for name, body in bodies.items():
            try:
                assert_compiles(tmp_path, body)
            except AssertionError as error:
                failing.append(f"{name}: {error}")
        assert not failing, "\n\n".join(failing)
        raise


# -- snapshots -----------------------------------------------------------------------------------
# The whole Markdown and LaTeX output of one problem per op family, compared with the files in
# tests/snapshots/.  After an intended change, rewrite them and review the diff:
#     GRADCALC_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_document_formats.py
SNAPSHOTS = Path(__file__).parent / "snapshots"
SNAPSHOT_PROBLEMS = [
    "task3.yaml",
    "seed002_max_pool.yaml",
    "seed001_fully_connected.yaml",
    "activation_relu_kink.yaml",
    "seed001_softmax_cross_entropy.yaml",
]


@pytest.mark.parametrize("name", SNAPSHOT_PROBLEMS)
@pytest.mark.parametrize("output_format", ["markdown", "latex"])
def test_snapshot(name: str, output_format: str) -> None:
    path = next(p for p in bundled() if p.name == name)
    text = render(path, output_format)
    suffix = {"markdown": ".md", "latex": ".tex"}[output_format]
    snapshot = SNAPSHOTS / (path.stem + suffix)
    if os.environ.get("GRADCALC_UPDATE_SNAPSHOTS") == "1":
        snapshot.parent.mkdir(exist_ok=True)
        snapshot.write_text(text, encoding="utf-8")
    assert snapshot.exists(), f"no snapshot {snapshot}; create it with GRADCALC_UPDATE_SNAPSHOTS=1"
    expected = snapshot.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                str(snapshot),
                "now",
                n=2,
            )
        )
        pytest.fail(f"{output_format} output of {name} changed:\n{diff[:4000]}")


def test_a_missing_tex_engine_fails_where_tex_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tex.shutil, "which", lambda name: None)
    monkeypatch.setenv("GRADCALC_REQUIRE_TEX", "1")
    with pytest.raises(pytest.fail.Exception, match="GRADCALC_REQUIRE_TEX"):
        tex.pdflatex()
    monkeypatch.delenv("GRADCALC_REQUIRE_TEX")
    with pytest.raises(pytest.skip.Exception):
        tex.pdflatex()


@pytest.mark.parametrize("name", ["seed003_multichannel_strided.yaml", "padding_same_dilated.yaml"])
def test_wide_jacobians_and_long_sums_fit_the_page(tmp_path, name: str) -> None:
    """An 8×50 Jacobian is shown a block of columns at a time, and long sums wrap: nothing
    runs more than a few points past the right margin."""
    path = next(p for p in bundled() if p.name == name)
    body = render(path, "latex")
    assert "columns 1--" in body
    assert_compiles(tmp_path, body)
    log = (tmp_path / "doc.log").read_text(encoding="utf-8", errors="replace")
    overfull = [float(m) for m in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert max(overfull, default=0) < 20, overfull


def test_accented_names_are_latex_accents(tmp_path) -> None:
    """ŷ and x̃ (composed or not) become \\hat{y} and \\tilde{x}, never [U+0177]."""
    task3 = next(p for p in bundled() if p.name == "task3.yaml")
    result = CliRunner().invoke(
        main,
        ["conv", "--spec", str(task3), "--names", '{output: "ŷ", input: "x\u0303"}']
        + ["--format", "latex"],
    )
    assert result.exit_code == 0, result.output
    assert "\\hat{y}_{00} &= \\tilde{x}_{00}" in result.output
    assert "[U+" not in result.output
    assert_compiles(tmp_path, result.output)


def test_indices_of_ten_or_more_are_one_subscript(tmp_path) -> None:
    """y_0,12 (plain notation, commas once an index reaches 10) is y_{0,12}, not y_{0},12; a
    1×22 input is shown in blocks of columns that fit the page."""
    row = " ".join(str(i % 5 - 2) for i in range(22))
    result = CliRunner().invoke(
        main, ["conv", "--input", row + ";", "--kernel", "1 -1 2;", "--format", "latex"]
    )
    assert result.exit_code == 0, result.output
    assert "y_{0,12}" in result.output and "y_{0},12" not in result.output
    assert_compiles(tmp_path, result.output)
    log = (tmp_path / "doc.log").read_text(encoding="utf-8", errors="replace")
    overfull = [float(m) for m in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert max(overfull, default=0) < 20, overfull
