"""Patterns made cheaper to compile at start-up, and a leaner loop, find what was found
before: the number rule without U+2212 (core/values.py, for text with no U+2212), the
break finder's brackets in two classes and its word breaks (cli/fit.py), the surrogate
found by encoding (cli/yaml_values.py)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gradcalc.cli import fit, yaml_values
from gradcalc.core import values

NUMBERISH = st.text(alphabet="0123456789+-−./eE _\t1", max_size=14)


@settings(deadline=None)  # a loaded CI machine must not fail it on time alone
@given(NUMBERISH)
def test_the_ascii_sign_number_rule_matches_as_the_full_one_without_u2212(text: str) -> None:
    ascii_text = text.replace("\u2212", "-")
    full = re.compile(values.NUMBER_TEXT_PATTERN).match(ascii_text)
    cheap = values._ASCII_SIGN_NUMBER_TEXT.match(ascii_text)
    assert (full and full.groups()) == (cheap and cheap.groups())


BREAKISH = st.text(alphabet="([{⌈⌊)]}⌉⌋ +−=·ab1", max_size=30)


@settings(deadline=None)  # a loaded CI machine must not fail it on time alone
@given(BREAKISH)
def test_the_bracket_or_spaces_finder_finds_what_one_class_found(text: str) -> None:
    one_class = re.compile(r"[([{⌈⌊)\]}⌉⌋]| +")
    found = [m.span() for m in fit._BRACKET_OR_SPACES.finditer(text)]
    assert found == [m.span() for m in one_class.finditer(text)]


@settings(deadline=None)  # a loaded CI machine must not fail it on time alone
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xE000), max_size=20))
def test_the_first_surrogate_is_the_one_the_pattern_found(text: str) -> None:
    found = re.compile("[\ud800-\udfff]").search(text)
    assert yaml_values.first_surrogate(text) == (found[0] if found else None)


def _word_breaks_as_before(text: str) -> list[tuple[int, int, int]]:
    """cli/fit.py word_breaks as it was written before its loop was made leaner."""
    breaks = []
    indent = len(text) - len(text.lstrip(" "))
    depth, word_start = 0, indent
    for found in re.compile(r"[([{⌈⌊)\]}⌉⌋]| +").finditer(text, indent):
        char = found.group()
        if char in fit.OPENING:
            depth += 1
            continue
        if char in fit.CLOSING:
            depth = max(0, depth - 1)
            continue
        end, i = found.span()
        word, word_start = text[word_start:end], i
        if i < len(text) and not (len(word) == 1 and word in fit.LONE_OPERATORS):
            before_operator = text[i] in fit.LONE_OPERATORS and text[i + 1 : i + 2] in ("", " ")
            breaks.append((end, i, 3 if depth else 2 if before_operator else 1))
    return breaks


WORDISH = st.text(alphabet="([{⌈⌊)]}⌉⌋    +−=·×→<>≤≥ab1x_∂", max_size=60)


@settings(deadline=None)  # a loaded CI machine must not fail it on time alone
@given(WORDISH)
def test_word_breaks_are_the_ones_found_before(text: str) -> None:
    assert fit.word_breaks(text) == _word_breaks_as_before(text)


def _equation_breaks_as_before(text: str) -> list[tuple[int, int, int]]:
    """cli/fit.py equation_breaks as it was written before it found every break in one pass."""
    operators: dict[int, tuple[int, int, int]] = {}
    depth = 0
    for found in re.compile(r"[([{⌈⌊)\]}⌉⌋+−=·]").finditer(text):
        i, char = found.start(), found.group()
        if char in fit.OPENING:
            depth += 1
        elif char in fit.CLOSING:
            depth = max(0, depth - 1)
        elif (
            char in fit.SPACED_OPERATORS
            and 0 < i < len(text) - 1
            and text[i - 1] == " "
            and text[i + 1] == " "
            and text[:i].strip()
        ):
            operators[i - 1] = (i - 1, i, 0 if depth == 0 else 1)
        elif char == "·" and i > 0 and text[i - 1] != " ":
            operators[i] = (i, i, 1)
    spaces = [(end, start, 3) for end, start, _ in fit.word_breaks(text) if end not in operators]
    return sorted([*operators.values(), *spaces])


def _choose_as_before(breaks, start, prefix, room):
    """cli/fit.py _choose as it was written before it bisected."""
    fitting = [b for b in breaks if b[0] > start and prefix[b[0]] - prefix[start] <= room]
    for tier in (0, 1, 2):
        good = [b for b in fitting if b[2] <= tier]
        if good and 2 * (prefix[good[-1][0]] - prefix[start]) >= room:
            return good[-1][:2]
    if fitting:
        return fitting[-1][:2]
    later = [b for b in breaks if b[0] > start]
    return later[0][:2] if later else None


# Equations and sentences: operators spaced and not, brackets, runs of spaces, a tab or a
# wide character here and there (the cells before a position then grow by 2, or by 0).
EQUATIONISH = st.text(alphabet="([{⌈⌊)]}⌉⌋     +++−−==··×→ab1x_∂\t中\u0301", max_size=60)


@settings(deadline=None)  # a loaded CI machine must not fail it on time alone
@given(EQUATIONISH)
def test_equation_breaks_are_the_ones_found_before(text: str) -> None:
    assert fit.equation_breaks(text) == _equation_breaks_as_before(text)


@settings(deadline=None)  # a loaded CI machine must not fail it on time alone
@given(EQUATIONISH, st.booleans(), st.integers(1, 40), st.data())
def test_the_chosen_break_is_the_one_chosen_before(
    text: str, equation: bool, room: int, data: st.DataObject
) -> None:
    breaks = (fit.equation_breaks if equation else fit.word_breaks)(text)
    prefix = fit._prefix_cells(text)
    start = data.draw(st.integers(0, len(text)))
    ends = [b[0] for b in breaks]
    chosen = fit._choose(breaks, ends, start, prefix, room)
    assert chosen == _choose_as_before(breaks, start, list(prefix), room)


def _printed_widths_as_before(widths, rows):
    """cli/fit.py printed_widths as it was written before it measured a grid's cells at once."""
    printed = [2 + width for width in widths]
    for row in rows:
        for c, cell in enumerate(row):
            text = fit.plain([cell])
            printed[c] = max(printed[c], 2 + widths[c] - len(text) + fit.cells(text))
    return printed


def _grid_too_wide_as_before(rows, width):
    if width is None:
        return False
    label = max((fit.cells(name) for name, _ in rows), default=0)
    widest = max(
        (fit.cells(c if isinstance(c, str) else c[0]) for _, row in rows for c in row), default=0
    )
    return label + 2 + widest > width


def _grid_as_before(canvas, header, rows, *, header_style="dim", width=None):
    """cli/render_table.py grid as it was written before it wrote a line at once."""
    label_width = max((len(label) for label, _ in rows), default=0)
    widths = [len(h) for h in header]
    for _, cells in rows:
        for c, cell in enumerate(cells):
            widths[c] = max(widths[c], len(cell if isinstance(cell, str) else cell[0]))
    column_cells = _printed_widths_as_before(widths, [header, *(cells for _, cells in rows)])
    label_cells = _printed_widths_as_before([label_width], [[label] for label, _ in rows])[0] - 2
    blocks = fit.column_blocks(column_cells, label_cells, width)
    for start, stop in blocks:
        if len(blocks) > 1:
            canvas.line((fit.columns_named(start + 1, stop, len(header)), "dim"))
        canvas.line(" " * label_width)
        for c in range(start, stop):
            canvas.write("  ", (header[c].rjust(widths[c]), header_style))
        for label, cells in rows:
            canvas.line((label.rjust(label_width), header_style))
            for c in range(start, stop):
                text, style = (cells[c], "") if isinstance(cells[c], str) else cells[c]
                canvas.write("  ", (text.rjust(widths[c]), style))


# Cells of a grid: numbers, symbols, wide, zero-width and control characters, text safe to
# measure at once or not, unstyled, styled and styled with no style.
CELLISH = st.text(alphabet="0123456789−·.∂x_ab中\u0301\x1b\t ", max_size=6)
PIECEISH = st.one_of(CELLISH, st.tuples(CELLISH, st.sampled_from(["", "dim", "bold red"])))


@st.composite
def grids(draw):
    columns = draw(st.integers(1, 6))
    header = draw(st.lists(CELLISH, min_size=columns, max_size=columns))
    rows = draw(
        st.lists(
            st.tuples(CELLISH, st.lists(PIECEISH, min_size=columns, max_size=columns)),
            max_size=5,
        )
    )
    return header, rows


@settings(deadline=None)  # a loaded CI machine must not fail it on time alone
@given(grids(), st.one_of(st.none(), st.integers(1, 40)))
def test_a_grid_is_measured_and_written_as_before(grid, width) -> None:
    from gradcalc.cli.render_table import grid as draw_grid
    from gradcalc.cli.report_output import Canvas

    header, rows = grid
    widths = [len(h) for h in header]
    for _, cells in rows:
        for c, cell in enumerate(cells):
            widths[c] = max(widths[c], len(fit.plain([cell])))
    table = [header, *(cells for _, cells in rows)]
    assert fit.printed_widths(widths, table) == _printed_widths_as_before(widths, table)
    assert fit.grid_too_wide(rows, width) == _grid_too_wide_as_before(rows, width)
    now, before = Canvas(), Canvas()
    draw_grid(now, header, rows, header_style="bold", width=width)
    _grid_as_before(before, header, rows, header_style="bold", width=width)
    assert now.text().plain == before.text().plain
    assert now.text().spans == before.text().spans


def _first_term_column_as_before(text: str) -> int:
    """cli/fit.py first_term_column as it was written before it found `` = `` by str.find."""
    depth = 0
    for i, char in enumerate(text):
        if char in fit.OPENING:
            depth += 1
        elif char in fit.CLOSING:
            depth = max(0, depth - 1)
        elif depth == 0 and text.startswith(" = ", i):
            return fit.cells(text[: i + 3])
    return 0


@settings(deadline=None)  # a loaded CI machine must not fail it on time alone
@given(st.text(alphabet="([{⌈⌊)]}⌉⌋   ==+−·ab∂中\t", max_size=40))
def test_the_first_term_column_is_the_one_found_before(text: str) -> None:
    assert fit.first_term_column(text) == _first_term_column_as_before(text)


# Lines without ⌈⌊⌉⌋, which the break finders read with their Latin-1 patterns (in an
# equation, also without an operator after two spaces): the breaks are the ones found before.
LATINISH = st.text(alphabet="([{)]}   +++−−==··×→ab1_∂\t中", max_size=60)


@settings(deadline=None)  # a loaded CI machine must not fail it on time alone
@given(LATINISH)
def test_the_breaks_of_a_line_read_by_the_latin_1_patterns_are_the_ones_found_before(
    text: str,
) -> None:
    assert fit.equation_breaks(text) == _equation_breaks_as_before(text)
    assert fit.word_breaks(text) == _word_breaks_as_before(text)


def _cut_as_before(pieces, start, stop):
    """cli/fit.py _cut as it was written before it cut every line in one pass."""
    out = []
    position = 0
    for piece in pieces:
        text = piece if isinstance(piece, str) else piece[0]
        low, high = max(start, position), min(stop, position + len(text))
        if low < high:
            part = text[low - position : high - position]
            out.append(part if isinstance(piece, str) else (part, piece[1]))
        position += len(text)
    return out


@st.composite
def pieces_and_spans(draw):
    pieces = draw(st.lists(PIECEISH, max_size=6))
    size = len(fit.plain(pieces))
    cuts = sorted(draw(st.lists(st.integers(0, size), max_size=8)))
    # Spans in order and apart, as wrap makes them: each from a cut to the next or later.
    spans = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False)]
    return pieces, spans


@settings(deadline=None)  # a loaded CI machine must not fail it on time alone
@given(pieces_and_spans())
def test_the_lines_cut_in_one_pass_are_the_ones_cut_before(case) -> None:
    pieces, spans = case
    assert fit._cut(pieces, spans) == [_cut_as_before(pieces, a, b) for a, b in spans]
