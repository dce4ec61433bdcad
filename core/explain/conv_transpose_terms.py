"""What every part of a conv_transpose explanation is made of: the symbols (in the spec's own
axes), the operands as the run used them, and the index arithmetic of the scatter — input
entry (a, b) times kernel tap (m, q) lands on output row a·sh + m·dh − p_top, column
b·sw + q·dw − p_left — from which the forward sums, the backward sums and the scatter lists
are all found (looping only over what is shown).

Arrays are NCHW: input ``x`` N×C_in×H×W, kernel ``w`` C_in×(C_out/g)×kh×kw, upstream and
output N×C_out×H_out×W_out (core/kinds/conv_transpose.py's ConvTransposeTrace).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.explain import Symbol
from gradcalc.core.explain.conv_operands import Operands2d
from gradcalc.core.kinds.conv_transpose import ConvTransposeProblem
from gradcalc.core.outcome import Run


class TransposeTerms(Operands2d):
    """The symbols, operands and index arithmetic of a conv_transpose explanation."""

    def __init__(self, problem: ConvTransposeProblem, run: Run, options: common.SolveOptions):
        super().__init__(problem, run, options)
        self.t = problem.geometry

    # symbols ---------------------------------------------------------------
    def sym_w(self, c: int, o: int, m: int, q: int) -> Symbol:
        """Kernel entry (c, o, m, q): input channel c, output channel o of its group."""
        full = {"c": c, "o": o, "row": m, "col": q}
        return Symbol(self.K, self._index(full, self.p.kernel_axes), self.sep)

    def letters(self, axes: tuple[str, ...]) -> str:
        names = {"n": "n", "o": "o", "c": "c", "row": "i", "col": "j"}
        return "".join(names[a] for a in axes)

    # index arithmetic --------------------------------------------------------
    def group_of(self, c: int) -> int:
        return c // self.t.in_per_group

    def target(self, a: int, b: int, m: int, q: int) -> tuple[int, int] | None:
        """The output (row, col) input cell (a, b) times tap (m, q) lands on; None when the
        padding cuts it off."""
        t = self.t
        i = a * t.stride[0] + m * t.dilation[0] - t.padding[0]
        j = b * t.stride[1] + q * t.dilation[1] - t.padding[2]
        return (i, j) if 0 <= i < t.out_h and 0 <= j < t.out_w else None

    def sources(self, i: int, j: int) -> Iterator[tuple[int, int, int, int]]:
        """(a, b, m, q) of every input cell and tap that lands on output (i, j): a is
        (i + p_top − m·dh)/sh where that is a whole row of the input."""
        t = self.t
        for m in range(t.kernel_h):
            a, rest = divmod(i + t.padding[0] - m * t.dilation[0], t.stride[0])
            if rest or not 0 <= a < t.in_h:
                continue
            for q in range(t.kernel_w):
                b, rest = divmod(j + t.padding[2] - q * t.dilation[1], t.stride[1])
                if not rest and 0 <= b < t.in_w:
                    yield a, b, m, q

    def flat_indices(self, total: int, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The first ``options.cap(total)`` multi-indices of ``shape`` in row-major order."""
        return [
            tuple(int(v) for v in np.unravel_index(r, shape))
            for r in range(self.options.cap(total))
        ]
