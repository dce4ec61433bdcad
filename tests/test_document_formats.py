"""Markdown and LaTeX output: every bundled problem renders, and the LaTeX compiles."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from click.testing import CliRunner

from gradcalc.cli.main import main
from gradcalc.cli.spec_loader import load_file
from gradcalc.problems import bundled

PREAMBLE = "\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n"


def render(path, output_format: str) -> str:
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


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX engine on this machine")
@pytest.mark.parametrize(
    "name", ["task3.yaml", "seed003_multichannel_strided.yaml", "seed000_ex1_polar_identity.yaml"]
)
def test_latex_compiles(tmp_path, name: str) -> None:
    path = next(p for p in bundled() if p.name == name)
    body = render(path, "latex")
    (tmp_path / "doc.tex").write_text(PREAMBLE + body + "\n\\end{document}\n", encoding="utf-8")
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:]
