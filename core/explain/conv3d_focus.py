"""``--focus`` of a 3-D conv explanation (core/explain/conv3d.py builds the rest): the cells
one output reads, its window drawn in each depth slice it reaches (a slice in the padding said
in words), or the outputs one input cell feeds, one picture per output depth slice; each with
its sum from the forward or backward pass.

Indices (n, c, t, r, col) for the input, (n, o, t, i, j) for the output, (o, c, e, m, q) for
the kernel; core/ops/windows.py's window axes place the taps (imported on use: start-up cost).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradcalc.core.explain import Note, Section, SymbolTable
from gradcalc.core.words import count_words

if TYPE_CHECKING:
    from gradcalc.core.explain.focus import Focus
    from gradcalc.core.kinds.focus import FocusTarget


class FocusSections3d:
    """``section_focus`` of a 3-D conv explanation (the attributes and the symbol and sum
    methods are core/explain/conv3d.py's Explainer3d's)."""

    p: Any
    c: Any
    g: Any
    w: Any
    X: str
    K: str
    Y: str
    sym_x: Any
    sym_y: Any
    sym_w: Any
    _slid: Any
    _readers: Any
    _output_sum: Any
    _input_gradient_sum: Any

    def section_focus(self, target: FocusTarget) -> tuple[Section, Focus]:
        """The cells one output reads (its window, one depth slice at a time), or the outputs
        one input cell feeds; with its sum from the forward or backward pass."""
        if target.array.role == "output":
            return self._focus_on_output(target)
        return self._focus_on_input(target)

    def _focus_on_output(self, target: FocusTarget) -> tuple[Section, Focus]:
        from gradcalc.core.explain import focus as pictures
        from gradcalc.core.ops import windows

        g, base = self.g, self.p.index_base
        depth, rows, cols = g.window_axes()
        n, o, t, i, j = (target.at(a) for a in ("n", "o", "depth", "row", "col"))
        y = self.sym_y((n, o, t, i, j)).text
        plane_taps = windows.window_taps(rows, cols, i, j)
        slices = depth.taps()[t]  # the input depth slice under each depth tap e
        slice_where = depth.where(slices)
        taps = tuple(
            windows.WindowTap(
                (t, i, j),
                (e, *tap.tap),
                (int(slices[e]), *tap.cell),
                int(max(slice_where[e], tap.where)),
            )
            for e in range(g.kernel[0])
            for tap in plane_taps
        )
        entries = {tap.tap: self._slid(tap.tap) for tap in taps}
        real = sum(tap.where == windows.REAL for tap in taps)
        read_channels = g.group_inputs(o)
        section = Section(
            "focus",
            f"Focus: the {real} cell{'s' if real != 1 else ''} of {self.X} that {y} reads"
            + (f", in each of {len(read_channels)} channels" if len(read_channels) > 1 else ""),
        )
        section.add(
            Note(
                f"depth: window {t} puts tap e on slice t·s + e·d − p = {t}·{depth.stride} + "
                f"e·{depth.dilation} − {depth.pad_before} = "
                + ", ".join(str(int(v)).replace("-", "−") for v in slices)
                + "; in each slice: "
                + pictures.placement_note(rows, cols, i, j, base)
            )
        )
        for e, z in enumerate(int(v) for v in slices):
            self._slice_pictures(section, y, (n, e, z), read_channels, plane_taps, slice_where[e])
        section.add(self._tap_table(y, n, taps, entries))
        section.add(self._output_sum((n, o, t, i, j)))
        return section, pictures.Focus(y, "output", target.index, taps, entries)

    def _slice_pictures(
        self,
        section: Section,
        y: str,
        where: tuple[int, int, int],
        read_channels: range,
        plane_taps: Any,
        slice_where: int,
    ) -> None:
        """What depth tap e of output ``y``'s window reads in input slice z (``where``: n, e,
        z): a picture per channel read, or a note when the slice lies in the padding."""
        from gradcalc.core.explain import focus as pictures
        from gradcalc.core.ops import windows

        g, p, base = self.g, self.p, self.p.index_base
        n, e, z = where
        if slice_where != windows.REAL:
            section.add(
                Note(
                    f"depth tap e = {e + base} lands on slice {str(z + base).replace('-', '−')}, "
                    f"in the padding: its {count_words(g.kernel[1] * g.kernel[2], 'term')} read zeros"
                )
            )
            return
        padding = "zero padding (0)" if any(g.padding) else ""
        _, rows, cols = g.window_axes()
        for c in read_channels[: pictures.MAX_PLANES]:
            section.add(
                pictures.picture(
                    pictures.plane_label(self.X, p.input_axes, {"n": n, "c": c, "depth": z}, base),
                    p.to_nchw(p.input)[n, c, z],
                    [tap.cell for tap in plane_taps],
                    index_base=base,
                    frame=(rows, cols),
                    caption=f"depth tap e = {e + base}: "
                    + pictures.read_caption(y, plane_taps, padding),
                )
            )
        if len(read_channels) > pictures.MAX_PLANES:
            first, last = read_channels[pictures.MAX_PLANES], read_channels.stop - 1
            section.add(Note(f"… channels {first + base}–{last + base} alike"))

    def _tap_table(self, y: str, n: int, taps: Any, entries: Any) -> SymbolTable:
        """What each kernel entry (e, m, q) multiplies in output ``y``: one row per entry."""
        from gradcalc.core.ops.windows import PADDING, REAL

        base = self.p.index_base
        rows, cells = [], []
        for tap in sorted(taps, key=lambda tap: entries[tap.tap]):
            rows.append(position_text(entries[tap.tap], base))
            if tap.where == REAL and self.g.in_channels == 1:
                read = self.sym_x((n, 0, *tap.cell)).text
            elif tap.where == REAL:
                read = f"{position_text(tap.cell, base)} of each channel read"
            else:
                read = ("pad " if tap.where == PADDING else "clipped ") + position_text(
                    tap.cell, base
                )
            cells.append((position_text(tap.tap, base), read))
        flipped = (
            " (flip_kernel: reversed on every axis as it slides)" if self.p.flip_kernel else ""
        )
        return SymbolTable(
            f"{self.K}: the cell of {self.X} each entry multiplies in {y}{flipped}",
            ("window tap (e, m, q)", "cell (t, r, col)"),
            tuple(rows),
            tuple(cells),
            f"rows: {self.K}'s entries (e, m, q)",
        )

    def _focus_on_input(self, target: FocusTarget) -> tuple[Section, Focus]:
        from gradcalc.core.explain import focus as pictures
        from gradcalc.core.ops import windows

        g, p, base = self.g, self.p, self.p.index_base
        _, rows, cols = g.window_axes()
        n, c, z, r, col = (target.at(a) for a in ("n", "c", "depth", "row", "col"))
        index = (n, c, z, r, col)
        x = self.sym_x(index).text
        readers = self._readers((z, r, col))
        fed = len(readers) * len(g.group_outputs(c))
        section = Section(
            "focus",
            f"Focus: the {fed} output{'s' if fed != 1 else ''} {self.Y} that {x} feeds"
            if fed
            else f"Focus: {x} feeds no output {self.Y} (no window reads it)",
        )
        listed = "; ".join(
            f"{position_text(out, base)} by tap {position_text(tap, base)}" for out, tap in readers
        )
        section.add(
            Note(f"windows (t, i, j) and their taps (e, m, q) on this cell: {listed or 'none'}")
        )
        padding = "zero padding (0)" if any(g.padding) else ""
        section.add(
            pictures.picture(
                pictures.plane_label(self.X, p.input_axes, {"n": n, "c": c, "depth": z}, base),
                p.to_nchw(p.input)[n, c, z],
                [(r, col)],
                index_base=base,
                frame=(rows, cols),
                caption=f"[v]: {x}" + (f"; ·: {padding}" if padding else ""),
            )
        )
        self._fed_pictures(section, x, n, c, readers)
        if readers:
            section.add(self._fed_table(x, n, c, readers))
        section.add(self._input_gradient_sum(index))
        taps = tuple(windows.WindowTap(out, tap, (z, r, col), windows.REAL) for out, tap in readers)
        entries = {tap: self._slid(tap) for _, tap in readers}
        return section, pictures.Focus(x, "input", target.index, taps, entries)

    def _fed_pictures(self, section: Section, x: str, n: int, c: int, readers: Any) -> None:
        """Each output depth slice (per output channel of c's group) that reads input cell
        ``x``, the outputs that read it marked."""
        from gradcalc.core.explain import focus as pictures

        p, base = self.p, self.p.index_base
        out_slices = sorted({out[0] for out, _ in readers})
        for o in self.g.group_outputs(c)[: pictures.MAX_PLANES]:
            for t in out_slices:
                section.add(
                    pictures.picture(
                        pictures.plane_label(
                            self.Y, p.output_axes, {"n": n, "o": o, "depth": t}, base
                        ),
                        self.c.output[n, o, t],
                        [out[1:] for out, _ in readers if out[0] == t],
                        index_base=base,
                        caption=f"[v]: an output whose window reads {x}",
                    )
                )

    def _fed_table(self, x: str, n: int, c: int, readers: Any) -> SymbolTable:
        """Each output input cell ``x`` feeds, the window tap that reads it, and the kernel
        entry that multiplies it there (∂y/∂x)."""
        base = self.p.index_base
        rows, cells = [], []
        for o in self.g.group_outputs(c):
            for out, tap in readers:
                k_index = (o, c % self.g.group_in, *self._slid(tap))
                rows.append(self.sym_y((n, o, *out)).text)
                cells.append((position_text(tap, base), self.sym_w(k_index), self.w[k_index]))
        return SymbolTable(
            f"the outputs {x} feeds, and the {self.K} entry that multiplies it",
            ("window tap (e, m, q)", f"∂{self.Y}/∂{x}", "value"),
            tuple(rows),
            tuple(cells),
        )


def position_text(cell: tuple[int, ...], index_base: int) -> str:
    """(1, −1, 0) printed from ``index_base``, with real minus signs."""
    return "(" + ", ".join(str(int(v) + index_base).replace("-", "−") for v in cell) + ")"
