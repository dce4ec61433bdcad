"""The explanation of a conv problem (PyTorch's conv2d), read from its run's trace.

Array layout is NCHW: input ``x`` N×C×H×W, kernel ``w`` O×C×kh×kw, output ``y``
N×O×H_out×W_out; symbols are written in the spec's own axes (core/kinds/conv.py).
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.exact import bilinear_exact
from gradcalc.core.explain import (
    GRADIENT,
    Formula,
    Matrix,
    Note,
    Picture,
    Product,
    Section,
    SumOfProducts,
    Symbol,
    SymbolTable,
    index_separator,
    sentence,
)
from gradcalc.core.kinds.conv import SECTIONS, ConvProblem, ConvTrace

# The explainer's names for opkit's factor and same (kept while core/ops/ reshapes it).
from gradcalc.core.opkit import factor as _factor
from gradcalc.core.opkit import same as _same
from gradcalc.core.ops.conv import ConvGeometry, conv2d_forward, flip, pad_input
from gradcalc.core.outcome import Run
from gradcalc.core.values import to_float

if TYPE_CHECKING:  # imported when --focus is used (start-up cost)
    from gradcalc.core.windows import Focus, FocusTarget


class Explainer:
    """Builds the sections of a conv explanation; loops only over rows it shows."""

    def __init__(self, problem: ConvProblem, run: Run, options: common.SolveOptions):
        computed: ConvTrace = run.trace
        self.p = problem
        self.c = computed
        self.results = run.results
        self.options = options
        self.maps = computed.jacobian_maps
        g = problem.geometry
        self.g = g
        names = problem.names
        self.X, self.K, self.Y, self.L, self.B = (
            names[k] for k in ("input", "kernel", "output", "loss", "bias")
        )
        self.sep = index_separator(
            problem.input.shape,
            problem.kernel.shape,
            problem.output_shape,
            index_base=problem.index_base,
        )
        # The factors as the run used them (exact, or float64), in NCHW.
        self.x, self.w, self.up, self.bias = (
            computed.input,
            computed.kernel,
            computed.upstream,
            computed.bias,
        )

    # symbols -------------------------------------------------------------
    def _index(self, full: dict[str, int], axes: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(full[a] + self.p.index_base for a in axes)

    def sym_x(self, n: int, c: int, r: int, col: int) -> Symbol:
        return Symbol(
            self.X, self._index({"n": n, "c": c, "row": r, "col": col}, self.p.input_axes), self.sep
        )

    def sym_w(self, o: int, c: int, m: int, q: int) -> Symbol:
        return Symbol(
            self.K, self._index({"o": o, "c": c, "row": m, "col": q}, self.p.kernel_axes), self.sep
        )

    def sym_y(self, n: int, o: int, i: int, j: int, prefix: str = "") -> Symbol:
        return Symbol(
            prefix + self.Y,
            self._index({"n": n, "o": o, "row": i, "col": j}, self.p.output_axes),
            self.sep,
        )

    def sym_up(self, n: int, o: int, i: int, j: int) -> Symbol:
        return self.sym_y(n, o, i, j, prefix=f"∂{self.L}/∂")

    def sym_b(self, o: int) -> Symbol:
        if self.p.bias is not None and self.p.bias.ndim == 1:
            return Symbol(self.B, (o + self.p.index_base,), self.sep)
        return Symbol(self.B)

    def all_index_text(self, axes: tuple[str, ...]) -> str:
        letters = {"n": "n", "o": "o", "c": "c", "row": "i", "col": "j"}
        return "".join(letters[a] for a in axes)

    def forward_rule(self) -> str:
        """The forward formula in this problem's symbols, strides and dilations, e.g.
        ``H[i,j] = Σ_m,q X[i+m, j+q]·K[m,q]``."""
        p, g = self.p, self.g

        def position(out: str, tap: str, stride: int, dilation: int) -> str:
            return f"{out}{'·' + str(stride) if stride != 1 else ''}+{tap}{'·' + str(dilation) if dilation != 1 else ''}"

        rows = position("i", "m", g.stride[0], g.dilation[0])
        cols = position("j", "q", g.stride[1], g.dilation[1])
        out_index = ",".join({"n": "n", "o": "o", "row": "i", "col": "j"}[a] for a in p.output_axes)
        in_index = ",".join({"n": "n", "c": "c", "row": rows, "col": cols}[a] for a in p.input_axes)
        taps = ("kh−1−m", "kw−1−q") if p.flip_kernel else ("m", "q")
        k_index = ",".join(
            {"o": "o", "c": "c", "row": taps[0], "col": taps[1]}[a] for a in p.kernel_axes
        )
        summed = ("c," if g.in_channels > 1 or "c" in p.input_axes else "") + "m,q"
        bias = ""
        if p.bias is not None:
            bias = f" + {self.B}[o]" if p.bias.ndim == 1 else f" + {self.B}"
        padded = "_padded" if any(g.padding) else ""
        return f"{self.Y}[{out_index}] = Σ_{summed} {self.X}{padded}[{in_index}]·{self.K}[{k_index}]{bias}"

    # conventions ---------------------------------------------------------
    def conventions(self) -> list[str]:
        p, g = self.p, self.g
        items = []
        rule = self.forward_rule()
        if p.flip_kernel:
            items.append(
                f"true convolution (flip_kernel: true): the kernel is rotated 180° before it slides, {rule}"
            )
        else:
            items.append(
                f"cross-correlation (deep-learning convention, PyTorch conv2d): the kernel is not flipped, {rule}"
            )
        top, bottom, left, right = g.padding
        if any(g.padding):
            items.append(
                f"zero padding {p.padding_text}: top {top}, bottom {bottom}, left {left}, right {right}"
            )
        else:
            items.append(f"no padding ({p.padding_text})")
        items.append(
            f"stride {g.stride[0]}×{g.stride[1]} (rows×cols), dilation {g.dilation[0]}×{g.dilation[1]}"
        )
        items.append(
            f"indices start at {p.index_base} (index_base: {p.index_base}); "
            f"{self.X}_{self.all_index_text(p.input_axes)} is input[{', '.join(self.all_index_text(p.input_axes))}]"
        )
        if p.upstream_given:
            items.append(f"upstream ∂{self.L}/∂{self.Y} as given in the spec")
        else:
            items.append(
                f'upstream ∂{self.L}/∂{self.Y} = ones (omitted or "ones"), i.e. {self.L} = sum of all outputs'
            )
        if p.bias is not None:
            if p.bias.ndim == 0 and g.out_channels > 1:
                items.append(
                    f"one bias {self.B} shared by all {g.out_channels} output channels (∂{self.L}/∂{self.B} sums every output)"
                )
            elif p.bias.ndim == 1:
                items.append(f"one bias per output channel ({self.B} has {g.out_channels} entries)")
        if self.c.exact:
            items.append("exact rational arithmetic (fractions print as p/q unless --decimal)")
        else:
            items.append(
                f"float64 arithmetic: the problem needs {g.work:,} multiply-adds, above the exact limit "
                f"of {self.options.limits.exact_work:,}"
                if g.work > self.options.limits.exact_work
                else "float64 arithmetic (--float)"
            )
        return items

    # sections ------------------------------------------------------------
    def sections(self) -> list[Section]:
        builders = {
            "problem": self.section_problem,
            "size": self.section_size,
            "forward": self.section_forward,
            "jacobian": self.section_jacobian,
            "backward": self.section_backward,
            "identities": self.section_identities,
            "loss": self.section_loss,
        }
        return [builders[key]() for key in SECTIONS if self.options.wants(key)]

    def _matrix(
        self,
        label: str,
        values: np.ndarray,
        axes: tuple[str, ...],
        caption: str = "",
        role: str = "",
    ) -> Matrix:
        return Matrix(
            label=label,
            values=values,
            axis_names=axes,
            index_base=self.p.index_base,
            caption=caption,
            role=role,
        )

    def section_problem(self) -> Section:
        p, g = self.p, self.g
        section = Section("problem", "Problem")
        shape = lambda a: "×".join(map(str, a.shape))  # noqa: E731
        section.add(
            Note(
                f"input {self.X}: {shape(p.input)} ({', '.join(p.input_axes)}), kernel {self.K}: {shape(p.kernel)} "
                f"({', '.join(p.kernel_axes)}), output {self.Y}: {'×'.join(map(str, p.output_shape))} "
                f"({', '.join(p.output_axes)})"
            )
        )
        section.add(self._matrix(self.X, p.input, p.input_axes))
        if any(g.padding):
            padded = pad_input(self.p.to_nchw(p.input), g.padding)
            padded_axes = p.input_axes
            section.add(
                self._matrix(
                    f"{self.X} padded",
                    padded.reshape(*p.input.shape[:-2], g.padded_h, g.padded_w),
                    padded_axes,
                    caption=f"zeros added: {g.padding[0]} top, {g.padding[1]} bottom, {g.padding[2]} left, {g.padding[3]} right; "
                    "padded indices count from the padded corner",
                )
            )
        section.add(self._matrix(self.K, p.kernel, p.kernel_axes))
        if p.flip_kernel:
            section.add(
                self._matrix(f"{self.K} rotated 180° (as slid)", flip(p.kernel), p.kernel_axes)
            )
        if p.bias is not None:
            section.add(self._matrix(self.B, p.bias, ("o",) if p.bias.ndim else ()))
        section.add(
            self._matrix(
                f"∂{self.L}/∂{self.Y} (upstream)", p.upstream, p.output_axes, role=GRADIENT
            )
        )
        return section

    def section_size(self) -> Section:
        g = self.g
        section = Section("size", "Output size")
        for axis, size, pad_a, pad_b, d, k, s, out in (
            (
                "H",
                g.in_h,
                g.padding[0],
                g.padding[1],
                g.dilation[0],
                g.kernel_h,
                g.stride[0],
                g.out_h,
            ),
            (
                "W",
                g.in_w,
                g.padding[2],
                g.padding[3],
                g.dilation[1],
                g.kernel_w,
                g.stride[1],
                g.out_w,
            ),
        ):
            k_name = "kh" if axis == "H" else "kw"
            p_a, p_b = ("p_top", "p_bottom") if axis == "H" else ("p_left", "p_right")
            section.add(
                Formula(
                    label=f"{axis}_out",
                    symbolic=f"{axis}_out = ⌊({axis} + {p_a} + {p_b} − d·({k_name} − 1) − 1)/s⌋ + 1",
                    numeric=(
                        "⌊(",
                        size,
                        " + ",
                        pad_a,
                        " + ",
                        pad_b,
                        " − ",
                        d,
                        "·(",
                        k,
                        " − 1) − 1)/",
                        s,
                        "⌋ + 1",
                    ),
                    value=out,
                )
            )
            remainder = (size + pad_a + pad_b - d * (k - 1) - 1) % s
            if remainder:
                section.add(
                    Note(
                        f"(the division leaves {remainder}: the stride does not tile the {'rows' if axis == 'H' else 'columns'}, "
                        "so the floor drops the last partial window)"
                    )
                )
        if g.dilation == (1, 1) and g.padding[0] == g.padding[1] and g.padding[2] == g.padding[3]:
            section.add(
                Note(
                    "with dilation 1 and symmetric padding this is the familiar ⌊(I + 2P − K)/S⌋ + 1."
                )
            )
        unread = self._unread()
        for axis, cells in unread.items():
            if cells:
                listed = ", ".join(str(c + self.p.index_base) for c in cells)
                section.add(
                    Note(
                        f"input {axis} {listed} {'is' if len(cells) == 1 else 'are'} read by no window: "
                        f"{'its' if len(cells) == 1 else 'their'} gradient is 0."
                    )
                )
        return section

    def _unread(self) -> dict[str, list[int]]:
        g = self.g
        unread = {}
        for axis, padded, size, before, k, d, s, out in (
            (
                "rows",
                g.padded_h,
                g.in_h,
                g.padding[0],
                g.kernel_h,
                g.dilation[0],
                g.stride[0],
                g.out_h,
            ),
            (
                "columns",
                g.padded_w,
                g.in_w,
                g.padding[2],
                g.kernel_w,
                g.dilation[1],
                g.stride[1],
                g.out_w,
            ),
        ):
            read = np.zeros(padded, dtype=bool)
            for m in range(k):
                read[m * d : m * d + s * (out - 1) + 1 : s] = True
            unread[axis] = [int(i) for i in np.flatnonzero(~read[before : before + size])]
        return unread

    def _output_indices(self) -> tuple[list[tuple[int, int, int, int]], int]:
        """The first rows to show (n,o,i,j) in the output's row-major order, and how many are left out."""
        g = self.g
        total = g.batch * g.out_channels * g.out_h * g.out_w
        shown = self.options.cap(total)
        return [
            tuple(int(v) for v in np.unravel_index(r, (g.batch, g.out_channels, g.out_h, g.out_w)))
            for r in range(shown)
        ], total - shown

    def _slid_tap(self, m: int, q: int) -> tuple[int, int]:
        """The spec's kernel entry that multiplies tap (m, q) of a window."""
        if self.p.flip_kernel:
            return self.g.kernel_h - 1 - m, self.g.kernel_w - 1 - q
        return m, q

    def section_forward(self) -> Section:
        section = Section("forward", f"Forward: each output {self.Y} as a sum of products")
        rows, omitted = self._output_indices()
        for n, o, i, j in rows:
            section.add(self._output_sum(n, o, i, j))
        section.omitted = omitted
        return section

    def _output_sum(self, n: int, o: int, i: int, j: int) -> SumOfProducts:
        """Output (n, o, i, j) as the sum of its window's products (padding terms counted)."""
        g = self.g
        top, left = g.padding[0], g.padding[2]
        terms = []
        padding_terms = 0
        extra = 0
        for c in range(g.in_channels):
            for m in range(g.kernel_h):
                for q in range(g.kernel_w):
                    r = i * g.stride[0] + m * g.dilation[0] - top
                    col = j * g.stride[1] + q * g.dilation[1] - left
                    if not (0 <= r < g.in_h and 0 <= col < g.in_w):
                        padding_terms += 1
                        continue
                    if len(terms) >= self.options.max_terms:
                        extra += 1
                        continue
                    km, kq = self._slid_tap(m, q)
                    terms.append(
                        Product(
                            (
                                (self.sym_x(n, c, r, col), self.x[n, c, r, col]),
                                (self.sym_w(o, c, km, kq), self.w[o, c, km, kq]),
                            )
                        )
                    )
        constant = None
        if self.bias is not None:
            constant = (self.sym_b(o), self.bias[o] if self.bias.ndim == 1 else self.bias[()])
        note = []
        if padding_terms:
            note.append(
                f"{padding_terms} term{'s' if padding_terms != 1 else ''} read zero padding (0)"
            )
        return SumOfProducts(
            target=self.sym_y(n, o, i, j),
            terms=tuple(terms),
            constant=constant,
            value=self.c.output[n, o, i, j],
            note="; ".join(note),
            omitted=extra,
        )

    def _label_list(self, shape: tuple[int, ...], axes: tuple[str, ...], make) -> tuple[str, ...]:
        return tuple(make(dict(zip(axes, idx, strict=True))).text for idx in np.ndindex(*shape))

    def section_jacobian(self) -> Section:
        p = self.p
        section = Section("jacobian", "Jacobians")
        if self.maps is None:
            out_size = int(np.prod(p.output_shape))
            section.add(
                Note(
                    f"not built: ∂{self.Y}/∂{self.K} would have {out_size * p.kernel.size:,} entries and ∂{self.Y}/∂{self.X} "
                    f"{out_size * p.input.size:,}, above the limit of {self.options.limits.max_jacobian:,} "
                    "(raise it with --max-jacobian)"
                )
            )
            return section
        g = self.g
        full = lambda d, keys: {k: d.get(k, 0) for k in keys}  # noqa: E731
        out_labels = self._label_list(
            p.output_shape,
            p.output_axes,
            lambda d: self.sym_y(*full(d, ("n", "o", "row", "col")).values()),
        )
        k_labels = self._label_list(
            p.kernel.shape,
            p.kernel_axes,
            lambda d: self.sym_w(*full(d, ("o", "c", "row", "col")).values()),
        )
        x_labels = self._label_list(
            p.input.shape,
            p.input_axes,
            lambda d: self.sym_x(*full(d, ("n", "c", "row", "col")).values()),
        )
        shown_rows = self.options.cap(len(out_labels))
        kernel_map, input_map = self.maps
        x_symbols = [self.sym_x(*idx) for idx in np.ndindex(g.batch, g.in_channels, g.in_h, g.in_w)]
        w_symbols = [
            self.sym_w(*idx)
            for idx in np.ndindex(g.out_channels, g.in_channels, g.kernel_h, g.kernel_w)
        ]
        for label, columns, index_map, symbols, values in (
            (
                f"∂{self.Y}/∂{self.K}",
                k_labels,
                kernel_map,
                x_symbols,
                self.results["jacobian_kernel"],
            ),
            (
                f"∂{self.Y}/∂{self.X}",
                x_labels,
                input_map,
                w_symbols,
                self.results["jacobian_input"],
            ),
        ):
            symbolic_cells = tuple(
                tuple(symbols[k] if k >= 0 else Fraction(0) for k in index_map[r])
                for r in range(shown_rows)
            )
            numeric_cells = tuple(tuple(values[r]) for r in range(shown_rows))
            caption = f"row r, column k: ∂(output r)/∂(entry k); {len(out_labels)}×{len(columns)}"
            section.add(
                SymbolTable(
                    label + " (symbols)",
                    tuple(columns),
                    out_labels[:shown_rows],
                    symbolic_cells,
                    caption,
                    omitted=len(out_labels) - shown_rows,
                )
            )
            section.add(
                SymbolTable(
                    label + " (values)",
                    tuple(columns),
                    out_labels[:shown_rows],
                    numeric_cells,
                    omitted=len(out_labels) - shown_rows,
                )
            )
        return section

    def section_backward(self) -> Section:
        g, p = self.g, self.p
        section = Section(
            "backward",
            f"Backward: ∂{self.L}/∂{self.K}, ∂{self.L}/∂{self.X}"
            + (f", ∂{self.L}/∂{self.B}" if p.bias is not None else ""),
        )
        top, left = g.padding[0], g.padding[2]
        out_idx = self.all_index_text(p.output_axes)
        omitted = 0
        # ∂L/∂K: one row per kernel entry (the spec's indexing).
        kernel_total = p.kernel.size
        shown = self.options.cap(kernel_total)
        omitted += kernel_total - shown
        grad_kernel = self.c.grad_kernel
        for flat in range(shown):
            o, c, km, kq = (
                int(v)
                for v in np.unravel_index(
                    flat, (g.out_channels, g.in_channels, g.kernel_h, g.kernel_w)
                )
            )
            m, q = self._slid_tap(km, kq)
            # Outputs whose window puts tap (m, q) on a real (unpadded) cell; counted
            # arithmetically so a large problem costs only the terms shown.
            rows_in = [
                i for i in range(g.out_h) if 0 <= i * g.stride[0] + m * g.dilation[0] - top < g.in_h
            ]
            cols_in = [
                j
                for j in range(g.out_w)
                if 0 <= j * g.stride[1] + q * g.dilation[1] - left < g.in_w
            ]
            real_terms = g.batch * len(rows_in) * len(cols_in)
            padding_terms = g.batch * g.out_h * g.out_w - real_terms
            extra = max(0, real_terms - self.options.max_terms)
            terms = []
            for n, i, j in itertools.islice(
                itertools.product(range(g.batch), rows_in, cols_in), self.options.max_terms
            ):
                r = i * g.stride[0] + m * g.dilation[0] - top
                col = j * g.stride[1] + q * g.dilation[1] - left
                terms.append(
                    Product(
                        (
                            (self.sym_up(n, o, i, j), self.up[n, o, i, j]),
                            (self.sym_x(n, c, r, col), self.x[n, c, r, col]),
                        )
                    )
                )
            target = self.sym_w(o, c, km, kq)
            section.add(
                SumOfProducts(
                    target=Symbol(f"∂{self.L}/∂{self.K}", target.index, self.sep),
                    general=f"Σ_{out_idx} ∂{self.L}/∂{self.Y}_{out_idx}·∂{self.Y}_{out_idx}/∂{target.text}",
                    terms=tuple(terms),
                    value=grad_kernel[o, c, km, kq],
                    note=self._note(padding_terms, "read padding"),
                    omitted=extra,
                )
            )
        # ∂L/∂X: one row per input entry; the windows that read it are found arithmetically.
        input_total = p.input.size
        shown = self.options.cap(input_total)
        omitted += input_total - shown
        for flat in range(shown):
            n, c, a, b = (
                int(v) for v in np.unravel_index(flat, (g.batch, g.in_channels, g.in_h, g.in_w))
            )
            section.add(self._input_gradient_sum(n, c, a, b))
        if p.bias is not None:
            channels: list[int | None] = list(range(g.out_channels)) if p.bias.ndim == 1 else [None]
            omitted += len(channels) - self.options.cap(len(channels))
            grad_bias = self.c.grad_bias
            for o in channels[: self.options.cap(len(channels))]:
                summed_channels = range(g.out_channels) if o is None else [o]
                total_terms = g.batch * len(summed_channels) * g.out_h * g.out_w
                extra = max(0, total_terms - self.options.max_terms)
                cells = itertools.product(
                    range(g.batch), summed_channels, range(g.out_h), range(g.out_w)
                )
                terms = [
                    Product(((self.sym_up(n, oo, i, j), self.up[n, oo, i, j]),))
                    for n, oo, i, j in itertools.islice(cells, self.options.max_terms)
                ]
                target = self.sym_b(o or 0)
                section.add(
                    SumOfProducts(
                        target=Symbol(f"∂{self.L}/∂{self.B}", target.index, self.sep),
                        general=f"Σ ∂{self.L}/∂{self.Y}"
                        + ("" if o is None else f" over channel {o + p.index_base}")
                        + f"  (∂{self.Y}/∂{self.B} = 1)",
                        terms=tuple(terms),
                        value=grad_bias[o] if o is not None else grad_bias[()],
                        omitted=extra,
                    )
                )
        section.omitted = omitted
        return section

    def _input_gradient_sum(self, n: int, c: int, a: int, b: int) -> SumOfProducts:
        """∂L/∂x at (n, c, a, b) as a sum over the windows that read it, found arithmetically."""
        g, p = self.g, self.p
        top, left = g.padding[0], g.padding[2]
        out_idx = self.all_index_text(p.output_axes)
        terms, extra = [], 0
        for o in range(g.out_channels):
            for m in range(g.kernel_h):
                i, rest = divmod(a + top - m * g.dilation[0], g.stride[0])
                if rest or not 0 <= i < g.out_h:
                    continue
                for q in range(g.kernel_w):
                    j, rest = divmod(b + left - q * g.dilation[1], g.stride[1])
                    if rest or not 0 <= j < g.out_w:
                        continue
                    if len(terms) >= self.options.max_terms:
                        extra += 1
                        continue
                    km, kq = self._slid_tap(m, q)
                    terms.append(
                        Product(
                            (
                                (self.sym_up(n, o, i, j), self.up[n, o, i, j]),
                                (self.sym_w(o, c, km, kq), self.w[o, c, km, kq]),
                            )
                        )
                    )
        target = self.sym_x(n, c, a, b)
        return SumOfProducts(
            target=Symbol(f"∂{self.L}/∂{self.X}", target.index, self.sep),
            general=f"Σ_{out_idx} ∂{self.L}/∂{self.Y}_{out_idx}·∂{self.Y}_{out_idx}/∂{target.text}",
            terms=tuple(terms),
            value=self.c.grad_input[n, c, a, b],
            note="no window reads this cell" if not terms and not extra else "",
            omitted=extra,
        )

    # focus ---------------------------------------------------------------
    def section_focus(self, target: FocusTarget) -> tuple[Section, Focus]:
        """``--focus``: the cells one output reads (the window with stride, dilation and padding
        drawn), or the outputs one input cell feeds; with its sum from the forward or backward pass."""
        from gradcalc.core import windows

        g, p = self.g, self.p
        base = p.index_base
        rows, cols = g.window_axes()
        entries = {
            (m, q): self._slid_tap(m, q) for m in range(g.kernel_h) for q in range(g.kernel_w)
        }
        padding = "zero padding (0)" if any(g.padding) else ""
        channels = min(g.in_channels, windows.MAX_PLANES)
        if target.array.role == "output":
            n, o, i, j = (target.at(axis) for axis in ("n", "o", "row", "col"))
            y = self.sym_y(n, o, i, j).text
            taps = windows.window_taps(rows, cols, i, j)
            real = sum(tap.where == windows.REAL for tap in taps)
            section = Section(
                "focus",
                f"Focus: the {real} cell{'s' if real != 1 else ''} of {self.X} that {y} reads"
                + (f", in each of {g.in_channels} channels" if g.in_channels > 1 else ""),
            )
            section.add(Note(windows.placement_note(rows, cols, i, j, base)))
            for c in range(channels):
                section.add(
                    self._input_picture(
                        n, c, [tap.cell for tap in taps], windows.read_caption(y, taps, padding)
                    )
                )
            if channels < g.in_channels:
                section.add(Note(f"… channels {channels + base}–{g.in_channels - 1 + base} alike"))
            flipped = (
                " (flip_kernel: the kernel is rotated 180° as it slides)" if p.flip_kernel else ""
            )
            section.add(
                windows.tap_grid(
                    f"{self.K}: the cell of {self.X} each entry multiplies in {y}{flipped}",
                    taps,
                    (g.kernel_h, g.kernel_w),
                    lambda tap: windows.cell_name(
                        tap, lambda r, col: self._focus_cell(n, r, col), base
                    ),
                    index_base=base,
                    entries=entries,
                    caption=f"rows and columns: {self.K}'s indices",
                )
            )
            section.add(self._output_sum(n, o, i, j))
            return section, windows.Focus(y, "output", target.index, tuple(taps), entries)

        n, c, a, b = (target.at(axis) for axis in ("n", "c", "row", "col"))
        x = self.sym_x(n, c, a, b).text
        taps = windows.cell_readers(rows, cols, a, b)
        fed = len(taps) * g.out_channels
        title = (
            f"Focus: the {fed} output{'s' if fed != 1 else ''} {self.Y} that {x} feeds"
            if fed
            else f"Focus: {x} feeds no output {self.Y} (no window reads it)"
        )
        section = Section("focus", title)
        section.add(Note(windows.readers_note(rows, cols, a, b, base)))
        section.add(
            self._input_picture(
                n, c, [(a, b)], f"[v]: {x}" + (f"; ·: {padding}" if padding else "")
            )
        )
        outputs = self.c.output
        for o in range(min(g.out_channels, windows.MAX_PLANES)):
            section.add(
                windows.picture(
                    windows.plane_label(self.Y, p.output_axes, {"n": n, "o": o}, base),
                    outputs[n, o],
                    [tap.output for tap in taps],
                    index_base=base,
                    caption=f"[v]: an output whose window reads {x}"
                    if taps
                    else f"no output's window reads {x}",
                )
            )
        if g.out_channels > windows.MAX_PLANES:
            section.add(
                Note(
                    f"… output channels {windows.MAX_PLANES + base}–{g.out_channels - 1 + base} alike"
                )
            )
        labels, cells = [], []
        for o in range(g.out_channels):
            for tap in taps:
                km, kq = entries[tap.tap]
                labels.append(self.sym_y(n, o, *tap.output).text)
                cells.append(
                    (
                        windows.position_text(tap.tap, base),
                        self.sym_w(o, c, km, kq),
                        self.w[o, c, km, kq],
                    )
                )
        if taps:
            section.add(
                SymbolTable(
                    f"the outputs {x} feeds, and the {self.K} entry that multiplies it",
                    ("window tap (m, q)", f"∂{self.Y}/∂{x}", "value"),
                    tuple(labels),
                    tuple(cells),
                )
            )
        section.add(self._input_gradient_sum(n, c, a, b))
        return section, windows.Focus(x, "input", target.index, tuple(taps), entries)

    def _input_picture(self, n: int, c: int, cells: list[tuple[int, int]], caption: str) -> Picture:
        """Input plane (n, c) in its padding, with ``cells`` marked."""
        from gradcalc.core.windows import picture, plane_label

        base = self.p.index_base
        return picture(
            plane_label(self.X, self.p.input_axes, {"n": n, "c": c}, base),
            self.p.to_nchw(self.p.input)[n, c],
            cells,
            index_base=base,
            frame=self.g.window_axes(),
            caption=caption,
        )

    def _focus_cell(self, n: int, r: int, col: int) -> str:
        """An input cell's symbol in a tap grid; with channels, its position (every channel alike)."""
        if self.g.in_channels == 1:
            return self.sym_x(n, 0, r, col).text
        from gradcalc.core.windows import position_text

        return position_text((r, col), self.p.index_base)

    @staticmethod
    def _note(padding_terms: int, padding_words: str) -> str:
        if not padding_terms:
            return ""
        return f"{padding_terms} term{'s' if padding_terms != 1 else ''} {padding_words} (0)"

    def section_identities(self) -> Section:
        """The compact matrix identities, recomputed independently and compared."""
        g, p = self.g, self.p
        section = Section("identities", "Compact identities")
        exact = self.c.exact
        sh, sw = g.stride
        dh, dw = g.dilation
        x_padded = pad_input(self.x, g.padding)
        w_slid = flip(self.w) if p.flip_kernel else self.w
        # ∂L/∂K: correlate the padded input with the upstream; stride and dilation swap roles.
        kernel_geometry = ConvGeometry(
            batch=g.in_channels,
            in_channels=g.batch,
            out_channels=g.out_channels,
            in_h=g.padded_h,
            in_w=g.padded_w,
            kernel_h=g.out_h,
            kernel_w=g.out_w,
            stride=(dh, dw),
            padding=(0, 0, 0, 0),
            dilation=(sh, sw),
        )
        x_t = x_padded.transpose(1, 0, 2, 3)
        up_t = self.up.transpose(1, 0, 2, 3)
        if exact:
            by_identity = bilinear_exact(
                lambda a, b: conv2d_forward(a, b, kernel_geometry),
                x_t,
                up_t,
                g.batch * g.out_h * g.out_w,
                kernel_geometry.work,
            )
        else:
            by_identity = conv2d_forward(x_t, up_t, kernel_geometry)
        by_identity = by_identity.transpose(1, 0, 2, 3)[:, :, : g.kernel_h, : g.kernel_w]
        if p.flip_kernel:
            by_identity = flip(by_identity)
        kernel_ok = _same(by_identity, self.c.grad_kernel, exact)
        stride_words = (
            ""
            if g.stride == (1, 1)
            else f" (taps {sh}×{sw} apart: the forward stride becomes a dilation)"
        )
        dil_words = (
            ""
            if g.dilation == (1, 1)
            else f" (window moves {dh}×{dw}: the forward dilation becomes a stride)"
        )
        if p.flip_kernel:
            section.add(
                Note(
                    f"∂{self.L}/∂{self.K} = rot180({self.X}_padded ⋆ ∂{self.L}/∂{self.Y}){stride_words}{dil_words} "
                    f"= ∂{self.L}/∂{self.Y} * x̃ as a true convolution with the flipped input (seed 001's ∂L/∂w = ∂L/∂y * x̃)"
                    + (", summed over the batch" if g.batch > 1 else "")
                    + "; "
                    + (
                        "✓ equals the element sums above"
                        if kernel_ok
                        else "✗ DOES NOT equal the element sums (please report)"
                    )
                )
            )
        else:
            section.add(
                Note(
                    f"∂{self.L}/∂{self.K} = {self.X}_padded ⋆ ∂{self.L}/∂{self.Y}: the correlation of the (padded) input with the upstream"
                    f"{stride_words}{dil_words}"
                    + (", summed over the batch" if g.batch > 1 else "")
                    + "; "
                    + (
                        "✓ equals the element sums above"
                        if kernel_ok
                        else "✗ DOES NOT equal the element sums (please report)"
                    )
                )
            )
        # ∂L/∂X: stride-dilate the upstream, pad by d·(k−1), fully correlate with the rotated kernel.
        grid_h = sh * (g.out_h - 1) + 1
        grid_w = sw * (g.out_w - 1) + 1
        spread = np.zeros((g.batch, g.out_channels, grid_h, grid_w), dtype=self.up.dtype)
        if exact:
            spread.fill(Fraction(0))
        spread[:, :, ::sh, ::sw] = self.up
        full_pad = (
            dh * (g.kernel_h - 1),
            dh * (g.kernel_h - 1),
            dw * (g.kernel_w - 1),
            dw * (g.kernel_w - 1),
        )
        spread_padded = pad_input(spread, full_pad)
        rotated = flip(w_slid).transpose(1, 0, 2, 3)  # C×O×kh×kw
        input_geometry = ConvGeometry(
            batch=g.batch,
            in_channels=g.out_channels,
            out_channels=g.in_channels,
            in_h=spread_padded.shape[2],
            in_w=spread_padded.shape[3],
            kernel_h=g.kernel_h,
            kernel_w=g.kernel_w,
            stride=(1, 1),
            padding=(0, 0, 0, 0),
            dilation=(dh, dw),
        )
        if exact:
            covered = bilinear_exact(
                lambda a, b: conv2d_forward(a, b, input_geometry),
                spread_padded,
                rotated,
                g.out_channels * g.kernel_h * g.kernel_w,
                input_geometry.work,
            )
        else:
            covered = conv2d_forward(spread_padded, rotated, input_geometry)
        # `covered` spans the padded rows/cols some window reads; rows past the last window stay 0.
        grad_padded = np.zeros(
            (g.batch, g.in_channels, g.padded_h, g.padded_w), dtype=covered.dtype
        )
        if exact:
            grad_padded.fill(Fraction(0))
        grad_padded[:, :, : covered.shape[2], : covered.shape[3]] = covered
        top, left = g.padding[0], g.padding[2]
        by_identity_x = grad_padded[:, :, top : top + g.in_h, left : left + g.in_w]
        input_ok = _same(by_identity_x, self.c.grad_input, exact)
        kernel_words = (
            f"rot180({self.K})"
            if not p.flip_kernel
            else f"{self.K} itself (the slid kernel is already rotated)"
        )
        conv_words = (
            f"= the full true convolution ∂{self.L}/∂{self.Y} * {self.K}"
            if not p.flip_kernel
            else f"= the full true convolution ∂{self.L}/∂{self.Y} * {self.K}̃ with the flipped kernel (seed 001's ∂L/∂x = ∂L/∂y * w̃)"
        )
        spread_words = (
            f"stride-dilated: {sh - 1} zero row{'s' if sh != 2 else ''} and {sw - 1} zero column{'s' if sw != 2 else ''} "
            "inserted between entries, then "
            if g.stride != (1, 1)
            else ""
        )
        section.add(
            Note(
                f"∂{self.L}/∂{self.X} = full correlation of the upstream ({spread_words}zero-padded by d·(k−1) = "
                f"{full_pad[0]}×{full_pad[2]}) with {kernel_words} {conv_words}"
                + (", dilated" if g.dilation != (1, 1) else "")
                + (", summed over output channels" if g.out_channels > 1 else "")
                + (", then the padding rows/cols are cropped" if any(g.padding) else "")
                + "; "
                + (
                    "✓ equals the element sums above"
                    if input_ok
                    else "✗ DOES NOT equal the element sums (please report)"
                )
            )
        )
        if (
            g.batch == 1
            and g.in_channels == 1
            and g.out_channels == 1
            and spread_padded.size <= 400
        ):
            section.add(
                self._matrix(
                    f"∂{self.L}/∂{self.Y} spread and padded",
                    spread_padded[0, 0],
                    ("row", "col"),
                    role=GRADIENT,
                )
            )
            section.add(self._matrix(kernel_words.split(" ")[0], rotated[0, 0], ("row", "col")))
            section.add(
                self._matrix(
                    f"∂{self.L}/∂{self.X}", by_identity_x[0, 0], ("row", "col"), role=GRADIENT
                )
            )
        return section

    def section_loss(self) -> Section:
        section = Section("loss", "A loss with this upstream, and reading the gradient's sign")
        outputs = self.c.output
        rows, omitted = self._output_indices()
        tokens: list[Any] = []
        for position, (n, o, i, j) in enumerate(rows):
            if position:
                tokens.append(" + ")
            tokens.extend(_factor(self.up[n, o, i, j]))
            tokens.append("·" + self.sym_y(n, o, i, j).text)
        if omitted:
            tokens.append(f" + … ({omitted} more)")
        total = (
            float(np.sum(self.up * outputs))
            if not self.c.exact
            else sum((self.up * outputs).ravel(), Fraction(0))
        )
        section.add(
            Formula(
                label=self.L,
                symbolic=f"{self.L} = Σ ∂{self.L}/∂{self.Y} ⊙ {self.Y}  (upstream values held constant)",
                numeric=tuple(tokens),
                value=total,
            )
        )
        section.add(
            Note(
                f"differentiating gives ∂{self.L}/∂{self.Y} = the upstream exactly; with the other operand fixed, "
                f"{self.L} changes exactly linearly in {self.K} (and in {self.X}), so the statements below hold for any ε."
            )
        )
        grad = self.c.grad_kernel
        candidates = [(0, 0, 0, 0)]
        largest = tuple(
            int(v) for v in np.unravel_index(int(np.argmax(np.abs(to_float(grad)))), grad.shape)
        )
        if largest not in candidates:
            candidates.append(largest)
        for o, c, m, q in candidates:
            value = grad[o, c, m, q]
            name = self.sym_w(o, c, m, q).text
            L = self.L
            if value > 0:
                words: tuple = (
                    f"raising {name} by ε raises {L} by ",
                    *_times_epsilon(value),
                    f"; lowering it lowers {L}. Gradient descent ({name} ← {name} − η·",
                    value,
                    f") lowers {name}, which lowers {L}.",
                )
            elif value < 0:
                words = (
                    f"raising {name} by ε lowers {L} by ",
                    *_times_epsilon(-value),
                    f"; lowering it raises {L}. Gradient descent ({name} ← {name} − η·(",
                    value,
                    f")) raises {name}, which lowers {L}.",
                )
            else:
                words = (f"{L} does not change when {name} changes (to first order).",)
            section.add(sentence(f"∂{L}/∂{name} = ", value, ": ", *words))
        return section


def _times_epsilon(value: Any) -> tuple:
    """2 -> (2, "ε"), 1 -> ("ε",), 1/2 -> ("(", 1/2, ")ε"): sentence pieces."""
    if value == 1:
        return ("ε",)
    if value == int(value):
        return (value, "ε")
    return ("(", value, ")ε")
