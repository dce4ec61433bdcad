"""The explanation of a conv problem (PyTorch's conv2d), read from its run's trace.

Array layout is NCHW: input ``x`` N×C×H×W, kernel ``w`` O×C×kh×kw, output ``y``
N×O×H_out×W_out; symbols are written in the spec's own axes (core/kinds/conv.py).
The sections live by topic: the symbols and the sums several sections share in
``conv_terms``, the backward pass in ``conv_backward``, the compact identities in
``conv_identities``, ``--focus`` in ``conv_focus`` (imported only then); this module holds
the conventions, the problem, the output size, the forward pass, the Jacobians and the loss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core.explain import (
    GRADIENT,
    Formula,
    Note,
    Section,
    keyed_sections,
)
from gradcalc.core.explain.conv_backward import BackwardSections
from gradcalc.core.explain.conv_identities import IdentitySections
from gradcalc.core.explain.pieces import (
    conv_arithmetic_words,
    conv_jacobians_section,
    conv_loss_section,
)
from gradcalc.core.kinds.conv import SECTIONS
from gradcalc.core.ops.conv import flip, pad_input
from gradcalc.core.records import record
from gradcalc.core.words import entries

if TYPE_CHECKING:
    from gradcalc.core.explain.focus import Focus
    from gradcalc.core.kinds.focus import FocusTarget


@record(frozen=True)
class _Axis:
    """One spatial axis of the sliding window, as the output-size section writes it:
    ``name`` H or W, ``cells`` rows or columns; ``out`` windows over ``size`` input cells."""

    name: str
    cells: str
    size: int
    pad_before: int
    pad_after: int
    dilation: int
    kernel: int
    stride: int
    out: int


class Explainer(IdentitySections, BackwardSections):
    """Builds the sections of a conv explanation; loops only over rows it shows."""

    def __new__(cls, problem: Any, run: Any, options: Any) -> Explainer:
        if problem.dims == 3:  # a 3-D problem has its own explainer (core/explain/conv3d.py)
            if hasattr(run.trace, "inner_problem"):  # padding by copies: conv3d_padding.py
                from gradcalc.core.explain.conv3d_padding import PaddedExplainer3d

                return PaddedExplainer3d(problem, run, options)  # type: ignore[return-value]
            from gradcalc.core.explain.conv3d import Explainer3d

            return Explainer3d(problem, run, options)  # type: ignore[return-value]
        # A padding that copies input cells is explained over the padded input
        # (core/explain/conv_padding.py's subclass of this class).
        if cls is Explainer and hasattr(run.trace, "inner_problem"):
            from gradcalc.core.explain.conv_padding import PaddedExplainer

            return super().__new__(PaddedExplainer)
        return super().__new__(cls)

    def section_focus(self, target: FocusTarget) -> tuple[Section, Focus]:
        """``--focus`` (core/explain/conv_focus.py: imported only then, start-up cost)."""
        from gradcalc.core.explain import conv_focus

        return conv_focus.section_focus(self, target)

    def forward_rule(self) -> str:
        """The forward formula in this problem's symbols, strides and dilations, e.g.
        ``H[i,j] = Σ_m,q X[i+m, j+q]·K[m,q]`` (1-D: ``y[i] = Σ_m x[i+m]·w[m]``)."""
        p, g = self.p, self.g

        def position(out: str, tap: str, stride: int, dilation: int) -> str:
            return f"{out}{'·' + str(stride) if stride != 1 else ''}+{tap}{'·' + str(dilation) if dilation != 1 else ''}"

        rows = position("i", "m", g.stride[0], g.dilation[0])
        if g.dims == 1:  # one position index i and one tap index m
            cols, out_col, taps = position("i", "m", g.stride[1], g.dilation[1]), "i", ("", "k−1−m")
            taps = taps if p.flip_kernel else ("", "m")
        else:
            cols, out_col = position("j", "q", g.stride[1], g.dilation[1]), "j"
            taps = ("kh−1−m", "kw−1−q") if p.flip_kernel else ("m", "q")
        out_index = ",".join(
            {"n": "n", "o": "o", "row": "i", "col": out_col}[a] for a in p.output_axes
        )
        channel = "c₀+c" if g.groups > 1 else "c"
        in_index = ",".join(
            {"n": "n", "c": channel, "row": rows, "col": cols}[a] for a in p.input_axes
        )
        # An input without a channel axis is one channel: the kernel's c is its first index.
        k_channel = "c" if "c" in p.input_axes else str(p.index_base)
        k_index = ",".join(
            {"o": "o", "c": k_channel, "row": taps[0], "col": taps[1]}[a] for a in p.kernel_axes
        )
        spatial = "m" if g.dims == 1 else "m,q"
        summed = ("c," if g.in_channels > 1 or "c" in p.input_axes else "") + spatial
        bias = ""
        if p.bias is not None:
            bias = f" + {self.B}[o]" if p.bias.ndim == 1 else f" + {self.B}"
        padded = "_padded" if any(g.padding) else ""
        return f"{self.Y}[{out_index}] = Σ_{summed} {self.X}{padded}[{in_index}]·{self.K}[{k_index}]{bias}"

    # conventions -----------------------------------------------------------
    def conventions(self) -> list[str]:
        p, g = self.p, self.g
        items = []
        rule = self.forward_rule()
        torch_name = "conv1d" if g.dims == 1 else "conv2d"
        if p.flip_kernel:
            items.append(
                f"true convolution (flip_kernel: true): the kernel is rotated 180° before it slides, {rule}"
                if g.dims == 2
                else f"true convolution (flip_kernel: true): the kernel is reversed before it slides, {rule}"
            )
        else:
            items.append(
                f"cross-correlation (deep-learning convention, PyTorch {torch_name}): the kernel is not flipped, {rule}"
            )
        if g.dims == 1:
            items.append(
                "1-D convolution (dims 1, read from the vector input and vector kernel)"
                if p.dims_inferred
                else "1-D convolution (dims: 1): the last axis is the signal's positions"
            )
        if g.groups > 1:
            items.append(self._groups_words())
        items.extend(self._geometry_words())
        items += self._closing_words(self.all_index_text(p.input_axes))
        return items

    def _closing_words(self, index_text: str) -> list[str]:
        """The indices, upstream, bias and arithmetic conventions, 1-D to 3-D (conv3d's
        explainer gives its own ``index_text``, the input's index letters)."""
        p, g = self.p, self.g
        items = [
            f"indices start at {p.index_base} (index_base: {p.index_base}); "
            f"{self.X}_{index_text} is input[{', '.join(index_text)}]"
        ]
        if p.upstream_given:
            items.append(f"upstream ∂{self.L}/∂{self.Y} as given in the spec")
        else:
            items.append(
                f'upstream ∂{self.L}/∂{self.Y} = ones (omitted or "ones"), i.e. {self.L} = sum '
                "of all outputs"
            )
        if p.bias is not None and p.bias.ndim == 0 and g.out_channels > 1:
            items.append(
                f"one bias {self.B} shared by all {g.out_channels} output channels "
                f"(∂{self.L}/∂{self.B} sums every output)"
            )
        elif p.bias is not None and p.bias.ndim == 1:
            items.append(f"one bias per output channel ({self.B} has {entries(g.out_channels)})")
        return items + conv_arithmetic_words(self, g.work)

    def _geometry_words(self) -> list[str]:
        """The padding, stride and dilation conventions (1-D: left and right only)."""
        p, g = self.p, self.g
        top, bottom, left, right = g.padding
        items = []
        if g.dims == 1:
            if any(g.padding):
                causal = (
                    " (causal: each output reads only inputs at or before its own position)"
                    if g.stride[1] == 1 and right == 0 and left == g.dilation[1] * (g.kernel_w - 1)
                    else ""
                )
                items.append(f"zero padding {p.padding_text}: left {left}, right {right}{causal}")
            else:
                items.append(f"no padding ({p.padding_text})")
            items.append(f"stride {g.stride[1]}, dilation {g.dilation[1]}")
            return items
        if any(g.padding):
            items.append(
                f"zero padding {p.padding_text}: top {top}, bottom {bottom}, left {left}, right {right}"
            )
        else:
            items.append(f"no padding ({p.padding_text})")
        items.append(
            f"stride {g.stride[0]}×{g.stride[1]} (rows×cols), dilation {g.dilation[0]}×{g.dilation[1]}"
        )
        return items

    def _groups_words(self) -> str:
        """Which input channels each output channel reads, group by group."""
        g, base = self.g, self.p.index_base

        def span(r: range) -> str:
            return str(r.start + base) if len(r) == 1 else f"{r.start + base}–{r.stop - 1 + base}"

        groups = [
            f"output channel{'s' if g.group_out > 1 else ''} {span(range(k * g.group_out, (k + 1) * g.group_out))} "
            f"read{'' if g.group_out > 1 else 's'} input channel{'s' if g.group_in > 1 else ''} "
            f"{span(range(k * g.group_in, (k + 1) * g.group_in))}"
            for k in range(g.groups)
        ]
        depthwise = " (depthwise)" if g.groups == g.in_channels else ""
        return (
            f"groups {g.groups}{depthwise}: the kernel is C_out×(C_in/groups)×… = "
            f"{g.out_channels}×{g.group_in}×…, and c₀ is the first input channel of o's group "
            f"(c counts within it): " + "; ".join(groups)
        )

    # sections --------------------------------------------------------------
    def sections(self) -> list[Section]:
        return keyed_sections(self, SECTIONS)

    def section_problem(self) -> Section:
        p, g = self.p, self.g
        section = Section("problem", "Problem")
        shape = lambda a: "×".join(map(str, a.shape))  # noqa: E731
        # A 1-D problem's one spatial axis is the signal's positions.
        axes = lambda a: ", ".join("position" if g.dims == 1 and x == "col" else x for x in a)  # noqa: E731
        section.add(
            Note(
                f"input {self.X}: {shape(p.input)} ({axes(p.input_axes)}), kernel {self.K}: {shape(p.kernel)} "
                f"({axes(p.kernel_axes)}), output {self.Y}: {'×'.join(map(str, p.output_shape))} "
                f"({axes(p.output_axes)})"
            )
        )
        section.add(self.matrix(self.X, p.input, p.input_axes))
        if any(g.padding):
            padded = pad_input(self.p.to_nchw(p.input), g.padding)
            padded_axes = p.input_axes
            if g.dims == 1:
                shape = (*p.input.shape[:-1], g.padded_w)
                caption = (
                    f"zeros added: {g.padding[2]} left, {g.padding[3]} right; "
                    "padded indices count from the padded start"
                )
            else:
                shape = (*p.input.shape[:-2], g.padded_h, g.padded_w)
                caption = (
                    f"zeros added: {g.padding[0]} top, {g.padding[1]} bottom, {g.padding[2]} left, {g.padding[3]} right; "
                    "padded indices count from the padded corner"
                )
            section.add(
                self.matrix(f"{self.X} padded", padded.reshape(shape), padded_axes, caption=caption)
            )
        section.add(self.matrix(self.K, p.kernel, p.kernel_axes))
        if p.flip_kernel:
            section.add(
                self.matrix(
                    f"{self.K} rotated 180° (as slid)"
                    if g.dims == 2
                    else f"{self.K} reversed (as slid)",
                    flip(p.kernel) if g.dims == 2 else p.kernel[..., ::-1],
                    p.kernel_axes,
                )
            )
        if p.bias is not None:
            section.add(self.matrix(self.B, p.bias, ("o",) if p.bias.ndim else ()))
        section.add(
            self.matrix(f"∂{self.L}/∂{self.Y} (upstream)", p.upstream, p.output_axes, role=GRADIENT)
        )
        return section

    def _axes(self) -> tuple[_Axis, ...]:
        """The window's geometry along rows (H) and columns (W); 1-D: along the signal (L)."""
        g = self.g
        if g.dims == 1:
            return (
                _Axis(
                    "L",
                    "positions",
                    g.in_w,
                    *g.padding[2:],
                    g.dilation[1],
                    g.kernel_w,
                    g.stride[1],
                    g.out_w,
                ),
            )
        return (
            _Axis(
                "H", "rows", g.in_h, *g.padding[:2], g.dilation[0], g.kernel_h, g.stride[0], g.out_h
            ),
            _Axis(
                "W",
                "columns",
                g.in_w,
                *g.padding[2:],
                g.dilation[1],
                g.kernel_w,
                g.stride[1],
                g.out_w,
            ),
        )

    def section_size(self) -> Section:
        g = self.g
        section = Section("size", "Output size")
        for axis in self._axes():
            for item in self._size_formula(axis):
                section.add(item)
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

    @staticmethod
    def _size_formula(axis: _Axis) -> list[Formula | Note]:
        """H_out (or W_out) from the formula with this problem's numbers, and a note when the
        stride leaves a partial window that the floor drops."""
        name, size, pad_a, pad_b = axis.name, axis.size, axis.pad_before, axis.pad_after
        d, k, s = axis.dilation, axis.kernel, axis.stride
        k_name = {"H": "kh", "W": "kw", "L": "k"}[name]
        p_a, p_b = ("p_top", "p_bottom") if name == "H" else ("p_left", "p_right")
        items: list[Formula | Note] = [
            Formula(
                label=f"{name}_out",
                symbolic=f"{name}_out = ⌊({name} + {p_a} + {p_b} − d·({k_name} − 1) − 1)/s⌋ + 1",
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
                value=axis.out,
            )
        ]
        remainder = (size + pad_a + pad_b - d * (k - 1) - 1) % s
        if remainder:
            items.append(
                Note(
                    f"(the division leaves {remainder}: the stride does not tile the {axis.cells}, "
                    "so the floor drops the last partial window)"
                )
            )
        return items

    def _unread(self) -> dict[str, list[int]]:
        """Input rows and columns (0-based) no window reads, by axis ("rows", "columns")."""
        unread = {}
        for axis in self._axes():
            before, size, k, d, s = (
                axis.pad_before,
                axis.size,
                axis.kernel,
                axis.dilation,
                axis.stride,
            )
            read = np.zeros(size + before + axis.pad_after, dtype=bool)
            for m in range(k):
                read[m * d : m * d + s * (axis.out - 1) + 1 : s] = True
            unread[axis.cells] = [int(i) for i in np.flatnonzero(~read[before : before + size])]
        return unread

    def section_forward(self) -> Section:
        section = Section("forward", f"Forward: each output {self.Y} as a sum of products")
        rows, omitted = self._output_indices()
        for n, o, i, j in rows:
            section.add(self._output_sum(n, o, i, j))
        section.omitted = omitted
        return section

    def _label_list(self, shape: tuple[int, ...], axes: tuple[str, ...], make) -> tuple[str, ...]:
        return tuple(make(dict(zip(axes, idx, strict=True))).text for idx in np.ndindex(*shape))

    def section_jacobian(self) -> Section:
        return conv_jacobians_section(self, self._jacobian_labels)

    def _jacobian_labels(self) -> tuple[Any, ...]:
        """The labels and symbols of conv_jacobians_section: NCHW indices, the kernel O×(C/g)×kh×kw."""
        p, g = self.p, self.g
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
        x_symbols = [self.sym_x(*idx) for idx in np.ndindex(g.batch, g.in_channels, g.in_h, g.in_w)]
        w_symbols = [
            self.sym_w(*idx)
            for idx in np.ndindex(g.out_channels, g.group_in, g.kernel_h, g.kernel_w)
        ]
        return out_labels, (k_labels, w_symbols), (x_labels, x_symbols)

    def section_loss(self) -> Section:
        return conv_loss_section(
            self, lambda index: self.sym_y(*index), lambda index: self.sym_w(*index)
        )
