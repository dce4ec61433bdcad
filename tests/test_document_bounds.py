"""Markdown and LaTeX write-ups stay bounded on a big problem: rows are cut at DOCUMENT_ROWS a
list and a long sum at MAX_TERMS_SHOWN terms, as the terminal table cuts it, ending in ``+ …``
(LaTeX ``\\dots``) and a count of the rest — never a false total.  Before the cut, a 1000×1000
attention (E = 1) wrote 71 MB of Markdown in 35 s."""

from __future__ import annotations

import re
import time

import pytest
from click.testing import CliRunner
from tex import assert_compiles

from gradcalc.cli.main import main
from gradcalc.core.spec import MAX_TERMS_SHOWN

# Generous for a loaded 2-core machine: the cut write-ups take about 3 s (Markdown) and 6 s
# (LaTeX) and are 2.3 MB and 4.5 MB.
MAX_SECONDS = 60
MAX_BYTES = 8_000_000


def attention_spec(tmp_path, size: int) -> str:
    """A size×size attention with E = 1: every output is a sum of ``size`` products."""
    column = [[(7 * i) % 5 - 2] for i in range(size)]
    other = [[(3 * i) % 7 - 3] for i in range(size)]
    path = tmp_path / "attention.yaml"
    path.write_text(f"kind: attention\nquery: {column}\nkey: {other}\nvalue: {column}\n")
    return str(path)


def render(spec: str, output_format: str, *extra: str) -> str:
    result = CliRunner().invoke(
        main, ["attention", "--spec", spec, "--format", output_format, *extra]
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("output_format", ["markdown", "latex"])
def test_a_big_attention_write_up_is_bounded(tmp_path, output_format: str) -> None:
    spec = attention_spec(tmp_path, 1000)
    start = time.perf_counter()
    text = render(spec, output_format, "--no-gradient-check")
    seconds = time.perf_counter() - start
    assert seconds < MAX_SECONDS
    assert len(text.encode()) < MAX_BYTES
    assert "stands for 976 more terms" in text  # LaTeX: (+ \ensuremath{\ldots} stands for …)
    if output_format == "markdown":
        # Y_0,0 = P_0,0·V_0,0 + … + P_0,23·V_23,0 + …, then its numbers ending "+ … = value"
        assert re.search(r"Y_0,0 = P_0,0·V_0,0 \+ .*P_0,23·V_23,0 \+ …\n", text)
        assert re.search(r"\+ … = −?[0-9.e-]+   \(\+ … stands for 976", text)
    else:
        assert "P_{0,23} \\cdot V_{23,0} \\\\\n&\\quad + \\dots \\\\\n" in text


@pytest.mark.parametrize("output_format", ["markdown", "latex"])
def test_steps_all_still_writes_every_term(tmp_path, output_format: str) -> None:
    spec = attention_spec(tmp_path, MAX_TERMS_SHOWN + 2)
    cut = render(spec, output_format)
    whole = render(spec, output_format, "--steps", "all")
    assert "stands for 2 more terms" in cut
    assert "more term" not in whole


def test_a_cut_latex_sum_compiles(tmp_path) -> None:
    body = render(attention_spec(tmp_path, MAX_TERMS_SHOWN + 6), "latex")
    assert r"\dots" in body
    assert_compiles(tmp_path, body)
