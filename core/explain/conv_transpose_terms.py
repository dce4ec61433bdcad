"""What every conv_transpose explanation (1-D to 3-D) is made of: the symbols (in the spec's own
axes), the operands as the run used them, the index arithmetic of the scatter — input cell a
times kernel tap e lands, on each spatial axis, on output position a·s + e·d − p_before — and
the sums found from it, each looping only over what it shows: an input entry's scatter, an
output as the sum it gathered, and ∂L/∂x, ∂L/∂w and ∂L/∂b as their sums.

Arrays are NCHW, or NCDHW in 3-D (a 1-D problem runs with H = kh = 1): input ``x``
N×C_in×…, kernel ``w`` C_in×(C_out/g)×…, upstream and output N×C_out×… (core/kinds/
conv_transpose.py's ConvTransposeTrace); every entry is named by its full index tuple.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.explain import Note, Product, SumOfProducts, Symbol, sentence
from gradcalc.core.explain.conv_operands import IndexedOperands
from gradcalc.core.kinds.conv_transpose import ConvTransposeProblem
from gradcalc.core.outcome import Run
from gradcalc.core.values import holds_formulas

Index = tuple[int, ...]
# A scatter list names at most this many targets, then "… N more".
SCATTER_SHOWN = 9


def expanded(value: Any) -> Any:
    """A product as results show it: a formula expanded ((a + b)·2 as 2·a + 2·b), a number as
    it is (SymPy is imported only for a formula)."""
    if not holds_formulas(value):
        return value
    from gradcalc.core.symbolic import tidy_entry

    return tidy_entry(value)


class TransposeTerms(IndexedOperands):
    """The symbols, operands, index arithmetic and sums of a conv_transpose explanation over
    rows and columns (``SPATIAL``); core/explain/conv_transpose3d_backward.py's Terms3d adds
    the depth axis.  ``t`` is the geometry: its ``in_size``, ``kernel``, ``stride``,
    ``dilation``, ``before`` and ``out_size`` hold one number per spatial axis."""

    SPATIAL: tuple[str, ...] = ("row", "col")
    KERNEL_INDEX: tuple[str, ...] = ("c", "o", "row", "col")  # C_in×(C_out/g)×kh×kw
    # Whether a scatter's products are shown expanded, as results are (2·a + 2 for (a + 1)·2).
    # The 3-D explanation has always shown them as multiplied (Terms3d): a formula entry's
    # products differ in form there, not in value.
    SCATTER_EXPANDED = True

    def __init__(self, problem: ConvTransposeProblem, run: Run, options: common.SolveOptions):
        super().__init__(problem, run, options)
        self.t = problem.geometry

    # index arithmetic --------------------------------------------------------
    def group_of(self, c: int) -> int:
        return c // self.t.in_per_group

    def target(self, cell: Index, tap: Index) -> Index | None:
        """The output position input cell ``cell`` times tap ``tap`` lands on; None when the
        padding cuts it off."""
        t = self.t
        spot = tuple(
            v * s + k * d - before
            for v, k, s, d, before in zip(cell, tap, t.stride, t.dilation, t.before, strict=True)
        )
        inside = all(0 <= v < size for v, size in zip(spot, t.out_size, strict=True))
        return spot if inside else None

    def sources(self, out: Index) -> Iterator[tuple[Index, Index]]:
        """(cell, tap) of every input cell and tap that lands on output position ``out``: on
        each axis the cell is (out + p_before − tap·d)/s where that is a whole input position."""
        t = self.t
        per_axis = []
        for axis in range(len(out)):
            options = []
            for k in range(t.kernel[axis]):
                v, rest = divmod(out[axis] + t.before[axis] - k * t.dilation[axis], t.stride[axis])
                if not rest and 0 <= v < t.in_size[axis]:
                    options.append((v, k))
            per_axis.append(options)
        for pairs in itertools.product(*per_axis):
            yield tuple(v for v, _ in pairs), tuple(k for _, k in pairs)

    def taps(self) -> Iterator[Index]:
        return itertools.product(*(range(k) for k in self.t.kernel))

    def flat_indices(self, shape: tuple[int, ...]) -> tuple[list[Index], int]:
        """The first ``options.cap(total)`` multi-indices of ``shape``, row-major, and how
        many are left out."""
        total = int(np.prod(shape))
        shown = self.options.cap(total)
        return [
            tuple(int(v) for v in np.unravel_index(r, shape)) for r in range(shown)
        ], total - shown

    def slice_note(
        self, what: str, index: Index, previous: Index | None, axes: tuple[str, ...]
    ) -> Note | None:
        """A heading before the listed entry ``index`` of ``what`` where a new part of the
        array starts; none in 1-D and 2-D, whose arrays are listed whole (3-D: Terms3d's, one
        depth slice at a time)."""
        return None

    def add_entries(
        self,
        section: Any,
        shape: tuple[int, ...],
        heading: tuple[str, tuple[str, ...]] | None,
        line_of: Callable[[Index], Any],
    ) -> None:
        """One line ``line_of(index)`` for each shown entry of an array of ``shape`` (row-major),
        each new part of the array headed by its slice_note (``heading``: what the array is and
        its axes' names; None: no headings), and "…" for the entries cut."""
        indices, left = self.flat_indices(shape)
        previous = None
        for index in indices:
            note = (
                None
                if heading is None
                else self.slice_note(heading[0], index, previous, heading[1])
            )
            if note is not None:
                section.add(note)
            section.add(line_of(index))
            previous = index
        section.cut(left)

    # forward sums ------------------------------------------------------------
    def _scatter(self, index: Index) -> Note:
        """Where input entry (n, c, *cell) goes: each kernel tap's product, added to its
        target."""
        t = self.t
        n, c, *cell = index
        group = self.group_of(c)
        x_text = self.sym_x(index).text
        pieces: list[Any] = [f"{x_text} = ", self.x[index], " adds"]
        shown, cut_off, more = 0, 0, 0
        for o in range(t.out_per_group):
            for tap in self.taps():
                spot = self.target(tuple(cell), tap)
                if spot is None:
                    cut_off += 1
                    continue
                if shown == SCATTER_SHOWN:
                    more += 1
                    continue
                kernel = (c, o, *tap)
                product = self.x[index] * self.w[kernel]
                pieces += [
                    "," if shown else "",
                    f" {x_text}·{self.sym_w(kernel).text} = ",
                    expanded(product) if self.SCATTER_EXPANDED else product,
                    f" to {self.sym_y((n, group * t.out_per_group + o, *spot)).text}",
                ]
                shown += 1
        if not shown:
            pieces.append(" nothing: the padding cuts off every target")
        if more:
            pieces.append(f", … {more} more")
        if cut_off and shown:
            pieces.append(f" ({cut_off} product{'s' if cut_off != 1 else ''} cut off by padding)")
        return sentence(*pieces)

    def _output_sum(self, index: Index) -> SumOfProducts:
        """Output (n, o, *position) as the sum of the products scattered onto it."""
        t = self.t
        n, o, *out = index
        group, o_in_group = divmod(o, t.out_per_group)
        terms, extra = [], 0
        for c in range(group * t.in_per_group, (group + 1) * t.in_per_group):
            for cell, tap in self.sources(tuple(out)):
                if len(terms) >= self.options.max_terms:
                    extra += 1
                    continue
                source, kernel = (n, c, *cell), (c, o_in_group, *tap)
                terms.append(
                    Product(
                        (
                            (self.sym_x(source), self.x[source]),
                            (self.sym_w(kernel), self.w[kernel]),
                        )
                    )
                )
        constant = None
        if self.bias is not None:
            constant = (self.sym_b(o), self.bias[o] if self.bias.ndim == 1 else self.bias[()])
        return SumOfProducts(
            target=self.sym_y(index),
            terms=tuple(terms),
            constant=constant,
            value=self.c.output[index],
            note="" if terms or extra else "no input entry scatters here",
            omitted=extra,
        )

    # backward sums -----------------------------------------------------------
    def _input_gradient_sum(self, index: Index) -> SumOfProducts:
        """∂L/∂x at (n, c, *cell): Σ over the taps whose target is inside the output."""
        t = self.t
        n, c, *cell = index
        group = self.group_of(c)
        terms, extra = [], 0
        for o in range(t.out_per_group):
            for tap in self.taps():
                spot = self.target(tuple(cell), tap)
                if spot is None:
                    continue
                if len(terms) >= self.options.max_terms:
                    extra += 1
                    continue
                out = (n, group * t.out_per_group + o, *spot)
                kernel = (c, o, *tap)
                terms.append(
                    Product(
                        ((self.sym_up(out), self.up[out]), (self.sym_w(kernel), self.w[kernel]))
                    )
                )
        target = self.sym_x(index)
        return SumOfProducts(
            target=Symbol(f"∂{self.L}/∂{self.X}", target.index, self.sep),
            terms=tuple(terms),
            value=self.c.grad_input[index],
            note="" if terms or extra else "the padding cuts off every target of this entry",
            omitted=extra,
        )

    def _kernel_gradient_sum(self, index: Index) -> SumOfProducts:
        """∂L/∂w at (c, o, *tap): Σ over input cells (every sample) of ∂L/∂y at the cell's
        target through this tap, times the cell."""
        t = self.t
        c, o, *tap = index
        channel = self.group_of(c) * t.out_per_group + o
        terms, extra = [], 0
        for n in range(t.batch):
            for cell in itertools.product(*(range(s) for s in t.in_size)):
                spot = self.target(cell, tuple(tap))
                if spot is None:
                    continue
                if len(terms) >= self.options.max_terms:
                    extra += 1
                    continue
                out, source = (n, channel, *spot), (n, c, *cell)
                terms.append(
                    Product(
                        ((self.sym_up(out), self.up[out]), (self.sym_x(source), self.x[source]))
                    )
                )
        target = self.sym_w(index)
        return SumOfProducts(
            target=Symbol(f"∂{self.L}/∂{self.K}", target.index, self.sep),
            terms=tuple(terms),
            value=self.c.grad_kernel[index],
            note="" if terms or extra else "the padding cuts off every product of this tap",
            omitted=extra,
        )

    def _bias_gradient_sum(self, o: int | None) -> SumOfProducts:
        """∂L/∂b for output channel ``o`` (None: one bias shared by all)."""
        t = self.t
        channels = range(t.out_channels) if o is None else [o]
        cells = list(itertools.product(range(t.batch), channels, *(range(s) for s in t.out_size)))
        shown = cells[: self.options.max_terms]
        target = self.sym_b(o or 0)
        return SumOfProducts(
            target=Symbol(f"∂{self.L}/∂{self.B}", target.index, self.sep),
            general=f"Σ ∂{self.L}/∂{self.Y}"
            + ("" if o is None else f" over channel {o + self.p.index_base}")
            + f"  (∂{self.Y}/∂{self.B} = 1)",
            terms=tuple(Product(((self.sym_up(cell), self.up[cell]),)) for cell in shown),
            value=self.c.grad_bias[o] if o is not None else self.c.grad_bias[()],
            omitted=len(cells) - len(shown),
        )
