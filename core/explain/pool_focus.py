"""``--focus`` for a pool explanation: the cells one window reads (stride, dilation, padding
and a ceil_mode clip drawn), or the windows one input cell is in, with that element's
forward or backward step.

Functions of core/explain/pool.py's Explainer, whose ``section_focus`` imports this module
only when ``--focus`` is used (start-up cost), as core/explain/focus.py, the pictures it
shares with conv's, is imported; they use the explainer's problem ``p``, geometry ``g``,
trace ``c``, names, symbols, ``_window_items`` and ``_input_sum``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradcalc.core.explain import Note, Picture, Section, SymbolTable
from gradcalc.core.explain import focus as pictures
from gradcalc.core.explain.focus import Focus
from gradcalc.core.ops.windows import REAL, cell_readers, window_taps

if TYPE_CHECKING:
    from gradcalc.core.explain.pool import Explainer
    from gradcalc.core.kinds.focus import FocusTarget


def section_focus(explainer: Explainer, target: FocusTarget) -> tuple[Section, Focus]:
    """``--focus``: the cells one window reads (stride, dilation, padding and a ceil_mode
    clip drawn), or the windows one input cell is in; with its forward or backward step."""
    padding = ""
    if any(explainer.g.padding):
        padding = "padding (−∞, never the max)" if explainer.p.mode == "max" else "zero padding (0)"
    if target.array.role == "output":
        return _focus_output(explainer, target, padding)
    return _focus_input(explainer, target, padding)


def _focus_output(explainer: Explainer, target: FocusTarget, padding: str) -> tuple[Section, Focus]:
    """The cells output element (n, c, i, j) reads, its tap grid and its forward step."""
    g, base = explainer.g, explainer.p.index_base
    rows, cols = g.window_axes()
    n, c = target.at("n"), target.at("c")
    i, j = target.at("row"), target.at("col")
    y = explainer.sym_y(n, c, i, j).text
    taps = window_taps(rows, cols, i, j)
    real = sum(tap.where == REAL for tap in taps)
    section = Section(
        "focus",
        f"Focus: the {real} cell{'s' if real != 1 else ''} of {explainer.X} that {y} reads",
    )
    section.add(Note(pictures.placement_note(rows, cols, i, j, base)))
    section.add(
        _input_picture(
            explainer, n, c, [tap.cell for tap in taps], pictures.read_caption(y, taps, padding)
        )
    )
    section.add(
        pictures.tap_grid(
            f"the cell of {explainer.X} each window tap (m, q) of {y} reads",
            taps,
            (g.kernel_h, g.kernel_w),
            lambda tap: pictures.cell_name(
                tap, lambda r, col: explainer.sym_x(n, c, r, col).text, base
            ),
            index_base=base,
            caption="rows: m, columns: q",
        )
    )
    for item in explainer._window_items(n, c, i, j):
        section.add(item)
    return section, pictures.Focus(y, "output", target.index, tuple(taps), {})


def _focus_input(explainer: Explainer, target: FocusTarget, padding: str) -> tuple[Section, Focus]:
    """The windows input cell (n, c, r, col) is in, ∂y/∂x in each, and its backward step."""
    g, p, base = explainer.g, explainer.p, explainer.p.index_base
    rows, cols = g.window_axes()
    n, c = target.at("n"), target.at("c")
    r, col = target.at("row"), target.at("col")
    x = explainer.sym_x(n, c, r, col).text
    taps = cell_readers(rows, cols, r, col)
    section = Section(
        "focus",
        f"Focus: the {len(taps)} window{'s' if len(taps) != 1 else ''} {explainer.Y} that {x} is in"
        if taps
        else f"Focus: {x} is in no window of {explainer.Y}",
    )
    section.add(Note(pictures.readers_note(rows, cols, r, col, base)))
    section.add(
        _input_picture(
            explainer, n, c, [(r, col)], f"[v]: {x}" + (f"; ·: {padding}" if padding else "")
        )
    )
    section.add(
        pictures.picture(
            pictures.plane_label(explainer.Y, p.input_axes, {"n": n, "c": c}, base),
            explainer.c.output[n, c],
            [tap.output for tap in taps],
            index_base=base,
            caption=f"[v]: a window that reads {x}" if taps else f"no window reads {x}",
        )
    )
    if taps:
        section.add(
            SymbolTable(
                f"the windows {x} is in, and ∂{explainer.Y}/∂{x} in each",
                ("window tap (m, q)", f"∂{explainer.Y}/∂{x}"),
                tuple(explainer.sym_y(n, c, *tap.output).text for tap in taps),
                tuple(
                    (
                        pictures.position_text(tap.tap, base),
                        explainer.c.weight(
                            (n, c, *tap.output, tap.tap[0] * g.kernel_w + tap.tap[1])
                        ),
                    )
                    for tap in taps
                ),
            )
        )
    section.add(explainer._input_sum(n, c, r, col))
    return section, pictures.Focus(x, "input", target.index, tuple(taps), {})


def _input_picture(
    explainer: Explainer, n: int, c: int, cells: list[tuple[int, int]], caption: str
) -> Picture:
    """Input plane (n, c) in its padding, with ``cells`` marked."""
    base = explainer.p.index_base
    return pictures.picture(
        pictures.plane_label(explainer.X, explainer.p.input_axes, {"n": n, "c": c}, base),
        explainer.xs[n, c],
        cells,
        index_base=base,
        frame=explainer.g.window_axes(),
        caption=caption,
    )
