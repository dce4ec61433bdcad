"""The backward section of the attention explanation (core/explain/attention.py), apart to
keep each module short: ∂L/∂V = Pᵀ·∂L/∂Y, ∂L/∂P = ∂L/∂Y·Vᵀ, each softmax row's
g_i = Σ_k ∂L/∂P_ik·P_ik and ∂L/∂A_ij = P_ij·(∂L/∂P_ij − g_i) (the row's Jacobian
diag(p) − p·pᵀ applied to ∂L/∂P_i), then ∂L/∂Q = ∂L/∂A·K·scale, ∂L/∂K = ∂L/∂Aᵀ·Q·scale.
Arrays as there: B×L×S for A, P and their gradients."""

from __future__ import annotations

from typing import Any

from gradcalc.core.explain import GRADIENT, Formula, Note, Section
from gradcalc.core.explain.pieces import factor, plus, show_matrix


class BackwardSteps:
    """The backward section, for an Explainer with ``p``, ``t``, ``options``, the symbol
    names and ``sym``, ``rows``, ``allowed_keys``, ``sum_of_products`` and ``scaled_sum``."""

    p: Any
    t: Any
    options: Any
    batches: list[tuple[int, ...]]

    def section_backward(self) -> Section:
        G = self.grad
        Q, K, V, A, P, Y = self.Q, self.K, self.V, self.A, self.P, self.Y
        section = Section(
            "backward",
            f"Backward: {G(V)} = {P}ᵀ·{G(Y)}, {G(P)} = {G(Y)}·{V}ᵀ, through each softmax row "
            f"to {G(A)}, then {G(Q)} and {G(K)}",
        )
        # [steps left to show, steps wanted, steps shown], spent by take().
        budget = [self.options.cap(self.total_steps()), 0, 0]
        parts = [self.value_steps, self.weight_steps, self.row_steps, self.query_steps,
                 self.key_steps] + ([self.input_steps] if self.p.self_attention else [])  # fmt: skip
        for part in parts:
            for item in part(budget):
                section.add(item)
        section.omitted = budget[1] - budget[2]
        for label, values in (
            (G(V), self.t.grad_value),
            (G(Q), self.t.grad_query),
            (G(K), self.t.grad_key),
            *(((G(self.X), self.t.grad_input),) if self.p.self_attention else ()),
        ):
            section.add(show_matrix(label, values, self.p.index_base, role=GRADIENT))
        return section

    def total_steps(self) -> int:
        length, keys, width, value_width = self.p.sizes
        slices = max(1, len(self.batches))
        own = length * width if self.p.self_attention else 0
        return slices * (
            keys * value_width + length * keys * 2 + length + length * width + keys * width + own
        )

    def input_steps(self, budget: list[int]) -> list[Any]:
        """Self-attention: ∂L/∂X = ∂L/∂Q + ∂L/∂K + ∂L/∂V, X being all three."""
        t, G = self.t, self.grad
        length, _, width, _ = self.p.sizes
        entries = [(b, i, e) for b in self.batches for i in range(length) for e in range(width)]
        items: list[Any] = []
        for b, i, e in entries[: self.take(budget, len(entries))]:
            at = (*b, i, e)
            names = [self.sym(G(name), at).text for name in (self.Q, self.K, self.V)]
            values = (t.grad_query[at], t.grad_key[at], t.grad_value[at])
            target = self.sym(G(self.X), at).text
            items.append(
                Formula(
                    target,
                    f"{target} = {' + '.join(names)}",
                    (values[0], *plus(values[1]), *plus(values[2])),
                    t.grad_input[at],
                )
            )
        return items

    @staticmethod
    def take(budget: list[int], count: int) -> int:
        """How many of ``count`` steps the remaining budget allows (and spends them)."""
        allowed = max(0, min(count, budget[0]))
        budget[0] -= allowed
        budget[1] += count
        budget[2] += allowed
        return allowed

    def value_steps(self, budget: list[int]) -> list[Any]:
        """∂L/∂V_jc = Σ_i P_ij·∂L/∂Y_ic over the queries that attend key j."""
        t, G = self.t, self.grad
        length, keys, _, value_width = self.p.sizes
        entries = [(b, j, c) for b in self.batches for j in range(keys) for c in range(value_width)]
        items: list[Any] = []
        for b, j, c in entries[: self.take(budget, len(entries))]:
            queries = [i for i in range(length) if t.allowed[(*b, i, j)]]
            if not queries:
                target = self.sym(G(self.V), (*b, j, c)).text
                items.append(Note(f"{target} = 0: no query may attend this key"))
                continue
            shown = self.first_terms(queries)
            items.append(
                self.sum_of_products(
                    self.sym(G(self.V), (*b, j, c)),
                    [(self.sym(self.P, (*b, i, j)), t.weights[(*b, i, j)]) for i in shown],
                    [(self.sym(G(self.Y), (*b, i, c)), t.upstream[(*b, i, c)]) for i in shown],
                    t.grad_value[(*b, j, c)],
                    note=""
                    if len(queries) == length
                    else "queries that may not attend this key left out",
                    total=len(queries),
                )
            )
        return items

    def weight_steps(self, budget: list[int]) -> list[Any]:
        """∂L/∂P_ij = Σ_c ∂L/∂Y_ic·V_jc, for the keys row i attends."""
        t, G = self.t, self.grad
        value_width = self.p.sizes[3]
        entries = [(b, i, j) for b, i in self.rows() for j in self.allowed_keys(b, i)]
        items: list[Any] = []
        for b, i, j in entries[: self.take(budget, len(entries))]:
            items.append(
                self.sum_of_products(
                    self.sym(G(self.P), (*b, i, j)),
                    [
                        (self.sym(G(self.Y), (*b, i, c)), t.upstream[(*b, i, c)])
                        for c in range(value_width)
                    ],
                    [
                        (self.sym(self.V, (*b, j, c)), t.value[(*b, j, c)])
                        for c in range(value_width)
                    ],
                    t.grad_weights[(*b, i, j)],
                )
            )
        return items

    def row_steps(self, budget: list[int]) -> list[Any]:
        """Per row: g_i = Σ_k ∂L/∂P_ik·P_ik, then ∂L/∂A_ij = P_ij·(∂L/∂P_ij − g_i)."""
        t, G = self.t, self.grad
        P, A = self.P, self.A
        items: list[Any] = [
            Note(
                f"each row's softmax Jacobian is diag(p) − p·pᵀ: ∂{P}_ik/∂{A}_ij = "
                f"{P}_ik·(δ_kj − {P}_ij), so {G(A)}_ij = Σ_k {G(P)}_ik·{P}_ik·(δ_kj − {P}_ij) "
                f"= {P}_ij·({G(P)}_ij − g_i) with g_i = Σ_k {G(P)}_ik·{P}_ik (every score of a "
                "row moves every weight of the row: not p(1 − p) entry by entry)"
            )
        ]
        for b, i in self.rows():
            keys = self.allowed_keys(b, i)
            if self.take(budget, len(keys) + 1) < len(keys) + 1:
                continue
            row = (*b, i)
            suffix = "_" + self.sep.join(str(k + self.p.index_base) for k in row)
            g_value = float(sum(t.grad_weights[(*row, k)] * t.weights[(*row, k)] for k in keys))
            shown = self.first_terms(keys)
            items.append(
                self.sum_of_products(
                    self.sym(f"g{suffix}", ()),
                    [(self.sym(G(P), (*row, k)), t.grad_weights[(*row, k)]) for k in shown],
                    [(self.sym(P, (*row, k)), t.weights[(*row, k)]) for k in shown],
                    g_value,
                    total=len(keys),
                )
            )
            for j in keys:
                weight, upstream = t.weights[(*row, j)], t.grad_weights[(*row, j)]
                target = self.sym(G(A), (*row, j)).text
                items.append(
                    Formula(
                        target,
                        f"{target} = {self.sym(P, (*row, j)).text}·({self.sym(G(P), (*row, j)).text} − g{suffix})",
                        (*factor(weight), "·(", upstream, " − ", *factor(g_value), ")"),
                        t.grad_scores[(*row, j)],
                    )
                )
        return items

    def query_steps(self, budget: list[int]) -> list[Any]:
        """∂L/∂Q_ie = (Σ_j ∂L/∂A_ij·K_je)·scale."""
        t, G = self.t, self.grad
        width = self.p.sizes[2]
        entries = [(b, i, e) for b, i in self.rows() for e in range(width)]
        items: list[Any] = []
        for b, i, e in entries[: self.take(budget, len(entries))]:
            keys = self.allowed_keys(b, i)
            items.append(
                self.scaled_sum(
                    self.sym(G(self.Q), (*b, i, e)),
                    [(self.sym(G(self.A), (*b, i, j)), t.grad_scores[(*b, i, j)]) for j in keys],
                    [(self.sym(self.K, (*b, j, e)), t.key[(*b, j, e)]) for j in keys],
                    t.grad_query[(*b, i, e)],
                )
            )
        return items

    def key_steps(self, budget: list[int]) -> list[Any]:
        """∂L/∂K_je = (Σ_i ∂L/∂A_ij·Q_ie)·scale over the queries that attend key j."""
        t, G = self.t, self.grad
        length, keys, width, _ = self.p.sizes
        entries = [(b, j, e) for b in self.batches for j in range(keys) for e in range(width)]
        items: list[Any] = []
        for b, j, e in entries[: self.take(budget, len(entries))]:
            queries = [i for i in range(length) if t.allowed[(*b, i, j)]]
            if not queries:
                target = self.sym(G(self.K), (*b, j, e)).text
                items.append(Note(f"{target} = 0: no query may attend this key"))
                continue
            items.append(
                self.scaled_sum(
                    self.sym(G(self.K), (*b, j, e)),
                    [(self.sym(G(self.A), (*b, i, j)), t.grad_scores[(*b, i, j)]) for i in queries],
                    [(self.sym(self.Q, (*b, i, e)), t.query[(*b, i, e)]) for i in queries],
                    t.grad_key[(*b, j, e)],
                )
            )
        return items
