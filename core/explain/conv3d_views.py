"""The identities and ``--focus`` of a 3-D conv explanation (core/explain/conv3d.py builds the
rest): ∂L/∂K and ∂L/∂X as whole-array correlations, recomputed by conv3d_forward on other
operands and compared with the element sums (a check, never the number shown); and the cells
one output reads, or the outputs one input cell feeds, drawn one depth slice at a time.

Arrays are NCDHW; indices (n, c, t, r, col) for the input, (n, o, t, i, j) for the output,
(o, c, e, m, q) for the kernel.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core.exact import bilinear_exact
from gradcalc.core.explain import Note, Section, SymbolTable
from gradcalc.core.explain.pieces import same as _same
from gradcalc.core.ops.conv3d import Conv3dGeometry, conv3d_forward, flip3, pad_input3
from gradcalc.core.records import fields

if TYPE_CHECKING:
    from gradcalc.core.explain.focus import Focus
    from gradcalc.core.kinds.focus import FocusTarget

AGREES = "✓ equals the element sums above"
DISAGREES = "✗ DOES NOT equal the element sums (please report)"


def _with(g: Conv3dGeometry, **changes: Any) -> Conv3dGeometry:
    values = {name: getattr(g, name) for name in fields(g)}
    return Conv3dGeometry(**{**values, **changes})


class ViewSections:
    """``section_identities`` and ``section_focus`` of a 3-D conv explanation (the attributes
    are set by core/explain/conv3d.py's Explainer3d)."""

    p: Any
    c: Any
    g: Conv3dGeometry

    # identities ------------------------------------------------------------
    def section_identities(self) -> Section:
        g = self.g
        section = Section("identities", "Compact identities")
        kernel_ok = _same(
            self._by_groups(self._kernel_by_identity, 0), self.c.grad_kernel, self.c.exact
        )
        input_ok = _same(
            self._by_groups(self._input_by_identity, 1), self.c.grad_input, self.c.exact
        )
        stride, dilation = "×".join(map(str, g.stride)), "×".join(map(str, g.dilation))
        swap = ""
        if g.stride != (1, 1, 1):
            swap += f" (taps {stride} apart: the forward stride becomes a dilation)"
        if g.dilation != (1, 1, 1):
            swap += f" (window moves {dilation}: the forward dilation becomes a stride)"
        groups = (
            f", in each of the {g.groups} groups on its own channels (as the run's grouped sums)"
            if g.groups > 1
            else ""
        )
        L, K, X, Y = self.L, self.K, self.X, self.Y  # type: ignore[attr-defined]
        padded = f"{X}_padded" if any(g.padding) else X
        flipped = "reversed on every axis" if self.p.flip_kernel else ""
        section.add(
            Note(
                f"∂{L}/∂{K} = "
                + (f"reversed({padded} ⋆ ∂{L}/∂{Y})" if flipped else f"{padded} ⋆ ∂{L}/∂{Y}")
                + ": the correlation of the (padded) input with the upstream"
                + swap
                + (", summed over the batch" if g.batch > 1 else "")
                + groups
                + "; "
                + (AGREES if kernel_ok else DISAGREES)
            )
        )
        full = "×".join(str(d * (k - 1)) for d, k in zip(g.dilation, g.kernel, strict=True))
        spread = (
            "stride-dilated: stride − 1 zeros inserted between entries along each axis, then "
            if g.stride != (1, 1, 1)
            else ""
        )
        kernel_words = (
            f"{K} itself (the slid kernel is already reversed)"
            if self.p.flip_kernel
            else f"{K} reversed along depth, rows and columns"
        )
        section.add(
            Note(
                f"∂{L}/∂{X} = full correlation of the upstream ({spread}zero-padded by "
                f"d·(k−1) = {full} (depth×rows×cols)) with {kernel_words}"
                + (", dilated" if g.dilation != (1, 1, 1) else "")
                + (", summed over output channels" if g.group_out > 1 else "")
                + groups
                + (", then the padding slices/rows/cols are cropped" if any(g.padding) else "")
                + "; "
                + (AGREES if input_ok else DISAGREES)
            )
        )
        return section

    def _by_groups(self, identity: Any, axis: int) -> np.ndarray:
        """An identity run group by group (each an ordinary convolution of its channels),
        the parts joined along ``axis`` (0: kernel's output channels, 1: input channels)."""
        g = self.g
        one = _with(g, in_channels=g.group_in, out_channels=g.group_out, groups=1)
        parts = [
            identity(
                self.x[:, k * g.group_in : (k + 1) * g.group_in],  # type: ignore[attr-defined]
                self.w[k * g.group_out : (k + 1) * g.group_out],  # type: ignore[attr-defined]
                self.up[:, k * g.group_out : (k + 1) * g.group_out],  # type: ignore[attr-defined]
                one,
            )
            for k in range(g.groups)
        ]
        return np.concatenate(parts, axis=axis)

    def _correlate(self, x: np.ndarray, w: np.ndarray, g: Conv3dGeometry, terms: int) -> Any:
        if self.c.exact:
            return bilinear_exact(lambda a, b: conv3d_forward(a, b, g), x, w, terms, g.work)
        return conv3d_forward(x, w, g)

    def _kernel_by_identity(self, x: Any, _w: Any, up: Any, g: Conv3dGeometry) -> np.ndarray:
        """O×C×kd×kh×kw: the padded input (channels as the batch) correlated with the upstream
        (output channels as kernels), strides and dilations swapped, cropped to the kernel."""
        swapped = Conv3dGeometry(
            batch=g.in_channels,
            in_channels=g.batch,
            out_channels=g.out_channels,
            in_size=g.padded,
            kernel=g.out_size,
            stride=g.dilation,
            padding=(0,) * 6,
            dilation=g.stride,
        )
        x_t = pad_input3(x, g.padding).transpose(1, 0, 2, 3, 4)
        by_identity = self._correlate(
            x_t, up.transpose(1, 0, 2, 3, 4), swapped, g.batch * int(np.prod(g.out_size))
        ).transpose(1, 0, 2, 3, 4)
        kd, kh, kw = g.kernel
        by_identity = by_identity[:, :, :kd, :kh, :kw]
        return flip3(by_identity) if self.p.flip_kernel else by_identity

    def _input_by_identity(self, _x: Any, w: Any, up: Any, g: Conv3dGeometry) -> np.ndarray:
        """N×C×D×H×W: the upstream spread by the stride, padded by d·(k−1), correlated with
        the slid kernel reversed on every axis (C×O×kd×kh×kw), the padding cropped."""
        w_slid = flip3(w) if self.p.flip_kernel else w
        grid = tuple(s * (o - 1) + 1 for s, o in zip(g.stride, g.out_size, strict=True))
        spread = np.zeros((g.batch, g.out_channels, *grid), dtype=up.dtype)
        if self.c.exact:
            spread.fill(Fraction(0))
        sd, sh, sw = g.stride
        spread[:, :, ::sd, ::sh, ::sw] = up
        full = tuple(d * (k - 1) for d, k in zip(g.dilation, g.kernel, strict=True))
        spread_padded = pad_input3(spread, tuple(p for f in full for p in (f, f)))
        rotated = flip3(w_slid).transpose(1, 0, 2, 3, 4)
        geometry = Conv3dGeometry(
            batch=g.batch,
            in_channels=g.out_channels,
            out_channels=g.in_channels,
            in_size=spread_padded.shape[2:],
            kernel=g.kernel,
            stride=(1, 1, 1),
            padding=(0,) * 6,
            dilation=g.dilation,
        )
        covered = self._correlate(spread_padded, rotated, geometry, g.out_channels * g.taps)
        grad_padded = np.zeros((g.batch, g.in_channels, *g.padded), dtype=covered.dtype)
        if self.c.exact:
            grad_padded.fill(Fraction(0))
        d, h, w_ = covered.shape[2:]
        grad_padded[:, :, :d, :h, :w_] = covered  # past the last window: no gradient
        (front, top, left), (size_d, size_h, size_w) = g.before, g.in_size
        return grad_padded[:, :, front : front + size_d, top : top + size_h, left : left + size_w]

    # --focus ---------------------------------------------------------------
    def section_focus(self, target: FocusTarget) -> tuple[Section, Focus]:
        """The cells one output reads (its window, one depth slice at a time), or the outputs
        one input cell feeds; with its sum from the forward or backward pass."""
        if target.array.role == "output":
            return self._focus_on_output(target)
        return self._focus_on_input(target)

    def _focus_on_output(self, target: FocusTarget) -> tuple[Section, Focus]:
        from gradcalc.core.explain import focus as pictures
        from gradcalc.core.ops import windows

        g, p, base = self.g, self.p, self.p.index_base
        depth, rows, cols = g.window_axes()
        n, o, t, i, j = (target.at(a) for a in ("n", "o", "depth", "row", "col"))
        index = (n, o, t, i, j)
        y = self.sym_y(index).text  # type: ignore[attr-defined]
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
        entries = {tap.tap: self._slid(tap.tap) for tap in taps}  # type: ignore[attr-defined]
        real = sum(tap.where == windows.REAL for tap in taps)
        read_channels = g.group_inputs(o)
        section = Section(
            "focus",
            f"Focus: the {real} cell{'s' if real != 1 else ''} of {self.X} that {y} reads"  # type: ignore[attr-defined]
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
        padding = "zero padding (0)" if any(g.padding) else ""
        for e, z in enumerate(int(v) for v in slices):
            if slice_where[e] != windows.REAL:
                section.add(
                    Note(
                        f"depth tap e = {e + base} lands on slice {str(z + base).replace('-', '−')}, "
                        f"in the padding: its {g.kernel[1] * g.kernel[2]} terms read zeros"
                    )
                )
                continue
            for c in read_channels[: pictures.MAX_PLANES]:
                section.add(
                    pictures.picture(
                        pictures.plane_label(
                            self.X,  # type: ignore[attr-defined]
                            p.input_axes,
                            {"n": n, "c": c, "depth": z},
                            base,
                        ),
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
        section.add(self._tap_table(y, n, taps, entries))
        section.add(self._output_sum(index))  # type: ignore[attr-defined]
        return section, pictures.Focus(y, "output", target.index, taps, entries)

    def _tap_table(self, y: str, n: int, taps: Any, entries: Any) -> SymbolTable:
        """What each kernel entry (e, m, q) multiplies in output ``y``: one row per entry."""
        from gradcalc.core.ops.windows import PADDING, REAL

        base = self.p.index_base
        rows, cells = [], []
        for tap in sorted(taps, key=lambda tap: entries[tap.tap]):
            rows.append(position_text(entries[tap.tap], base))
            if tap.where == REAL and self.g.in_channels == 1:
                read = self.sym_x((n, 0, *tap.cell)).text  # type: ignore[attr-defined]
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
            f"{self.K}: the cell of {self.X} each entry multiplies in {y}{flipped}",  # type: ignore[attr-defined]
            ("window tap (e, m, q)", "cell (t, r, col)"),
            tuple(rows),
            tuple(cells),
            f"rows: {self.K}'s entries (e, m, q)",  # type: ignore[attr-defined]
        )

    def _focus_on_input(self, target: FocusTarget) -> tuple[Section, Focus]:
        from gradcalc.core.explain import focus as pictures
        from gradcalc.core.ops import windows

        g, p, base = self.g, self.p, self.p.index_base
        _, rows, cols = g.window_axes()
        n, c, z, r, col = (target.at(a) for a in ("n", "c", "depth", "row", "col"))
        index = (n, c, z, r, col)
        x = self.sym_x(index).text  # type: ignore[attr-defined]
        readers = self._readers((z, r, col))  # type: ignore[attr-defined]
        fed_channels = g.group_outputs(c)
        fed = len(readers) * len(fed_channels)
        Y = self.Y  # type: ignore[attr-defined]
        section = Section(
            "focus",
            f"Focus: the {fed} output{'s' if fed != 1 else ''} {Y} that {x} feeds"
            if fed
            else f"Focus: {x} feeds no output {Y} (no window reads it)",
        )
        section.add(
            Note(
                "windows (t, i, j) and their taps (e, m, q) on this cell: "
                + (
                    "; ".join(
                        f"{position_text(out, base)} by tap {position_text(tap, base)}"
                        for out, tap in readers
                    )
                    if readers
                    else "none"
                )
            )
        )
        padding = "zero padding (0)" if any(g.padding) else ""
        section.add(
            pictures.picture(
                pictures.plane_label(self.X, p.input_axes, {"n": n, "c": c, "depth": z}, base),  # type: ignore[attr-defined]
                p.to_nchw(p.input)[n, c, z],
                [(r, col)],
                index_base=base,
                frame=(rows, cols),
                caption=f"[v]: {x}" + (f"; ·: {padding}" if padding else ""),
            )
        )
        out_slices = sorted({out[0] for out, _ in readers})
        for o in fed_channels[: pictures.MAX_PLANES]:
            for t in out_slices:
                section.add(
                    pictures.picture(
                        pictures.plane_label(Y, p.output_axes, {"n": n, "o": o, "depth": t}, base),
                        self.c.output[n, o, t],
                        [out[1:] for out, _ in readers if out[0] == t],
                        index_base=base,
                        caption=f"[v]: an output whose window reads {x}",
                    )
                )
        table_rows, cells = [], []
        local = c % g.group_in
        for o in fed_channels:
            for out, tap in readers:
                k_index = (o, local, *self._slid(tap))  # type: ignore[attr-defined]
                table_rows.append(self.sym_y((n, o, *out)).text)  # type: ignore[attr-defined]
                cells.append(
                    (position_text(tap, base), self.sym_w(k_index), self.w[k_index])  # type: ignore[attr-defined]
                )
        if cells:
            section.add(
                SymbolTable(
                    f"the outputs {x} feeds, and the {self.K} entry that multiplies it",  # type: ignore[attr-defined]
                    ("window tap (e, m, q)", f"∂{Y}/∂{x}", "value"),
                    tuple(table_rows),
                    tuple(cells),
                )
            )
        section.add(self._input_gradient_sum(index))  # type: ignore[attr-defined]
        taps = tuple(windows.WindowTap(out, tap, (z, r, col), windows.REAL) for out, tap in readers)
        entries = {tap: self._slid(tap) for _, tap in readers}  # type: ignore[attr-defined]
        return section, pictures.Focus(x, "input", target.index, taps, entries)


def position_text(cell: tuple[int, ...], index_base: int) -> str:
    """(1, −1, 0) printed from ``index_base``, with real minus signs."""
    return "(" + ", ".join(str(int(v) + index_base).replace("-", "−") for v in cell) + ")"
