"""What every part of a conv explanation is made of: the problem's symbols (in the spec's
own axes), its operands as the run used them, and the two sums the forward, backward and
``--focus`` sections all show — one output as its window's products, and ∂L/∂x at one
input cell as a sum over the windows that read it.

Arrays are NCHW: input ``x`` N×C×H×W, kernel ``w`` O×C×kh×kw, upstream and output
N×O×H_out×W_out (core/kinds/conv.py's ConvTrace).
"""

from __future__ import annotations

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.explain import (
    Product,
    SumOfProducts,
    Symbol,
)
from gradcalc.core.explain.conv_operands import Operands2d, axis_picks
from gradcalc.core.kinds.conv import ConvProblem
from gradcalc.core.outcome import Run


class ConvTerms(Operands2d):
    """The symbols, operands and shared sums of a conv explanation (its sections are the
    subclasses' and core/explain/conv.py's Explainer's)."""

    def __init__(self, problem: ConvProblem, run: Run, options: common.SolveOptions):
        super().__init__(problem, run, options)
        self.g = problem.geometry
        self._kernel_picks = axis_picks(("o", "c", "row", "col"), problem.kernel_axes)

    # symbols ---------------------------------------------------------------
    def sym_w(self, o: int, c: int, m: int, q: int) -> Symbol:
        return Symbol(self.K, self._picked((o, c, m, q), self._kernel_picks), self.sep)

    def all_index_text(self, axes: tuple[str, ...]) -> str:
        # A 1-D signal's one position index is i (its tap m), as 1-D texts write it.
        letters = {
            "n": "n",
            "o": "o",
            "c": "c",
            "row": "i",
            "col": "j" if self.g.dims == 2 else "i",
        }
        return "".join(letters[a] for a in axes)

    # shared pieces ---------------------------------------------------------
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

    @staticmethod
    def _note(padding_terms: int, padding_words: str) -> str:
        if not padding_terms:
            return ""
        return f"{padding_terms} term{'s' if padding_terms != 1 else ''} {padding_words} (0)"

    def _output_sum(self, n: int, o: int, i: int, j: int) -> SumOfProducts:
        """Output (n, o, i, j) as the sum of its window's products (padding terms counted);
        with groups only the input channels of o's group are read."""
        g = self.g
        top, left = g.padding[0], g.padding[2]
        terms = []
        padding_terms = 0
        extra = 0
        first = g.group_inputs(o).start
        (stride_h, stride_w), (dilation_h, dilation_w) = g.stride, g.dilation
        in_h, in_w, max_terms = g.in_h, g.in_w, self.options.max_terms
        for c in g.group_inputs(o):
            for m in range(g.kernel_h):
                for q in range(g.kernel_w):
                    r = i * stride_h + m * dilation_h - top
                    col = j * stride_w + q * dilation_w - left
                    if not (0 <= r < in_h and 0 <= col < in_w):
                        padding_terms += 1
                        continue
                    if len(terms) >= max_terms:
                        extra += 1
                        continue
                    km, kq = self._slid_tap(m, q)
                    terms.append(
                        Product(
                            (
                                (self.sym_x(n, c, r, col), self.x[n, c, r, col]),
                                (
                                    self.sym_w(o, c - first, km, kq),
                                    self.w[o, c - first, km, kq],
                                ),
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

    def _input_gradient_sum(self, n: int, c: int, a: int, b: int) -> SumOfProducts:
        """∂L/∂x at (n, c, a, b) as a sum over the windows that read it, found arithmetically
        (with groups, in the output channels of c's group only)."""
        g, p = self.g, self.p
        top, left = g.padding[0], g.padding[2]
        out_idx = self.all_index_text(p.output_axes)
        terms, extra = [], 0
        local = c - g.group_inputs(g.group_outputs(c).start).start  # c within its group
        # The geometry's derived sizes, read once (properties, computed on each read).
        (stride_h, stride_w), (dilation_h, dilation_w) = g.stride, g.dilation
        out_h, out_w, max_terms = g.out_h, g.out_w, self.options.max_terms
        for o in g.group_outputs(c):
            for m in range(g.kernel_h):
                i, rest = divmod(a + top - m * dilation_h, stride_h)
                if rest or not 0 <= i < out_h:
                    continue
                for q in range(g.kernel_w):
                    j, rest = divmod(b + left - q * dilation_w, stride_w)
                    if rest or not 0 <= j < out_w:
                        continue
                    if len(terms) >= max_terms:
                        extra += 1
                        continue
                    km, kq = self._slid_tap(m, q)
                    terms.append(
                        Product(
                            (
                                (self.sym_up(n, o, i, j), self.up[n, o, i, j]),
                                (self.sym_w(o, local, km, kq), self.w[o, local, km, kq]),
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
