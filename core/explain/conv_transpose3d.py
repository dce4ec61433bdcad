"""The explanation of a 3-D conv_transpose problem (``dims: 3``, PyTorch's conv_transpose3d),
read from its run's trace: conventions, the problem (every array one depth slice at a time),
the output size per axis with numbers, the forward pass (each input entry's scatter, then each
output as the sum it gathered, one depth slice at a time) and the Jacobians.  The backward
pass (the conv3d it is) and identities are core/explain/conv_transpose3d_backward.py; the
symbols, index arithmetic and sums, 1-D to 3-D, core/explain/conv_transpose_terms.py.

Arrays are NCDHW: input ``x`` N×C_in×D×H×W indexed (n, c, a, b, c'), kernel ``w``
C_in×(C_out/g)×kd×kh×kw indexed (c, o, e, m, q), output N×C_out×D_out×H_out×W_out indexed
(n, o, t, i, j).  Only the entries shown are looped over.
"""

from __future__ import annotations

from gradcalc.core.explain import (
    Note,
    Section,
    keyed_sections,
)
from gradcalc.core.explain.conv_transpose import Explainer as PlaneExplainer
from gradcalc.core.explain.conv_transpose import size_formula
from gradcalc.core.explain.conv_transpose3d_backward import BackwardSections3d
from gradcalc.core.explain.pieces import (
    conv_arithmetic_words,
    conv_jacobians_section,
    index_tuple_labels,
)
from gradcalc.core.kinds.conv_transpose import SECTIONS

# Each spatial axis: its name in the size formula, its padding sides, its kernel size's name.
AXIS_NAMES = (
    ("D", ("p_front", "p_back"), "kd"),
    ("H", ("p_top", "p_bottom"), "kh"),
    ("W", ("p_left", "p_right"), "kw"),
)


class Explainer3d(BackwardSections3d):
    """Builds the sections of a 3-D conv_transpose explanation."""

    def scatter_rule(self) -> str:
        """The forward rule with this problem's numbers, e.g.
        ``y[o, a·2+e, b·2+m, c'·2+q] += x[c, a, b, c']·w[c, o, e, m, q]``."""
        t = self.t

        def position(cell: str, tap: str, axis: int) -> str:
            stride, dilation, pad = t.stride[axis], t.dilation[axis], t.before[axis]
            text = f"{cell}{'·' + str(stride) if stride != 1 else ''}+{tap}"
            text += f"·{dilation}" if dilation != 1 else ""
            return text + (f"−{pad}" if pad else "")

        channel = "o"
        if t.groups > 1:  # y's channel: the first of c's group, plus o
            group = "c" if t.in_per_group == 1 else f"⌊c/{t.in_per_group}⌋"
            first = group if t.out_per_group == 1 else f"{group}·{t.out_per_group}"
            channel = first if t.out_per_group == 1 else f"{first}+o"
        spots = dict(n="n", o=channel, depth=position("a", "e", 0), row=position("b", "m", 1))
        spots["col"] = position("c'", "q", 2)
        out_index = ",".join(spots[a] for a in self.p.output_axes)
        in_names = dict(n="n", c="c", depth="a", row="b", col="c'")
        in_index = ",".join(in_names[a] for a in self.p.input_axes)
        # An input without a channel axis is one channel: the kernel's c is its first index.
        k_channel = "c" if "c" in self.p.input_axes else str(self.p.index_base)
        k_names = dict(c=k_channel, o="o", depth="e", row="m", col="q")
        k_index = ",".join(k_names[a] for a in self.p.kernel_axes)
        return f"{self.Y}[{out_index}] += {self.X}[{in_index}]·{self.K}[{k_index}]"

    # conventions -----------------------------------------------------------
    def conventions(self) -> list[str]:
        p, t = self.p, self.t
        items = [
            "transposed convolution (PyTorch conv_transpose3d): every input entry scatters "
            f"itself times the kernel into the output, {self.scatter_rule()} (only where the "
            "target lies inside the output)",
            "kernel layout C_in×(C_out/g)×kd×kh×kw (PyTorch's weight for a transposed "
            f"convolution): {self.K} is {'×'.join(map(str, p.kernel.shape))}",
            "3-D transposed convolution (dims: 3): the last three axes are depth, rows and "
            "columns (input positions a, b, c'; kernel taps e, m, q); the arrays, the "
            f"scatters and the sums of {self.Y} and ∂{self.L}/∂{self.X} are shown one depth "
            "slice at a time",
        ]
        items += self._spacing_words()
        items += PlaneExplainer._closing_words(self)  # type: ignore[arg-type]
        return items + conv_arithmetic_words(self, t.work)  # with the symbols it holds

    def _spacing_words(self) -> list[str]:
        """The stride, dilation, padding and output_padding conventions (depth×rows×cols)."""
        p, t = self.p, self.t
        triple = lambda v: "×".join(map(str, v))  # noqa: E731
        items = [f"stride {triple(t.stride)} (depth×rows×cols), dilation {triple(t.dilation)}"]
        front, back, top, bottom, left, right = t.padding
        if any(t.padding):
            items.append(
                f"padding {p.padding_text} cuts cells off the scattered output: front {front}, "
                f"back {back}, top {top}, bottom {bottom}, left {left}, right {right}"
            )
        else:
            items.append(f"no padding ({p.padding_text})")
        if any(t.output_padding):
            items.append(
                f"output_padding {triple(t.output_padding)}: depth slices added at the back, "
                "rows at the bottom and columns at the right (they receive only what the "
                "scatter reaches there)"
            )
        return items

    def sections(self) -> list[Section]:
        return keyed_sections(self, SECTIONS)

    # problem ---------------------------------------------------------------
    # The 2-D explainer's: its shapes, axes and tables cover 3-D (only 1-D renames an axis).
    section_problem = PlaneExplainer.section_problem

    # size ------------------------------------------------------------------
    def section_size(self) -> Section:
        t = self.t
        section = Section("size", "Output size")
        for axis, (name, sides, k_name) in enumerate(AXIS_NAMES):
            section.add(size_formula(t, axis, name, sides, k_name))
        section.add(
            Note(
                "on each axis input position a scatters to a·s + e·d − p_before (taps e = 0 … "
                "k − 1): the stride spreads the input apart, the padding cuts the scattered "
                "output's edges, and output_padding adds cells at the end (it only breaks the "
                "tie between input sizes that a strided conv would map to the same size)"
            )
        )
        return section

    # forward ---------------------------------------------------------------
    # The 2-D explainer's, with Terms3d's depth-slice headings.
    section_forward = PlaneExplainer.section_forward

    # jacobian --------------------------------------------------------------
    def section_jacobian(self) -> Section:
        return conv_jacobians_section(self, lambda: index_tuple_labels(self, self.t))
