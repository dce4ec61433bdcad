"""The explanation of a conv_transpose problem (PyTorch's conv_transpose2d, or conv_transpose1d
written over its one axis; conv_transpose3d is core/explain/conv_transpose3d.py's), read from its run's trace: conventions, the problem, the output
size, the forward pass (each input entry's scatter, then each output as the sum it gathered)
and the Jacobians.  The backward pass (the
ordinary convolution it is) and the identity "conv_transpose forward = the input-gradient of
conv" are core/explain/conv_transpose_backward.py; the symbols, index arithmetic and the
scatter's and backward's sums (1-D to 3-D) core/explain/conv_transpose_terms.py.

Arrays are NCHW: input ``x`` N×C_in×H×W, kernel ``w`` C_in×(C_out/g)×kh×kw, output ``y``
N×C_out×H_out×W_out.
"""

from __future__ import annotations

from typing import Any

from gradcalc.core.explain import (
    GRADIENT,
    Formula,
    Note,
    Section,
    keyed_sections,
)
from gradcalc.core.explain.conv_transpose_backward import BackwardSections
from gradcalc.core.explain.pieces import (
    conv_arithmetic_words,
    conv_jacobians_section,
    index_and_upstream_words,
    index_tuple_labels,
)
from gradcalc.core.kinds.conv_transpose import SECTIONS
from gradcalc.core.ops.conv_transpose import ConvTransposeGeometry
from gradcalc.core.words import entries


def _channels(first: int, count: int, base: int) -> str:
    """ "channel 3" or "channels 2 … 3", numbered from ``base`` as the indices are."""
    if count == 1:
        return f"channel {first + base}"
    return f"channels {first + base} … {first + count - 1 + base}"


def groups_words(t: ConvTransposeGeometry, base: int) -> str:
    """Which output channels each group's input channels scatter into, numbered as the
    problem's indices are (``base``): every group spelled out up to four, else the rule."""
    if t.groups <= 4:
        parts = [
            f"input {_channels(k * t.in_per_group, t.in_per_group, base)} → output "
            f"{_channels(k * t.out_per_group, t.out_per_group, base)}"
            for k in range(t.groups)
        ]
        return (
            f"groups {t.groups}: each input channel scatters only into its group's output channels: "
            + "; ".join(parts)
        )
    return (
        f"groups {t.groups}: input {_rule(t.in_per_group, base)} "
        f"{'scatters' if t.in_per_group == 1 else 'scatter'} only into output "
        f"{_rule(t.out_per_group, base)} (group k = 0 … {t.groups - 1})"
    )


def _rule(per_group: int, base: int) -> str:
    """Group k's channels as a rule in k: "channel k + 1", "channels 2·k … 2·k + 1"."""
    first = f"{per_group}·k" if per_group > 1 else "k"
    start = f"{first} + {base}" if base else first
    if per_group == 1:
        return f"channel {start}"
    return f"channels {start} … {first} + {per_group - 1 + base}"


def size_formula(t: Any, axis: int, name: str, sides: tuple[str, str], k_name: str) -> Formula:
    """The output size along spatial ``axis`` of geometry ``t`` (1-D to 3-D), with its numbers:
    ``name``_out = (``name`` − 1)·s − p_before − p_after + d·(k − 1) + output_padding + 1."""
    before_name, after_name = sides
    return Formula(
        label=f"{name}_out",
        symbolic=f"{name}_out = ({name} − 1)·s − {before_name} − {after_name} + "
        f"d·({k_name} − 1) + output_padding + 1",
        numeric=("(", t.in_size[axis], " − 1)·", t.stride[axis], " − ")
        + (t.before[axis], " − ", t.after[axis], " + ", t.dilation[axis], "·(")
        + (t.kernel[axis], " − 1) + ", t.output_padding[axis], " + 1"),
        value=t.out_size[axis],
    )


class Explainer(BackwardSections):
    """Builds the sections of a conv_transpose explanation; loops only over what it shows."""

    def __new__(cls, problem: Any, run: Any, options: Any) -> Explainer:
        if problem.dims == 3:  # core/explain/conv_transpose3d.py explains a 3-D problem
            from gradcalc.core.explain.conv_transpose3d import Explainer3d

            return Explainer3d(problem, run, options)  # type: ignore[return-value]
        return super().__new__(cls)

    def scatter_rule(self) -> str:
        """The forward rule with this problem's numbers, e.g.
        ``y[o, a·2+m, b·2+q] += x[c, a, b]·w[c, o, m, q]``."""
        t = self.t

        def position(cell: str, tap: str, axis: int, pad: int) -> str:
            stride, dilation = t.stride[axis], t.dilation[axis]
            text = f"{cell}{'·' + str(stride) if stride != 1 else ''}+{tap}"
            text += f"·{dilation}" if dilation != 1 else ""
            return text + (f"−{pad}" if pad else "")

        # 1-D: one position index a and one tap index m (the 2-D row letters).
        cell, tap = ("a", "m") if t.dims == 1 else ("b", "q")
        spots = {
            "n": "n",
            "o": "o",
            "row": position("a", "m", 0, t.padding[0]),
            "col": position(cell, tap, 1, t.padding[2]),
        }
        out_index = ",".join(spots[a] for a in self.p.output_axes)
        in_index = ",".join(
            {"n": "n", "c": "c", "row": "a", "col": cell}[a] for a in self.p.input_axes
        )
        # An input without a channel axis is one channel: the kernel's c is its first index.
        k_channel = "c" if "c" in self.p.input_axes else str(self.p.index_base)
        k_index = ",".join(
            {"c": k_channel, "o": "o", "row": "m", "col": tap}[a] for a in self.p.kernel_axes
        )
        return f"{self.Y}[{out_index}] += {self.X}[{in_index}]·{self.K}[{k_index}]"

    # conventions -----------------------------------------------------------
    def conventions(self) -> list[str]:
        p, t = self.p, self.t
        kernel_shape = "×".join(map(str, p.kernel.shape))
        if t.dims == 1 and p.kernel.ndim == 1:  # a plain k: say what the one number is
            kernel_shape = f"k = {kernel_shape} (one input and one output channel)"
        items = [
            f"transposed convolution (PyTorch conv_transpose{t.dims}d): every input entry "
            f"scatters itself times the kernel into the output, {self.scatter_rule()} "
            "(only where the target lies inside the output)",
            f"kernel layout C_in×(C_out/g)×{'k' if t.dims == 1 else 'kh×kw'} (PyTorch's weight "
            f"for a transposed convolution): {self.K} is {kernel_shape}",
        ]
        if t.dims == 1:
            items.append(
                "1-D transposed convolution (dims 1, read from the vector input and vector kernel)"
                if p.dims_inferred
                else "1-D transposed convolution (dims: 1): the last axis is the signal's positions"
            )
        items += self._spacing_words()
        return items + self._closing_words() + conv_arithmetic_words(self, t.work)

    def _closing_words(self) -> list[str]:
        """The groups, indices, upstream and bias conventions, 1-D to 3-D (conv_transpose3d's
        explainer calls it too)."""
        p, t = self.p, self.t
        items = [groups_words(t, p.index_base)] if t.groups > 1 else []
        items += index_and_upstream_words(p.index_base, p.upstream_given, self.L, self.Y)
        if p.bias is not None:
            items.append(
                f"one bias {self.B} added to every output"
                if p.bias.ndim == 0
                else f"one bias per output channel ({self.B} has {entries(t.out_channels)})"
            )
        return items

    def _spacing_words(self) -> list[str]:
        """The stride, dilation, padding and output_padding conventions (1-D: one axis)."""
        p, t = self.p, self.t
        top, bottom, left, right = t.padding
        if t.dims == 1:
            items = [f"stride {t.stride[1]}, dilation {t.dilation[1]}"]
            cut = f"positions off the scattered output: left {left}, right {right}"
            added = f"output_padding {t.output_padding[1]}: positions added at the right"
        else:
            items = [
                f"stride {t.stride[0]}×{t.stride[1]} (rows×cols), dilation "
                f"{t.dilation[0]}×{t.dilation[1]}"
            ]
            cut = (
                f"rows/columns off the scattered output: top {top}, bottom {bottom}, "
                f"left {left}, right {right}"
            )
            added = (
                f"output_padding {t.output_padding[0]}×{t.output_padding[1]}: rows added at the "
                "bottom and columns at the right"
            )
        if any(t.padding):
            items.append(f"padding {p.padding_text} cuts {cut}")
        else:
            items.append(f"no padding ({p.padding_text})")
        if any(t.output_padding):
            items.append(f"{added} (they receive only what the scatter reaches there)")
        return items

    def sections(self) -> list[Section]:
        return keyed_sections(self, SECTIONS)

    # problem ---------------------------------------------------------------
    def section_problem(self) -> Section:
        p = self.p
        shape = lambda values: "×".join(map(str, values))  # noqa: E731
        # A 1-D problem's one spatial axis is the signal's positions.
        axes = lambda names: ", ".join(  # noqa: E731
            "position" if p.dims == 1 and a == "col" else a for a in names
        )
        section = Section("problem", "Problem")
        section.add(
            Note(
                f"input {self.X}: {shape(p.input.shape)} ({axes(p.input_axes)}), kernel "
                f"{self.K}: {shape(p.kernel.shape)} ({axes(p.kernel_axes)}), output "
                f"{self.Y}: {shape(p.output_shape)} ({axes(p.output_axes)})"
            )
        )
        section.add(self.matrix(self.X, p.input, p.input_axes))
        section.add(self.matrix(self.K, p.kernel, p.kernel_axes))
        if p.bias is not None:
            section.add(self.matrix(self.B, p.bias, ("o",) if p.bias.ndim else ()))
        section.add(
            self.matrix(f"∂{self.L}/∂{self.Y} (upstream)", p.upstream, p.output_axes, role=GRADIENT)
        )
        return section

    # size ------------------------------------------------------------------
    def section_size(self) -> Section:
        t = self.t
        section = Section("size", "Output size")
        # (spatial axis, its size's name, its padding sides, its kernel size's name)
        axes = ((0, "H", ("p_top", "p_bottom"), "kh"), (1, "W", ("p_left", "p_right"), "kw"))
        if t.dims == 1:  # one axis: the signal's length L and the kernel's k
            axes = ((1, "L", ("p_left", "p_right"), "k"),)
        for axis, name, sides, k_name in axes:
            section.add(size_formula(t, axis, name, sides, k_name))
        cells, taps, side = ("position", "k", "p_left") if t.dims == 1 else ("row", "kh", "p_top")
        section.add(
            Note(
                f"each input {cells} a scatters to {cells}s a·s + m·d − {side} (taps m = 0 … "
                f"{taps} − 1): the stride spreads the input apart, the padding cuts the "
                f"scattered output's edges, and output_padding adds {cells}s at the end (it "
                "only breaks the tie between input sizes that a strided conv would map to the "
                "same size)"
            )
        )
        return section

    # forward ---------------------------------------------------------------
    def section_forward(self) -> Section:
        t = self.t
        section = Section(
            "forward", f"Forward: each input entry's scatter, then each output {self.Y} as a sum"
        )
        self.add_entries(section, t.input_shape, ("input", self.p.input_axes), self._scatter)
        self.add_entries(section, t.output_shape, ("output", self.p.output_axes), self._output_sum)
        return section

    # jacobian --------------------------------------------------------------
    def section_jacobian(self) -> Section:
        return conv_jacobians_section(self, lambda: index_tuple_labels(self, self.t))
