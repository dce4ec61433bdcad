"""What the 3-D conv and conv_transpose explanations share: the run's operands and names,
and each entry's symbol from its NCDHW index tuple, written in the spec's own axes.

The two differ only in the kernel's layout: conv3d's O×(C/g)×kd×kh×kw (o, c, e, m, q),
conv_transpose3d's C_in×(C_out/g)×kd×kh×kw (c, o, e, m, q): ``KERNEL_INDEX``.
"""

from __future__ import annotations

from gradcalc.core.explain.conv_operands import IndexedOperands

Index = tuple[int, ...]
SPATIAL = ("depth", "row", "col")


class Operands3d(IndexedOperands):
    """The operands and names (core/explain/conv_operands.Operands) and the symbols of a 3-D
    explanation's entries, from NCDHW index tuples."""

    SPATIAL = SPATIAL
    KERNEL_INDEX: tuple[str, ...] = ("o", "c", *SPATIAL)  # conv3d's; conv_transpose's: c, o
