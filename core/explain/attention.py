"""The explanation of an attention problem (PyTorch's F.scaled_dot_product_attention), read
from its run's trace: the score table A = Q·Kᵀ·scale (+ mask), each softmax row P_i over
the keys row i may attend, the weighted sums Y = P·V, and the backward pass: ∂L/∂V = Pᵀ·∂L/∂Y,
∂L/∂P = ∂L/∂Y·Vᵀ, each row through its softmax Jacobian diag(p) − p·pᵀ to ∂L/∂A, then
∂L/∂Q = ∂L/∂A·K·scale and ∂L/∂K = ∂L/∂Aᵀ·Q·scale.

Arrays are B×L×E (Q), B×S×E (K), B×S×Ev (V), B×L×S (A, P), B×L×Ev (Y), with B the leading
(batch, head) axes; every loop runs over the entries it shows only.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.explain import (
    GRADIENT,
    OUTPUT,
    Formula,
    Note,
    Product,
    Section,
    SumOfProducts,
    Symbol,
    index_separator,
    keyed_sections,
)
from gradcalc.core.explain.attention_backward import BackwardSteps
from gradcalc.core.explain.pieces import (
    arithmetic_words,
    element_symbol,
    factor,
    index_and_upstream_words,
    show_matrix,
    underflow_words,
)
from gradcalc.core.explain.softmax_steps import softmax_row_steps
from gradcalc.core.kinds.attention import SECTIONS, AttentionProblem, AttentionTrace


class Explainer(BackwardSteps):
    """Builds the sections of an attention explanation."""

    def __init__(self, problem: AttentionProblem, run: Any, options: common.SolveOptions):
        self.p = problem
        self.t: AttentionTrace = run.trace
        self.options = options
        names = problem.names
        self.Q, self.K, self.V = names["query"], names["key"], names["value"]
        self.X = names["input"]
        self.A, self.P, self.Y, self.L = (names[k] for k in ("scores", "weights", "output", "loss"))
        self.sep = index_separator(
            problem.query.shape, problem.key.shape, problem.value.shape,
            index_base=problem.index_base,
        )  # fmt: skip
        self.batches = list(itertools.product(*(range(n) for n in problem.batch)))

    def sym(self, name: str, index: tuple[int, ...]) -> Symbol:
        return element_symbol(name, index, self.p.index_base, self.sep)

    def grad(self, name: str) -> str:
        return f"∂{self.L}/∂{name}"

    def scale_words(self) -> str:
        p = self.p
        if p.scale_given:
            return f"scale = {p.scale} (given)"
        width = p.sizes[2]
        value = p.scale if not isinstance(p.scale, float) else f"{p.scale:.6g}"
        return f"scale = 1/√E = 1/√{width} = {value} (PyTorch's default)"

    # conventions ---------------------------------------------------------
    def conventions(self) -> list[str]:
        p, A, P, Q, K, V, Y = self.p, self.A, self.P, self.Q, self.K, self.V, self.Y
        length, keys, width, value_width = p.sizes
        items = [
            f"{A} = {Q}·{K}ᵀ·scale{' + mask' if p.mask_kind == 'additive' else ''} "
            f"({length}×{keys}: L queries × S keys), {self.scale_words()}",
            f"{P}_i = softmax of row i of {A} over the keys it may attend; {Y} = {P}·{V} "
            f"({length}×{value_width}); E = {width}",
        ]
        items.extend(self.mask_words())
        if p.self_attention:
            items.append(
                f"self-attention: {Q} = {K} = {V} = {self.X} (the input), so "
                f"{self.grad(self.X)} = {self.grad(Q)} + {self.grad(K)} + {self.grad(V)}"
            )
        if p.batch:
            shape = "×".join(map(str, p.batch))
            items.append(
                f"{len(p.batch)} leading (batch, head) {'axis' if len(p.batch) == 1 else 'axes'} "
                f"of shape {shape}: each slice is its own attention; the first "
                f"{'index' if len(p.batch) == 1 else f'{len(p.batch)} indices'} of every "
                "symbol name the slice"
            )
        items.append(
            f"backward: {self.grad(V)} = {P}ᵀ·{self.grad(Y)}, {self.grad(P)} = "
            f"{self.grad(Y)}·{V}ᵀ, each row through its softmax Jacobian diag(p) − p·pᵀ: "
            f"{self.grad(A)}_ij = {P}_ij·({self.grad(P)}_ij − Σ_k {self.grad(P)}_ik·{P}_ik), "
            f"then {self.grad(Q)} = {self.grad(A)}·{K}·scale and {self.grad(K)} = "
            f"{self.grad(A)}ᵀ·{Q}·scale"
        )
        items += index_and_upstream_words(p.index_base, p.upstream_given, self.L, Y)
        # Masked entries take their row's top allowed score: only the allowed ones can underflow.
        allowed_scores = np.where(self.t.allowed, self.t.scores, -np.inf)
        top = allowed_scores.max(axis=-1, keepdims=True)
        items.extend(underflow_words(np.where(self.t.allowed, self.t.scores, top)))
        items.append(
            arithmetic_words(
                exact=False, irrational="softmax uses exp", forced=False, size="", limit=0
            )
        )
        return items

    def mask_words(self) -> list[str]:
        A, P = self.A, self.P
        kind = self.p.mask_kind
        if kind == "causal":
            return [
                "causal: query i attends keys j ≤ i only (PyTorch's is_causal, top-left "
                f"aligned: torch.ones(L, S).tril()); {P}_ij = 0 for j > i, and {A}_ij there is "
                "shown but left out of the softmax (as adding −∞ would)"
            ]
        if kind == "boolean":
            return [
                f"boolean mask (true = may attend, as PyTorch's attn_mask): {P}_ij = 0 where it "
                f"is false, and {A}_ij there is shown but left out of the softmax (as adding −∞ "
                "would)"
            ]
        if kind == "additive":
            return ["additive mask: its numbers (broadcast to L×S) are added to the scores"]
        return []

    # sections ------------------------------------------------------------
    def sections(self) -> list[Section]:
        return keyed_sections(self, SECTIONS)

    def mask_term(self) -> str:
        """The term an additive mask adds to the scores, or nothing."""
        return " + mask" if self.p.mask_kind == "additive" else ""

    def section_problem(self) -> Section:
        p = self.p
        section = Section("problem", "Problem")
        length, keys, width, value_width = p.sizes
        lead = "×".join(map(str, p.batch)) + "×" if p.batch else ""
        section.add(
            Note(
                f"{self.Q}: {lead}{length}×{width}, {self.K}: {lead}{keys}×{width}, "
                f"{self.V}: {lead}{keys}×{value_width}; {self.Y} = softmax({self.Q}·{self.K}ᵀ·"
                f"scale{self.mask_term()})·{self.V} is {lead}{length}×{value_width}"
            )
        )
        base = p.index_base
        if p.self_attention:
            section.add(show_matrix(f"{self.X} (= {self.Q} = {self.K} = {self.V})", p.query, base))
        else:
            section.add(show_matrix(self.Q, p.query, base))
            section.add(show_matrix(self.K, p.key, base))
            section.add(show_matrix(self.V, p.value, base))
        if p.mask_kind == "additive":
            section.add(show_matrix("mask (added to the scores)", p.bias, base))
        elif p.mask_kind in ("boolean", "causal"):
            shown = np.where(self.t.allowed, 1, 0).astype(object)
            section.add(show_matrix("may attend (1) or not (0)", shown, base))
        section.add(show_matrix(f"{self.grad(self.Y)} (upstream)", p.upstream, base, role=GRADIENT))
        return section

    def rows(self) -> list[tuple[tuple[int, ...], int]]:
        """Every (batch slice, query row) in order."""
        length = self.p.sizes[0]
        return [(b, i) for b in self.batches for i in range(length)]

    def allowed_keys(self, b: tuple[int, ...], i: int) -> list[int]:
        return [int(j) for j in np.flatnonzero(self.t.allowed[(*b, i)])]

    def scaled_sum(
        self, target: Symbol, left: list[tuple[Symbol, float]], right: list[tuple[Symbol, float]],
        value: float, constant: tuple[str, float] | None = None,
    ) -> Formula:  # fmt: skip
        """target = (Σ left·right)·scale (+ constant) with its numbers."""
        shown = min(len(left), self.options.max_terms)
        symbolic = " + ".join(
            f"{a.text}·{c.text}" for (a, _), (c, _) in zip(left, right, strict=True)
        )
        tokens: list[Any] = ["("]
        for n, ((_, a), (_, c)) in enumerate(zip(left[:shown], right[:shown], strict=True)):
            tokens.extend((" + " if n else "", *factor(a), "·", *factor(c)))
        if len(left) > shown:
            tokens.append(f" + … ({len(left) - shown} more)")
        tokens.extend((")·", *factor(self.t.scale)))
        text = f"{target.text} = ({symbolic})·scale"
        if constant is not None:
            text += f" + {constant[0]}"
            tokens.extend((" + ", *factor(constant[1])))
        return Formula(target.text, text, tuple(tokens), value)

    def section_scores(self) -> Section:
        p, t = self.p, self.t
        _, keys, width, _ = p.sizes
        section = Section(
            "scores",
            f"Scores: {self.A} = {self.Q}·{self.K}ᵀ·scale{self.mask_term()}, one per (query, key)",
        )
        section.add(Note(self.scale_words()))
        entries = [(b, i, j) for b, i in self.rows() for j in range(keys)]
        shown = self.options.cap(len(entries))
        for b, i, j in entries[:shown]:
            left = [(self.sym(self.Q, (*b, i, e)), t.query[(*b, i, e)]) for e in range(width)]
            right = [(self.sym(self.K, (*b, j, e)), t.key[(*b, j, e)]) for e in range(width)]
            constant = None
            if p.mask_kind == "additive":
                bias = np.broadcast_to(p.bias, p.score_shape)[(*b, i, j)]
                constant = (self.sym("mask", (*b, i, j)).text, float(bias))
            section.add(
                self.scaled_sum(
                    self.sym(self.A, (*b, i, j)), left, right, t.scores[(*b, i, j)], constant
                )
            )
        section.omitted = len(entries) - shown
        section.add(show_matrix(self.A, t.scores, p.index_base, role=OUTPUT))
        return section

    def keys_range(self, i: int, allowed: list[int]) -> str:
        """The j of query i's softmax, as shown under its max and Σ: "j" when it attends
        every key, else the keys it may attend (its m and Z leave the masked ones out)."""
        if len(allowed) == self.p.sizes[1]:
            return "j"
        base = self.p.index_base
        if self.p.mask_kind == "causal":
            return f"{{j ≤ {i + base}}}"
        if len(allowed) > self.options.max_terms:
            return "{j not masked}"
        return "{j ∈ {" + ", ".join(str(j + base) for j in allowed) + "}}"

    def section_weights(self) -> Section:
        t = self.t
        section = Section(
            "weights",
            f"Weights: {self.P}_i = softmax of row i of {self.A} over the keys it may attend",
        )
        budget = self.options.cap(len(self.rows()) * self.p.sizes[1])
        shown = 0
        for b, i in self.rows():
            if shown >= budget:
                break
            allowed = self.allowed_keys(b, i)
            row_index = (*b, i)
            suffix = "_" + self.sep.join(str(k + self.p.index_base) for k in row_index)
            scores = t.scores[row_index][allowed]
            for item in softmax_row_steps(
                scores,
                score=lambda n, r=row_index, a=allowed: self.sym(self.A, (*r, a[n])).text,
                output=lambda n, r=row_index, a=allowed: self.sym(self.P, (*r, a[n])).text,
                any_score=f"{self.A}{suffix}{self.sep}j",
                suffix=suffix,
                log=False,
                rows=len(allowed),
                max_terms=self.options.max_terms,
                over=self.keys_range(i, allowed),
            ):
                section.add(item)
            left_out = [j for j in range(self.p.sizes[1]) if j not in allowed]
            if left_out:
                names = ", ".join(self.sym(self.P, (*row_index, j)).text for j in left_out)
                section.add(Note(f"{names} = 0 (masked: left out of the softmax)"))
            shown += self.p.sizes[1]
        section.omitted = max(0, len(self.rows()) * self.p.sizes[1] - shown)
        section.add(show_matrix(self.P, t.weights, self.p.index_base, role=OUTPUT))
        return section

    def section_forward(self) -> Section:
        p, t = self.p, self.t
        value_width = p.sizes[3]
        section = Section(
            "forward", f"Forward: {self.Y} = {self.P}·{self.V}, weighted sums of the value rows"
        )
        entries = [(b, i, c) for b, i in self.rows() for c in range(value_width)]
        shown = self.options.cap(len(entries))
        for b, i, c in entries[:shown]:
            keys = self.allowed_keys(b, i)
            shown_keys = self.first_terms(keys)
            section.add(
                self.sum_of_products(
                    self.sym(self.Y, (*b, i, c)),
                    [(self.sym(self.P, (*b, i, j)), t.weights[(*b, i, j)]) for j in shown_keys],
                    [(self.sym(self.V, (*b, j, c)), t.value[(*b, j, c)]) for j in shown_keys],
                    t.output[(*b, i, c)],
                    note="masked keys (weight 0) left out" if len(keys) < p.sizes[1] else "",
                    total=len(keys),
                )
            )
        section.omitted = len(entries) - shown
        section.add(show_matrix(self.Y, t.output, p.index_base, role=OUTPUT))
        return section

    def sum_of_products(
        self, target: Symbol, left: list[tuple[Symbol, float]], right: list[tuple[Symbol, float]],
        value: float, note: str = "", total: int | None = None,
    ) -> SumOfProducts:  # fmt: skip
        """``target = Σ left·right = value``, cut to max_terms terms.  ``total`` counts the
        sum's terms when the caller built only the first ones (``first_terms``); None: all."""
        count = min(len(left), self.options.max_terms)
        terms = tuple(Product((a, c)) for a, c in zip(left[:count], right[:count], strict=True))
        omitted = (len(left) if total is None else total) - count
        return SumOfProducts(target=target, terms=terms, value=value, note=note, omitted=omitted)

    def first_terms(self, indices: list[int]) -> list[int]:
        """The indices of a sum's terms shown (the rest become ``+ …``): building every
        term's symbols to drop them costs seconds on a 1000-key row."""
        return indices[: self.options.max_terms]
