"""Every line of the table report fits the console's width (issue 19, item 1).

Every bundled problem and a random problem of every kind and variant, at 80 and at 60
columns (``--width`` and ``COLUMNS``), measured in terminal cells as Rich counts them; and
the wrapped lines, joined again, say what the one-line layout (Markdown's text blocks) says.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from equation_truth import unwrapped
from random_problems import write_random
from rich.cells import cell_len
from shared_reports import markdown_steps_all
from test_practice import variant_args, variants

from gradcalc.cli.main import main
from gradcalc.problems import bundled

ENV = {"COLUMNS": "100", "LINES": "50", "NO_COLOR": None, "FORCE_COLOR": None}
WIDTHS = (80, 60)


def gradcalc(*args: str, env: dict[str, str | None] | None = None) -> str:
    result = CliRunner().invoke(main, list(args), env=env or ENV, catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return result.output


def too_wide(report: str, width: int) -> list[str]:
    return [f"{cell_len(line)}: {line}" for line in report.splitlines() if cell_len(line) > width]


def random_spec(folder: Path, kind: str, variant: str | None) -> Path:
    path = folder / f"{kind}-{variant}.yaml"
    return write_random(path, kind, "--seed", "1", *variant_args(kind, variant))


@pytest.mark.parametrize("path", bundled(), ids=lambda p: p.name)
def test_every_bundled_report_fits(path: Path) -> None:
    for width in WIDTHS:
        report = gradcalc("run", str(path), "--no-color", "--width", str(width))
        assert not too_wide(report, width), "\n".join(too_wide(report, width)[:5])


@pytest.mark.parametrize(("kind", "variant"), variants())
def test_every_random_report_fits(tmp_path: Path, kind: str, variant: str | None) -> None:
    path = random_spec(tmp_path, kind, variant)
    for width in WIDTHS:
        # COLUMNS is Rich's width when standard output is not a terminal.
        env = {**ENV, "COLUMNS": str(width)}
        report = gradcalc("run", str(path), "--no-color", env=env)
        assert not too_wide(report, width), "\n".join(too_wide(report, width)[:5])


def text_block_lines(markdown: str) -> list[str]:
    """The lines of a Markdown report's ``text`` blocks: its formulas and sums, unwrapped."""
    blocks = re.findall(r"^```text\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)
    return [line for block in blocks for line in block.splitlines()]


def squeezed(text: str) -> str:
    return " ".join(text.split())


def assert_equations_join(path: Path) -> None:
    """At 60 columns, the wrapped equations joined again hold every one-line equation that
    tests/test_displayed_equations.py checks (spaces between words aside)."""
    table = gradcalc("run", str(path), "--no-color", "--width", "60", "--steps", "all")
    markdown = markdown_steps_all(path)  # the report test_displayed_equations audits
    joined = unwrapped(table)
    missing = [line for line in text_block_lines(markdown) if squeezed(line) not in joined]
    assert not missing, "\n".join(missing[:5])


@pytest.mark.parametrize("path", bundled(), ids=lambda p: p.name)
def test_wrapped_bundled_equations_join_to_the_true_ones(path: Path) -> None:
    assert_equations_join(path)


@pytest.mark.parametrize(("kind", "variant"), variants())
def test_wrapped_random_equations_join_to_the_true_ones(
    tmp_path: Path, kind: str, variant: str | None
) -> None:
    assert_equations_join(random_spec(tmp_path, kind, variant))


def test_a_wide_matrix_is_shown_in_blocks_of_columns() -> None:
    ramp = " ".join(str(1000 * (c + 1)) for c in range(16))
    report = gradcalc("activation", "--function", "relu", "--input", f"{ramp};{ramp}",
                      "--show", "results", "--no-color", "--width", "60")  # fmt: skip
    assert "columns 0–" in report and "of 16" in report
    blocks = report.count("of 16")
    assert blocks >= 2
    # The row labels repeat in every block: two rows each.
    assert not too_wide(report, 60)


def test_a_long_sum_wraps_at_a_plus_under_its_first_term() -> None:
    ones = ";".join(["1 1 1 1 1"] * 5)
    args = ["conv", "--input", ones, "--kernel", "2;", "--upstream", "ones"]
    report = gradcalc(*args, "--show", "backward", "--steps", "all", "--no-color", "--width", "60")
    lines = report.splitlines()
    first = lines.index("∂L/∂w_00 = Σ_ij ∂L/∂y_ij·∂y_ij/∂w_00")
    assert lines[first + 1].startswith("         = ∂L/∂y_00·x_00 + ∂L/∂y_01·x_01")
    # The continuation starts with its + under the first term.
    assert lines[first + 2].startswith("           + ∂L/∂y_"), lines[first + 2]
    assert "         = " + " + ".join(["1·1"] * 8) in lines[first:]
    assert "           + 1·1 = 25" in lines[first:]
    assert not too_wide(report, 60)


@pytest.mark.parametrize("width", ["39", "10001", "wide"])
def test_width_is_checked(width: str) -> None:
    result = CliRunner().invoke(main, ["conv", "--spec", "problems/task3.yaml", "--width", width])
    assert result.exit_code == 2 and "--width" in result.output


def test_json_markdown_and_latex_ignore_the_width() -> None:
    path = str(Path(__file__).parent.parent / "problems" / "softmax_jacobian.yaml")
    for output_format in ("json", "markdown", "latex"):
        wide = gradcalc("run", path, "--format", output_format, "--width", "200")
        narrow = gradcalc("run", path, "--format", output_format, "--width", "40")
        assert wide == narrow


def test_an_export_is_not_fitted(tmp_path: Path) -> None:
    """docs/output.md: the --export file is drawn at full length whatever --width says."""
    page = tmp_path / "task3.html"
    spec = str(Path(__file__).parent.parent / "problems" / "task3.yaml")
    report = gradcalc("conv", "--spec", spec, "--width", "60", "--export", str(page))
    assert not too_wide(report, 60)
    one_line = "12 of 12 gradient entries checked, largest difference"
    assert one_line not in report
    assert one_line in page.read_text(encoding="utf-8")


def test_a_wide_focus_picture_is_drawn_in_parts() -> None:
    rows = ";".join(" ".join(str((7 * r + c) % 10) for c in range(30)) for r in range(4))
    report = gradcalc("conv", "--input", rows, "--kernel", "1 0; 0 1", "--padding", "1",
                      "--focus", "output[1,3]", "--no-color", "--width", "60")  # fmt: skip
    assert not too_wide(report, 60)
    parts = [line for line in report.splitlines() if "(part " in line]
    assert len(parts) >= 2 and parts[0].startswith("columns 0–")
    assert parts[-1].endswith(f"(part {len(parts)} of {len(parts)})")
    # Every part repeats the row labels: the marked cells' rows 0 and 1 are in each.
    assert sum(line.startswith("0   ") for line in report.splitlines()) == len(parts)


def test_cells_matches_rich_for_every_kind_of_character():
    """fit.cells' shortcut (characters remembered as one cell each) gives Rich's cell_len,
    wide, combining, joined and control characters included, in any order of first use."""
    from rich.cells import cell_len

    from gradcalc.cli.fit import cells
    from gradcalc.cli.safe_text import visible

    texts = [
        "∂L/∂x·w − 3",
        "中文 ab",
        "e\u0301",
        "a\u200db",
        "👍\ufe0f x",
        "x\x1by",
        "═" * 7,
        "ab\tc",
        "∂中∂",
        "Σ_c,m,q x[n,c,i+m,j+q]",
        "∂\u202e∂",
        "∂\x07·",
    ]
    for text in texts + texts[::-1]:
        assert cells(text) == cell_len(visible(text)), text


def test_the_characters_known_to_take_one_cell_take_one_in_rich() -> None:
    """cli/fit.py's _ONE_CELL starts with characters Rich would measure with its width table:
    each is one cell to Rich, printable, and neither a joiner nor written out as unsafe."""
    from gradcalc.cli import fit
    from gradcalc.cli.safe_text import has_unsafe

    for character in sorted(fit._ONE_CELL):
        assert cell_len(character) == 1, character
        assert character.isprintable() and not has_unsafe(character), character
        assert character not in fit._JOINERS
        assert fit.cells(character * 3) == cell_len(character * 3) == 3
