"""``--focus`` for conv: the input cells one output reads (its window drawn with stride,
dilation and padding), or the outputs one input cell feeds, with that element's sum from the
forward or backward pass.

Functions of core/explain/conv.py's Explainer, whose ``section_focus`` imports this module
only when ``--focus`` is used (start-up cost); core/explain/focus.py, the pictures conv shares
with pool, is imported only then too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradcalc.core.explain import Note, Picture, Section, SymbolTable
from gradcalc.core.explain import focus as pictures
from gradcalc.core.explain.focus import Focus, picture, plane_label, position_text
from gradcalc.core.ops import windows
from gradcalc.core.ops.windows import PADDING, REAL, WindowTap

if TYPE_CHECKING:
    from gradcalc.core.explain.conv import Explainer
    from gradcalc.core.kinds.focus import FocusTarget


def section_focus(explainer: Explainer, target: FocusTarget) -> tuple[Section, Focus]:
    """``--focus``: the cells one output reads (the window with stride, dilation and padding
    drawn), or the outputs one input cell feeds; with its sum from the forward or backward pass."""
    g = explainer.g
    # Window tap (m, q) -> the spec's kernel entry that multiplies it (flip_kernel rotates).
    entries = {
        (m, q): explainer._slid_tap(m, q) for m in range(g.kernel_h) for q in range(g.kernel_w)
    }
    if target.array.role == "output":
        return _focus_on_output(explainer, target, entries)
    return _focus_on_input(explainer, target, entries)


def _focus_on_output(
    explainer: Explainer, target: FocusTarget, entries: dict[tuple[int, int], tuple[int, int]]
) -> tuple[Section, Focus]:
    """The cells output ``target`` reads in each input channel, and its forward sum."""

    g, p = explainer.g, explainer.p
    base = p.index_base
    rows, cols = g.window_axes()
    padding = _padding_words(explainer)
    n, o, i, j = (target.at(axis) for axis in ("n", "o", "row", "col"))
    read_channels = g.group_inputs(o)  # with groups, only o's group
    channels = min(len(read_channels), pictures.MAX_PLANES)
    y = explainer.sym_y(n, o, i, j).text
    taps = windows.window_taps(rows, cols, i, j)
    real = sum(tap.where == windows.REAL for tap in taps)
    section = Section(
        "focus",
        f"Focus: the {real} cell{'s' if real != 1 else ''} of {explainer.X} that {y} reads"
        + _channels_read(explainer, read_channels),
    )
    section.add(
        Note(
            pictures.placement_note_1d(cols, j, base)
            if g.dims == 1
            else pictures.placement_note(rows, cols, i, j, base)
        )
    )
    for c in read_channels[:channels]:
        section.add(
            _input_picture(
                explainer, n, c, [tap.cell for tap in taps], pictures.read_caption(y, taps, padding)
            )
        )
    if channels < len(read_channels):
        section.add(
            Note(
                f"… channels {read_channels[channels] + base}–{read_channels.stop - 1 + base} alike"
            )
        )
    section.add(_kernel_taps(explainer, y, n, taps, entries))
    section.add(explainer._output_sum(n, o, i, j))
    return section, pictures.Focus(y, "output", target.index, tuple(taps), entries)


def _channels_read(explainer: Explainer, read_channels: range) -> str:
    """The title's words for the input channels one output reads (with groups: its group's)."""
    base, grouped = explainer.p.index_base, explainer.g.groups > 1
    first, last = read_channels.start + base, read_channels.stop - 1 + base
    if len(read_channels) > 1:
        group = f" (input channels {first}–{last}, its group)" if grouped else ""
        return f", in each of {len(read_channels)} channels{group}"
    return f" (input channel {first}, its group)" if grouped else ""


def _kernel_taps(
    explainer: Explainer,
    y: str,
    n: int,
    taps: list[WindowTap],
    entries: dict[tuple[int, int], tuple[int, int]],
) -> SymbolTable:
    """What each kernel entry multiplies in output ``y``: a grid (2-D) or one row (1-D)."""

    g, base = explainer.g, explainer.p.index_base
    flipped = (
        " (flip_kernel: the kernel is "
        + ("reversed" if g.dims == 1 else "rotated 180°")
        + " as it slides)"
        if explainer.p.flip_kernel
        else ""
    )
    if g.dims == 1:
        return _tap_row(explainer, y, n, taps, entries, flipped)
    return pictures.tap_grid(
        f"{explainer.K}: the cell of {explainer.X} each entry multiplies in {y}{flipped}",
        taps,
        (g.kernel_h, g.kernel_w),
        lambda tap: pictures.cell_name(tap, lambda r, col: _focus_cell(explainer, n, r, col), base),
        index_base=base,
        entries=entries,
        caption=f"rows and columns: {explainer.K}'s indices",
    )


def _focus_on_input(
    explainer: Explainer, target: FocusTarget, entries: dict[tuple[int, int], tuple[int, int]]
) -> tuple[Section, Focus]:
    """The outputs input cell ``target`` feeds in each output channel, and ∂L/∂x there."""

    g, p = explainer.g, explainer.p
    base = p.index_base
    rows, cols = g.window_axes()
    padding = _padding_words(explainer)
    n, c, a, b = (target.at(axis) for axis in ("n", "c", "row", "col"))
    x = explainer.sym_x(n, c, a, b).text
    taps = windows.cell_readers(rows, cols, a, b)
    fed_channels = g.group_outputs(c)  # with groups, only the outputs of c's group
    fed = len(taps) * len(fed_channels)
    title = (
        f"Focus: the {fed} output{'s' if fed != 1 else ''} {explainer.Y} that {x} feeds"
        if fed
        else f"Focus: {x} feeds no output {explainer.Y} (no window reads it)"
    )
    section = Section("focus", title)
    section.add(
        Note(
            pictures.readers_note_1d(cols, b, base)
            if g.dims == 1
            else pictures.readers_note(rows, cols, a, b, base)
        )
    )
    section.add(
        _input_picture(
            explainer, n, c, [(a, b)], f"[v]: {x}" + (f"; ·: {padding}" if padding else "")
        )
    )
    outputs = explainer.c.output
    for o in fed_channels[: pictures.MAX_PLANES]:
        section.add(
            pictures.picture(
                pictures.plane_label(explainer.Y, p.output_axes, {"n": n, "o": o}, base),
                outputs[n, o],
                [tap.output for tap in taps],
                index_base=base,
                caption=f"[v]: an output whose window reads {x}"
                if taps
                else f"no output's window reads {x}",
            )
        )
    if len(fed_channels) > pictures.MAX_PLANES:
        section.add(
            Note(
                f"… output channels {fed_channels[pictures.MAX_PLANES] + base}–{fed_channels.stop - 1 + base} alike"
            )
        )
    if taps:
        section.add(_fed_outputs_table(explainer, x, n, c, taps, entries))
    section.add(explainer._input_gradient_sum(n, c, a, b))
    return section, pictures.Focus(x, "input", target.index, tuple(taps), entries)


def _padding_words(explainer: Explainer) -> str:
    """What a picture's padding cells hold, for its caption ("" without padding)."""
    return "zero padding (0)" if any(explainer.g.padding) else ""


def _fed_outputs_table(
    explainer: Explainer,
    x: str,
    n: int,
    c: int,
    taps: list[WindowTap],
    entries: dict[tuple[int, int], tuple[int, int]],
) -> SymbolTable:
    """Each output input cell ``x`` (sample n, channel c) feeds, by the window tap that
    reads it, and the kernel entry that multiplies it there (∂y/∂x)."""

    labels: list[str] = []
    cells: list[tuple[Any, ...]] = []
    g = explainer.g
    local = c % g.group_in  # c's channel within its group: the kernel's channel index
    for o in g.group_outputs(c):
        for tap in taps:
            km, kq = entries[tap.tap]
            labels.append(explainer.sym_y(n, o, *tap.output).text)
            cells.append(
                (
                    str(tap.tap[1] + explainer.p.index_base)
                    if g.dims == 1
                    else position_text(tap.tap, explainer.p.index_base),
                    explainer.sym_w(o, local, km, kq),
                    explainer.w[o, local, km, kq],
                )
            )
    return SymbolTable(
        f"the outputs {x} feeds, and the {explainer.K} entry that multiplies it",
        ("window tap m" if g.dims == 1 else "window tap (m, q)", f"∂{explainer.Y}/∂{x}", "value"),
        tuple(labels),
        tuple(cells),
    )


def _input_picture(
    explainer: Explainer, n: int, c: int, cells: list[tuple[int, int]], caption: str
) -> Picture:
    """Input plane (n, c) in its padding, with ``cells`` marked."""

    base = explainer.p.index_base
    return picture(
        plane_label(explainer.X, explainer.p.input_axes, {"n": n, "c": c}, base),
        explainer.p.to_nchw(explainer.p.input)[n, c],
        cells,
        index_base=base,
        frame=explainer.g.window_axes(),
        caption=caption,
    )


def _focus_cell(explainer: Explainer, n: int, r: int, col: int) -> str:
    """An input cell's symbol in a tap grid; with channels, its position (every channel alike)."""
    if explainer.g.in_channels == 1:
        return explainer.sym_x(n, 0, r, col).text
    return position_text((col,) if explainer.g.dims == 1 else (r, col), explainer.p.index_base)


def _tap_row(
    explainer: Explainer,
    y: str,
    n: int,
    taps: list[WindowTap],
    entries: dict[tuple[int, int], tuple[int, int]],
    flipped: str,
) -> SymbolTable:
    """A 1-D window's taps as one row under the kernel's indices: what each entry reads."""

    base = explainer.p.index_base
    cells = [""] * explainer.g.kernel_w
    for tap in taps:
        entry = entries[tap.tap][1]
        if tap.where == REAL:
            cells[entry] = _focus_cell(explainer, n, *tap.cell)
        else:
            where = "pad" if tap.where == PADDING else "clipped"
            cells[entry] = f"{where} {position_text((tap.cell[1],), base)}"
    return SymbolTable(
        f"{explainer.K}: the entry of {explainer.X} each kernel entry multiplies in {y}{flipped}",
        tuple(str(q + base) for q in range(explainer.g.kernel_w)),
        (f"{explainer.K} entry",),
        (tuple(cells),),
        f"columns: {explainer.K}'s indices",
    )
