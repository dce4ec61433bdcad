"""The explanation of a conv whose padding copies input cells (padding_mode reflect,
replicate or circular; core/kinds/conv_padding.py), in 2-D or 1-D (a signal padded on its
left and right: the same sections over its one axis).

It is the explanation of the inner convolution — the padded input ``xpad`` convolved with no
padding, every section as for any conv — with three additions: the problem shows ``x``, then
``xpad`` and which cell of ``x`` each padding row and column copies; the output size first
pads H and W; and the backward pass ends with the fold, ∂L/∂x_ij = the sum of ∂L/∂xpad over
the cells of ``xpad`` that copy x_ij.  Arrays are NCHW as in core/explain/conv_terms.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.explain import Formula, Note, Product, Section, SumOfProducts, Symbol
from gradcalc.core.explain.conv import Explainer
from gradcalc.core.kinds.conv_padding import MODE_WORDS, MODE_WORDS_1D
from gradcalc.core.ops.pad import source_rows
from gradcalc.core.outcome import Run


class FoldSections:
    """The sections a conv whose padding copies input cells adds to its inner explanation, in
    1-D to 3-D: the Jacobian's note and the backward pass's fold.  The explainer has ``XP``
    (xpad), ``X0`` (x), ``outer`` and ``outer_grad`` (∂L/∂x as the run holds it, N×C×… with
    the spatial axes), ``sources`` (by spatial axis: the x cell each xpad cell copies),
    ``sym_x0(index)`` and ``xpad_entry(index)`` (entries at an N×C×… index)."""

    # jacobian --------------------------------------------------------------
    def section_jacobian(self) -> Section:
        section = super().section_jacobian()  # type: ignore[misc]
        if self.maps is not None:
            section.add(
                Note(
                    f"∂{self.Y}/∂{self.X0} (the result jacobian_input) is ∂{self.Y}/∂{self.XP} with "
                    f"each column of a padding cell added onto the column of the {self.X0} cell it "
                    "copies, as the backward section folds the gradient"
                )
            )
        return section

    # backward --------------------------------------------------------------
    def section_backward(self) -> Section:
        section = super().section_backward()  # type: ignore[misc]
        section.title = section.title.replace(
            f"∂{self.L}/∂{self.XP}", f"∂{self.L}/∂{self.XP}, ∂{self.L}/∂{self.X0}"
        )
        g = self.outer.geometry
        section.add(
            Note(
                f"folding the padding back: each cell of {self.XP} is a copy of one cell of "
                f"{self.X0}, so ∂{self.L}/∂{self.X0} at a cell is the sum of ∂{self.L}/∂{self.XP} "
                f"over the cells of {self.XP} that copy it (the cell itself and its "
                f"{self.outer.padding_mode} copies in the padding)"
            )
        )
        total = int(np.prod(g.input_shape))
        shown = self.options.cap(total)
        for flat in range(shown):
            index = tuple(int(v) for v in np.unravel_index(flat, g.input_shape))
            section.add(self._fold_sum(index))
        section.cut(total - shown)
        return section

    def _fold_sum(self, index: tuple[int, ...]) -> SumOfProducts:
        """∂L/∂x at ``index`` (n, c, then the spatial cell) as the sum of ∂L/∂xpad over the
        padded cells that copy it."""
        n, c, *cell = index
        copies = [
            np.flatnonzero(sources == at) for sources, at in zip(self.sources, cell, strict=True)
        ]
        grad_padded = self.c.grad_input  # N×C×(padded spatial axes), the inner run's
        terms = []
        for spot in itertools.product(*copies):
            padded = (n, c, *(int(v) for v in spot))
            symbol = Symbol(f"∂{self.L}/∂{self.XP}", self.xpad_entry(padded).index, self.sep)
            terms.append(Product(((symbol, grad_padded[padded]),)))
        shown = terms[: self.options.max_terms]
        x_cell = self.sym_x0(index)
        return SumOfProducts(
            target=Symbol(f"∂{self.L}/∂{self.X0}", x_cell.index, self.sep),
            general=f"Σ ∂{self.L}/∂{self.XP} over the cells that copy {x_cell.text}",
            terms=tuple(shown),
            value=self.outer_grad[index],
            omitted=len(terms) - len(shown),
        )


class PaddedExplainer(FoldSections, Explainer):
    """A conv explanation over ``xpad`` (the inner problem) that starts from ``x``."""

    def __init__(self, problem: Any, run: Run, options: common.SolveOptions):
        trace = run.trace
        super().__init__(trace.inner_problem, trace.inner_run, options)
        self.outer = problem
        self.outer_grad = trace.grad_input  # N×C×H×W
        self.XP = self.X  # the inner symbols (sym_x) are xpad's; X0 is the spec's input
        self.X0 = problem.names["input"]
        g = problem.geometry
        mode = problem.padding_mode
        self.row_sources = source_rows(g.in_h, g.padding[0], g.padding[1], mode)
        self.col_sources = source_rows(g.in_w, g.padding[2], g.padding[3], mode)
        self.sources = (self.row_sources, self.col_sources)  # by spatial axis, for the fold

    def correlated_input(self) -> str:
        """xpad itself: it is the padded input (the convolution adds no padding of its own),
        so the identities correlate it as it is, not an "xpad_padded\"."""
        return self.XP

    def sym_x0(self, index: tuple[int, ...]) -> Symbol:
        """Entry (n, c, r, col) of the spec's input ``x`` (the inner symbols are xpad's)."""
        return Symbol(self.X0, self._picked(index, self._input_picks), self.sep)

    # conventions -----------------------------------------------------------
    def conventions(self) -> list[str]:
        outer, g = self.outer, self.outer.geometry
        top, bottom, left, right = g.padding
        items = []
        one_d = g.dims == 1
        words = (MODE_WORDS_1D if one_d else MODE_WORDS)[outer.padding_mode]
        sides = (
            f"left {left}, right {right}"
            if one_d
            else f"top {top}, bottom {bottom}, left {left}, right {right}"
        )
        for item in super().conventions():
            if item.startswith("no padding ("):
                item = (
                    f"{words} (PyTorch padding_mode: {outer.padding_mode}), padding "
                    f"{outer.padding_text}: {sides}; {self.XP} is {self.X0} padded, and the "
                    f"convolution slides over {self.XP} with no further padding"
                )
            elif item.startswith("indices start at"):
                axes = self.all_index_text(outer.input_axes)
                item = (
                    f"indices start at {outer.index_base} (index_base: {outer.index_base}); "
                    f"{self.X0}_{axes} is input[{', '.join(axes)}]; {self.XP}'s indices count "
                    f"from its padded {'start' if one_d else 'corner'}"
                )
            items.append(item)
        return items

    # problem ---------------------------------------------------------------
    def section_problem(self) -> Section:
        outer, g = self.outer, self.outer.geometry
        inner_items = super().section_problem().items
        section = Section("problem", "Problem")
        shape = lambda a: "×".join(map(str, a.shape))  # noqa: E731
        # A 1-D problem's one spatial axis is the signal's positions.
        axes = lambda names: ", ".join(  # noqa: E731
            "position" if g.dims == 1 and a == "col" else a for a in names
        )
        section.add(
            Note(
                f"input {self.X0}: {shape(outer.input)} ({axes(outer.input_axes)}), padded "
                f"{self.XP}: {shape(self.p.input)}, kernel {self.K}: {shape(outer.kernel)} "
                f"({axes(outer.kernel_axes)}), output {self.Y}: "
                f"{'×'.join(map(str, outer.output_shape))} ({axes(outer.output_axes)})"
            )
        )
        section.add(self.matrix(self.X0, outer.input, outer.input_axes))
        top, bottom, left, right = g.padding
        caption = (
            f"{self.X0} padded ({outer.padding_mode}): {left} left, {right} right; padded "
            "indices count from the padded start"
            if g.dims == 1
            else f"{self.X0} padded ({outer.padding_mode}): {top} top, {bottom} bottom, {left} "
            f"left, {right} right; padded indices count from the padded corner"
        )
        section.add(self.matrix(self.XP, self.p.input, self.p.input_axes, caption=caption))
        section.add(Note(self._copies_words()))
        for item in inner_items[2:]:  # the inner problem's kernel, bias and upstream
            section.add(item)
        return section

    def _copies_words(self) -> str:
        """Which row and column of x each padding row and column of xpad copies."""
        g, base = self.outer.geometry, self.outer.index_base
        parts = []
        axes = (
            ("row", self.row_sources, g.padding[0], g.in_h),
            ("column", self.col_sources, g.padding[2], g.in_w),
        )
        if g.dims == 1:  # one axis: the signal's positions
            axes = (("position", self.col_sources, g.padding[2], g.in_w),)
        for cells, sources, before, size in axes:
            copied = [
                f"{position + base} ← {int(source) + base}"
                for position, source in enumerate(sources)
                if not before <= position < before + size
            ]
            if copied:
                parts.append(f"{self.XP} {cells} ← {self.X0} {cells}: {', '.join(copied)}")
        columns = f"{g.padding[2] + base}…{g.padding[2] + g.in_w - 1 + base}"
        centre = (
            f"{self.XP} positions {columns} are {self.X0} itself"
            if g.dims == 1
            else f"{self.XP} rows {g.padding[0] + base}…{g.padding[0] + g.in_h - 1 + base} and "
            f"columns {columns} are {self.X0} itself"
        )
        return f"each padding cell copies one cell of {self.X0}: " + "; ".join([*parts, centre])

    # size ------------------------------------------------------------------
    def section_size(self) -> Section:
        g = self.outer.geometry
        inner = super().section_size()
        section = Section("size", "Output size")
        axes = (
            ("H", g.in_h, g.padding[0], g.padding[1], g.padded_h),
            ("W", g.in_w, g.padding[2], g.padding[3], g.padded_w),
        )
        if g.dims == 1:  # one axis: the signal's length L
            axes = (("L", g.in_w, g.padding[2], g.padding[3], g.padded_w),)
        for name, size, before, after, value in axes:
            p_a, p_b = ("p_top", "p_bottom") if name == "H" else ("p_left", "p_right")
            section.add(
                Formula(
                    label=f"{name}_padded",
                    symbolic=f"{name}_padded = {name} + {p_a} + {p_b}",
                    numeric=(size, " + ", before, " + ", after),
                    value=value,
                )
            )
        section.add(
            Note(
                f"the convolution reads {self.XP}: below L is {self.XP}'s ({g.padded_w}), with "
                "no further padding"
                if g.dims == 1
                else f"the convolution reads {self.XP}: below H and W are {self.XP}'s "
                f"({g.padded_h} and {g.padded_w}), with no further padding"
            )
        )
        for item in inner.items:
            section.add(item)
        return section

    def _unread(self) -> dict[str, list[int]]:
        """Cells of x (0-based rows, columns) that no window reads, directly or by a copy."""
        unread_padded = super()._unread()
        g = self.outer.geometry
        unread = {}
        axes = (("rows", self.row_sources, g.in_h), ("columns", self.col_sources, g.in_w))
        if g.dims == 1:  # one axis: the signal's positions
            axes = (("positions", self.col_sources, g.in_w),)
        for cells, sources, size in axes:
            read = {int(sources[p]) for p in range(len(sources)) if p not in unread_padded[cells]}
            unread[cells] = [cell for cell in range(size) if cell not in read]
        return unread

    def xpad_entry(self, index: tuple[int, ...]) -> Symbol:
        """Entry (n, c, row, col) of ``xpad`` (the inner problem's input)."""
        return self.sym_x(*index)
