"""The explanation of a softmax problem, read from its run's trace: log-sum-exp and each
probability, the per-sample Jacobians diag(p) − p·pᵀ (I − 1·pᵀ for log_softmax) and ∂L/∂s.

Arrays are N×C rows (a vector is one row of C).  One row's softmax with its numbers is
written by core/explain/softmax_steps.py's :func:`softmax_row_steps`, which the loss
explanation (cross_entropy) uses too.
"""

from __future__ import annotations

from typing import Any

from gradcalc.core import spec as common
from gradcalc.core.explain import (
    Formula,
    Note,
    Product,
    Section,
    SumOfProducts,
    Symbol,
    SymbolTable,
)
from gradcalc.core.explain.elementwise import ElementwiseExplainer
from gradcalc.core.explain.pieces import (
    arithmetic_words,
    chain_product,
    factor,
    underflow_words,
)
from gradcalc.core.explain.softmax_steps import softmax_row_steps
from gradcalc.core.kinds.softmax import SECTIONS as KIND_SECTIONS
from gradcalc.core.kinds.softmax import SMALL_CLASSES, SoftmaxProblem, SoftmaxTrace
from gradcalc.core.ops.softmax import others_sum
from gradcalc.core.words import count_words


class Explainer(ElementwiseExplainer):
    """Builds the sections of a softmax explanation; loops only over the rows it shows."""

    SECTIONS = KIND_SECTIONS

    def __init__(self, problem: SoftmaxProblem, run: Any, options: common.SolveOptions):
        super().__init__(problem, options)
        trace: SoftmaxTrace = run.trace
        self.s, self.up, self.prob, self.grad = (
            trace.scores,
            trace.upstream,
            trace.p,
            trace.grad_input,
        )
        self.blocks = trace.jacobians
        self.one_minus_p, self.stable = trace.one_minus_p, trace.stable
        self.log1p_rows = trace.log1p_rows
        self.complement_taken = self.one_minus_p != 1 - self.prob
        self.exact = trace.exact
        self.results = run.results
        self.log = problem.log
        self.batched = problem.input.ndim == 2
        self.P = self.Y if not self.log else "p"

    def idx(self, n: int, j: int) -> tuple[int, ...]:
        return (n, j) if self.batched else (j,)

    def per_sample(self, name: str, n: int) -> str:
        return f"{name}_{n + self.p.index_base}" if self.batched else name

    def rows_within(self, budget: int) -> list[tuple[int, int]]:
        """(sample n, how many of its C rows to show) while ``budget`` rows last."""
        count, classes = self.s.shape
        shown, plan = 0, []
        for n in range(count):
            if shown >= budget:
                break
            rows = min(classes, budget - shown)
            shown += rows
            plan.append((n, rows))
        return plan

    # conventions ---------------------------------------------------------
    def conventions(self) -> list[str]:
        classes = self.s.shape[1]
        items = [
            f"{self.p.function} over the last axis (dim = −1): each of the {self.s.shape[0]} row"
            f"{'s' if self.s.shape[0] != 1 else ''} of C = {classes} scores separately"
            if self.batched
            else f"{self.p.function} over the C = {count_words(classes, 'entry', 'entries')} of the vector (dim = −1)"
        ]
        items.append(
            "log-sum-exp: m = max_j s_j is subtracted before exp, so every exponent is ≤ 0 "
            "and logits like 1000 cannot overflow; the result is unchanged"
        )
        items.extend(self.common_conventions())
        if self.log1p_rows.any() or self.stable.any() or self.complement_taken.any():
            items.append(
                "where a row's top probability is within 2^-20 of 1, log Z = log(1 + r) is taken "
                "as log1p(r) and 1 − p as r/Z, with r the other exp(s_j − m) summed without the "
                "1, and a gradient entry that would cancel in a form without the cancellation, "
                "as the steps show (PyTorch's float64 loses those digits: log_softmax([40, 0]) "
                "is [−4.25e-18, −40], not [0, −40])"
            )
        if not self.log and not self.exact:
            items.extend(underflow_words(self.s))
        if not self.p.upstream_given and not self.log:
            items.append(
                f"(with an upstream of ones, {self.L} = Σ p = 1 per row is constant, so ∂{self.L}/∂{self.X} = 0)"
            )
        items.append(
            arithmetic_words(
                exact=self.exact, irrational="softmax uses exp", forced=False, size="", limit=0
            )
        )
        return items

    # sections ------------------------------------------------------------
    def section_problem(self) -> Section:
        X, Y = self.X, self.Y
        if self.log:
            text = f"{Y} = log_softmax({X}) = log p, p_j = exp({X}_j)/Σ_k exp({X}_k)"
        else:
            text = f"{Y} = softmax({X}), {Y}_j = exp({X}_j)/Σ_k exp({X}_k)"
        text += f"; {X}, {Y} and ∂{self.L}/∂{Y} all have shape {self.dims()}"
        return self.problem_section(text)

    def section_forward(self) -> Section:
        section = Section("forward", "Forward: log-sum-exp, then each probability")
        count, classes = self.s.shape
        shown = 0
        for n, rows in self.rows_within(self.options.cap(count * classes)):
            shown += rows
            for item in softmax_row_steps(
                self.s[n],
                score=lambda j, n=n: self.sym(self.X, self.idx(n, j)).text,
                output=lambda j, n=n: self.sym(self.Y, self.idx(n, j)).text,
                any_score=f"{self.X}_{n + self.p.index_base}{self.sep}j"
                if self.batched
                else f"{self.X}_j",
                suffix=f"_{n + self.p.index_base}" if self.batched else "",
                log=self.log,
                rows=rows,
                max_terms=self.options.max_terms,
            ):
                section.add(item)
        section.omitted = count * classes - shown
        return section

    def section_jacobian(self) -> Section:
        count, classes = self.s.shape
        name = f"∂{self.Y}/∂{self.X}"
        section = Section(
            "jacobian",
            f"Jacobian {name} = "
            + ("I − 1·pᵀ (δ_ij − p_j)" if self.log else "diag(p) − p·pᵀ (p_i·(δ_ij − p_j))"),
        )
        if "jacobian" not in self.results:
            section.add(
                Note(
                    f"not built: {self.p.input.size**2:,} entries, above the limit of "
                    f"{self.options.limits.max_jacobian:,} (raise it with --max-jacobian)"
                )
            )
        if classes > SMALL_CLASSES:
            section.add(
                Note(
                    f"C = {classes} classes: the C×C tables are not written out here (at most {SMALL_CLASSES}); "
                    + ("the results hold the whole Jacobian." if "jacobian" in self.results else "")
                )
            )
            return section
        if self.batched:
            section.add(
                Note(
                    "each sample has its own C×C block; the full Jacobian (results: jacobian) is block diagonal, "
                    "zero between samples"
                )
            )
        else:
            section.add(
                Note(
                    "each row sums to 0: the probabilities always sum to 1"
                    if not self.log
                    else "each row i is e_i − p: raising any score raises log Z by p_j"
                )
            )
        if self.complement_taken.any():
            diagonal = "1 − p_i" if self.log else "p_i·(1 − p_i)"
            section.add(
                Note(
                    f"on the diagonal ({diagonal}), 1 − p_i is taken as Σ_j 1[j ≠ i]·p_j where p_i "
                    "is within 2^-20 of 1: 1 − p_i as written would cancel"
                )
            )
        shown = 0
        for n, rows in self.rows_within(self.options.cap(count * classes)):
            shown += rows
            for table in self.jacobian_tables(name, n, rows, self.blocks[n]):
                section.add(table)
            if rows == classes:  # the whole block shown: sample n's gradient as a product
                for item in self.block_product(n):
                    section.add(item)
        section.omitted = count * classes - shown
        return section

    def block_product(self, n: int) -> list[Any]:
        """Sample n's gradient as the chain rule's product: its upstream row times its block."""
        classes = self.s.shape[1]
        outputs, inputs = (
            tuple(self.sym(symbol, self.idx(n, j)).text for j in range(classes))
            for symbol in (self.Y, self.X)
        )
        names = (self.L, self.per_sample(self.Y, n), self.per_sample(self.X, n))
        return chain_product(names, outputs, self.up[n], inputs, self.blocks[n], self.grad[n])

    def jacobian_tables(
        self, name: str, n: int, rows: int, block: Any
    ) -> tuple[SymbolTable, SymbolTable]:
        """Sample n's C×C Jacobian block (its first ``rows`` rows), in symbols and in values."""
        classes = self.s.shape[1]
        out_labels = tuple(self.sym(self.Y, self.idx(n, i)).text for i in range(rows))
        in_labels = tuple(self.sym(self.X, self.idx(n, j)).text for j in range(classes))

        def p_text(k: int) -> str:
            return self.sym(self.P, self.idx(n, k)).text

        symbolic = tuple(
            tuple(
                (f"1 − {p_text(j)}" if i == j else f"−{p_text(j)}")
                if self.log
                else (f"{p_text(i)}(1 − {p_text(i)})" if i == j else f"−{p_text(i)}·{p_text(j)}")
                for j in range(classes)
            )
            for i in range(rows)
        )
        suffix = f", sample {n + self.p.index_base}" if self.batched else ""
        return (
            SymbolTable(f"{name} (symbols{suffix})", in_labels, out_labels, symbolic),
            SymbolTable(
                f"{name} (values{suffix})",
                in_labels,
                out_labels,
                tuple(tuple(block[i]) for i in range(rows)),
            ),
        )

    def section_backward(self) -> Section:
        count, classes = self.s.shape
        L, Y, X = self.L, self.Y, self.X
        title = (
            f"Backward: ∂{L}/∂{X}_j = ∂{L}/∂{Y}_j − p_j·Σ_i ∂{L}/∂{Y}_i"
            if self.log
            else f"Backward: ∂{L}/∂{X}_j = {Y}_j·(∂{L}/∂{Y}_j − Σ_i ∂{L}/∂{Y}_i·{Y}_i)"
        )
        section = Section("backward", title)
        budget = self.options.cap(count * classes)
        shown = 0
        for n in range(count):
            if shown >= budget:
                break
            inner_name, inner_value = self.backward_inner(section, n)
            for j in range(classes):
                if shown >= budget:
                    break
                shown += 1
                section.add(self.backward_entry(n, j, inner_name, inner_value))
        section.add(
            Note(
                f"the same as Σ_i ∂{L}/∂{Y}_i·∂{Y}_i/∂{X}_j: the upstream (a row) times the Jacobian above"
            )
        )
        section.omitted = count * classes - shown
        return section

    def backward_inner(self, section: Section, n: int) -> tuple[str, Any]:
        """Adds row n's one number every entry needs, g = Σ_i ∂L/∂y_i(·y_i); its name and value."""
        classes = self.s.shape[1]
        inner_terms = tuple(
            Product(
                (
                    (self.sym_up(self.idx(n, i)), self.up[n, i]),
                    *(() if self.log else ((self.sym(self.P, self.idx(n, i)), self.prob[n, i]),)),
                )
            )
            for i in range(min(classes, self.options.max_terms))
        )
        inner_value = self.up[n].sum() if self.log else float(self.up[n] @ self.prob[n])
        inner_name = self.per_sample("g", n)
        section.add(
            SumOfProducts(
                target=Symbol(inner_name),
                general=f"Σ_i ∂{self.L}/∂{self.Y}_i" + ("" if self.log else f"·{self.Y}_i"),
                terms=inner_terms,
                value=inner_value,
                omitted=classes - len(inner_terms),
            )
        )
        return inner_name, inner_value

    def backward_entry(self, n: int, j: int, inner_name: str, inner_value: Any) -> Formula:
        """∂L/∂s_j from the row's g: ∂L/∂y_j − p_j·g (log_softmax) or p_j·(∂L/∂p_j − g)."""
        L = self.L
        index = self.idx(n, j)
        target = self.sym(f"∂{L}/∂{self.X}", index)
        p_sym = self.sym(self.P, index)
        if self.stable[n, j]:
            return self.stable_entry(n, j, target.text, p_sym.text, inner_name)
        if self.log:
            return Formula(
                target.text,
                f"{target.text} = ∂{L}/∂{self.sym(self.Y, index).text} − {p_sym.text}·{inner_name}",
                (self.up[n, j], " − ", self.prob[n, j], "·", *factor(inner_value)),
                self.grad[n, j],
            )
        return Formula(
            target.text,
            f"{target.text} = {p_sym.text}·(∂{L}/∂{p_sym.text} − {inner_name})",
            (self.prob[n, j], "·(", self.up[n, j], " − ", *factor(inner_value), ")"),
            self.grad[n, j],
        )

    def stable_entry(self, n: int, j: int, target: str, p_sym: str, inner_name: str) -> Formula:
        """∂L/∂s_j where the usual form cancels (p_j near 1), in the form the op took it
        (ops.softmax.softmax_backward, log_softmax_backward): the same value without the
        difference of nearly equal numbers."""
        L, classes = self.L, self.s.shape[1]
        others = [i for i in range(classes) if i != j]
        shown = others[: self.options.max_terms]
        more = (f" + … ({len(others) - len(shown)} more)",) if len(others) > len(shown) else ()
        up_j = f"∂{L}/∂{self.sym(self.Y, self.idx(n, j)).text}"
        if self.log:
            return Formula(
                target,
                f"{target} = {up_j} − {p_sym}·{inner_name} = {up_j}·(1 − {p_sym}) − "
                f"{p_sym}·Σ_i 1[i ≠ j]·∂{L}/∂{self.Y}_i  (without the cancelling {up_j} − {p_sym}·{up_j})",
                (
                    self.up[n, j],
                    "·",
                    self.one_minus_p[n, j],
                    " − ",
                    self.prob[n, j],
                    "·",
                    *factor(others_sum(self.up, n, j)),
                ),
                self.grad[n, j],
            )
        tokens: list[Any] = []
        for position, i in enumerate(shown):
            tokens.extend(
                (" + " if position else "", "(", self.up[n, j], " − ", self.up[n, i], ")·")
            )
            tokens.extend(factor(self.prob[n, i]))
        return Formula(
            target,
            f"{target} = {p_sym}·(∂{L}/∂{p_sym} − {inner_name}) = "
            f"{p_sym}·Σ_i 1[i ≠ j]·(∂{L}/∂{p_sym} − ∂{L}/∂{self.P}_i)·{self.P}_i  "
            f"(Σ_i {self.P}_i = 1; without the cancelling ∂{L}/∂{p_sym} − {inner_name})",
            (self.prob[n, j], "·(", *tokens, *more, ")"),
            self.grad[n, j],
        )
