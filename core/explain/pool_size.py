"""The output-size section of a pool explanation: H_out and W_out by PyTorch's formula,
with ceil_mode's rule for the last window, and the input cells no window reads.

A mixin of core/explain/pool.py's Explainer: it uses the explainer's problem ``p``,
geometry ``g``, trace ``c``, ``options`` and ``sym_x``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from gradcalc.core.explain import Formula, Note, Section
from gradcalc.core.ops.windows import WindowAxis


class SizeSection:
    """``section_size``: one Formula per axis (and ceil_mode's notes), then the unread cells."""

    def section_size(self) -> Section:
        g, p = self.g, self.p
        section = Section("size", "Output size")
        if p.size_text.startswith("global"):
            section.add(
                Note(
                    f'size "global": the window is the whole map, kh = H = {g.in_h}, kw = W = {g.in_w}'
                )
            )
        for name, axis in zip(("H", "W"), g.window_axes(), strict=True):
            for item in self._axis_size(name, axis):
                section.add(item)
        unread = self._unread_note()
        if unread is not None:
            section.add(unread)
        return section

    def _axis_size(self, name: str, axis: WindowAxis) -> list[Formula | Note]:
        """H_out (``name`` H) or W_out by the formula, and why a last window is dropped,
        kept or clipped (ceil_mode) or why a partial one is dropped (floor)."""
        size, pad, d, k, s = axis.size, axis.pad_before, axis.dilation, axis.kernel, axis.stride
        k_name = "kh" if name == "H" else "kw"
        numerator = size + 2 * pad - d * (k - 1) - 1
        left, right = ("⌈", "⌉") if self.g.ceil_mode else ("⌊", "⌋")
        rounded = -(-numerator // s) if self.g.ceil_mode else numerator // s
        dropped = self.g.ceil_mode and rounded + 1 != axis.out
        # When ceil_mode drops the last window, the formula counts it: its count gets its own
        # name, and H_out is the next step (an equation never ends at a size that is not it).
        count = f"{name}_ceil" if dropped else f"{name}_out"
        items: list[Formula | Note] = [
            Formula(
                label=count,
                symbolic=f"{count} = {left}({name} + 2p − d·({k_name} − 1) − 1)/s{right} + 1",
                numeric=(
                    f"{left}(",
                    size,
                    " + 2·",
                    pad,
                    " − ",
                    d,
                    "·(",
                    k,
                    " − 1) − 1)/",
                    s,
                    f"{right} + 1 = {left}",
                    Fraction(numerator, s),
                    f"{right} + 1 = ",
                    rounded,
                    " + 1",
                ),
                value=rounded + 1,
            )
        ]
        if self.g.ceil_mode:
            items.extend(self._ceil_mode_notes(name, axis, count, rounded, dropped))
        elif numerator % s:
            items.append(
                Note(
                    f"(the division leaves {numerator % s}: the stride does not tile the "
                    f"{'rows' if name == 'H' else 'columns'}, so the floor drops the last partial window)"
                )
            )
        return items

    @staticmethod
    def _ceil_mode_notes(
        name: str, axis: WindowAxis, count: str, rounded: int, dropped: bool
    ) -> list[Formula | Note]:
        """ceil_mode's rule for the last window along one axis: dropped (then ``name``_out =
        ``count`` − 1) or kept, and clipped when it reaches past the padded edge."""
        size, pad, d, k, s, out = (
            axis.size,
            axis.pad_before,
            axis.dilation,
            axis.kernel,
            axis.stride,
            axis.out,
        )
        start = rounded * s
        items: list[Formula | Note] = []
        if dropped:
            items.append(
                Note(
                    f"ceil_mode rule: the last window would start at padded {'row' if name == 'H' else 'col'} "
                    f"({count} − 1)·s = {start} ≥ {name} + p = {size + pad}, past the input and the left "
                    f"padding, so it is dropped:"
                )
            )
            items.append(
                Formula(
                    label=f"{name}_out",
                    symbolic=f"{name}_out = {count} − 1",
                    numeric=(rounded + 1, " − 1"),
                    value=out,
                )
            )
        else:
            items.append(
                Note(
                    f"ceil_mode rule: the last window starts at padded {'row' if name == 'H' else 'col'} "
                    f"(out − 1)·s = {start} < {name} + p = {size + pad}, inside the input or the "
                    f"left padding, so it stays: {name}_out = {out}"
                )
            )
        end = (out - 1) * s + d * (k - 1) + 1
        if end > size + 2 * pad:
            items.append(
                Note(
                    f"that last window reaches padded {'row' if name == 'H' else 'col'} {end - 1} but the "
                    f"padded input ends at {size + 2 * pad - 1}: it is clipped at the padded edge"
                )
            )
        return items

    def _unread_note(self) -> Note | None:
        """The input cells no window reads (their gradient is 0), or None when every cell is read."""
        g = self.g
        unread = ~np.isin(
            np.arange(g.in_h * g.in_w), self.c.layout.positions[self.c.layout.real]
        ).reshape(g.in_h, g.in_w)
        if not unread.any():
            return None
        cells = [
            self.sym_x(0, 0, int(r), int(c)).text
            for r, c in np.argwhere(unread)[: self.options.max_terms]
        ]
        more = int(unread.sum()) - len(cells)
        return Note(
            f"no window reads {', '.join(cells)}{f' and {more} more' if more > 0 else ''}"
            + (" (in every channel)" if g.batch * g.channels > 1 else "")
            + ": their gradient is 0"
        )
