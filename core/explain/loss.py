"""The explanation of a loss problem (PyTorch's losses), read from its run's trace.

The class losses (cross_entropy, nll) are explained as a batch of rows (input N×C, a
spec's single sample of C is a batch of one) with one coefficient a[n, c] per sample and
class (core/explain/loss_class.py); mse, bce and bce_with_logits entry by entry
(core/explain/loss_elementwise.py).  core/kinds/loss.py reads and runs the problem and
states the coefficients' formulas.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.explain import (
    Formula,
    Note,
    Section,
    Symbol,
    Words,
    index_separator,
    keyed_sections,
)
from gradcalc.core.explain.loss_class import ClassLossSteps
from gradcalc.core.explain.pieces import (
    arithmetic_words,
    element_symbol,
    factor,
    show_matrix,
    underflow_words,
)
from gradcalc.core.kinds.fields import shape_text
from gradcalc.core.kinds.loss import CLASS_LOSSES, SECTIONS, LossProblem
from gradcalc.core.kinds.loss_trace import LossTrace
from gradcalc.core.ops.softmax import log_sum_exp
from gradcalc.core.words import count_words, entries, plain


class Explainer(ClassLossSteps):
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
        """A class loss's (sample, class) as the spec indexes it: row n of a temporal loss's
        N·T rows is (sequence n // T, step n % T)."""
        if self.p.temporal:
            return (*divmod(n, self.p.input.shape[1]), c)
        return (c,) if self.p.single else (n, c)

    def row(self, n: int) -> str:
        """Row n's index as printed: n, or "n,t" (written nt) for a temporal loss."""
        return self.sep.join(str(i + self.p.index_base) for i in self.at(n, 0)[:-1])

    def sample(self, n: int) -> str:
        """Row n in words: "sample 2", or "sequence 0, step 2"."""
        if self.p.temporal:
            sequence, step = (i + self.p.index_base for i in self.at(n, 0)[:-1])
            return f"sequence {sequence}, step {step}"
        return f"sample {n + self.p.index_base}"

    def item(self, n: int) -> str:
        """ℓ of sample n (class losses)."""
        return "ℓ" if self.p.single else f"ℓ_{self.row(n)}"

    def label(self, n: int) -> int:
        return int(self.p.indices.reshape(-1)[n])

    def reduction_words(self) -> str:
        p = self.p
        if p.temporal:  # a per-time-step loss only (ctc, nll over steps): imported here
            from gradcalc.core.explain.loss_temporal import temporal_reduction_words

            return temporal_reduction_words(p, int(self.c.counted.sum()))
        if p.reduction == "sum":
            return "reduction sum: L = Σ of the per-sample losses"
        if p.loss in ("mse", "bce", "bce_with_logits"):
            return f"reduction mean: L = the sum over all {entries(p.input.size)} / {p.input.size} (PyTorch's element-wise mean)"
        if p.target_kind == "distribution":
            return "reduction mean with probability targets: L = Σ_n ℓ_n / N (PyTorch does not divide by weights here)"
        if p.weight is not None:
            return "reduction mean with class weights: L = Σ_n ℓ_n / Σ_n w[gt_n] over the counted samples (PyTorch's weighted mean)"
        return "reduction mean: L = Σ_n ℓ_n / (number of counted samples)"

    # conventions --------------------------------------------------------
    def conventions(self) -> list[str]:
        p = self.p
        items = [_LOSS_WORDS[p.loss]]
        if self.class_loss:
            items += self._class_conventions()
        elif p.weight is not None:
            items.append(f"weight {self.W} (broadcast to the input) multiplies each entry's loss")
        items.append(self.reduction_words())
        if p.loss == "bce":
            items += self._bce_edge_conventions()
        if p.loss == "cross_entropy" and not self.exact:
            items += underflow_words(p.input)
        if self.c.taken_exactly is not None and self.c.taken_exactly.any():
            items.append(_EXACT_DIFFERENCES[p.loss])
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

    def _class_conventions(self) -> list[str | Words]:
        """The target, ignore_index, class weights and label smoothing of a class loss."""
        p = self.p
        items: list[str | Words] = []
        if p.temporal:
            from gradcalc.core.explain.loss_temporal import temporal_conventions

            items += temporal_conventions(p)
        elif p.target_kind == "index":
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
                    f" of the uniform distribution over C = {count_words(classes, 'class', 'classes')}",
                )
            )
        return items

    def _bce_edge_conventions(self) -> list[str]:
        """bce's entries where PyTorch clamps and those the finite-difference check skips
        (the trace's clamped and edges masks)."""
        edges, clamped = self.c.edges, self.c.clamped
        items = []
        x = self.p.input.astype(float)
        at_edges = np.isin(x, (0.0, 1.0))
        if edges.any() and (clamped == edges).all() and at_edges[edges].all():
            items.append(
                f"{int(edges.sum())} input entr{'y is' if edges.sum() == 1 else 'ies are'} at 0 or 1: "
                "PyTorch clamps log at −100 and x·(1 − x) at 1e-12 there; the finite-difference check skips "
                + ("it" if edges.sum() == 1 else "them")
            )
        else:
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
        return items

    def sections(self) -> list[Section]:
        """The sections --show asks for, in order."""
        return keyed_sections(self, SECTIONS)

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
        else:  # mse, bce, bce_with_logits (imported here: the class losses never need them)
            from gradcalc.core.explain import loss_elementwise

            loss_elementwise.forward_steps(self, section)
        section.add(self._reduction())
        return section

    def _reduction(self) -> Formula:
        """L from the per-sample (or per-entry) losses, with the reduction's denominator."""
        p, c = self.p, self.c
        L = self.L
        items = c.per_item.reshape(-1)
        if self.class_loss:
            counted = [n for n in range(items.size) if c.counted[n]]
            numerator = "Σ_n Σ_t ℓ_nt" if p.temporal else "Σ_n ℓ_n"
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
        if p.temporal:
            what = "N sequences, as cs231n's temporal softmax loss"
        elif self.class_loss:
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
            from gradcalc.core.explain import loss_elementwise

            loss_elementwise.backward_steps(self, section)
        return section

    def _scale_tokens(self) -> tuple[str | Any, ...]:
        d = self.c.denominator
        return () if d == 1 else ("/", d)


# Where a float difference would cancel, the bce ops take it from the exact values.
_EXACT_DIFFERENCES = {
    "cross_entropy": "where a row's top probability is within 2^-20 of 1, log Z = log(1 + r) is "
    "taken as log1p(r) and 1 − p as r/Z, with r the sum of the other exp(s_j − m), and a "
    "gradient entry (Σ_c a_c)·p_k − a_k that would cancel as p_k·Σ_c 1[c ≠ k]·a_c − a_k·(1 − p_k), "
    "as the steps show (PyTorch's float64 loses those digits: ℓ = 0 at s = [40, 0], gt = 0)",
    "bce": "where 1 − x, 1 − t or x − t would cancel in float64 they are taken from the exact "
    "values, then rounded (PyTorch rounds x first: its 1 − x at x = 0.9999999999999 is "
    "1.00031e-13, not 1e-13)",
    "bce_with_logits": "where σ(s) − t would cancel in float64 it is taken as "
    "tanh(s/2)/2 + (1/2 − t) or (1 − t) − σ(−s), as the steps show, and s·t near t = 1 as "
    "s − s·(1 − t), with 1/2 − t and 1 − t from the exact t (PyTorch's σ(s) − t loses those digits)",
}

_LOSS_WORDS = {
    "cross_entropy": "cross_entropy (torch.nn.CrossEntropyLoss): softmax of the logits, then −log of the target's probability",
    "nll": "nll (torch.nn.NLLLoss): the input holds log-probabilities; ℓ = −input[gt]",
    "mse": "mse (torch.nn.MSELoss): ℓ_i = (x_i − t_i)²",
    "bce": "bce (torch.nn.BCELoss): ℓ_i = −[t_i·log x_i + (1 − t_i)·log(1 − x_i)] on probabilities x",
    "bce_with_logits": "bce_with_logits (torch.nn.BCEWithLogitsLoss): bce of σ(s), computed stably from the logits",
}
