"""Fit the table report to the console's width: grids in column blocks, long lines wrapped.

A line is a list of pieces (plain text, or (text, Rich style)); wrapping it gives several
lines whose pieces keep their styles.  Widths are terminal cells (Rich's ``cell_len``, of the
text as it is printed: a control character from a spec is written out, cli/safe_text.py).

Two ways to wrap:

- an equation (``wrap_equation``) breaks before an operator: before `` + ``, `` − `` or
  `` = `` outside brackets when it can, else inside brackets or before a ``·``, else (words
  within a formula: "Σ over windows reading x_00: …") at a space; never inside a number or
  a symbol, nor after an operator.  Its continuation starts with the operator, indented under
  the first term, so that joining each continuation to the line before (with a space, or
  with nothing before ``·``) gives back the equation as written on one line.
- words (``wrap_words``): conventions, notes and captions break at spaces, with a hanging
  indent; an operator standing alone (``−``, ``=``) starts a line rather than ending one.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len

from gradcalc.cli.safe_text import has_unsafe, visible
from gradcalc.core.patterns import LazyPattern

if TYPE_CHECKING:  # (report_output imports this module)
    from gradcalc.cli.report_output import Canvas

Piece = str | tuple[str, str]  # plain text, or (text, Rich style)

OPENING, CLOSING = "([{⌈⌊", ")]}⌉⌋"
SPACED_OPERATORS = ("+", "−", "=")
# An operator standing alone between words (a note's "x − 3"): never left at a line's end.
LONE_OPERATORS = frozenset("+−=·×→<>≤≥")
# A continuation of a wrapped line leaves at least this many cells for its text.
MIN_ROOM = 24


# Characters Rich measures as one cell each, remembered as they are met (a report uses a few
# dozen: ∂ · − Σ ═ ─ …).  Not the zero-width joiner nor variation selector 16, which change
# how Rich measures the characters around them.
#
# Seeded with the ones gradcalc's reports write that Rich measures with its Unicode width
# table (those beyond its own list of single-cell ranges): each is one cell in every Unicode
# version, and with them known a report needs no table, which Rich loads on first use
# (0.3-0.5 ms of a command's start-up).  tests/test_fit_terminal.py checks them with Rich.
# And with printable ASCII, one cell each (the first of Rich's single-cell ranges): a line
# mixing it with other characters then needs none of its characters measured one by one.
_ONE_CELL: set[str] = set("ᵀ–—•…′ℓ→←∂−∞≠≤≥≈∈√⊙⋆⌈⌉⌊⌋✓✗₀") | set(map(chr, range(0x20, 0x7F)))
_JOINERS = frozenset("\u200d\ufe0f")


def cells(text: str) -> int:
    """How many terminal cells ``text`` takes as printed (Rich's ``cell_len``)."""
    if text.isascii() and text.isprintable():  # most cells: one character, one cell
        return len(text)
    # Rich sums its characters' widths: one cell each is the length, found without walking
    # the text character by character (a report measures thousands of lines).  _ONE_CELL
    # holds no character that visible() writes out, so such a text needs no escaping.
    if _ONE_CELL.issuperset(text):  # (read in place: no set of the text's characters made)
        return len(text)
    characters = set(text)
    if has_unsafe(text):
        text = visible(text)
        characters = set(text)
    unmeasured = characters - _ONE_CELL
    if unmeasured.isdisjoint(_JOINERS) and all(cell_len(char) == 1 for char in unmeasured):
        _ONE_CELL.update(unmeasured)
        return len(text)
    return cell_len(text)


def plain(pieces: Sequence[Piece]) -> str:
    # A list, not a generator calling _text: every line of a report passes here.
    return "".join([piece if isinstance(piece, str) else piece[0] for piece in pieces])


def _prefix_cells(text: str) -> Sequence[int]:
    """Cells taken by text[:i], for every i (0 … len(text))."""
    if _ONE_CELL.issuperset(text):  # a cell a character (the usual line): no list to build
        return range(len(text) + 1)
    if not has_unsafe(text):
        if text.isascii():
            return range(len(text) + 1)
        # Each distinct character measured once (a line repeats few: digits, ·, ∂, …).
        width = {char: 1 if char in _ONE_CELL else cell_len(char) for char in set(text)}
        return [0, *itertools.accumulate(map(width.__getitem__, text))]
    return [0, *itertools.accumulate(cells(char) for char in text)]


# A break: the line ends at ``end``; the next line starts at ``restart``; breaks of a lower
# ``tier`` are taken first when they fill enough of the line.  In an equation: 0 before a
# top-level + − =, 1 before another operator, 3 at a space; in words: 1 between words, 2
# before an operator, 3 inside brackets.
Break = tuple[int, int, int]


# The characters the break finders look at: brackets, runs of spaces, operators.  Finding
# them with one pattern skips every other character (most of a line: digits and symbols).
# (The ASCII characters and the others in two classes: one class of both took three times
# as long to compile, 0.1 ms of every report.)  In an equation, a spaced operator and the
# space before it are one match (`` +``: that space is its break), and an operator or a ·
# that breaks nothing is read and passed.
_BRACKET_OR_SPACES = re.compile(r"[([{)\]}]|[⌈⌊⌉⌋]| +")
# (Compiled when first met: a report may never need it, half a millisecond.)
_EQUATION_TOKENS = LazyPattern(r" (?:[+=](?= )|−(?= ))|[([{)\]}+=·]|[⌈⌊⌉⌋−]| +")
# The same for a line without ⌈⌊⌉⌋ (nor, in an equation, an operator after two spaces: a
# lone − is not matched), the usual line: each pattern starts with one class of every
# character a match can start with, all of them in Latin-1 (cheap to compile), so that the
# engine skips to the next such character at once rather than trying each alternative at
# every character (twice as slow).  (``[+=](?= )|−(?= ))``, not ``[+=−](?= )``: a class of
# Latin-1 and other characters costs a 64 KiB map to compile, as one of [+=]|− would be.)
_LATIN_BRACKET_OR_SPACES = re.compile(r"[ ([{)\]}](?:(?<= ) +)?")
_LATIN_EQUATION_TOKENS = re.compile(r"[ ([{)\]}+=·](?:(?<= )(?:[+=](?= )|−(?= ))|(?<= ) *)?")
# A spaced operator read whole.
_SPACED_OPERATOR = frozenset(f" {operator} " for operator in SPACED_OPERATORS)


def _has_outer_brackets(text: str) -> bool:
    """Whether ``text`` has a ⌈⌊⌉⌋ (not found by the Latin-1 patterns)."""
    return "⌊" in text or "⌋" in text or "⌈" in text or "⌉" in text


def equation_breaks(text: str) -> list[Break]:
    """Where an equation may break: before a spaced + − = (the space goes), before a ·, at
    a space between words (see the module docstring).

    One pass over the brackets, operators, · and runs of spaces, the breaks found in order:
    a run of spaces breaks as :func:`word_breaks` has it (at tier 3), but the one space
    before a spaced operator, which breaks there as the operator's break (by how many
    brackets hold it) when something is shown before it (``shown``: where the first
    character that is not white space is), else as a run of spaces.  The run of spaces
    after a spaced operator follows a lone operator: no break."""
    breaks: list[Break] = []
    size = len(text)
    indent = size - len(text.lstrip(" "))  # (where word_breaks starts)
    shown = size - len(text.lstrip())  # the first character that is not white space
    depth, word_start = 0, indent
    general = "  −" in text or _has_outer_brackets(text)
    tokens = _EQUATION_TOKENS if general else _LATIN_EQUATION_TOKENS
    for found in tokens.finditer(text, indent):
        i, end = found.span()
        char = text[i]
        if char == " ":
            if end - i == 2 and text[i + 1] != " ":  # a spaced operator at i + 1
                if i + 1 > shown:
                    breaks.append((i, i + 1, 0 if depth == 0 else 1))
                elif not (i - word_start == 1 and text[word_start] in LONE_OPERATORS):
                    breaks.append((i, i + 1, 3))
                word_start = i + 1
            else:
                if end < size and not (i - word_start == 1 and text[word_start] in LONE_OPERATORS):
                    breaks.append((i, end, 3))
                word_start = end
        elif char in OPENING:
            depth += 1
        elif char in CLOSING:
            depth = max(0, depth - 1)
        elif char == "·":
            if i > 0 and text[i - 1] != " ":
                breaks.append((i, i, 1))
        elif i > shown and text[i - 1 : i + 2] in _SPACED_OPERATOR:  # after 2 spaces or more
            breaks.append((i - 1, i, 0 if depth == 0 else 1))
    return breaks


def word_breaks(text: str) -> list[Break]:
    """Where words may break: at a run of spaces (not after a lone operator, nor within the
    line's own indentation), between words outside brackets first."""
    breaks: list[Break] = []
    size = len(text)
    indent = size - len(text.lstrip(" "))
    depth, word_start = 0, indent
    # (A report wraps a few hundred lines with dozens of spaces each: the loop reads each
    # match once and slices no word.)
    tokens = _BRACKET_OR_SPACES if _has_outer_brackets(text) else _LATIN_BRACKET_OR_SPACES
    for found in tokens.finditer(text, indent):
        end, i = found.span()
        char = text[end]
        if char != " ":
            if char in OPENING:
                depth += 1
            else:
                depth = max(0, depth - 1)
            continue
        lone = end - word_start == 1 and text[word_start] in LONE_OPERATORS
        word_start = i
        if i < size and not lone:
            # Between words outside brackets first; before an operator (the middle of a
            # formula within the sentence) or inside brackets only when needed.
            if depth:
                breaks.append((end, i, 3))
            elif text[i] in LONE_OPERATORS and (i + 1 == size or text[i + 1] == " "):
                breaks.append((end, i, 2))
            else:
                breaks.append((end, i, 1))
    return breaks


def _choose(
    breaks: Sequence[Break], ends: Sequence[int], start: int, prefix: Sequence[int], room: int
) -> tuple[int, int] | None:
    """The break that ends the line starting at ``start`` best within ``room`` cells: the
    last break of the lowest tier that fills half the room, else the last break that fits,
    else (nothing fits) the first break after ``start``.

    ``breaks`` are in order of where they end (``ends``), and the cells before a position
    never shrink as it moves on: the breaks that fit are one run of them, found by bisection."""
    first = bisect.bisect_right(ends, start)  # the first break after start
    limit = prefix[start] + room
    stop = bisect.bisect_right(
        ends, limit, first, key=prefix.__getitem__
    )  # past the last that fits
    # The breaks that fill half the room (the cells before them at least half of it past
    # start's) are the last run of those that fit, found by bisection too; the last of the
    # lowest tier among them is the first found reading them from the end back (min keeps
    # the first of equals).
    half = bisect.bisect_left(
        ends, (2 * prefix[start] + room + 1) // 2, first, stop, key=prefix.__getitem__
    )
    if half < stop:
        best = min(reversed(breaks[half:stop]), key=_tier)
        if best[2] < 3:
            return best[:2]
    if stop > first:
        return breaks[stop - 1][:2]
    return breaks[first][:2] if first < len(breaks) else None


_end = operator.itemgetter(0)
_tier = operator.itemgetter(2)


def wrap(
    pieces: Sequence[Piece],
    width: int,
    indent: int,
    find_breaks: Callable[[str], list[Break]],
    text: str | None = None,
) -> list[list[Piece]]:
    """``pieces`` as lines of at most ``width`` cells where the breaks ``find_breaks`` finds
    in their text allow, each line after the first led by ``indent`` spaces (``text``: the
    pieces' text, when the caller has it already).  Meant for pieces wider than ``width``
    (the caller has measured them: most lines fit, and are written as they are); pieces
    that fit come back as one line, without any empty piece."""
    if text is None:
        text = plain(pieces)
    prefix = _prefix_cells(text)
    breaks = find_breaks(text)
    ends = list(map(_end, breaks))
    indent = indent if width - indent >= MIN_ROOM else min(indent, 4)
    spans, start, room = [], 0, width
    while prefix[-1] - prefix[start] > room:
        chosen = _choose(breaks, ends, start, prefix, room)
        if chosen is None:
            break
        spans.append((start, chosen[0]))
        start, room = chosen[1], width - indent
    spans.append((start, len(text)))
    lines = _cut(pieces, spans)
    return [lines[0], *([" " * indent, *line] for line in lines[1:])]


def _cut(pieces: Sequence[Piece], spans: Sequence[tuple[int, int]]) -> list[list[Piece]]:
    """The pieces' characters in each of ``spans`` (start, stop: in order, apart), each
    keeping its style: one pass over the pieces, each read for the spans it meets."""
    lines: list[list[Piece]] = [[] for _ in spans]
    position, first = 0, 0  # first: the first span not ended before this piece
    for piece in pieces:
        text = piece if isinstance(piece, str) else piece[0]
        end = position + len(text)
        while first < len(spans) and spans[first][1] <= position:
            first += 1
        for k in range(first, len(spans)):
            start, stop = spans[k]
            if start >= end:
                break
            low, high = max(start, position), min(stop, end)
            if low < high:
                part = text[low - position : high - position]
                lines[k].append(part if isinstance(piece, str) else (part, piece[1]))
        position = end
    return lines


def wrap_equation(
    pieces: Sequence[Piece], width: int, indent: int, text: str | None = None
) -> list[list[Piece]]:
    """An equation's line wrapped before its operators (see the module docstring; ``text``
    as :func:`wrap` has it)."""
    return wrap(pieces, width, indent, equation_breaks, text)


def wrap_words(
    pieces: Sequence[Piece], width: int, text: str | None = None, hang: int = 2
) -> list[list[Piece]]:
    """A sentence's line wrapped at spaces; later lines indented ``hang`` cells more than
    the first (``text`` as :func:`wrap` has it)."""
    if text is None:
        text = plain(pieces)
    lead = len(text) - len(text.lstrip(" "))
    return wrap(pieces, width, lead + hang, word_breaks, text)


def first_term_column(text: str) -> int:
    """Where the first term after a line's first top-level `` = `` starts (0: none).

    Each `` = `` is found by ``str.find``, and how many brackets hold it by reading only the
    brackets (and runs of spaces) before it: a formula's line is read once, not character by
    character."""
    depth, read = 0, 0
    at = text.find(" = ")
    while at >= 0:
        for found in _BRACKET_OR_SPACES.finditer(
            text, read, at
        ):  # (no pattern of its own to compile)
            char = text[found.start()]
            if char in OPENING:
                depth += 1
            elif char in CLOSING:
                depth = max(0, depth - 1)
        if depth == 0:
            return cells(text[: at + 3])
        read, at = at, text.find(" = ", at + 1)
    return 0


def column_blocks(
    column_cells: Sequence[int], reserved: int, width: int | None
) -> list[tuple[int, int]]:
    """Runs of columns (start, stop) that fit ``width`` beside ``reserved`` cells of row
    labels: all at once when they fit (or width is None), else as many as fit per block
    (at least one)."""
    count = len(column_cells)
    if width is None or reserved + sum(column_cells) <= width or count == 0:
        return [(0, count)]
    room = width - reserved
    blocks, start, used = [], 0, 0
    for j, taken in enumerate(column_cells):
        if j > start and used + taken > room:
            blocks.append((start, j))
            start, used = j, 0
        used += taken
    blocks.append((start, count))
    return blocks


def columns_named(first: int, last: int, total: int) -> str:
    """A block's name: "columns 0–7 of 16" (``first``, ``last``: its column labels)."""
    if first >= last:
        return f"column {first} of {total}"
    return f"columns {first}–{last} of {total}"


def one_cell_each(text: str) -> bool:
    """Whether every character of ``text`` takes one cell as printed (so that its cells are
    its length): a grid's cells are measured all at once, joined, instead of one by one."""
    if (text.isascii() and text.isprintable()) or _ONE_CELL.issuperset(text):
        return True
    cells(text)  # remembers its characters when each takes one cell
    return _ONE_CELL.issuperset(text)


def widest(texts: Sequence[str]) -> int:
    """The most cells one of ``texts`` takes (0: none)."""
    if one_cell_each("".join(texts)):
        return max(map(len, texts), default=0)
    return max(map(cells, texts), default=0)


def grid_too_wide(rows: Sequence[tuple[str, Sequence[Piece]]], width: int | None) -> bool:
    """Whether one cell of a grid's ``rows`` (label, cells) with its label is wider than
    ``width``, so that no block of columns fits."""
    if width is None:
        return False
    texts = [c if isinstance(c, str) else c[0] for _, row in rows for c in row]
    return widest([name for name, _ in rows]) + 2 + widest(texts) > width


def printed_widths(widths: Sequence[int], rows: Sequence[Sequence[Piece]]) -> list[int]:
    """Each column's cells as printed: ``widths`` (characters, each cell right-aligned to
    its column's) where a wide character takes two; 2 more for the space between columns."""
    printed = [2 + width for width in widths]
    texts = [[cell if isinstance(cell, str) else cell[0] for cell in row] for row in rows]
    if one_cell_each("".join(text for row in texts for text in row)):
        return printed  # (the usual grid: no cell wider than its characters)
    for row in texts:
        for c, text in enumerate(row):
            printed[c] = max(printed[c], 2 + widths[c] - len(text) + cells(text))
    return printed


def entry_labels(block: Any, base: int) -> Iterator[tuple[str, Any]]:
    """A rows×columns block's entries, each with its label ``  [i, j] = `` (``  [j] = `` for
    one row), for a grid too wide to print: one entry a line."""
    rows, columns = block.shape
    for i in range(rows):
        for j in range(columns):
            where = f"  [{i + base}, {j + base}] = " if rows > 1 else f"  [{j + base}] = "
            yield where, block[i, j]


def cell_labels(
    rows: Sequence[str], columns: Sequence[str], table: Sequence[Sequence[Any]]
) -> Iterator[tuple[str, Any]]:
    """A labelled table's cells, each with its label ``  row R, column C = ``, for a table
    too wide to print: one cell a line."""
    for row, values in zip(rows, table, strict=True):
        for column, value in zip(columns, values, strict=True):
            yield f"  row {row}, column {column} = ", value


def grid(
    canvas: Canvas,
    header: Sequence[str],
    rows: Sequence[tuple[str, Sequence[Piece]]],
    *,
    header_style: str = "dim",
    width: int | None = None,
    blocks_named: Callable[[int, int], str] | None = None,
) -> None:
    """Right-aligned columns under a header row, each row led by its label; wider than
    ``width``, in blocks of columns, the labels repeated and each block named by
    ``blocks_named(start, stop)`` (default: "columns 1–8 of 20")."""
    labels = [label for label, _ in rows]
    label_width = max(map(len, labels), default=0)
    texts = [[cell if isinstance(cell, str) else cell[0] for cell in cells] for _, cells in rows]
    widths = [max(map(len, column)) for column in zip(header, *texts, strict=True)]
    if one_cell_each("".join([*labels, *header, *(text for row in texts for text in row)])):
        column_cells = [2 + width for width in widths]  # (the usual grid: measured at once)
        label_cells = label_width
    else:
        column_cells = printed_widths(widths, [header, *texts])
        label_cells = printed_widths([label_width], [[label] for label in labels])[0] - 2
    blocks = column_blocks(column_cells, label_cells, width)
    for start, stop in blocks:
        if len(blocks) > 1:
            named = blocks_named or (lambda a, b: columns_named(a + 1, b, len(header)))
            canvas.line((named(start, stop), "dim"))
        columns = widths[start:stop]
        header_cells = [(title, header_style) for title in header[start:stop]]
        canvas.line(" " * label_width, *_grid_line(header_cells, columns))
        # A row of plain cells is one piece, each cell right-aligned in its column as
        # _grid_line aligns it (format's ">" pads to a length as rjust does): one call a row.
        aligned = "".join([f"  {{:>{width}}}" for width in columns])
        for (label, cells), row_texts in zip(rows, texts, strict=True):
            # Equal only when every cell is plain text (a styled one is a tuple, its text not).
            if row_texts == cells:
                canvas.line(
                    (label.rjust(label_width), header_style), aligned.format(*cells[start:stop])
                )
            else:
                canvas.line(
                    (label.rjust(label_width), header_style),
                    *_grid_line(cells[start:stop], columns),
                )


def _grid_line(cells: Sequence[Piece], widths: Sequence[int]) -> list[Piece]:
    """One line of a grid after its label: each cell right-aligned to its column's width
    after two spaces, a styled cell aligned inside its style (so that a shaded cell fills
    its column), the unstyled ones and the spaces around them in one piece."""
    pieces: list[Piece] = []
    plain = ""
    for cell, width in zip(cells, widths, strict=True):
        text, style = (cell, "") if isinstance(cell, str) else cell
        if style:
            pieces += [plain + "  ", (text.rjust(width), style)]
            plain = ""
        else:
            plain += "  " + text.rjust(width)
    if plain:
        pieces.append(plain)
    return pieces
