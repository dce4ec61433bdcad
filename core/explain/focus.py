"""The ``--focus`` picture: the cells one output element reads, or the outputs one input cell
feeds, drawn on the input grid with the window's taps, and the notes that place them.

Everything here is plain data (Picture, SymbolTable); cli/ draws the pictures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from gradcalc.core.explain import Picture, SymbolTable
from gradcalc.core.ops.windows import (
    BEYOND,
    PADDING,
    REAL,
    WHERE,
    WindowAxis,
    WindowTap,
)
from gradcalc.core.records import record

# A picture axis longer than this is cut to the cells around the marked ones.
MAX_PICTURE = 24
# Cells drawn at least on each side of the marked ones when a picture is cut.
PICTURE_MARGIN = 2
# Channels drawn one picture each; the rest are alike (the same cells).
MAX_PLANES = 4


@record
class Focus:
    """What ``--focus`` found, as plain data (the JSON's ``focus``).

    ``target`` is the element's symbol (``y_10``); ``role`` output or input; ``index`` 0-based
    in the array's own axes; ``taps``: for an output, every tap of its window (padding ones too);
    for an input cell, every window tap that reads it.  ``kernel`` maps a window tap (m, q) to the
    kernel entry it multiplies (conv: reversed under flip_kernel; empty for pool).
    """

    target: str
    role: str
    index: tuple[int, ...]
    taps: tuple[WindowTap, ...]
    kernel: dict[tuple[int, int], tuple[int, int]]

    def document(self) -> dict[str, Any]:
        """The focus as JSON-ready data (lists and text; indices 0-based)."""
        return {
            "target": self.target,
            "of": self.role,
            "index": list(self.index),
            "taps": [
                {
                    "output": list(tap.output),
                    "tap": list(tap.tap),
                    **({"kernel": list(self.kernel[tap.tap])} if self.kernel else {}),
                    "cell": list(tap.cell),
                    "where": WHERE[tap.where],
                }
                for tap in self.taps
            ],
        }


def _drawn(first: int, end: int, marked: Iterable[int]) -> range:
    """Positions first … end−1; when that is longer than MAX_PICTURE, as many around the marked
    ones, centred on them (and never fewer than PICTURE_MARGIN on each side of them)."""
    marked = list(marked)
    if end - first <= MAX_PICTURE or not marked:
        return range(first, end)
    low, high = min(marked), max(marked) + 1
    length = max(MAX_PICTURE, high - low + 2 * PICTURE_MARGIN)
    start = min(max(first, low - (length - (high - low)) // 2), end - length)
    return range(max(first, start), min(end, start + length))


def picture(
    label: str,
    values: np.ndarray,
    marked: Iterable[tuple[int, int]],
    *,
    index_base: int,
    frame: tuple[WindowAxis, WindowAxis] | None = None,
    caption: str = "",
) -> Picture:
    """``values`` (H×W) drawn with the ``marked`` cells (row, col) flagged.

    With a ``frame`` (the window's row and column axes) the padding is drawn around the values,
    and the cells past the padded edge that a marked cell reaches; marked cells may lie there.
    A long axis is cut to the marked cells and a margin (the caption says which part is shown).
    """
    marked = set(marked)
    height, width = values.shape
    if frame is None:
        rows_first, rows_end, cols_first, cols_end = 0, height, 0, width
    else:
        rows, cols = frame
        rows_first = min([-rows.pad_before, *(r for r, _ in marked)])
        rows_end = max([rows.padded_end, *(r + 1 for r, _ in marked)])
        cols_first = min([-cols.pad_before, *(c for _, c in marked)])
        cols_end = max([cols.padded_end, *(c + 1 for _, c in marked)])
    drawn_rows = _drawn(rows_first, rows_end, (r for r, _ in marked))
    drawn_cols = _drawn(cols_first, cols_end, (c for _, c in marked))

    def cell(r: int, c: int) -> Any:
        if 0 <= r < height and 0 <= c < width:
            return values[r, c]
        assert frame is not None  # only a framed picture draws cells outside the values
        return WHERE[max(int(frame[0].where(r)), int(frame[1].where(c)))]

    def label_of(position: int, size: int) -> str:
        return str(position + index_base) if 0 <= position < size else ""

    cut = []
    if len(drawn_rows) < rows_end - rows_first:
        cut.append(f"rows {_signed(drawn_rows[0] + index_base)}–{drawn_rows[-1] + index_base}")
    if len(drawn_cols) < cols_end - cols_first:
        cut.append(f"columns {_signed(drawn_cols[0] + index_base)}–{drawn_cols[-1] + index_base}")
    if cut:
        shown = f"only {' and '.join(cut)} drawn (around the marked cells)"
        caption = f"{caption}; {shown}" if caption else shown
    return Picture(
        label=label,
        row_labels=tuple(label_of(r, height) for r in drawn_rows),
        column_labels=tuple(label_of(c, width) for c in drawn_cols),
        cells=tuple(tuple(cell(r, c) for c in drawn_cols) for r in drawn_rows),
        marked=frozenset(
            (a, b)
            for a, r in enumerate(drawn_rows)
            for b, c in enumerate(drawn_cols)
            if (r, c) in marked
        ),
        caption=caption,
    )


def position_text(cell: tuple[int, int], index_base: int) -> str:
    """(1, −1) printed from ``index_base``, with a real minus sign."""
    return "(" + ", ".join(_signed(v + index_base) for v in cell) + ")"


def cell_name(tap: WindowTap, symbol: Callable[[int, int], str], index_base: int) -> str:
    """What a tap reads, in words: the input cell's symbol, or the padding cell's position."""
    if tap.where == REAL:
        return symbol(*tap.cell)
    where = "pad" if tap.where == PADDING else "clipped"
    return f"{where} {position_text(tap.cell, index_base)}"


def _signed(value: int) -> str:
    return str(int(value)).replace("-", "−")


def _zero_based(index_base: int) -> str:
    return " (counted from 0; the picture and the symbols add 1)" if index_base else ""


def _axis_rule(axis: WindowAxis, out: str, tap: str, at: int) -> str:
    """``i·s + m·d − p = 1·2 + m·2 − 1 = 1, 3, 5``: where window ``at`` puts its taps."""
    positions = ", ".join(_signed(v) for v in axis.taps()[at])
    return (
        f"{out}·s + {tap}·d − p = {at}·{axis.stride} + {tap}·{axis.dilation} − {axis.pad_before}"
        f" = {positions}"
    )


def placement_note(rows: WindowAxis, cols: WindowAxis, i: int, j: int, index_base: int) -> str:
    """How window (i, j) places its taps, with its numbers (s stride, d dilation, p padding)."""
    return (
        f"window ({i}, {j}) puts tap (m, q) on row {_axis_rule(rows, 'i', 'm', i)} and on column "
        f"{_axis_rule(cols, 'j', 'q', j)}{_zero_based(index_base)}"
    )


def readers_note(rows: WindowAxis, cols: WindowAxis, r: int, c: int, index_base: int) -> str:
    """Which windows reach cell (r, c): the (window, tap) pairs along each axis."""
    return (
        f"{_axis_words(rows, 'row', 'i', 'm', r)}; {_axis_words(cols, 'column', 'j', 'q', c)}"
        f"{_zero_based(index_base)}"
    )


def _axis_words(axis: WindowAxis, name: str, out: str, tap: str, at: int) -> str:
    """``column 3 = j·1 + q·1 − 2 = 3 for (j, q) = (3, 2), (4, 1)``: the windows reaching ``at``."""
    pairs = axis.readers(at)
    rule = f"{out}·{axis.stride} + {tap}·{axis.dilation} − {axis.pad_before} = {at}"
    if not pairs:
        return f"no window reaches {name} {at} (no {out}, {tap} with {rule})"
    listed = ", ".join(f"({a}, {b})" for a, b in pairs)
    return f"{name} {at} = {rule} for ({out}, {tap}) = {listed}"


def placement_note_1d(axis: WindowAxis, i: int, index_base: int) -> str:
    """How window i of a 1-D convolution places its taps m (s stride, d dilation, p padding)."""
    return f"window {i} puts tap m on position {_axis_rule(axis, 'i', 'm', i)}{_zero_based(index_base)}"


def readers_note_1d(axis: WindowAxis, position: int, index_base: int) -> str:
    """Which windows i (and their taps m) of a 1-D convolution reach ``position``."""
    return f"{_axis_words(axis, 'position', 'i', 'm', position)}{_zero_based(index_base)}"


def tap_grid(
    label: str,
    taps: Sequence[WindowTap],
    kernel_shape: tuple[int, int],
    names: Callable[[WindowTap], str],
    *,
    index_base: int,
    entries: Mapping[tuple[int, int], tuple[int, int]] | None = None,
    caption: str = "",
) -> SymbolTable:
    """One window's taps laid out as the kernel: cell (m, q) names what that entry reads.

    ``entries`` maps a window tap to the kernel entry it multiplies (conv with flip_kernel
    reverses them); without it the grid is indexed by window tap.
    """
    height, width = kernel_shape
    cells = [["" for _ in range(width)] for _ in range(height)]
    for tap in taps:
        m, q = entries[tap.tap] if entries else tap.tap
        cells[m][q] = names(tap)
    return SymbolTable(
        label,
        tuple(str(q + index_base) for q in range(width)),
        tuple(str(m + index_base) for m in range(height)),
        tuple(tuple(row) for row in cells),
        caption,
    )


def read_caption(reader: str, taps: Sequence[WindowTap], padding: str) -> str:
    """The key to an input picture: what the brackets and dots mean."""
    parts = [f"[v]: a cell {reader} reads"]
    if padding:
        parts.append(f"·: {padding}")
    if any(tap.where == PADDING for tap in taps):
        parts.append(f"[·]: padding {reader} reads")
    if any(tap.where == BEYOND for tap in taps):
        parts.append(
            "×: past the padded edge; [×]: a tap of the ceil_mode window there, clipped (not read)"
        )
    return "; ".join(parts)


def plane_label(name: str, axes: Sequence[str], lead: Mapping[str, int], index_base: int) -> str:
    """``X [n=0, c=1]`` for one H×W plane of an array with leading axes (just ``X`` without)."""
    shown = [f"{axis}={lead[axis] + index_base}" for axis in axes if axis in lead]
    return f"{name} [{', '.join(shown)}]" if shown else name
