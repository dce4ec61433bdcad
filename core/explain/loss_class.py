"""The forward and backward steps of the class losses (cross_entropy, nll), for core/explain/loss.py.

A batch of rows: input N×C (a spec's single sample of C is a batch of one), the trace's
coefficients a (N×C) with ℓ_n = Σ_c a[n,c]·(−log p[n,c]) (cross_entropy) or
Σ_c a[n,c]·(−x[n,c]) (nll), probabilities and log p (N×C), per_item ℓ (N) and counted (N).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core.explain import Formula, Note, Section, sentence
from gradcalc.core.explain.pieces import factor, plus, show_matrix
from gradcalc.core.explain.softmax_steps import softmax_row_steps
from gradcalc.core.ops.softmax import log_sum_exp
from gradcalc.core.words import plain


class ClassLossSteps:
    """The steps of cross_entropy and nll: a mixin of core/explain/loss.py's Explainer, whose
    problem (p), trace (c), options, names (X, T, P, W, L) and symbol helpers (sym, at,
    item, label, _scale_tokens) they use."""

    def _forward_cross_entropy(self, section: Section) -> None:
        p, c = self.p, self.c
        count, classes = c.coefficients.shape
        budget = self.options.cap(count * classes)
        scores = p.rows(p.input).astype(float)
        shown = 0
        general = p.target_kind == "distribution" or p.weight is not None or p.label_smoothing
        if general:
            section.add(Note(self._coefficient_words()))
        for n in range(count):
            if shown >= budget:
                break
            rows = min(classes, budget - shown)
            shown += rows
            if p.target_kind == "index" and not c.counted[n]:
                section.add(self._ignored_note(n))
                continue
            for step in softmax_row_steps(
                scores[n],
                score=lambda j, n=n: self.sym(self.X, self.at(n, j)).text,
                output=lambda j, n=n: self.sym(self.P, self.at(n, j)).text,
                any_score=f"{self.X}_j" if p.single else f"{self.X}_{self.row(n)}{self.sep}j",
                suffix="" if p.single else f"_{self.row(n)}",
                log=False,
                rows=rows,
                max_terms=self.options.max_terms,
            ):
                section.add(step)
            if not general:
                self._hard_label_item(section, n, scores[n])
            else:
                section.add(self._weighted_item(n))
        if general:
            section.add(
                show_matrix(
                    "a (coefficients of −log p)",
                    c.coefficients.reshape(p.input.shape),
                    p.index_base,
                )
            )
        section.omitted = count * classes - shown

    def _hard_label_item(self, section: Section, n: int, scores: np.ndarray) -> None:
        """ℓ_n = −log p_gt, and the same as −s_gt + log Σ_j exp(s_j) (``scores``: sample n's C
        scores in float64), checked by log-sum-exp; where log Z was taken as log1p(r) (the
        other scores far below the top), both with log(1 + r) as the op took it."""
        p, c = self.p, self.c
        gt = self.label(n)
        p_gt = self.sym(self.P, self.at(n, gt)).text
        s_gt = self.sym(self.X, self.at(n, gt)).text
        by_log1p = bool(c.log1p_rows[n, 0])
        suffix = "" if p.single else f"_{self.row(n)}"
        if by_log1p and gt == int(np.argmax(scores)):
            symbolic = f"{self.item(n)} = −log {p_gt} = log(1 + r{suffix})  (gt = {gt + p.index_base}, the top score)"
            numeric: tuple[Any, ...] = ("log(1 + ", c.rest[n, 0], ")")
        else:
            symbolic = f"{self.item(n)} = −log {p_gt}  (gt = {gt + p.index_base})"
            numeric = (
                ("−log ", c.probabilities[n, gt])
                if c.probabilities[n, gt] > 0
                else ("−(", c.log_p[n, gt], ")  (log p from log-sum-exp: p underflows)")
            )
        section.add(Formula(self.item(n), symbolic, numeric, c.per_item[n]))
        same = f"{self.item(n)} = −{s_gt} + log Σ_j exp({self.X}_j)"
        if by_log1p:
            maximum = float(np.max(scores))
            symbolic = f"{same} = −{s_gt} + m{suffix} + log(1 + r{suffix})  (the same, as seed 001 writes it)"
            numeric = ("−", *factor(scores[gt]), *plus(maximum), " + log(1 + ", c.rest[n, 0], ")")
        else:
            lse = float(log_sum_exp(scores)[1][0])
            symbolic = f"{same}  (the same, as seed 001 writes it)"
            numeric = ("−", *factor(scores[gt]), *plus(lse))
        section.add(Formula(self.item(n), symbolic, numeric, c.per_item[n]))

    def _coefficient_words(self) -> str:
        p = self.p
        w_c = f"{self.W}_c" if p.weight is not None else "1"
        w_gt = f"{self.W}_gt·" if p.weight is not None else ""
        eps = p.label_smoothing
        if p.target_kind == "distribution":
            mix = f"((1 − ε)·{self.T}_c + ε/C)" if eps else f"{self.T}_c"
            a = f"a_c = {w_c}·{mix}" if p.weight is not None else f"a_c = {mix}"
        elif eps:
            a = f"a_c = (1 − ε)·{w_gt}1[c = gt] + (ε/C)·{w_c}"
        else:
            a = f"a_c = {w_gt}1[c = gt]"
        return (
            f"each sample's loss is ℓ = Σ_c a_c·(−log p_c) with {a}"
            + (f", ε = {plain(eps)}, C = {p.input.shape[-1]}" if eps else "")
            + "; then ∂ℓ/∂s_c = (Σ_k a_k)·p_c − a_c"
        )

    def _ignored_note(self, n: int) -> Note:
        if self.p.temporal:
            return Note(
                f"{self.sample(n)}: mask 0, so {self.item(n)} = 0, its gradient row is 0, and it "
                "is not summed (cs231n's temporal softmax loss)"
            )
        return sentence(
            f"sample {n + self.p.index_base}: target = ignore_index (",
            self.p.ignore_index,
            f"), so {self.item(n)} = 0, its gradient row is 0, and it is not counted in the mean",
        )

    def _weighted_item(self, n: int) -> Formula:
        c = self.c
        classes = c.coefficients.shape[1]
        tokens: list[Any] = []
        shown = 0
        for j in range(classes):
            a = c.coefficients[n, j]
            if a == 0:
                continue
            if shown >= self.options.max_terms:
                tokens.append(" + …")
                break
            if shown:
                tokens.append(" + ")
            tokens.extend((a, "·", -c.log_p[n, j]))
            shown += 1
        return Formula(
            self.item(n),
            f"{self.item(n)} = Σ_c a_c·(−log {self.P}_c)  (terms with a_c = 0 left out)",
            tuple(tokens) or ("0",),
            c.per_item[n],
        )

    def _forward_nll(self, section: Section) -> None:
        p, c = self.p, self.c
        count = c.coefficients.shape[0]
        rows = range(self.options.cap(count))
        x_rows = p.rows(self.x)
        for n in rows:
            if not c.counted[n]:
                section.add(self._ignored_note(n))
                continue
            gt = self.label(n)
            x_gt = self.sym(self.X, self.at(n, gt)).text
            if p.weight is None:
                section.add(
                    Formula(
                        self.item(n),
                        f"{self.item(n)} = −{x_gt}  (gt = {gt + p.index_base})",
                        ("−", *factor(x_rows[n, gt])),
                        c.per_item[n],
                    )
                )
            else:
                section.add(
                    Formula(
                        self.item(n),
                        f"{self.item(n)} = −{self.W}_{gt + p.index_base}·{x_gt}  (gt = {gt + p.index_base})",
                        ("−", c.coefficients[n, gt], "·", *factor(x_rows[n, gt])),
                        c.per_item[n],
                    )
                )
        section.omitted = count - len(rows)

    def _backward_cross_entropy(self, section: Section) -> None:
        p, c = self.p, self.c
        L, X = self.L, self.X
        count, classes = c.coefficients.shape
        simple = p.target_kind == "index" and p.weight is None and not p.label_smoothing
        first = next((n for n in range(count) if c.counted[n]), None)
        if simple and first is not None:
            self._seed003_derivation(section, first)
        elif first is not None:
            section.add(
                Note(
                    "with ℓ = Σ_c a_c·(−log p_c): ∂(−log p_c)/∂s_k = p_k − 1[k = c], so "
                    "∂ℓ/∂s_k = Σ_c a_c·(p_k − 1[k = c]) = (Σ_c a_c)·p_k − a_k"
                )
            )
        if c.denominator != 1:
            section.add(
                sentence(
                    f"each ∂{L}/∂{X} is ∂ℓ_n/∂{X} divided by the mean's denominator ",
                    c.denominator,
                )
            )
        budget = self.options.cap(count * classes)
        shown = 0
        for n in range(count):
            if shown >= budget:
                break
            if p.target_kind == "index" and not c.counted[n]:
                left = "left out (mask 0)" if p.temporal else "ignored"
                section.add(Note(f"{self.sample(n)} is {left}: its gradient row is 0"))
                shown += min(classes, budget - shown)
                continue
            for j in range(classes):
                if shown >= budget:
                    break
                shown += 1
                section.add(self._cross_entropy_gradient(n, j, simple=simple))
        section.omitted = count * classes - shown

    def _cross_entropy_gradient(self, n: int, j: int, *, simple: bool) -> Formula:
        """∂L/∂s[n, j]: p − 1[j = gt] (``simple``: a class index, no weights or smoothing),
        else (Σ_c a_c)·p − a_j; over the mean's denominator."""
        p, c = self.p, self.c
        L, X, P = self.L, self.X, self.P
        count, classes = c.coefficients.shape
        scale = "" if c.denominator == 1 else f"/{plain(c.denominator)}"
        total = c.coefficients[n].sum()
        target = self.sym(f"∂{L}/∂{X}", self.at(n, j)).text
        p_sym = self.sym(P, self.at(n, j)).text
        rest = c.one_minus_p[n, j]
        if simple and c.stable[n, j]:
            symbolic = (
                f"{target} = ({p_sym} − 1[{j + p.index_base} = gt]){scale} = "
                f"−(Σ_i 1[i ≠ {j + p.index_base}]·{P}_i){scale}  ({p_sym} − 1 would cancel)"
            )
            numeric = ("(−", rest, ")", *self._scale_tokens())
        elif simple:
            hit = int(j == self.label(n))
            symbolic = f"{target} = ({p_sym} − 1[{j + p.index_base} = gt]){scale}"
            numeric = ("(", c.probabilities[n, j], " − ", hit, ")", *self._scale_tokens())
        elif c.stable[n, j]:
            a_j = f"a_{j + p.index_base}"
            symbolic = (
                f"{target} = ((Σ_c a_c)·{p_sym} − {a_j}){scale} = "
                f"({p_sym}·Σ_c 1[c ≠ {j + p.index_base}]·a_c − {a_j}·(1 − {p_sym})){scale}  "
                "(the same without the cancelling difference)"
            )
            numeric = (
                "(",
                c.probabilities[n, j],
                "·",
                c.other_coefficients[n, j],
                " − ",
                c.coefficients[n, j],
                "·",
                rest,
                ")",
                *self._scale_tokens(),
            )
        else:
            symbolic = f"{target} = ((Σ_c a_c)·{p_sym} − a_{j + p.index_base}){scale}"
            numeric = (
                "(",
                total,
                "·",
                c.probabilities[n, j],
                " − ",
                c.coefficients[n, j],
                ")",
                *self._scale_tokens(),
            )
        return Formula(target, symbolic, numeric, c.grad_input.reshape(count, classes)[n, j])

    def _seed003_derivation(self, section: Section, n: int) -> None:
        """Seed 003 Problem 2 with numbers: L = −log p_gt, so ∂L/∂s_i = p_i − 1[i = gt]."""
        p, c = self.p, self.c
        X, P = self.X, self.P
        gt = self.label(n)
        probs = c.probabilities[n]
        p_gt = self.sym(P, self.at(n, gt)).text
        s_gt = self.sym(X, self.at(n, gt)).text
        ell = self.item(n)
        section.add(
            Note(
                ("the derivation " if p.single else f"the derivation for {self.sample(n)} ")
                + f"(gt = {gt + p.index_base}): "
                f"{ell} = −log {p_gt} with {p_gt} = exp({s_gt})/Σ_j exp({X}_j), by the chain rule "
                f"through {p_gt}"
            )
        )
        if probs[gt] > 0:
            section.add(
                Formula(
                    f"∂{ell}/∂{p_gt}",
                    f"∂{ell}/∂{p_gt} = −1/{p_gt}",
                    ("−1/", probs[gt]),
                    -1 / probs[gt],
                )
            )
        else:
            section.add(
                sentence(
                    f"{p_gt} = exp(",
                    c.log_p[n, gt],
                    ") is below float64's smallest number, so "
                    f"∂{ell}/∂{p_gt} = −1/{p_gt} cannot be printed; the product below cancels it exactly",
                )
            )
        section.add(self._seed003_slope(n, gt))
        chain = f"∂{ell}/∂{s_gt} = (−1/{p_gt})·{p_gt}·(1 − {p_gt}) = {p_gt} − 1"
        if c.stable[n, gt]:
            section.add(
                Formula(
                    f"∂{ell}/∂{s_gt}",
                    f"{chain} = −Σ_j 1[j ≠ gt]·{P}_j  ({p_gt} − 1 would cancel)",
                    ("−", c.one_minus_p[n, gt]),
                    -c.one_minus_p[n, gt],
                )
            )
        else:
            section.add(Formula(f"∂{ell}/∂{s_gt}", chain, (probs[gt], " − 1"), probs[gt] - 1))
        other = next((j for j in range(probs.size) if j != gt), None)
        if other is not None:
            self._seed003_other_class(section, n, other)
        section.add(
            Note(
                f"so ∂ℓ/∂{X}_i = {P}_i − 1[i = gt]: the probabilities minus the one-hot target "
                f"(p_gt − 1 at the ground truth, p_i elsewhere)"
            )
        )

    def _seed003_slope(self, n: int, gt: int) -> Formula:
        """∂p_gt/∂s_gt = p_gt·(1 − p_gt), with 1 − p_gt as the op took it: the other classes'
        Σ_j 1[j ≠ gt]·p_j (r/Z) where p_gt is within 2^-20 of 1 and 1 − p_gt would cancel."""
        c = self.c
        probs, rest = c.probabilities[n], c.one_minus_p[n, gt]
        p_gt = self.sym(self.P, self.at(n, gt)).text
        s_gt = self.sym(self.X, self.at(n, gt)).text
        symbolic = f"∂{p_gt}/∂{s_gt} = {p_gt}·(1 − {p_gt})"
        if rest != 1 - probs[gt]:
            return Formula(
                f"∂{p_gt}/∂{s_gt}",
                f"{symbolic} = {p_gt}·Σ_j 1[j ≠ gt]·{self.P}_j  (1 − {p_gt} would cancel)",
                (probs[gt], "·", rest),
                probs[gt] * rest,
            )
        return Formula(
            f"∂{p_gt}/∂{s_gt}", symbolic, (probs[gt], "·(1 − ", probs[gt], ")"), probs[gt] * rest
        )

    def _seed003_other_class(self, section: Section, n: int, other: int) -> None:
        """The derivation's steps for a class ``other`` ≠ gt: ∂ℓ/∂s_i = p_i."""
        p, c = self.p, self.c
        X, P = self.X, self.P
        gt = self.label(n)
        probs = c.probabilities[n]
        p_gt = self.sym(P, self.at(n, gt)).text
        ell = self.item(n)
        p_i = self.sym(P, self.at(n, other)).text
        s_i = self.sym(X, self.at(n, other)).text
        section.add(
            Formula(
                f"∂{p_gt}/∂{s_i}",
                f"∂{p_gt}/∂{s_i} = −{p_gt}·{p_i}  (i = {other + p.index_base} ≠ gt)",
                ("−", probs[gt], "·", probs[other]),
                -probs[gt] * probs[other],
            )
        )
        section.add(
            Formula(
                f"∂{ell}/∂{s_i}",
                f"∂{ell}/∂{s_i} = (−1/{p_gt})·(−{p_gt}·{p_i}) = {p_i}",
                (probs[other],),
                probs[other],
            )
        )

    def _backward_nll(self, section: Section) -> None:
        p, c = self.p, self.c
        L, X = self.L, self.X
        count, classes = c.coefficients.shape
        section.add(
            Note(
                f"ℓ_n = −{self.W + '[gt]·' if p.weight is not None else ''}{X}[gt] reads one entry per sample: "
                f"∂ℓ_n/∂{X}_c = −{self.W + '[gt]·' if p.weight is not None else ''}1[c = gt]"
            )
        )
        budget = self.options.cap(count * classes)
        grad = c.grad_input.reshape(count, classes)
        shown = 0
        scale = "" if c.denominator == 1 else f"/{plain(c.denominator)}"
        for n in range(count):
            for j in range(classes):
                if shown >= budget:
                    break
                shown += 1
                target = self.sym(f"∂{L}/∂{X}", self.at(n, j)).text
                section.add(
                    Formula(
                        target,
                        f"{target} = −a_{j + p.index_base}{scale}  (a = "
                        + (f"{self.W}[gt]" if p.weight is not None else "1")
                        + " at gt, 0 elsewhere"
                        + (", 0 for an ignored sample" if not c.counted[n] else "")
                        + ")",
                        ("−", c.coefficients[n, j], *self._scale_tokens()),
                        grad[n, j],
                    )
                )
        section.omitted = count * classes - shown
