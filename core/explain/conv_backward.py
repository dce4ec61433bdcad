"""The backward section of a conv explanation: ∂L/∂K, ∂L/∂X and ∂L/∂b, each entry as a sum
of products over the outputs it touches, with the value the run computed.

Arrays are NCHW (core/explain/conv_terms.py); the outputs a kernel tap or an input cell
meets are found arithmetically, so a large problem costs only the terms shown.
"""

from __future__ import annotations

import itertools

import numpy as np

from gradcalc.core.explain import Product, Section, SumOfProducts, Symbol
from gradcalc.core.explain.conv_terms import ConvTerms


class BackwardSections(ConvTerms):
    """``section_backward`` of a conv explanation."""

    def section_backward(self) -> Section:
        g, p = self.g, self.p
        section = Section(
            "backward",
            f"Backward: ∂{self.L}/∂{self.K}, ∂{self.L}/∂{self.X}"
            + (f", ∂{self.L}/∂{self.B}" if p.bias is not None else ""),
        )
        # ∂L/∂K: one row per kernel entry (the spec's indexing).
        kernel_total = p.kernel.size
        shown = self.options.cap(kernel_total)
        for flat in range(shown):
            o, c, km, kq = (
                int(v)
                for v in np.unravel_index(
                    flat, (g.out_channels, g.group_in, g.kernel_h, g.kernel_w)
                )
            )
            section.add(self._kernel_gradient_sum(o, c, km, kq))
        section.cut(kernel_total - shown)
        # ∂L/∂X: one row per input entry; the windows that read it are found arithmetically.
        input_total = p.input.size
        shown = self.options.cap(input_total)
        for flat in range(shown):
            n, c, a, b = (
                int(v) for v in np.unravel_index(flat, (g.batch, g.in_channels, g.in_h, g.in_w))
            )
            section.add(self._input_gradient_sum(n, c, a, b))
        section.cut(input_total - shown)
        if p.bias is not None:
            channels: list[int | None] = list(range(g.out_channels)) if p.bias.ndim == 1 else [None]
            for o in channels[: self.options.cap(len(channels))]:
                section.add(self._bias_gradient_sum(o))
            section.cut(len(channels) - self.options.cap(len(channels)))
        return section

    def _kernel_gradient_sum(self, o: int, c: int, km: int, kq: int) -> SumOfProducts:
        """∂L/∂K at the spec's kernel entry (o, c, km, kq): Σ upstream·input over the outputs
        whose window puts that entry on a real (unpadded) cell (c counts within o's group)."""
        g, p = self.g, self.p
        cx = g.group_inputs(o)[c]  # the input channel kernel channel c meets
        top, left = g.padding[0], g.padding[2]
        out_idx = self.all_index_text(p.output_axes)
        m, q = self._slid_tap(km, kq)
        # Outputs whose window puts tap (m, q) on a real (unpadded) cell; counted
        # arithmetically so a large problem costs only the terms shown.
        # The geometry's derived sizes, read once (properties, computed on each read).
        (stride_h, stride_w), (dilation_h, dilation_w) = g.stride, g.dilation
        out_h, out_w, in_h, in_w = g.out_h, g.out_w, g.in_h, g.in_w
        rows_in = [i for i in range(out_h) if 0 <= i * stride_h + m * dilation_h - top < in_h]
        cols_in = [j for j in range(out_w) if 0 <= j * stride_w + q * dilation_w - left < in_w]
        real_terms = g.batch * len(rows_in) * len(cols_in)
        padding_terms = g.batch * out_h * out_w - real_terms
        extra = max(0, real_terms - self.options.max_terms)
        terms = []
        for n, i, j in itertools.islice(
            itertools.product(range(g.batch), rows_in, cols_in), self.options.max_terms
        ):
            r = i * stride_h + m * dilation_h - top
            col = j * stride_w + q * dilation_w - left
            terms.append(
                Product(
                    (
                        (self.sym_up(n, o, i, j), self.up[n, o, i, j]),
                        (self.sym_x(n, cx, r, col), self.x[n, cx, r, col]),
                    )
                )
            )
        target = self.sym_w(o, c, km, kq)
        return SumOfProducts(
            target=Symbol(f"∂{self.L}/∂{self.K}", target.index, self.sep),
            general=f"Σ_{out_idx} ∂{self.L}/∂{self.Y}_{out_idx}·∂{self.Y}_{out_idx}/∂{target.text}",
            terms=tuple(terms),
            value=self.c.grad_kernel[o, c, km, kq],
            note=self._note(padding_terms, "read padding"),
            omitted=extra,
        )

    def _bias_gradient_sum(self, o: int | None) -> SumOfProducts:
        """∂L/∂b for output channel ``o`` (None: the one bias all channels share): the sum of
        the upstream over the outputs it is added to."""
        g, p = self.g, self.p
        summed_channels = range(g.out_channels) if o is None else [o]
        total_terms = g.batch * len(summed_channels) * g.out_h * g.out_w
        extra = max(0, total_terms - self.options.max_terms)
        cells = itertools.product(range(g.batch), summed_channels, range(g.out_h), range(g.out_w))
        terms = [
            Product(((self.sym_up(n, oo, i, j), self.up[n, oo, i, j]),))
            for n, oo, i, j in itertools.islice(cells, self.options.max_terms)
        ]
        target = self.sym_b(o or 0)
        grad_bias = self.c.grad_bias
        return SumOfProducts(
            target=Symbol(f"∂{self.L}/∂{self.B}", target.index, self.sep),
            general=f"Σ ∂{self.L}/∂{self.Y}"
            + ("" if o is None else f" over channel {o + p.index_base}")
            + f"  (∂{self.Y}/∂{self.B} = 1)",
            terms=tuple(terms),
            value=grad_bias[o] if o is not None else grad_bias[()],
            omitted=extra,
        )
