"""The symbols, index arithmetic, backward and identities of a 3-D conv_transpose explanation
(``dims: 3``, PyTorch's conv_transpose3d); core/explain/conv_transpose3d.py builds the rest.

The scatter: input entry (a, b, c') times kernel tap (e, m, q) lands on output
(a·sd + e·dd − p_front, b·sh + m·dh − p_top, c'·sw + q·dw − p_left).  Backward: ∂L/∂X is the
ordinary conv3d of ∂L/∂Y with the kernel (read as conv3d's O×(C/g) = C_in×(C_out/g)), each
entry shown as its sum, one input depth slice at a time; ∂L/∂K pairs each input entry with the
upstream where it landed.  Identities: "conv_transpose forward = the input-gradient of conv3d",
checked by building that conv's input-gradient from conv3d's forward pass on unit volumes
(never the scatter the run used), and the adjoint identity Σ ∂L/∂Y ⊙ (Y − b) = Σ X ⊙ ∂L/∂X.

Arrays are NCDHW: input ``x`` N×C_in×D×H×W indexed (n, c, a, b, c'), kernel ``w``
C_in×(C_out/g)×kd×kh×kw indexed (c, o, e, m, q), output and upstream
N×C_out×D_out×H_out×W_out indexed (n, o, t, i, j).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np

from gradcalc.core.explain import (
    Note,
    Product,
    Section,
    SumOfProducts,
    Symbol,
)
from gradcalc.core.explain.conv3d_terms import SPATIAL, Index, Operands3d
from gradcalc.core.explain.conv_transpose_identities import AdjointIdentities
from gradcalc.core.ops.conv3d import conv3d_forward
from gradcalc.core.records import fields


class Terms3d(Operands3d):
    """The symbols, operands and index arithmetic of a 3-D conv_transpose explanation."""

    KERNEL_INDEX = ("c", "o", *SPATIAL)  # C_in×(C_out/g)×kd×kh×kw

    def __init__(self, problem: Any, run: Any, options: Any):
        super().__init__(problem, run, options)
        self.t = problem.geometry

    # index arithmetic --------------------------------------------------------
    def group_of(self, c: int) -> int:
        return c // self.t.in_per_group

    def target(self, cell: Index, tap: Index) -> Index | None:
        """The output (t, i, j) input cell ``cell`` times tap ``tap`` lands on; None when the
        padding cuts it off."""
        t = self.t
        spot = tuple(
            v * s + k * d - before
            for v, k, s, d, before in zip(cell, tap, t.stride, t.dilation, t.before, strict=True)
        )
        inside = all(0 <= v < size for v, size in zip(spot, t.out_size, strict=True))
        return spot if inside else None

    def sources(self, out: Index) -> Iterator[tuple[Index, Index]]:
        """(cell, tap) of every input cell and tap that lands on output (t, i, j): on each
        axis the cell is (out + p_before − tap·d)/s where that is a whole input position."""
        t = self.t
        per_axis = []
        for axis in range(3):
            options = []
            for k in range(t.kernel[axis]):
                v, rest = divmod(out[axis] + t.before[axis] - k * t.dilation[axis], t.stride[axis])
                if not rest and 0 <= v < t.in_size[axis]:
                    options.append((v, k))
            per_axis.append(options)
        for (a, e), (b, m), (col, q) in itertools.product(*per_axis):
            yield (a, b, col), (e, m, q)

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
        """A heading each time the (n, channel, depth) of the listed entries changes: the
        entries are shown one depth slice at a time; ``axes`` are the spec's axes of the
        listed array (a sample or channel is named only if it has that axis)."""
        if previous is not None and previous[:3] == index[:3]:
            return None
        n, channel, depth = index[:3]
        base = self.p.index_base
        where = [f"sample {n + base}"] if "n" in axes else []
        where += [f"channel {channel + base}"] if {"c", "o"} & set(axes) else []
        return Note(
            f"{what} depth slice {depth + base}" + (f" ({', '.join(where)})" if where else "") + ":"
        )


class BackwardSections3d(AdjointIdentities, Terms3d):
    """``section_backward`` and (through AdjointIdentities) ``section_identities`` of a 3-D
    conv_transpose explanation."""

    def conv_words(self) -> str:
        t = self.t
        triple = lambda v: "×".join(map(str, v))  # noqa: E731
        return (
            f"conv3d(∂{self.L}/∂{self.Y}, {self.K}) with stride {triple(t.stride)}, padding "
            f"{list(t.padding)} (front, back, top, bottom, left, right), dilation "
            f"{triple(t.dilation)}"
            + (f" and groups {t.groups}" if t.groups > 1 else "")
            + (
                f" (its first {triple(t.in_size)} entries: with output_padding at least the "
                "stride, that conv's output is larger than the input)"
                if self.conv_is_larger()
                else ""
            )
        )

    def conv_is_larger(self) -> bool:
        """Whether the conv3d that maps the output back has more cells than the input on some
        axis (output_padding ≥ stride, allowed while it is below the dilation)."""
        return tuple(self.t.adjoint().out_size) != tuple(self.t.in_size)

    def section_backward(self) -> Section:
        t, p = self.t, self.p
        section = Section(
            "backward",
            f"Backward: ∂{self.L}/∂{self.X} as an ordinary convolution, ∂{self.L}/∂{self.K}"
            + (f", ∂{self.L}/∂{self.B}" if p.bias is not None else ""),
        )
        section.add(
            Note(
                f"∂{self.L}/∂{self.X} = {self.conv_words()}: PyTorch's ordinary conv3d, the "
                f"kernel read as its O×C = C_in×(C_out/g) weight; each entry sums "
                f"∂{self.L}/∂{self.Y} over the outputs its scatter reached, times the tap that "
                "took it there"
            )
        )
        inputs, left = self.flat_indices(t.input_shape)
        previous = None
        for index in inputs:
            heading = self.slice_note(f"∂{self.L}/∂{self.X}, input", index, previous, p.input_axes)
            if heading is not None:
                section.add(heading)
            section.add(self._input_gradient_sum(index))
            previous = index
        section.cut(left)
        kernels, left = self.flat_indices(t.kernel_shape)
        for index in kernels:
            section.add(self._kernel_gradient_sum(index))
        section.cut(left)
        if p.bias is not None:
            channels = list(range(t.out_channels)) if p.bias.ndim == 1 else [None]
            shown = self.options.cap(len(channels))
            for o in channels[:shown]:
                section.add(self._bias_gradient_sum(o))
            section.cut(len(channels) - shown)
        return section

    def _input_gradient_sum(self, index: Index) -> SumOfProducts:
        """∂L/∂x at (n, c, a, b, c'): Σ over the taps whose target is inside the output."""
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
        """∂L/∂w at (c, o, e, m, q): Σ over input cells (every sample) of ∂L/∂y at the cell's
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

    # identities ------------------------------------------------------------
    def _identity_words(self) -> str:
        volume = "×".join(map(str, self.t.out_size))
        return self.identity_statement(
            "conv3d", f"{volume} volume U", "unit volumes", int(np.prod(self.t.out_size))
        )

    def _by_conv_input_gradient(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """N×C_out×D_out×H_out×W_out: for each group, the conv3d's Jacobian M (rows: unit
        volumes U_r of the (C_out/g)×D_out×H_out×W_out input, columns: its (C_in/g)×D×H×W
        output) from conv3d_forward, then ∂/∂U of Σ X ⊙ conv3d(U) = M·X (``x`` N×C_in×D×H×W,
        ``w`` C_in×(C_out/g)×kd×kh×kw)."""
        t = self.t
        conv = t.adjoint()
        values = {name: getattr(conv, name) for name in fields(conv)}
        size = t.out_per_group * int(np.prod(t.out_size))
        one_group = type(conv)(
            **{
                **values,
                "batch": size,
                "in_channels": t.out_per_group,
                "out_channels": t.in_per_group,
                "groups": 1,
            }
        )
        units = np.eye(size, dtype=np.int64).reshape(size, t.out_per_group, *t.out_size)
        units = units.astype(object) if self.c.exact else units.astype(float)
        depth, height, width = t.in_size
        parts = []
        for group in range(t.groups):
            channels = slice(group * t.in_per_group, (group + 1) * t.in_per_group)
            responses = conv3d_forward(units, w[channels], one_group)
            matrix = responses[:, :, :depth, :height, :width].reshape(size, -1)
            x_group = x[:, channels].reshape(t.batch, -1)
            parts.append((x_group @ matrix.T).reshape(t.batch, t.out_per_group, *t.out_size))
        return np.concatenate(parts, axis=1)
