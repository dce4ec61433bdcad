"""The explanation of a 3-D conv whose padding copies input cells (``dims: 3`` with
padding_mode reflect, replicate or circular; core/kinds/conv_padding.py runs it).

It is the explanation of the inner convolution — the padded input ``xpad`` convolved with no
padding, every section as for any 3-D conv (core/explain/conv3d.py) — with three additions, as
in 2-D (core/explain/conv_padding.py): the problem shows ``x``, then ``xpad`` and which cell of
``x`` each padding depth slice, row and column copies; the output size first pads D, H and W;
and the backward pass ends with the fold, ∂L/∂x at a cell = the sum of ∂L/∂xpad over the cells
of ``xpad`` that copy it.  Arrays are NCDHW (core/ops/conv3d.py).
"""

from __future__ import annotations

from typing import Any

from gradcalc.core.explain import Formula, Note, Section, Symbol
from gradcalc.core.explain.conv3d import AXIS_NAMES, Explainer3d, Index
from gradcalc.core.explain.conv_padding import FoldSections
from gradcalc.core.ops.pad import source_rows

CELLS = ("depth slice", "row", "column")
SIDES = ("front", "back", "top", "bottom", "left", "right")
# What each mode's padded cells hold, on the three axes of a volume.
MODE_WORDS_3D = {
    "reflect": "reflect padding: each padded cell mirrors the input about its edge depth "
    "slice, row or column (the edge itself not repeated)",
    "replicate": "replicate padding: each padded cell repeats the nearest edge cell",
    "circular": "circular padding: the input wraps around on every axis (the padding in front "
    "is the last depth slices, above the last rows, …)",
}


class PaddedExplainer3d(FoldSections, Explainer3d):
    """A 3-D conv explanation over ``xpad`` (the inner problem) that starts from ``x``."""

    def __init__(self, problem: Any, run: Any, options: Any):
        trace = run.trace
        super().__init__(trace.inner_problem, trace.inner_run, options)
        self.outer = problem
        self.outer_grad = trace.grad_input  # N×C×D×H×W
        self.XP = self.X  # the inner symbols (sym_x) are xpad's; X0 is the spec's input
        self.X0 = problem.names["input"]
        g = problem.geometry
        self.sources = [
            source_rows(g.in_size[axis], g.before[axis], g.after[axis], problem.padding_mode)
            for axis in range(3)
        ]

    def sym_x0(self, index: Index) -> Symbol:
        """Entry (n, c, t, r, col) of the spec's input ``x`` (the inner symbols are xpad's)."""
        return self._symbol(self.X0, index, ("n", "c", "depth", "row", "col"), self.p.input_axes)

    # conventions -----------------------------------------------------------
    def conventions(self) -> list[str]:
        outer, g = self.outer, self.outer.geometry
        sides = ", ".join(f"{side} {pad}" for side, pad in zip(SIDES, g.padding, strict=True))
        items = []
        for item in super().conventions():
            if item.startswith("no padding ("):
                item = (
                    f"{MODE_WORDS_3D[outer.padding_mode]} (PyTorch padding_mode: "
                    f"{outer.padding_mode}), padding {outer.padding_text}: {sides}; {self.XP} is "
                    f"{self.X0} padded, and the convolution slides over {self.XP} with no "
                    "further padding"
                )
            elif item.startswith("indices start at"):
                item = (
                    item.split(";")[0] + f"; {self.X0} is the input as given, {self.XP}'s "
                    "indices count from its padded corner"
                )
            items.append(item)
        return items

    # problem ---------------------------------------------------------------
    def section_problem(self) -> Section:
        outer, g = self.outer, self.outer.geometry
        inner_items = super().section_problem().items
        section = Section("problem", "Problem")
        shape = lambda a: "×".join(map(str, a))  # noqa: E731
        section.add(
            Note(
                f"input {self.X0}: {shape(outer.input.shape)} ({', '.join(outer.input_axes)}), "
                f"padded {self.XP}: {shape(self.p.input.shape)}, kernel {self.K}: "
                f"{shape(outer.kernel.shape)} ({', '.join(outer.kernel_axes)}), output "
                f"{self.Y}: {shape(outer.output_shape)} ({', '.join(outer.output_axes)})"
            )
        )
        section.add(self.matrix(self.X0, outer.input, outer.input_axes))
        front, back, top, bottom, left, right = g.padding
        caption = (
            f"{self.X0} padded ({outer.padding_mode}): {front} front, {back} back, {top} top, "
            f"{bottom} bottom, {left} left, {right} right; padded indices count from the "
            "padded corner"
        )
        section.add(self.matrix(self.XP, self.p.input, self.p.input_axes, caption=caption))
        section.add(Note(self._copies_words()))
        for item in inner_items[2:]:  # the inner problem's kernel, bias and upstream
            section.add(item)
        return section

    def _copies_words(self) -> str:
        """Which depth slice, row and column of x each padding one of xpad copies."""
        g, base = self.outer.geometry, self.outer.index_base
        parts, centre = [], []
        for axis, cells in enumerate(CELLS):
            before, size = g.before[axis], g.in_size[axis]
            copied = [
                f"{position + base} ← {int(source) + base}"
                for position, source in enumerate(self.sources[axis])
                if not before <= position < before + size
            ]
            if copied:
                parts.append(f"{self.XP} {cells}s ← {self.X0} {cells}s: {', '.join(copied)}")
            centre.append(f"{cells}s {before + base}…{before + size - 1 + base}")
        inside = f"{self.XP} {', '.join(centre)} are {self.X0} itself"
        return f"each padding cell copies one cell of {self.X0}: " + "; ".join([*parts, inside])

    # size ------------------------------------------------------------------
    def section_size(self) -> Section:
        g = self.outer.geometry
        inner = super().section_size()
        section = Section("size", "Output size")
        for axis, (name, _, (p_a, p_b), _) in enumerate(AXIS_NAMES):
            section.add(
                Formula(
                    label=f"{name}_padded",
                    symbolic=f"{name}_padded = {name} + {p_a} + {p_b}",
                    numeric=(g.in_size[axis], " + ", g.before[axis], " + ", g.after[axis]),
                    value=g.padded[axis],
                )
            )
        section.add(
            Note(
                f"the convolution reads {self.XP}: below D, H and W are {self.XP}'s "
                f"({', '.join(map(str, g.padded))}), with no further padding"
            )
        )
        for item in inner.items:
            section.add(item)
        return section

    def _unread(self, axis: int) -> list[int]:
        """Cells of x (0-based) along ``axis`` that no window reads, directly or by a copy."""
        unread_padded = set(super()._unread(axis))
        sources = self.sources[axis]
        read = {int(sources[p]) for p in range(len(sources)) if p not in unread_padded}
        return [cell for cell in range(self.outer.geometry.in_size[axis]) if cell not in read]

    def xpad_entry(self, index: Index) -> Symbol:
        """Entry (n, c, t, r, col) of ``xpad`` (the inner problem's input)."""
        return self.sym_x(index)
