"""Where --steps cuts a list, "… N more rows" follows that list: not a matrix or note after it."""

from __future__ import annotations

from click.testing import CliRunner

from gradcalc.cli.main import main

POOL = """\
kind: pool
mode: max
size: 2
input: [[1, 2, 3, 4], [8, 7, 6, 5], [9, 10, 11, 12], [16, 15, 14, 13]]
"""


def lines(kind: str, spec: str, *options: str) -> list[str]:
    result = CliRunner().invoke(
        main, [kind, "--spec", "-", "--no-color", *options], input=spec, env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_the_cut_note_comes_before_the_gradient_matrix() -> None:
    text = lines("pool", POOL, "--show", "backward", "--steps", "3")
    note = text.index("… 13 more rows not shown (show them with --steps all, or --steps N)")
    assert text[note + 1] == "∂L/∂x", text[note - 2 : note + 3]


def test_each_cut_list_says_what_it_left_out() -> None:
    text = lines("conv", open("problems/task3.yaml").read(), "--show", "backward", "--steps", "2")
    notes = [i for i, line in enumerate(text) if line.startswith("… ")]
    assert [text[i] for i in notes] == [
        "… 2 more rows not shown (show them with --steps all, or --steps N)",
        "… 6 more rows not shown (show them with --steps all, or --steps N)",
    ]
    assert text[notes[0] + 1].startswith("∂L/∂X_00 = ")


def test_markdown_places_them_the_same_way() -> None:
    text = lines("pool", POOL, "--show", "backward", "--steps", "3", "--format", "markdown")
    note = next(i for i, line in enumerate(text) if line.startswith("… 13 more rows"))
    after = [line for line in text[note + 1 :] if line.strip()]
    assert "∂L/∂x" in after[0], after[:3]
