"""What the 3-D conv and conv_transpose explanations share: the run's operands and names,
and each entry's symbol from its NCDHW index tuple, written in the spec's own axes.

The two differ only in the kernel's layout: conv3d's O×(C/g)×kd×kh×kw (o, c, e, m, q),
conv_transpose3d's C_in×(C_out/g)×kd×kh×kw (c, o, e, m, q): ``KERNEL_INDEX``.
"""

from __future__ import annotations

from gradcalc.core.explain import Symbol
from gradcalc.core.explain.conv_operands import Operands

Index = tuple[int, ...]
SPATIAL = ("depth", "row", "col")


class Operands3d(Operands):
    """The operands and names (core/explain/conv_operands.Operands) and the symbols of a 3-D
    explanation's entries."""

    KERNEL_INDEX: tuple[str, ...] = ("o", "c", *SPATIAL)  # conv3d's; conv_transpose's: c, o

    def _symbol(self, name: str, full: Index, names: tuple[str, ...], axes: tuple[str, ...]):
        values = dict(zip(names, full, strict=True))
        return Symbol(name, tuple(values[a] + self.p.index_base for a in axes), self.sep)

    def sym_x(self, index: Index) -> Symbol:
        """Input entry (n, c, depth, row, col)."""
        return self._symbol(self.X, index, ("n", "c", *SPATIAL), self.p.input_axes)

    def sym_w(self, index: Index) -> Symbol:
        """Kernel entry, indexed as ``KERNEL_INDEX``."""
        return self._symbol(self.K, index, self.KERNEL_INDEX, self.p.kernel_axes)

    def sym_y(self, index: Index, prefix: str = "") -> Symbol:
        """Output entry (n, o, t, i, j), o counting every output channel (all groups)."""
        return self._symbol(prefix + self.Y, index, ("n", "o", *SPATIAL), self.p.output_axes)

    def sym_up(self, index: Index) -> Symbol:
        return self.sym_y(index, prefix=f"∂{self.L}/∂")
