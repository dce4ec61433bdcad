"""Compiling gradcalc's LaTeX with a plain amsmath preamble, as a student would paste it.

Without pdflatex the compile tests skip on a development machine; CI installs TeX and sets
GRADCALC_REQUIRE_TEX=1, so there a missing engine fails instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PREAMBLE = "\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n"


def pdflatex() -> str:
    """The engine's path; skips (or fails under GRADCALC_REQUIRE_TEX=1) when there is none."""
    path = shutil.which("pdflatex")
    if path:
        return path
    if os.environ.get("GRADCALC_REQUIRE_TEX") == "1":
        pytest.fail("GRADCALC_REQUIRE_TEX=1 but pdflatex is not installed (.ci/run installs it)")
    pytest.skip("pdflatex is not installed: the LaTeX is not compiled (its text is still checked)")


def assert_compiles(folder: Path, *bodies: str) -> None:
    """Put ``bodies`` in one amsmath document under ``folder`` and compile it without errors."""
    engine = pdflatex()
    (folder / "doc.tex").write_text(PREAMBLE + "\n".join(bodies) + "\n\\end{document}\n", "utf-8")
    completed = subprocess.run(
        [engine, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=folder,
        capture_output=True,
        text=True,
        errors="replace",  # TeX echoes input bytes as they are
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout[-2000:]
