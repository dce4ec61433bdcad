"""The explanation of a dense problem (PyTorch's nn.Linear), read from its run's trace.

Every array is a batch of rows, as nn.Linear takes it: input ``x`` N×L, weight ``W``
O×L, bias ``b`` O, output ``y`` N×O.  ``layout`` changes only how vectors are written:
``column`` (seed 001) treats a sample as an L×1 column, y = Wx + b; ``row`` (seed 003)
as a 1×L row, y = xWᵀ + b, with 1×O gradients.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.exact import bilinear_exact
from gradcalc.core.explain import (
    GRADIENT,
    Note,
    Product,
    Section,
    SumOfProducts,
    Symbol,
    SymbolTable,
    index_separator,
    keyed_sections,
)
from gradcalc.core.explain.pieces import (
    arithmetic_words,
    chain_product,
    element_symbol,
    index_and_upstream_words,
    show_matrix,
    symbolic_words,
)
from gradcalc.core.explain.pieces import same as _same
from gradcalc.core.float_source import each_float
from gradcalc.core.kinds.dense import SECTIONS, DenseProblem, DenseTrace


class Explainer:
    """Builds the sections of a dense explanation; loops only over the rows it shows."""

    def __init__(self, problem: DenseProblem, run: Any, options: common.SolveOptions):
        computed: DenseTrace = run.trace
        self.p = problem
        self.c = computed
        self.results = run.results
        self.options = options
        self.X, self.W, self.B, self.Y, self.L = (
            problem.names[k] for k in ("input", "weight", "bias", "output", "loss")
        )
        self.sep = index_separator(
            problem.input.shape,
            problem.weight.shape,
            problem.output_shape,
            index_base=problem.index_base,
        )
        exact = computed.exact
        n_count = problem.batch
        self.x = problem.input.reshape(n_count, problem.in_features)
        self.up = problem.upstream.reshape(n_count, problem.out_features)
        self.w = problem.weight
        self.b = problem.bias
        if not exact:
            self.x, self.up, self.w = (each_float(a) for a in (self.x, self.up, self.w))
            self.b = None if self.b is None else each_float(self.b)
        self.column = problem.layout == "column"

    # symbols -------------------------------------------------------------
    def _sym(self, name: str, index: tuple[int, ...]) -> Symbol:
        return element_symbol(name, index, self.p.index_base, self.sep)

    def sym_x(self, n: int, i: int) -> Symbol:
        return self._sym(self.X, (n, i) if self.p.batched else (i,))

    def sym_y(self, n: int, j: int, prefix: str = "") -> Symbol:
        return self._sym(prefix + self.Y, (n, j) if self.p.batched else (j,))

    def sym_up(self, n: int, j: int) -> Symbol:
        return self.sym_y(n, j, prefix=f"∂{self.L}/∂")

    def sym_w(self, j: int, i: int) -> Symbol:
        return self._sym(self.W, (j, i))

    def sym_b(self, j: int) -> Symbol:
        return self._sym(self.B, (j,))

    # shapes in the chosen layout -----------------------------------------
    def shapes(self) -> dict[str, str]:
        """Every array's shape as the layout writes it (column vectors or rows)."""
        n, o, i = self.p.batch, self.p.out_features, self.p.in_features
        if self.p.batched:
            if self.column:
                return {"x": f"{i}×{n}", "y": f"{o}×{n}", "b": f"{o}×1", "W": f"{o}×{i}"}
            return {"x": f"{n}×{i}", "y": f"{n}×{o}", "b": f"1×{o}", "W": f"{o}×{i}"}
        if self.column:
            return {"x": f"{i}×1", "y": f"{o}×1", "b": f"{o}×1", "W": f"{o}×{i}"}
        return {"x": f"1×{i}", "y": f"1×{o}", "b": f"1×{o}", "W": f"{o}×{i}"}

    def oriented(self, rows: np.ndarray) -> np.ndarray:
        """A batch of rows (N×k) as the layout writes it: k×N columns, or a 1×k row; a batch
        in the column layout stays N×k (see :meth:`batch_table`)."""
        if self.column and not self.p.batched:
            return rows.T
        return rows

    def batch_table(self, name: str, array: str, role: str = "") -> str:
        """The label of the table of ``name``, an array shaped as ``array`` ("x" or "y").

        The column layout's matrices are k×N, one sample per column, but the steps name
        entries sample first (x_ni, as the spec and the results list them), so a batch's
        tables show one sample per row and say so: x_01 in a step is row 0, column 1 of
        its table."""
        p, s = self.p, self.shapes()
        if array == "x":
            rows, matrix = f"{p.batch}×{p.in_features}", s["x"]
        else:
            rows, matrix = f"{p.batch}×{p.out_features}", s["y"]
        if self.column and p.batched:
            return (
                f"{name} ({role}one row per sample, {rows}: the column layout's {matrix} matrix "
                "transposed)"
            )
        return f"{name} ({role}{matrix})"

    def forward_formula(self) -> str:
        X, W, B, Y = self.X, self.W, self.B, self.Y
        bias = f" + {B}" if self.p.bias is not None else ""
        if self.column:
            ones = "·1ᵀ" if self.p.batched and self.p.bias is not None else ""
            return f"{Y} = {W}{X}{bias}{ones}"
        ones = "1·" if self.p.batched and self.p.bias is not None else ""
        return f"{Y} = {X}{W}ᵀ" + (f" + {ones}{B}" if self.p.bias is not None else "")

    # conventions ---------------------------------------------------------
    def conventions(self) -> list[str]:
        p = self.p
        s = self.shapes()
        X, Y, L = self.X, self.Y, self.L
        items = []
        if self.column:
            items.append(
                f"layout column (seed 001): {'each sample is' if p.batched else f'{X} is'} a column vector, "
                f"{self.forward_formula()}; ∂{L}/∂{Y} has {Y}'s shape {s['y']}"
            )
        else:
            items.append(
                f"layout row (seed 003): {'each sample is' if p.batched else f'{X} is'} a row vector, "
                f"{self.forward_formula()}; gradients are rows, ∂{L}/∂{Y} is {s['y']}"
            )
        if p.batch > 1:
            items.append(
                f"batch of N = {p.batch}: the spec lists one sample per row (as nn.Linear takes it); "
                f"∂{L}/∂{self.W} and ∂{L}/∂{self.B} sum over the samples"
            )
        items.append(
            f"weight {self.W} is O×L = {p.out_features}×{p.in_features} (PyTorch nn.Linear: out_features × in_features)"
        )
        items += index_and_upstream_words(p.index_base, p.upstream_given, L, Y)
        items.append(
            arithmetic_words(
                exact=self.c.exact,
                forced=self.options.force_float,
                size=f"{p.work:,} multiply-adds",
                limit=self.options.limits.exact_work,
            )
        )
        items += symbolic_words(p.input, p.weight, p.bias, p.upstream)
        if p.symbolic_capped:
            items.append(p.symbolic_capped)
        return items

    # sections ------------------------------------------------------------
    def sections(self) -> list[Section]:
        """The sections --show asks for, in order."""
        return keyed_sections(self, SECTIONS)

    def _matrix(self, label: str, values: np.ndarray, role: str = ""):
        return show_matrix(label, values, self.p.index_base, role=role)

    def section_problem(self) -> Section:
        p, s = self.p, self.shapes()
        section = Section("problem", "Problem")
        section.add(
            Note(
                f"{self.X}: {s['x']}, {self.W}: {s['W']}"
                + (f", {self.B}: {s['b']}" if p.bias is not None else "")
                + f"; {self.forward_formula()} is {s['y']}"
            )
        )
        section.add(
            self._matrix(
                self.batch_table(self.X, "x"), self.oriented(p.input.reshape(self.x.shape))
            )
        )
        section.add(self._matrix(f"{self.W} ({s['W']})", p.weight))
        if p.bias is not None:
            bias = p.bias.reshape(-1, 1) if self.column else p.bias.reshape(1, -1)
            section.add(self._matrix(f"{self.B} ({s['b']})", bias))
        section.add(
            self._matrix(
                self.batch_table(f"∂{self.L}/∂{self.Y}", "y", "upstream, "),
                self.oriented(p.upstream.reshape(self.up.shape)),
                role=GRADIENT,
            )
        )
        return section

    def _rows(self, total: int) -> tuple[range, int]:
        shown = self.options.cap(total)
        return range(shown), total - shown

    def section_forward(self) -> Section:
        p = self.p
        section = Section("forward", f"Forward: each output {self.Y} as a sum of products")
        rows, omitted = self._rows(p.batch * p.out_features)
        output = self.c.output
        for flat in rows:
            n, j = divmod(flat, p.out_features)
            terms = []
            for i in range(min(p.in_features, self.options.max_terms)):
                pair = [(self.sym_w(j, i), self.w[j, i]), (self.sym_x(n, i), self.x[n, i])]
                terms.append(Product(tuple(pair if self.column else pair[::-1])))
            extra = p.in_features - len(terms)
            section.add(
                SumOfProducts(
                    target=self.sym_y(n, j),
                    terms=tuple(terms),
                    constant=None if self.b is None else (self.sym_b(j), self.b[j]),
                    value=output[n, j],
                    omitted=extra,
                )
            )
        section.omitted = omitted
        return section

    def section_jacobian(self) -> Section:
        p = self.p
        section = Section("jacobian", "Jacobians")
        if "jacobian_input" not in self.results:
            shapes = p.jacobian_shapes()
            section.add(
                Note(
                    f"not built: ∂{self.Y}/∂{self.X} would have {np.prod(shapes['jacobian_input']):,} entries and "
                    f"∂{self.Y}/∂{self.W} {np.prod(shapes['jacobian_weight']):,}, above the limit of "
                    f"{self.options.limits.max_jacobian:,} (raise it with --max-jacobian)"
                )
            )
            return section
        row_labels = tuple(
            self.sym_y(n, j).text for n in range(p.batch) for j in range(p.out_features)
        )
        shown = self.options.cap(len(row_labels))
        x_labels = tuple(
            self.sym_x(n, i).text for n in range(p.batch) for i in range(p.in_features)
        )
        w_labels = tuple(
            self.sym_w(j, i).text for j in range(p.out_features) for i in range(p.in_features)
        )
        symbolic_input, symbolic_weight = self._jacobian_symbols(shown)
        single = "" if p.batched else f" = {self.W}"
        jacobians = (
            (f"∂{self.Y}/∂{self.X}{single}", x_labels, symbolic_input, "jacobian_input"),
            (f"∂{self.Y}/∂{self.W}", w_labels, symbolic_weight, "jacobian_weight"),
        )
        gradients = {"jacobian_input": self.c.grad_input, "jacobian_weight": self.c.grad_weight}
        for label, columns, symbolic, values in jacobians:
            caption = f"row r, column k: ∂(output r)/∂(entry k); {len(row_labels)}×{len(columns)}"
            left, rows = len(row_labels) - shown, row_labels[:shown]
            numeric = tuple(tuple(self.results[values][r]) for r in range(shown))
            section.add(SymbolTable(label + " (symbols)", columns, rows, symbolic, caption, left))
            section.add(SymbolTable(label + " (values)", columns, rows, numeric, omitted=left))
            param = self.X if values == "jacobian_input" else self.W
            product = (self.L, self.Y, param), row_labels, self.up, columns, self.results[values]
            for item in chain_product(*product, gradients[values]):
                section.add(item)
        if p.batched:
            section.add(
                Note(
                    f"∂{self.Y}/∂{self.X} is block diagonal: sample n's outputs depend only on sample n's inputs, "
                    f"through the same {self.W}."
                )
            )
        return section

    def _jacobian_symbols(self, shown: int) -> tuple[tuple, tuple]:
        """The first ``shown`` rows of ∂y/∂x and ∂y/∂W as symbols (0 off the diagonal blocks):
        ∂y_nj/∂x_mi = W_ji when m = n; ∂y_nj/∂W_ki = x_ni when k = j."""
        p = self.p
        zero = Fraction(0)
        symbolic_input = tuple(
            tuple(
                self.sym_w(j, i) if m == n else zero
                for m in range(p.batch)
                for i in range(p.in_features)
            )
            for n, j in (divmod(r, p.out_features) for r in range(shown))
        )
        symbolic_weight = tuple(
            tuple(
                self.sym_x(n, i) if k == j else zero
                for k in range(p.out_features)
                for i in range(p.in_features)
            )
            for n, j in (divmod(r, p.out_features) for r in range(shown))
        )
        return symbolic_input, symbolic_weight

    def section_backward(self) -> Section:
        p, L = self.p, self.L
        parts = [f"∂{L}/∂{self.W}", f"∂{L}/∂{self.X}"]
        if p.bias is not None:
            parts.insert(1, f"∂{L}/∂{self.B}")
        section = Section("backward", "Backward: " + ", ".join(parts))
        section.cut(self._backward_weight(section))
        if p.bias is not None:
            section.cut(self._backward_bias(section))
        section.cut(self._backward_input(section))
        return section

    def _backward_weight(self, section: Section) -> int:
        """∂L/∂W_ji: only output j reads W_ji, once per sample.  Returns the rows left out."""
        p, L, Y = self.p, self.L, self.Y
        over_n = "Σ_n " if p.batched else ""
        rows, left = self._rows(p.weight.size)
        for flat in rows:
            j, i = divmod(flat, p.in_features)
            terms = tuple(
                Product(((self.sym_up(n, j), self.up[n, j]), (self.sym_x(n, i), self.x[n, i])))
                for n in range(min(p.batch, self.options.max_terms))
            )
            target = self.sym_w(j, i)
            y_j = self.sym_y(0, j).text if not p.batched else f"{Y}_n{self.sep}{j + p.index_base}"
            section.add(
                SumOfProducts(
                    target=Symbol(f"∂{L}/∂{self.W}", target.index, self.sep),
                    general=f"{over_n}∂{L}/∂{y_j}·∂{y_j}/∂{target.text}  (∂{y_j}/∂{target.text} = "
                    + (
                        f"{self.X}_n{self.sep}{i + p.index_base})"
                        if p.batched
                        else f"{self.sym_x(0, i).text})"
                    ),
                    terms=terms,
                    value=self.c.grad_weight[j, i],
                    omitted=p.batch - len(terms),
                )
            )
        return left

    def _backward_bias(self, section: Section) -> int:
        """∂L/∂b_j: the upstream of output j, summed over the samples."""
        p, L, Y = self.p, self.L, self.Y
        over_n = "Σ_n " if p.batched else ""
        rows, left = self._rows(p.out_features)
        for j in rows:
            terms = tuple(
                Product(((self.sym_up(n, j), self.up[n, j]),))
                for n in range(min(p.batch, self.options.max_terms))
            )
            y_j = self.sym_y(0, j).text if not p.batched else f"{Y}_n{self.sep}{j + p.index_base}"
            section.add(
                SumOfProducts(
                    target=Symbol(f"∂{L}/∂{self.B}", (j + p.index_base,), self.sep),
                    general=f"{over_n}∂{L}/∂{y_j}·1  (∂{y_j}/∂{self.sym_b(j).text} = 1)",
                    terms=terms,
                    value=self.c.grad_bias[j],
                    omitted=p.batch - len(terms),
                )
            )
        return left

    def _backward_input(self, section: Section) -> int:
        """∂L/∂x_ni: every output of sample n reads x_ni through W_ji."""
        p, L, Y = self.p, self.L, self.Y
        rows, left = self._rows(p.input.size)
        for flat in rows:
            n, i = divmod(flat, p.in_features)
            shown = min(p.out_features, self.options.max_terms)
            terms = tuple(
                Product(((self.sym_up(n, j), self.up[n, j]), (self.sym_w(j, i), self.w[j, i])))
                for j in range(shown)
            )
            target = self.sym_x(n, i)
            y_j = f"{Y}_{n + p.index_base}{self.sep}j" if p.batched else f"{Y}_j"
            section.add(
                SumOfProducts(
                    target=Symbol(f"∂{L}/∂{self.X}", target.index, self.sep),
                    general=f"Σ_j ∂{L}/∂{y_j}·∂{y_j}/∂{target.text}  (∂{y_j}/∂{target.text} = {self.W}_j{self.sep}{i + p.index_base})",
                    terms=terms,
                    value=self.c.grad_input[n, i],
                    omitted=p.out_features - shown,
                )
            )
        return left

    def section_identities(self) -> Section:
        """The matrix forms, with every shape in the chosen layout, recomputed and compared."""
        section = Section("identities", "Compact identities (matrix form)")
        self._identity_weight(section)
        if self.p.bias is not None:
            self._identity_bias(section)
        self._identity_input(section)
        return section

    def _identity_weight(self, section: Section) -> None:
        """∂L/∂W as the outer product of the upstream and the input, checked entry by entry."""
        p, s = self.p, self.shapes()
        L, X, W, Y = self.L, self.X, self.W, self.Y
        exact = self.c.exact

        # The outer product, summed over samples, computed again from the spec's arrays.
        # (xᵀ·∂L/∂y)ᵀ: another order of the same products than linear_grad_weight's.
        def outer(u: np.ndarray, x: np.ndarray) -> np.ndarray:
            return (x.T @ u).T

        by_identity = (
            bilinear_exact(
                outer, self.up, self.x, p.batch, p.batch * p.in_features * p.out_features
            )
            if exact
            else outer(self.up, self.x)
        )
        agrees = _same(by_identity, self.c.grad_weight, exact)
        o, i, n = p.out_features, p.in_features, p.batch
        if self.column:
            grad_w = (
                f"∂{L}/∂{W} = ∂{L}/∂{Y}·{X}ᵀ: ({s['y']})·({n if p.batched else 1}×{i}) = {o}×{i}"
            )
        else:
            grad_w = (
                f"∂{L}/∂{W} = (∂{L}/∂{Y})ᵀ·{X}: ({o}×{n if p.batched else 1})·({s['x']}) = {o}×{i}"
            )
        words = "the outer product of the upstream and the input" + (
            ", summed over the samples" if p.batch > 1 else ""
        )
        section.add(
            Note(
                f"{grad_w}, {words}; entry (j, i) is "
                + (f"Σ_n ∂{L}/∂{Y}_nj·{X}_ni. " if p.batched else f"∂{L}/∂{Y}_j·{X}_i. ")
                + _verdict(agrees)
            )
        )
        if o * i <= 144:
            section.add(self._weight_written_out())
        up_label = self.batch_table(f"∂{L}/∂{Y}", "y")
        if self.column:
            section.add(self._matrix(up_label, self.oriented(self.up), role=GRADIENT))
            section.add(self._matrix(f"{X}ᵀ ({n if p.batched else 1}×{i})", self.x))
        else:
            section.add(
                self._matrix(
                    f"(∂{L}/∂{Y})ᵀ ({o}×{n if p.batched else 1})", self.up.T, role=GRADIENT
                )
            )
            section.add(self._matrix(f"{X} ({s['x']})", self.x))
        section.add(self._matrix(f"∂{L}/∂{W} ({o}×{i})", self.c.grad_weight, role=GRADIENT))

    def _weight_written_out(self) -> SymbolTable:
        """∂L/∂W's entries as products of symbols (Σ_n … for a batch)."""
        p, L, X, Y = self.p, self.L, self.X, self.Y
        o, i = p.out_features, p.in_features
        symbolic = tuple(
            tuple(
                f"{self.sym_up(0, j).text}·{self.sym_x(0, col).text}"
                if not p.batched
                else f"Σ_n ∂{L}/∂{Y}_n{self.sep}{j + p.index_base}·{X}_n{self.sep}{col + p.index_base}"
                for col in range(i)
            )
            for j in range(min(o, self.options.max_terms))
        )
        return SymbolTable(
            f"∂{L}/∂{self.W} written out",
            tuple(str(c + p.index_base) for c in range(i)),
            tuple(str(r + p.index_base) for r in range(len(symbolic))),
            symbolic,
            omitted=o - len(symbolic),
        )

    def _identity_bias(self, section: Section) -> None:
        """∂L/∂b: the upstream summed over the samples (the identity for one sample)."""
        p, s = self.p, self.shapes()
        L, Y, B = self.L, self.Y, self.B
        o, n = p.out_features, p.batch
        if p.batch > 1:
            text = (
                f"∂{L}/∂{B} = ∂{L}/∂{Y}·1: ({s['y']})·({n}×1) = {o}×1, the upstream summed over the samples"
                if self.column
                else f"∂{L}/∂{B} = 1ᵀ·∂{L}/∂{Y}: (1×{n})·({s['y']}) = 1×{o}, each column of the upstream summed"
            )
        else:
            text = f"∂{L}/∂{B} = ∂{L}/∂{Y} ({s['b']}): ∂{Y}/∂{B} is the identity"
        section.add(Note(text))
        bias = self.c.grad_bias
        section.add(
            self._matrix(
                f"∂{L}/∂{B} ({s['b']})",
                bias.reshape(-1, 1) if self.column else bias.reshape(1, -1),
                role=GRADIENT,
            )
        )

    def _identity_input(self, section: Section) -> None:
        """∂L/∂x through Wᵀ, computed again in the column form and checked."""
        p, s = self.p, self.shapes()
        L, X, W, Y = self.L, self.X, self.W, self.Y
        exact = self.c.exact
        o, i, n = p.out_features, p.in_features, p.batch

        # (Wᵀ·(∂L/∂y)ᵀ)ᵀ: the column form, transposed back to rows.
        def through_transpose(u: np.ndarray, w: np.ndarray) -> np.ndarray:
            return (w.T @ u.T).T

        by_identity_x = (
            bilinear_exact(through_transpose, self.up, self.w, o, n * o * i)
            if exact
            else through_transpose(self.up, self.w)
        )
        agrees_x = _same(by_identity_x, self.c.grad_input, exact)
        if self.column:
            text = (
                f"∂{L}/∂{X} = {W}ᵀ·∂{L}/∂{Y}: ({i}×{o})·({s['y']}) = {s['x']} "
                f"(the transpose of (∂{L}/∂{Y})ᵀ·{W}, the row form)"
            )
            shown_x = self.oriented(self.c.grad_input)
        else:
            text = f"∂{L}/∂{X} = ∂{L}/∂{Y}·{W}: ({s['y']})·({o}×{i}) = {s['x']}"
            shown_x = self.c.grad_input
        section.add(Note(f"{text}. " + _verdict(agrees_x)))
        section.add(self._matrix(self.batch_table(f"∂{L}/∂{X}", "x"), shown_x, role=GRADIENT))


def _verdict(agrees: bool) -> str:
    return (
        "✓ equals the entries above"
        if agrees
        else "✗ DOES NOT equal the entries above (please report)"
    )
