"""cli/report_output.py write_styled: a colored report written piece by piece is, byte for byte,
what Rich writes when it prints the report's Text with soft wrapping (the reference here), for
every color system; and it writes nothing where it could differ."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from gradcalc.cli.report_output import Canvas, write_styled

# Styles a report uses (cli/render_table.py, cli/heat.py), and odd ones: a style that parses to
# nothing, a color that needs downgrading on 16 colors, a theme name.
STYLES = [
    "",
    "bold",
    "dim",
    "bold cyan",
    "red",
    "green on #1f3b5a",
    "#ffaa00",
    "none",
    "repr.number",
]
TEXTS = st.text(alphabet="ab =+−·∂中\n", max_size=6)
PIECES = st.lists(
    st.one_of(TEXTS, st.tuples(TEXTS.filter(lambda t: "\n" not in t), st.sampled_from(STYLES))),
    max_size=30,
)


def console(color_system: str | None, **options) -> Console:
    return Console(
        file=io.StringIO(),
        force_terminal=True,
        color_system=color_system,
        width=80,
        highlight=False,
        emoji=False,
        **options,
    )


def written_by_rich(pieces, color_system: str) -> str:
    canvas = Canvas()
    canvas.write(*pieces)
    reference = console(color_system)
    reference.print(canvas.text(), soft_wrap=True)
    return reference.file.getvalue()


@settings(max_examples=300, deadline=None)
@given(PIECES, st.sampled_from(["standard", "256", "truecolor"]))
def test_a_colored_report_is_written_as_rich_writes_it(pieces, color_system) -> None:
    canvas = Canvas()
    canvas.write(*pieces)
    target = console(color_system)
    assert write_styled(target, canvas, canvas.plain(), direct=True)
    assert target.file.getvalue() == written_by_rich(pieces, color_system)


def test_each_styled_piece_is_its_own_segment() -> None:
    canvas = Canvas()
    canvas.write(("a", "bold"), ("b", "bold"), "\n", ("c", "dim"), " d")
    target = console("256")
    assert write_styled(target, canvas, canvas.plain(), direct=True)
    assert target.file.getvalue() == "\x1b[1ma\x1b[0m\x1b[1mb\x1b[0m\n\x1b[2mc\x1b[0m d\n"


@pytest.mark.parametrize(
    ("pieces", "options", "direct"),
    [
        ((("x", "bold"),), {}, False),  # not gradcalc's own console: Rich prints it
        ((("a\tb", "bold"),), {}, True),  # Rich expands tabs
        (("a\tb",), {}, True),
        ((("a\nb", "bold"),), {}, True),  # a style across a line break: Rich splits lines
        (("\x1b[31m", ("x", "bold")), {}, True),  # a spec's control character: written out
        ((("x", "bold"),), {"no_color": True}, True),  # Rich removes colors per segment
        ((("x", "bold"),), {"record": True}, True),  # Rich records what it writes
        ((("x", "bold"),), {"quiet": True}, True),
    ],
)
def test_nothing_is_written_where_rich_could_write_otherwise(pieces, options, direct) -> None:
    canvas = Canvas()
    canvas.write(*pieces)
    target = console("truecolor", **options)
    assert not write_styled(target, canvas, canvas.plain(), direct=direct)
    assert target.file.getvalue() == ""


def test_no_color_system_is_left_to_the_plain_writer() -> None:
    canvas = Canvas()
    canvas.write(("x", "bold"))
    target = Console(file=io.StringIO(), color_system=None)
    assert not write_styled(target, canvas, canvas.plain(), direct=True)
