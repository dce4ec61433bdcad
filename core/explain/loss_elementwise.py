"""The forward and backward steps of the elementwise losses (mse, bce, bce_with_logits),
for core/explain/loss.py: one step per entry of the input (any shape), in row-major order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core.explain import Formula, Note, Section, sentence
from gradcalc.core.kinds.loss import bce_clamps
from gradcalc.core.opkit import factor, plain
from gradcalc.core.ops.losses import BCE_LOG_FLOOR


def _one_minus(x: float) -> tuple:
    """The tokens of 1 − x: its float value, or (1 − x) written out where the float rounds
    to exactly 1 (x = 1e-100: 1 − x is not 1)."""
    rest = 1 - x
    return (rest,) if rest != 1 or x == 0 else ("(1 − ", x, ")")


class ElementwiseSteps:
    """The steps of mse, bce and bce_with_logits: a mixin of core/explain/loss.py's
    Explainer, whose problem (p), trace (c), options, input as computed (x, exact), names
    (X, T, W, L) and symbol helpers (sym, _scale_tokens) they use."""

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
                symbolic, numeric = _bce_loss_step(label, xs, ts, ws, w, x, target)
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
                _bce_log_clamp_note(section, xs, x)
        if p.loss == "bce_with_logits":
            section.add(
                Note(
                    "this is −[t·log σ(s) + (1 − t)·log(1 − σ(s))] rearranged so that exp only sees −|s|: "
                    "large logits cannot overflow (PyTorch's stable form)"
                )
            )
        section.omitted = omitted

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
                symbolic, numeric = _bce_gradient_step(name, xs, ts, ws, w, x, target, d_text)
                numeric += d_tokens
            else:
                sig = float(c.probabilities[index])
                symbolic = f"{name} = {ws}(σ({xs}) − {ts}){d_text}"
                numeric = (*w, "(", sig, " − ", target, ")", *d_tokens)
            section.add(Formula(name, symbolic, numeric, c.grad_input[index]))
            if p.loss == "bce":
                _bce_product_clamp_note(section, xs, x)
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


# bce's steps, where PyTorch's clamps act ----------------------------------------------


def _bce_loss_step(
    label: str, xs: str, ts: str, ws: str, w: tuple, x: Any, target: Any
) -> tuple[str, tuple]:
    """ℓ_i = −w·[t·log x + (1 − t)·log(1 − x)] for one entry: (symbolic, numeric tokens)."""
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
            ("·(", BCE_LOG_FLOOR, ")") if x == 1 else ("·max(log ", *factor(1 - x), ", −100)")
        )
    symbolic = f"{label} = −{ws}[{ts}·{log_x} + (1 − {ts})·{log_rest}]"
    numeric = ("−", *w, "[", target, *x_tokens, " + ", 1 - target, *rest_tokens, "]")
    return symbolic, numeric


def _bce_log_clamp_note(section: Section, xs: str, x: Any) -> None:
    """The sentence under a loss step whose log PyTorch clamps at −100, if one does."""
    value_x, value_rest, _ = bce_clamps(x)
    if x == 0 or x == 1:
        section.add(sentence(f"{xs} = ", x, ": log 0 = −∞ is clamped to −100, as PyTorch does"))
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


def _bce_gradient_step(
    name: str, xs: str, ts: str, ws: str, w: tuple, x: Any, target: Any, d_text: str
) -> tuple[str, tuple]:
    """∂L/∂x_i = w·(x − t)/(x·(1 − x)) for one entry, before the mean's denominator:
    (symbolic, numeric tokens); the caller appends the denominator's tokens."""
    rest = _one_minus(x)
    if bce_clamps(x)[2]:  # x·(1 − x) < 1e-12: PyTorch divides by the clamp instead
        symbolic = f"{name} = {ws}({xs} − {ts})/max({xs}·(1 − {xs}), 1e-12){d_text}"
        numeric = (*w, "(", x, " − ", target, ")/max(", x, "·", *rest, ", 1e-12)")
    else:
        symbolic = f"{name} = {ws}({xs} − {ts})/({xs}·(1 − {xs})){d_text}"
        numeric = (*w, "(", x, " − ", target, ")/(", x, "·", *rest, ")")
    return symbolic, numeric


def _bce_product_clamp_note(section: Section, xs: str, x: Any) -> None:
    """The sentence under a gradient step whose x·(1 − x) PyTorch clamps at 1e-12, if it does."""
    if x == 0 or x == 1:
        section.add(
            sentence(
                f"{xs} = ",
                x,
                ": x·(1 − x) = 0 is clamped to 1e-12 (PyTorch), so this entry is huge or 0",
            )
        )
    elif bce_clamps(x)[2]:
        section.add(
            sentence(
                f"{xs} = ",
                x,
                ": x·(1 − x) = ",
                x * (1 - x),
                " is below 1e-12 and is clamped to 1e-12, as PyTorch does",
            )
        )
