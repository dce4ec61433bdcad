"""The explanation of a 3-D conv problem (``dims: 3``, PyTorch's conv3d), read from its run's
trace: the conventions, the problem (every array one depth slice at a time), the output size
per axis, each output as its window's products and the backward sums.
The identities, Jacobians and loss are core/explain/conv3d_views.py, ``--focus`` (pictures
per depth slice) core/explain/conv3d_focus.py.

Arrays are NCDHW (core/ops/conv3d.py): input ``x`` N×C×D×H×W indexed (n, c, t, r, col),
kernel ``w`` O×(C/g)×kd×kh×kw indexed (o, c, e, m, q), output and upstream
N×O×D_out×H_out×W_out indexed (n, o, t, i, j); symbols are written in the spec's own axes.
Only the rows shown are looped over, so a large problem costs only what is shown.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from gradcalc.core.explain import (
    GRADIENT,
    Formula,
    Note,
    Product,
    Section,
    SumOfProducts,
    Symbol,
    keyed_sections,
)
from gradcalc.core.explain.conv import Explainer as PlaneExplainer
from gradcalc.core.explain.conv3d_views import ViewSections
from gradcalc.core.explain.conv_operands import Index, IndexedOperands
from gradcalc.core.kinds.conv import SECTIONS
from gradcalc.core.ops.conv3d import flip3, pad_input3

# Each spatial axis: its name in the size formulas, its cells, its padding sides, kernel size.
AXIS_NAMES = (
    ("D", "depth slices", ("p_front", "p_back"), "kd"),
    ("H", "rows", ("p_top", "p_bottom"), "kh"),
    ("W", "columns", ("p_left", "p_right"), "kw"),
)


class Explainer3d(ViewSections, IndexedOperands):
    """Builds the sections of a 3-D conv explanation."""

    def __init__(self, problem: Any, run: Any, options: Any):
        super().__init__(problem, run, options)
        self.g = g = problem.geometry
        self.taps = list(itertools.product(*(range(k) for k in g.kernel)))

    def _slid(self, tap: Index) -> Index:
        """The spec's kernel entry (e, m, q) that multiplies window tap ``tap``."""
        if self.p.flip_kernel:
            return tuple(k - 1 - t for k, t in zip(self.g.kernel, tap, strict=True))
        return tap

    def _cell(self, out: Index, tap: Index) -> Index:
        """The input position (t, r, col) window ``out`` puts tap ``tap`` on (may be padding)."""
        g = self.g
        return tuple(
            o * s + t * d - before
            for o, t, s, d, before in zip(out, tap, g.stride, g.dilation, g.before, strict=True)
        )

    def _inside(self, cell: Index) -> bool:
        return all(0 <= v < size for v, size in zip(cell, self.g.in_size, strict=True))

    # conventions -----------------------------------------------------------
    def forward_rule(self) -> str:
        """``y[n,o,t,i,j] = Σ_c,e,m,q x_padded[n,c,t+e,i+m,j+q]·w[o,c,e,m,q] + b[o]``."""
        p, g = self.p, self.g

        def position(out: str, tap: str, stride: int, dilation: int) -> str:
            s = f"·{stride}" if stride != 1 else ""
            d = f"·{dilation}" if dilation != 1 else ""
            return f"{out}{s}+{tap}{d}"

        spatial = [
            position(out, tap, s, d)
            for out, tap, s, d in zip("tij", "emq", g.stride, g.dilation, strict=True)
        ]
        taps = ("kd−1−e", "kh−1−m", "kw−1−q") if p.flip_kernel else ("e", "m", "q")
        out_names = dict(n="n", o="o", depth="t", row="i", col="j")
        out_index = ",".join(out_names[a] for a in p.output_axes)
        channel = "c₀+c" if g.groups > 1 else "c"
        in_names = dict(n="n", c=channel, depth=spatial[0], row=spatial[1], col=spatial[2])
        in_index = ",".join(in_names[a] for a in p.input_axes)
        # An input without a channel axis is one channel: the kernel's c is its first index.
        k_channel = "c" if "c" in p.input_axes else str(p.index_base)
        k_names = dict(o="o", c=k_channel, depth=taps[0], row=taps[1], col=taps[2])
        k_index = ",".join(k_names[a] for a in p.kernel_axes)
        summed = ("c," if g.in_channels > 1 or "c" in p.input_axes else "") + "e,m,q"
        bias = ""
        if p.bias is not None:
            bias = f" + {self.B}[o]" if p.bias.ndim == 1 else f" + {self.B}"
        padded = "_padded" if any(g.padding) else ""
        return f"{self.Y}[{out_index}] = Σ_{summed} {self.X}{padded}[{in_index}]·{self.K}[{k_index}]{bias}"

    def conventions(self) -> list[str]:
        p, g = self.p, self.g
        rule = self.forward_rule()
        if p.flip_kernel:
            items = [
                "true convolution (flip_kernel: true): the kernel is reversed along depth, rows "
                f"and columns before it slides, {rule}"
            ]
        else:
            items = [
                "cross-correlation (deep-learning convention, PyTorch conv3d): the kernel is "
                f"not flipped, {rule}"
            ]
        items.append(
            "3-D convolution (dims: 3): the last three axes are depth, rows and columns "
            "(output indices t, i, j; kernel taps e, m, q); arrays are shown one depth slice "
            "at a time"
        )
        if g.groups > 1:
            items.append(PlaneExplainer._groups_words(self))  # type: ignore[arg-type]
        items += self._geometry_words()
        letters = dict(n="n", c="c", depth="t", row="i", col="j")
        index_text = "".join(letters[a] for a in p.input_axes)
        items += PlaneExplainer._closing_words(self, index_text)  # type: ignore[arg-type]
        return items

    def _geometry_words(self) -> list[str]:
        """The padding (six sides), stride and dilation conventions."""
        p, g = self.p, self.g
        front, back, top, bottom, left, right = g.padding
        triple = lambda t: "×".join(map(str, t))  # noqa: E731
        return [
            f"zero padding {p.padding_text}: front {front}, back {back}, top {top}, "
            f"bottom {bottom}, left {left}, right {right}"
            if any(g.padding)
            else f"no padding ({p.padding_text})",
            f"stride {triple(g.stride)} (depth×rows×cols), dilation {triple(g.dilation)}",
        ]

    # sections --------------------------------------------------------------
    def sections(self) -> list[Section]:
        return keyed_sections(self, SECTIONS)

    def section_problem(self) -> Section:
        p, g = self.p, self.g
        section = Section("problem", "Problem")
        shape = lambda a: "×".join(map(str, a))  # noqa: E731
        section.add(
            Note(
                f"input {self.X}: {shape(p.input.shape)} ({', '.join(p.input_axes)}), kernel "
                f"{self.K}: {shape(p.kernel.shape)} ({', '.join(p.kernel_axes)}), output "
                f"{self.Y}: {shape(p.output_shape)} ({', '.join(p.output_axes)})"
            )
        )
        section.add(self.matrix(self.X, p.input, p.input_axes))
        if any(g.padding):
            padded = pad_input3(p.to_nchw(p.input), g.padding)
            front, back, top, bottom, left, right = g.padding
            section.add(
                self.matrix(
                    f"{self.X} padded",
                    padded.reshape(*p.input.shape[:-3], *g.padded),
                    p.input_axes,
                    caption=(
                        f"zeros added: {front} front, {back} back, {top} top, {bottom} bottom, "
                        f"{left} left, {right} right; padded indices count from the padded corner"
                    ),
                )
            )
        section.add(self.matrix(self.K, p.kernel, p.kernel_axes))
        if p.flip_kernel:
            section.add(
                self.matrix(
                    f"{self.K} reversed on every axis (as slid)", flip3(p.kernel), p.kernel_axes
                )
            )
        if p.bias is not None:
            section.add(self.matrix(self.B, p.bias, ("o",) if p.bias.ndim else ()))
        section.add(
            self.matrix(f"∂{self.L}/∂{self.Y} (upstream)", p.upstream, p.output_axes, role=GRADIENT)
        )
        return section

    def section_size(self) -> Section:
        g = self.g
        section = Section("size", "Output size")
        for axis, (name, cells, sides, k_name) in enumerate(AXIS_NAMES):
            size, k, s, d = g.in_size[axis], g.kernel[axis], g.stride[axis], g.dilation[axis]
            before, after = g.before[axis], g.after[axis]
            section.add(
                Formula(
                    label=f"{name}_out",
                    symbolic=f"{name}_out = ⌊({name} + {sides[0]} + {sides[1]} − d·({k_name} − 1) − 1)/s⌋ + 1",
                    numeric=("⌊(", size, " + ", before, " + ", after, " − ", d, "·(", k)
                    + (" − 1) − 1)/", s, "⌋ + 1"),
                    value=g.out_size[axis],
                )
            )
            remainder = (size + before + after - d * (k - 1) - 1) % s
            if remainder:
                section.add(
                    Note(
                        f"(the division leaves {remainder}: the stride does not tile the {cells}, "
                        "so the floor drops the last partial window)"
                    )
                )
            unread = self._unread(axis)
            if unread:
                listed = ", ".join(str(c + self.p.index_base) for c in unread)
                one = len(unread) == 1
                section.add(
                    Note(
                        f"input {cells} {listed} {'is' if one else 'are'} read by no window: "
                        f"{'its' if one else 'their'} gradient is 0."
                    )
                )
        return section

    def _unread(self, axis: int) -> list[int]:
        """Input positions (0-based) along ``axis`` that no window reads."""
        g = self.g
        before, size = g.before[axis], g.in_size[axis]
        read = np.zeros(g.padded[axis], dtype=bool)
        for m in range(g.kernel[axis]):
            start = m * g.dilation[axis]
            read[start : start + g.stride[axis] * (g.out_size[axis] - 1) + 1 : g.stride[axis]] = (
                True
            )
        return [int(i) for i in np.flatnonzero(~read[before : before + size])]

    def _output_indices(self) -> tuple[list[Index], int]:
        """The first outputs (n, o, t, i, j) to show, row-major, and how many are left out."""
        total = int(np.prod(self.g.output_shape))
        shown = self.options.cap(total)
        return [
            tuple(int(v) for v in np.unravel_index(r, self.g.output_shape)) for r in range(shown)
        ], total - shown

    def section_forward(self) -> Section:
        section = Section("forward", f"Forward: each output {self.Y} as a sum of products")
        rows, omitted = self._output_indices()
        for index in rows:
            section.add(self._output_sum(index))
        section.omitted = omitted
        return section

    def _output_sum(self, index: Index) -> SumOfProducts:
        """Output (n, o, t, i, j) as the sum of its window's products (padding terms counted)."""
        g = self.g
        n, o, *out = index
        first = g.group_inputs(o).start
        terms, padding_terms, extra = [], 0, 0
        for c in g.group_inputs(o):
            for tap in self.taps:
                cell = self._cell(tuple(out), tap)
                if not self._inside(cell):
                    padding_terms += 1
                    continue
                if len(terms) >= self.options.max_terms:
                    extra += 1
                    continue
                k_index = (o, c - first, *self._slid(tap))
                x_index = (n, c, *cell)
                terms.append(
                    Product(
                        (
                            (self.sym_x(x_index), self.x[x_index]),
                            (self.sym_w(k_index), self.w[k_index]),
                        )
                    )
                )
        constant = None
        if self.bias is not None:
            constant = (self.sym_b(o), self.bias[o] if self.bias.ndim == 1 else self.bias[()])
        note = (
            f"{padding_terms} term{'s' if padding_terms != 1 else ''} read zero padding (0)"
            if padding_terms
            else ""
        )
        return SumOfProducts(
            target=self.sym_y(index),
            terms=tuple(terms),
            constant=constant,
            value=self.c.output[index],
            note=note,
            omitted=extra,
        )

    def section_backward(self) -> Section:
        g, p = self.g, self.p
        section = Section(
            "backward",
            f"Backward: ∂{self.L}/∂{self.K}, ∂{self.L}/∂{self.X}"
            + (f", ∂{self.L}/∂{self.B}" if p.bias is not None else ""),
        )
        for shape, make in (
            (g.kernel_shape, self._kernel_gradient_sum),
            (g.input_shape, self._input_gradient_sum),
        ):
            total = int(np.prod(shape))
            shown = self.options.cap(total)
            for flat in range(shown):
                section.add(make(tuple(int(v) for v in np.unravel_index(flat, shape))))
            section.cut(total - shown)
        if p.bias is not None:
            channels: list[int | None] = list(range(g.out_channels)) if p.bias.ndim == 1 else [None]
            shown = self.options.cap(len(channels))
            for o in channels[:shown]:
                section.add(self._bias_gradient_sum(o))
            section.cut(len(channels) - shown)
        return section

    def _out_index_text(self) -> str:
        letters = dict(n="n", o="o", depth="t", row="i", col="j")
        return "".join(letters[a] for a in self.p.output_axes)

    def _kernel_gradient_sum(self, k_index: Index) -> SumOfProducts:
        """∂L/∂K at the spec's kernel entry (o, c, e, m, q): Σ upstream·input over the outputs
        whose window puts that entry on a real (unpadded) input cell."""
        g = self.g
        o, c, *entry = k_index
        cx = g.group_inputs(o)[c]
        tap = self._slid(tuple(entry))
        # Per axis, the outputs whose tap lands inside the input (found arithmetically).
        inside = [
            [
                v
                for v in range(g.out_size[a])
                if 0 <= v * g.stride[a] + tap[a] * g.dilation[a] - g.before[a] < g.in_size[a]
            ]
            for a in range(3)
        ]
        real_terms = g.batch * int(np.prod([len(v) for v in inside]))
        padding_terms = g.batch * int(np.prod(g.out_size)) - real_terms
        terms = []
        for n, *out in itertools.islice(
            itertools.product(range(g.batch), *inside), self.options.max_terms
        ):
            out_index = (n, o, *out)
            x_index = (n, cx, *self._cell(tuple(out), tap))
            terms.append(
                Product(
                    (
                        (self.sym_up(out_index), self.up[out_index]),
                        (self.sym_x(x_index), self.x[x_index]),
                    )
                )
            )
        target = self.sym_w(k_index)
        out_idx = self._out_index_text()
        return SumOfProducts(
            target=Symbol(f"∂{self.L}/∂{self.K}", target.index, self.sep),
            general=f"Σ_{out_idx} ∂{self.L}/∂{self.Y}_{out_idx}·∂{self.Y}_{out_idx}/∂{target.text}",
            terms=tuple(terms),
            value=self.c.grad_kernel[k_index],
            note=(
                f"{padding_terms} term{'s' if padding_terms != 1 else ''} read padding (0)"
                if padding_terms
                else ""
            ),
            omitted=max(0, real_terms - self.options.max_terms),
        )

    def _readers(self, position: Index) -> list[tuple[Index, Index]]:
        """(window (t, i, j), tap (e, m, q)) of every window tap on input ``position``."""
        g = self.g
        per_axis = []
        for a in range(3):
            found = []
            for m in range(g.kernel[a]):
                v, rest = divmod(position[a] + g.before[a] - m * g.dilation[a], g.stride[a])
                if not rest and 0 <= v < g.out_size[a]:
                    found.append((v, m))
            per_axis.append(sorted(found))
        return [
            (tuple(p[0] for p in combo), tuple(p[1] for p in combo))
            for combo in itertools.product(*per_axis)
        ]

    def _input_gradient_sum(self, x_index: Index) -> SumOfProducts:
        """∂L/∂X at (n, c, t, r, col): a sum over the windows that read it (in the output
        channels of c's group)."""
        g = self.g
        n, c, *position = x_index
        local = c % g.group_in
        terms, extra = [], 0
        readers = self._readers(tuple(position))
        for o in g.group_outputs(c):
            for out, tap in readers:
                if len(terms) >= self.options.max_terms:
                    extra += 1
                    continue
                out_index, k_index = (n, o, *out), (o, local, *self._slid(tap))
                terms.append(
                    Product(
                        (
                            (self.sym_up(out_index), self.up[out_index]),
                            (self.sym_w(k_index), self.w[k_index]),
                        )
                    )
                )
        target = self.sym_x(x_index)
        out_idx = self._out_index_text()
        return SumOfProducts(
            target=Symbol(f"∂{self.L}/∂{self.X}", target.index, self.sep),
            general=f"Σ_{out_idx} ∂{self.L}/∂{self.Y}_{out_idx}·∂{self.Y}_{out_idx}/∂{target.text}",
            terms=tuple(terms),
            value=self.c.grad_input[x_index],
            note="no window reads this cell" if not terms and not extra else "",
            omitted=extra,
        )

    def _bias_gradient_sum(self, o: int | None) -> SumOfProducts:
        """∂L/∂b for output channel ``o`` (None: the one shared bias): Σ of its upstream."""
        g, p = self.g, self.p
        channels = range(g.out_channels) if o is None else [o]
        total = g.batch * len(channels) * int(np.prod(g.out_size))
        cells = itertools.product(range(g.batch), channels, *(range(s) for s in g.out_size))
        terms = [
            Product(((self.sym_up(index), self.up[index]),))
            for index in itertools.islice(cells, self.options.max_terms)
        ]
        target = self.sym_b(o or 0)
        return SumOfProducts(
            target=Symbol(f"∂{self.L}/∂{self.B}", target.index, self.sep),
            general=f"Σ ∂{self.L}/∂{self.Y}"
            + ("" if o is None else f" over channel {o + p.index_base}")
            + f"  (∂{self.Y}/∂{self.B} = 1)",
            terms=tuple(terms),
            value=self.c.grad_bias[o] if o is not None else self.c.grad_bias[()],
            omitted=max(0, total - self.options.max_terms),
        )
