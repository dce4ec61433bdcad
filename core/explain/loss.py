"""The explanation of a loss problem (PyTorch's losses), read from its run's trace.

The class losses (cross_entropy, nll) are explained as a batch of rows (input N×C, a
spec's single sample of C is a batch of one) with one coefficient a[n, c] per sample and
class; mse, bce and bce_with_logits entry by entry.  core/kinds/loss.py reads and runs
the problem and states the coefficients' formulas.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.activations import softmax_row_steps
from gradcalc.core.explain import Formula, Note, Section, Symbol, Words, index_separator, sentence
from gradcalc.core.kinds.fields import shape_text
from gradcalc.core.kinds.loss import CLASS_LOSSES, LossProblem, LossTrace, bce_clamps
from gradcalc.core.opkit import (
    arithmetic_words,
    element_symbol,
    factor,
    plain,
    plus,
    show_matrix,
)
from gradcalc.core.ops.losses import BCE_LOG_FLOOR
from gradcalc.core.ops.softmax import log_sum_exp


def _one_minus(x: float) -> tuple:
    """The tokens of 1 − x: its float value, or (1 − x) written out where the float rounds
    to exactly 1 (x = 1e-100: 1 − x is not 1)."""
    rest = 1 - x
    return (rest,) if rest != 1 or x == 0 else ("(1 − ", x, ")")


class Explainer:
    """Builds a loss's explanation; loops only over the rows it shows."""

    def __init__(self, problem: LossProblem, run: Any, options: common.SolveOptions):
        computed: LossTrace = run.trace
        self.p = problem
        self.c = computed
        self.options = options
        names = problem.names
        self.X, self.T, self.P, self.W, self.L = (
            names[k] for k in ("input", "target", "probabilities", "weight", "loss")
        )
        self.sep = index_separator(problem.input.shape, index_base=problem.index_base)
        self.exact = computed.exact
        self.x = problem.input if self.exact else problem.input.astype(float)
        self.class_loss = problem.loss in CLASS_LOSSES

    # symbols ------------------------------------------------------------
    def sym(self, name: str, index: tuple[int, ...]) -> Symbol:
        return element_symbol(name, index, self.p.index_base, self.sep)

    def at(self, n: int, c: int) -> tuple[int, ...]:
        """A class loss's (sample, class) as the spec indexes it."""
        return (c,) if self.p.single else (n, c)

    def item(self, n: int) -> str:
        """ℓ of sample n (class losses)."""
        return "ℓ" if self.p.single else f"ℓ_{n + self.p.index_base}"

    def label(self, n: int) -> int:
        return int(self.p.indices.reshape(-1)[n])

    def reduction_words(self) -> str:
        p = self.p
        if p.reduction == "sum":
            return "reduction sum: L = Σ of the per-sample losses"
        if p.loss in ("mse", "bce", "bce_with_logits"):
            return f"reduction mean: L = the sum over all {p.input.size} entries / {p.input.size} (PyTorch's element-wise mean)"
        if p.target_kind == "distribution":
            return "reduction mean with probability targets: L = Σ_n ℓ_n / N (PyTorch does not divide by weights here)"
        if p.weight is not None:
            return "reduction mean with class weights: L = Σ_n ℓ_n / Σ_n w[gt_n] over the counted samples (PyTorch's weighted mean)"
        return "reduction mean: L = Σ_n ℓ_n / (number of counted samples)"

    # conventions --------------------------------------------------------
    def conventions(self) -> list[str]:
        p = self.p
        edges, clamped = self.c.edges, self.c.clamped
        items = [_LOSS_WORDS[p.loss]]
        if self.class_loss:
            if p.target_kind == "index":
                items.append(
                    "target: class indices, 0-based as in PyTorch"
                    + (
                        " (index_base 1 only changes how indices are printed: target 0 prints as class 1)"
                        if p.index_base
                        else ""
                    )
                )
                ignored = int((~self.c.counted).sum())
                items.append(
                    Words(
                        "ignore_index = ",
                        p.ignore_index,
                        f": {ignored} sample{'s' if ignored != 1 else ''} ignored (loss 0, gradient 0, not counted in the mean)"
                        if ignored
                        else " (no sample has it)",
                    )
                )
            else:
                items.append("target: a probability distribution over the classes for each sample")
            if p.weight is not None:
                weights = [piece for w in p.weight for piece in (", ", w)][1:]
                items.append(Words(f"class weights {self.W} = [", *weights, "]"))
            if p.label_smoothing:
                eps, classes = p.label_smoothing, p.input.shape[-1]
                items.append(
                    Words(
                        "label smoothing ε = ",
                        eps,
                        ": the target mixes (1 − ε) of itself with ε/C = ",
                        eps / classes,
                        f" of the uniform distribution over C = {classes} classes",
                    )
                )
        elif p.weight is not None:
            items.append(f"weight {self.W} (broadcast to the input) multiplies each entry's loss")
        items.append(self.reduction_words())
        x = p.input.astype(float)
        at_edges = np.isin(x, (0.0, 1.0))
        if p.loss == "bce" and edges.any() and (clamped == edges).all() and at_edges[edges].all():
            items.append(
                f"{int(edges.sum())} input entr{'y is' if edges.sum() == 1 else 'ies are'} at 0 or 1: "
                "PyTorch clamps log at −100 and x·(1 − x) at 1e-12 there; the finite-difference check skips "
                + ("it" if edges.sum() == 1 else "them")
            )
        elif p.loss == "bce":
            if clamped.any():
                n = int(clamped.sum())
                items.append(
                    f"{n} input entr{'y is' if n == 1 else 'ies are'} where PyTorch clamps "
                    "(log at −100, x·(1 − x) at 1e-12): the steps show each clamp where it acts"
                )
            if edges.any():
                n = int(edges.sum())
                items.append(
                    f"{n} input entr{'y lies' if n == 1 else 'ies lie'} within 2h of 0 or 1: "
                    "the finite-difference check skips " + ("it" if n == 1 else "them")
                )
        items.append(f"indices start at {p.index_base} (index_base: {p.index_base})")
        items.append(
            arithmetic_words(
                exact=self.exact,
                irrational="" if p.loss in ("nll", "mse") else f"{p.loss} uses exp and log",
                forced=self.options.force_float,
                size=f"{p.input.size:,} entries",
                limit=self.options.limits.exact_work,
            )
        )
        return items

    def sections(self) -> list[Section]:
        """The sections --show asks for, in order."""
        return [build() for key, build in self.builders() if self.options.wants(key)]

    def builders(self):
        return (
            ("problem", self.section_problem),
            ("forward", self.section_forward),
            ("backward", self.section_backward),
        )

    # problem ------------------------------------------------------------
    def section_problem(self) -> Section:
        p = self.p
        section = Section("problem", "Problem")
        base = p.index_base
        what = {
            "cross_entropy": "logits (scores)",
            "nll": "log-probabilities",
            "mse": "predictions",
            "bce": "probabilities",
            "bce_with_logits": "logits",
        }[p.loss]
        section.add(Note(f"input {self.X}: {shape_text(p.input.shape)} {what}"))
        section.add(show_matrix(self.X, p.input, base))
        if p.target_kind == "index":
            section.add(
                show_matrix(
                    f"{self.T} (class indices, 0-based as PyTorch reads them)", p.indices, base
                )
            )
        else:
            section.add(show_matrix(self.T, p.values, base))
        if p.weight is not None:
            section.add(show_matrix(self.W, p.weight, base))
        if p.loss == "nll":
            _, lse = log_sum_exp(p.rows(p.input).astype(float))
            off = np.flatnonzero(np.abs(lse[:, 0]) > 1e-6)
            if off.size:
                rows = ", ".join(str(int(n) + base) for n in off[:8])
                section.add(
                    Note(
                        f"row{'s' if off.size != 1 else ''} {rows} of the input "
                        f"{'are' if off.size != 1 else 'is'} not log-probabilities (Σ exp ≠ 1); NLLLoss does not "
                        "check this and neither does gradcalc (apply log_softmax first, or use cross_entropy)"
                    )
                )
        return section

    # forward ------------------------------------------------------------
    def section_forward(self) -> Section:
        section = Section("forward", "Forward: the loss, step by step")
        if self.p.loss == "cross_entropy":
            self._forward_cross_entropy(section)
        elif self.p.loss == "nll":
            self._forward_nll(section)
        else:
            self._forward_elementwise(section)
        section.add(self._reduction())
        return section

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
                any_score=f"{self.X}_j" if p.single else f"{self.X}_{n + p.index_base}{self.sep}j",
                suffix="" if p.single else f"_{n + p.index_base}",
                log=False,
                rows=rows,
                max_terms=self.options.max_terms,
            ):
                section.add(step)
            if not general:
                gt = self.label(n)
                p_gt = self.sym(self.P, self.at(n, gt)).text
                section.add(
                    Formula(
                        self.item(n),
                        f"{self.item(n)} = −log {p_gt}  (gt = {gt + p.index_base})",
                        ("−log ", c.probabilities[n, gt])
                        if c.probabilities[n, gt] > 0
                        else ("−(", c.log_p[n, gt], ")  (log p from log-sum-exp: p underflows)"),
                        c.per_item[n],
                    )
                )
                lse = float(log_sum_exp(scores[n])[1][0])
                section.add(
                    Formula(
                        self.item(n),
                        f"{self.item(n)} = −{self.sym(self.X, self.at(n, gt)).text} + log Σ_j exp({self.X}_j)  (the same, as seed 001 writes it)",
                        ("−", *factor(scores[n, gt]), *plus(lse)),
                        c.per_item[n],
                    )
                )
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

    def _elementwise_rows(self) -> tuple[list[tuple[int, ...]], int]:
        shape = self.p.input.shape
        total = int(np.prod(shape))
        shown = self.options.cap(total)
        return [tuple(int(v) for v in np.unravel_index(k, shape)) for k in range(shown)], (
            total - shown
        )

    def _weight_at(self, index: tuple[int, ...]) -> Any:
        weight = np.broadcast_to(self.p.weight, self.p.input.shape)
        return weight[index] if self.exact else float(weight[index])

    def _forward_elementwise(self, section: Section) -> None:
        p, c = self.p, self.c
        rows, omitted = self._elementwise_rows()
        t = p.values if self.exact else p.values.astype(float)
        weighted = p.weight is not None
        for index in rows:
            x, target = self.x[index], t[index]
            xs, ts = self.sym(self.X, index).text, self.sym(self.T, index).text
            w = (self._weight_at(index), "·") if weighted else ()
            ws = f"{self.sym(self.W, index).text}·" if weighted else ""
            label = self.sym("ℓ", index).text
            if p.loss == "mse":
                symbolic = f"{label} = ({xs} − {ts})²"
                numeric: tuple = ("(", x, " − ", *factor(target), ")²")
            elif p.loss == "bce":
                # At x = 0 or 1 one log is log 0: PyTorch clamps it at −100, and the step says
                # so (max(log x, −100) = −100), instead of writing log 0 as if it had a value.
                # Wherever a log falls below −100 (1e-100 too, not only 0) the step shows
                # max(log x, −100): the arithmetic as written is PyTorch's.
                log_x, log_rest = f"log {xs}", f"log(1 − {xs})"
                rest = _one_minus(x)
                x_tokens: tuple = ("·log ", x)
                rest_tokens: tuple = ("·log ", *rest) if len(rest) == 1 else ("·log", *rest)
                value_x, value_rest, _ = bce_clamps(x)
                if value_x < BCE_LOG_FLOOR:
                    log_x = f"max(log {xs}, −100)"
                    x_tokens = ("·(", BCE_LOG_FLOOR, ")") if x == 0 else ("·max(log ", x, ", −100)")
                if value_rest < BCE_LOG_FLOOR:
                    log_rest = f"max({log_rest}, −100)"
                    rest_tokens = (
                        ("·(", BCE_LOG_FLOOR, ")")
                        if x == 1
                        else ("·max(log ", *factor(1 - x), ", −100)")
                    )
                symbolic = f"{label} = −{ws}[{ts}·{log_x} + (1 − {ts})·{log_rest}]"
                numeric = ("−", *w, "[", target, *x_tokens, " + ", 1 - target, *rest_tokens, "]")
            else:
                symbolic = f"{label} = {ws}[max({xs}, 0) − {xs}·{ts} + log(1 + exp(−|{xs}|))]"
                numeric = (
                    *w,
                    "[max(",
                    x,
                    ", 0) − ",
                    *factor(x),
                    "·",
                    target,
                    " + log(1 + exp(",
                    -abs(x),
                    "))]",
                )
            section.add(Formula(label, symbolic, numeric, c.per_item[index]))
            if p.loss == "bce":
                value_x, value_rest, _ = bce_clamps(x)
                if x == 0 or x == 1:
                    section.add(
                        sentence(f"{xs} = ", x, ": log 0 = −∞ is clamped to −100, as PyTorch does")
                    )
                elif min(value_x, value_rest) < BCE_LOG_FLOOR:
                    which = f"log {xs}" if value_x < value_rest else f"log(1 − {xs})"
                    section.add(
                        sentence(
                            f"{xs} = ",
                            x,
                            f": {which} = ",
                            min(value_x, value_rest),
                            " is clamped to −100, as PyTorch does",
                        )
                    )
        if p.loss == "bce_with_logits":
            section.add(
                Note(
                    "this is −[t·log σ(s) + (1 − t)·log(1 − σ(s))] rearranged so that exp only sees −|s|: "
                    "large logits cannot overflow (PyTorch's stable form)"
                )
            )
        section.omitted = omitted

    def _reduction(self) -> Formula:
        """L from the per-sample (or per-entry) losses, with the reduction's denominator."""
        p, c = self.p, self.c
        L = self.L
        items = c.per_item.reshape(-1)
        if self.class_loss:
            counted = [n for n in range(items.size) if c.counted[n]]
            numerator = "Σ_n ℓ_n"
        else:
            counted = list(range(items.size))
            numerator = "Σ_i ℓ_i"
        shown = counted[: self.options.max_terms]
        tokens: list[Any] = []
        for position, n in enumerate(shown):
            if position:
                tokens.append(" + ")
            tokens.extend(factor(items[n]))
        if len(shown) < len(counted):
            tokens.append(f" + … ({len(counted) - len(shown)} more)")
        if not tokens:
            tokens = ["0"]
        if self.class_loss and p.single and c.denominator == 1:
            words = "" if p.reduction == "sum" else "  (one sample: the mean is ℓ itself)"
            return Formula(L, f"{L} = ℓ{words}", tuple(tokens), c.loss)
        if p.reduction == "sum":
            return Formula(L, f"{L} = {numerator}", tuple(tokens), c.loss)
        if self.class_loss and p.target_kind == "index" and p.weight is not None:
            labels = p.indices.reshape(-1)
            weights: list[Any] = []
            for position, n in enumerate(shown):
                weights.extend((" + " if position else "", p.weight[labels[n]]))
            symbolic = (
                f"{L} = {numerator} / Σ_n {self.W}[gt_n]  (weights of the counted samples' classes)"
            )
            return Formula(L, symbolic, ("(", *tokens, ")/(", *weights, ")"), c.loss)
        if self.class_loss:
            what = "counted samples" if p.target_kind == "index" else "samples, N"
        else:
            what = "entries"
        symbolic = f"{L} = {numerator} / {plain(c.denominator)}  ({what})"
        return Formula(L, symbolic, ("(", *tokens, ")/", c.denominator), c.loss)

    # backward -----------------------------------------------------------
    def section_backward(self) -> Section:
        L, X = self.L, self.X
        section = Section("backward", f"Backward: ∂{L}/∂{X}")
        if self.p.loss == "cross_entropy":
            self._backward_cross_entropy(section)
        elif self.p.loss == "nll":
            self._backward_nll(section)
        else:
            self._backward_elementwise(section)
        return section

    def _scale_tokens(self) -> tuple[str | Any, ...]:
        d = self.c.denominator
        return () if d == 1 else ("/", d)

    def _backward_cross_entropy(self, section: Section) -> None:
        p, c = self.p, self.c
        L, X, P = self.L, self.X, self.P
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
        scale = "" if c.denominator == 1 else f"/{plain(c.denominator)}"
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
                section.add(Note(f"sample {n + p.index_base} is ignored: its gradient row is 0"))
                shown += min(classes, budget - shown)
                continue
            total = c.coefficients[n].sum()
            for j in range(classes):
                if shown >= budget:
                    break
                shown += 1
                target = self.sym(f"∂{L}/∂{X}", self.at(n, j)).text
                p_sym = self.sym(P, self.at(n, j)).text
                if simple:
                    hit = int(j == self.label(n))
                    symbolic = f"{target} = ({p_sym} − 1[{j + p.index_base} = gt]){scale}"
                    numeric = ("(", c.probabilities[n, j], " − ", hit, ")", *self._scale_tokens())
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
                section.add(
                    Formula(target, symbolic, numeric, c.grad_input.reshape(count, classes)[n, j])
                )
        section.omitted = count * classes - shown

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
                (
                    "the derivation "
                    if p.single
                    else f"the derivation for sample {n + p.index_base} "
                )
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
        section.add(
            Formula(
                f"∂{p_gt}/∂{s_gt}",
                f"∂{p_gt}/∂{s_gt} = {p_gt}·(1 − {p_gt})",
                (probs[gt], "·(1 − ", probs[gt], ")"),
                probs[gt] * (1 - probs[gt]),
            )
        )
        section.add(
            Formula(
                f"∂{ell}/∂{s_gt}",
                f"∂{ell}/∂{s_gt} = (−1/{p_gt})·{p_gt}·(1 − {p_gt}) = {p_gt} − 1",
                (probs[gt], " − 1"),
                probs[gt] - 1,
            )
        )
        other = next((j for j in range(probs.size) if j != gt), None)
        if other is not None:
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
        section.add(
            Note(
                f"so ∂ℓ/∂{X}_i = {P}_i − 1[i = gt]: the probabilities minus the one-hot target "
                f"(p_gt − 1 at the ground truth, p_i elsewhere)"
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

    def _backward_elementwise(self, section: Section) -> None:
        p, c = self.p, self.c
        L, X = self.L, self.X
        rows, omitted = self._elementwise_rows()
        t = p.values if self.exact else p.values.astype(float)
        d = c.denominator
        d_tokens = self._scale_tokens()
        d_text = "" if d == 1 else f"/{plain(d)}"
        weighted = p.weight is not None
        for index in rows:
            x, target = self.x[index], t[index]
            xs, ts = self.sym(X, index).text, self.sym(self.T, index).text
            w = (self._weight_at(index), "·") if weighted else ()
            ws = f"{self.sym(self.W, index).text}·" if weighted else ""
            name = self.sym(f"∂{L}/∂{X}", index).text
            if p.loss == "mse":
                symbolic = f"{name} = 2·({xs} − {ts}){d_text}"
                numeric: tuple = ("2·(", x, " − ", *factor(target), ")", *d_tokens)
            elif p.loss == "bce":
                rest = _one_minus(x)
                if bce_clamps(x)[2]:  # x·(1 − x) < 1e-12: PyTorch divides by the clamp instead
                    symbolic = f"{name} = {ws}({xs} − {ts})/max({xs}·(1 − {xs}), 1e-12){d_text}"
                    numeric = (*w, "(", x, " − ", target, ")/max(", x, "·", *rest, ", 1e-12)")
                    numeric += d_tokens
                else:
                    symbolic = f"{name} = {ws}({xs} − {ts})/({xs}·(1 − {xs})){d_text}"
                    numeric = (*w, "(", x, " − ", target, ")/(", x, "·", *rest, ")", *d_tokens)
            else:
                sig = float(c.probabilities[index])
                symbolic = f"{name} = {ws}(σ({xs}) − {ts}){d_text}"
                numeric = (*w, "(", sig, " − ", target, ")", *d_tokens)
            section.add(Formula(name, symbolic, numeric, c.grad_input[index]))
            if p.loss == "bce" and (x == 0 or x == 1):
                section.add(
                    sentence(
                        f"{xs} = ",
                        x,
                        ": x·(1 − x) = 0 is clamped to 1e-12 (PyTorch), so this entry is huge or 0",
                    )
                )
            elif p.loss == "bce" and bce_clamps(x)[2]:
                section.add(
                    sentence(
                        f"{xs} = ",
                        x,
                        ": x·(1 − x) = ",
                        x * (1 - x),
                        " is below 1e-12 and is clamped to 1e-12, as PyTorch does",
                    )
                )
        if p.loss == "bce":
            section.add(
                Note(
                    "∂ℓ/∂x = −t/x + (1 − t)/(1 − x) = (x − t)/(x·(1 − x)): the two logs' derivatives over one denominator"
                )
            )
        elif p.loss == "bce_with_logits":
            section.add(
                Note("∂ℓ/∂s = σ(s) − t: the sigmoid's derivative cancels the logs' denominators")
            )
        section.omitted = omitted


_LOSS_WORDS = {
    "cross_entropy": "cross_entropy (torch.nn.CrossEntropyLoss): softmax of the logits, then −log of the target's probability",
    "nll": "nll (torch.nn.NLLLoss): the input holds log-probabilities; ℓ = −input[gt]",
    "mse": "mse (torch.nn.MSELoss): ℓ_i = (x_i − t_i)²",
    "bce": "bce (torch.nn.BCELoss): ℓ_i = −[t_i·log x_i + (1 − t_i)·log(1 − x_i)] on probabilities x",
    "bce_with_logits": "bce_with_logits (torch.nn.BCEWithLogitsLoss): bce of σ(s), computed stably from the logits",
}
