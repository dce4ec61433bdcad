"""What every conv and conv_transpose explanation (1-D to 3-D) is made of: the problem, the
run's operands as it used them (exact, or float64) and the names, with the bias's symbol and
the matrices of the problem section; and the 2-D explanations' entry symbols, from the NCHW
index (a 1-D problem runs with H = kh = 1), written in the spec's own axes.

The 3-D symbols (and conv_transpose's), from full index tuples, are IndexedOperands'; its
axes are 3-D's and conv3d's kernel layout (o, c, …) unless a class says otherwise.
"""

from __future__ import annotations

from typing import Any

from gradcalc.core.explain import Matrix, Symbol, index_separator

Index = tuple[int, ...]  # a full index: (n, c, *spatial) or the kernel's


class Operands:
    """The problem ``p``, its trace ``c`` and that trace's operands ``x``, ``w``, ``up`` and
    ``bias`` (NCHW or NCDHW, the kernel in the kind's own layout), the results, the options,
    the Jacobian maps and the names ``X``, ``K``, ``Y``, ``L``, ``B``."""

    def __init__(self, problem: Any, run: Any, options: Any):
        trace = run.trace
        self.p, self.c, self.results, self.options = problem, trace, run.results, options
        self.maps = trace.jacobian_maps
        self.X, self.K, self.Y, self.L, self.B = (
            problem.names[k] for k in ("input", "kernel", "output", "loss", "bias")
        )
        self.sep = index_separator(
            problem.input.shape,
            problem.kernel.shape,
            problem.output_shape,
            index_base=problem.index_base,
        )
        self.x, self.w, self.up, self.bias = trace.input, trace.kernel, trace.upstream, trace.bias

    def sym_b(self, o: int) -> Symbol:
        if self.p.bias is not None and self.p.bias.ndim == 1:
            return Symbol(self.B, (o + self.p.index_base,), self.sep)
        return Symbol(self.B)

    def matrix(
        self, label: str, values: Any, axes: tuple[str, ...], caption: str = "", role: str = ""
    ) -> Matrix:
        return Matrix(
            label=label,
            values=values,
            axis_names=axes,
            index_base=self.p.index_base,
            caption=caption,
            role=role,
        )


class Operands2d(Operands):
    """The 2-D (and 1-D) entry symbols of input, output and upstream; the kernel's
    (``sym_w``) is each kind's, as its layout is (conv O×C×kh×kw, conv_transpose C×O×kh×kw)."""

    def __init__(self, problem: Any, run: Any, options: Any):
        super().__init__(problem, run, options)
        # Where each of the spec's axes takes its index from in (n, c, row, col) and
        # (n, o, row, col), worked out once: explanations make symbols by the hundred.
        self._input_picks = axis_picks(("n", "c", "row", "col"), problem.input_axes)
        self._output_picks = axis_picks(("n", "o", "row", "col"), problem.output_axes)
        self._upstream_name = f"∂{self.L}/∂{self.Y}"

    def _picked(self, nchw: tuple[int, ...], picks: tuple[int, ...]) -> tuple[int, ...]:
        """The spec's index of the entry at ``nchw``: its axes picked (``axis_picks``), shifted to
        the index base."""
        base = self.p.index_base
        return tuple([nchw[k] + base for k in picks])

    def sym_x(self, n: int, c: int, r: int, col: int) -> Symbol:
        """Input entry (n, c, r, col)."""
        return Symbol(self.X, self._picked((n, c, r, col), self._input_picks), self.sep)

    def sym_y(self, n: int, o: int, i: int, j: int, prefix: str = "") -> Symbol:
        """Output entry (n, o, i, j), o counting every output channel (all groups)."""
        return Symbol(prefix + self.Y, self._picked((n, o, i, j), self._output_picks), self.sep)

    def sym_up(self, n: int, o: int, i: int, j: int) -> Symbol:
        return Symbol(self._upstream_name, self._picked((n, o, i, j), self._output_picks), self.sep)


def axis_picks(order: tuple[str, ...], axes: tuple[str, ...]) -> tuple[int, ...]:
    """Where each of ``axes`` stands in ``order``."""
    return tuple(order.index(axis) for axis in axes)


class IndexedOperands(Operands):
    """Entry symbols from full index tuples (N×C×… of the input, N×O×… of the output, the
    kernel's as ``KERNEL_INDEX``) over the spatial axes ``SPATIAL``: the 3-D explanations' and
    conv_transpose's (1-D, 2-D: rows and columns)."""

    SPATIAL: tuple[str, ...] = ("depth", "row", "col")
    KERNEL_INDEX: tuple[str, ...] = ("o", "c", "depth", "row", "col")

    def _symbol(
        self, name: str, full: tuple[int, ...], names: tuple[str, ...], axes: tuple[str, ...]
    ):
        values = dict(zip(names, full, strict=True))
        return Symbol(name, tuple(values[a] + self.p.index_base for a in axes), self.sep)

    def sym_x(self, index: tuple[int, ...]) -> Symbol:
        """Input entry (n, c, *spatial)."""
        return self._symbol(self.X, index, ("n", "c", *self.SPATIAL), self.p.input_axes)

    def sym_w(self, index: tuple[int, ...]) -> Symbol:
        """Kernel entry, indexed as ``KERNEL_INDEX``."""
        return self._symbol(self.K, index, self.KERNEL_INDEX, self.p.kernel_axes)

    def sym_y(self, index: tuple[int, ...], prefix: str = "") -> Symbol:
        """Output entry (n, o, *spatial), o counting every output channel (all groups)."""
        return self._symbol(prefix + self.Y, index, ("n", "o", *self.SPATIAL), self.p.output_axes)

    def sym_up(self, index: tuple[int, ...]) -> Symbol:
        return self.sym_y(index, prefix=f"∂{self.L}/∂")
