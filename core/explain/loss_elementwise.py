"""The forward and backward steps of the elementwise losses (mse, bce, bce_with_logits),
for core/explain/loss.py: one step per entry of the input (any shape), in row-major order.

Functions of core/explain/loss.py's Explainer, whose problem (p), trace (c), options, input
as computed (x, exact), names (X, T, W, L) and symbol helpers (sym, _scale_tokens) they use;
it imports this module only for an elementwise loss (start-up cost of the class losses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core.explain import Formula, Note, Section, sentence
from gradcalc.core.explain.pieces import factor
from gradcalc.core.kinds.loss_trace import bce_clamps, one_minus
from gradcalc.core.ops.losses import BCE_LOG_FLOOR, CENTRED, UPPER
from gradcalc.core.words import plain

if TYPE_CHECKING:
    from gradcalc.core.explain.loss import Explainer


def _one_minus(x: Any) -> tuple:
    """The tokens of 1 − x: its float value (see :func:`one_minus`), or (1 − x) written out
    where the float rounds to exactly 1 (x = 1e-100: 1 − x is not 1)."""
    rest = one_minus(x)
    return (rest,) if rest != 1 or x == 0 else ("(1 − ", float(x), ")")


def _elementwise_rows(explainer: Explainer) -> tuple[list[tuple[int, ...]], int]:
    shape = explainer.p.input.shape
    total = int(np.prod(shape))
    shown = explainer.options.cap(total)
    return [tuple(int(v) for v in np.unravel_index(k, shape)) for k in range(shown)], (
        total - shown
    )


def _weight_at(explainer: Explainer, index: tuple[int, ...]) -> Any:
    weight = np.broadcast_to(explainer.p.weight, explainer.p.input.shape)
    return weight[index] if explainer.exact else float(weight[index])


def forward_steps(explainer: Explainer, section: Section) -> None:
    p, c = explainer.p, explainer.c
    rows, omitted = _elementwise_rows(explainer)
    t = p.values if explainer.exact else p.values.astype(float)
    weighted = p.weight is not None
    for index in rows:
        x, target = explainer.x[index], t[index]
        xs, ts = explainer.sym(explainer.X, index).text, explainer.sym(explainer.T, index).text
        w = (_weight_at(explainer, index), "·") if weighted else ()
        ws = f"{explainer.sym(explainer.W, index).text}·" if weighted else ""
        label = explainer.sym("ℓ", index).text
        if p.loss == "mse":
            symbolic = f"{label} = ({xs} − {ts})²"
            numeric: tuple = ("(", x, " − ", *factor(target), ")²")
        elif p.loss == "bce":
            given = (p.input[index], p.values[index])  # exact, for 1 − x and 1 − t
            symbolic, numeric = _bce_loss_step(label, xs, ts, ws, w, x, target, given)
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
            _bce_log_clamp_note(section, xs, x, p.input[index])
    if p.loss == "bce_with_logits":
        section.add(
            Note(
                "this is −[t·log σ(s) + (1 − t)·log(1 − σ(s))] rearranged so that exp only sees −|s|: "
                "large logits cannot overflow (PyTorch's stable form)"
            )
        )
    section.omitted = omitted


def backward_steps(explainer: Explainer, section: Section) -> None:
    p, c = explainer.p, explainer.c
    L, X = explainer.L, explainer.X
    rows, omitted = _elementwise_rows(explainer)
    t = p.values if explainer.exact else p.values.astype(float)
    d = c.denominator
    d_tokens = explainer._scale_tokens()
    d_text = "" if d == 1 else f"/{plain(d)}"
    weighted = p.weight is not None
    for index in rows:
        x, target = explainer.x[index], t[index]
        xs, ts = explainer.sym(X, index).text, explainer.sym(explainer.T, index).text
        w = (_weight_at(explainer, index), "·") if weighted else ()
        ws = f"{explainer.sym(explainer.W, index).text}·" if weighted else ""
        name = explainer.sym(f"∂{L}/∂{X}", index).text
        if p.loss == "mse":
            symbolic = f"{name} = 2·({xs} − {ts}){d_text}"
            numeric: tuple = ("2·(", x, " − ", *factor(target), ")", *d_tokens)
        elif p.loss == "bce":
            symbolic, numeric = _bce_gradient_step(
                name, xs, ts, ws, w, x, target, d_text, p.input[index]
            )
            numeric += d_tokens
        else:
            symbolic, numeric = _logit_difference(explainer, index, name, ws, d_text)
            numeric = (*w, *numeric, *d_tokens)
        section.add(Formula(name, symbolic, numeric, c.grad_input[index]))
        if p.loss == "bce":
            _bce_product_clamp_note(section, xs, x, p.input[index])
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


def _logit_difference(
    explainer: Explainer, index: tuple[int, ...], name: str, ws: str, d_text: str
) -> tuple[str, tuple]:
    """∂ℓ/∂s = σ(s) − t in the form the op took it (ops.losses.sigmoid_minus_target):
    as written, as tanh(s/2)/2 + (1/2 − t) near σ(s) = t = 1/2, or as (1 − t) − σ(−s)
    near 1, so that the numbers shown give the value shown."""
    p, c = explainer.p, explainer.c
    xs, ts = explainer.sym(explainer.X, index).text, explainer.sym(explainer.T, index).text
    target = p.values[index] if explainer.exact else float(p.values[index])
    form = int(c.form[index])
    if form == CENTRED:
        symbolic = f"{name} = {ws}(tanh({xs}/2)/2 + (1/2 − {ts})){d_text}"
        return symbolic, ("(tanh(", *factor(explainer.x[index]), "/2)/2 + (1/2 − ", target, "))")
    if form == UPPER:
        symbolic = f"{name} = {ws}((1 − {ts}) − σ(−{xs})){d_text}"
        return symbolic, ("((1 − ", target, ") − ", float(c.complements[index]), ")")
    symbolic = f"{name} = {ws}(σ({xs}) − {ts}){d_text}"
    return symbolic, ("(", float(c.probabilities[index]), " − ", target, ")")


# bce's steps, where PyTorch's clamps act ----------------------------------------------


def _bce_loss_step(
    label: str, xs: str, ts: str, ws: str, w: tuple, x: Any, target: Any, given: tuple[Any, Any]
) -> tuple[str, tuple]:
    """ℓ_i = −w·[t·log x + (1 − t)·log(1 − x)] for one entry: (symbolic, numeric tokens).
    ``x``, ``target`` as computed; ``given`` the spec's exact (x, t), from which 1 − x and
    1 − t are taken as the op takes them (:func:`one_minus`)."""
    # At x = 0 or 1 one log is log 0: PyTorch clamps it at −100, and the step says
    # so (max(log x, −100) = −100), instead of writing log 0 as if it had a value.
    # Wherever a log falls below −100 (1e-100 too, not only 0) the step shows
    # max(log x, −100): the arithmetic as written is PyTorch's.
    log_x, log_rest = f"log {xs}", f"log(1 − {xs})"
    given_x, given_target = given
    rest = _one_minus(given_x)
    x_tokens: tuple = ("·log ", x)
    rest_tokens: tuple = ("·log ", *rest) if len(rest) == 1 else ("·log", *rest)
    value_x, value_rest, _ = bce_clamps(given_x)
    if value_x < BCE_LOG_FLOOR:
        log_x = f"max(log {xs}, −100)"
        x_tokens = ("·(", BCE_LOG_FLOOR, ")") if x == 0 else ("·max(log ", x, ", −100)")
    if value_rest < BCE_LOG_FLOOR:
        log_rest = f"max({log_rest}, −100)"
        rest_tokens = (
            ("·(", BCE_LOG_FLOOR, ")")
            if x == 1
            else ("·max(log ", *factor(one_minus(given_x)), ", −100)")
        )
    symbolic = f"{label} = −{ws}[{ts}·{log_x} + (1 − {ts})·{log_rest}]"
    target_rest = one_minus(given_target)
    numeric = ("−", *w, "[", target, *x_tokens, " + ", target_rest, *rest_tokens, "]")
    return symbolic, numeric


def _bce_log_clamp_note(section: Section, xs: str, x: Any, given_x: Any) -> None:
    """The sentence under a loss step whose log PyTorch clamps at −100, if one does
    (``x`` as computed, ``given_x`` the spec's exact x)."""
    value_x, value_rest, _ = bce_clamps(given_x)
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
    name: str, xs: str, ts: str, ws: str, w: tuple, x: Any, target: Any, d_text: str, given_x: Any
) -> tuple[str, tuple]:
    """∂L/∂x_i = w·(x − t)/(x·(1 − x)) for one entry, before the mean's denominator:
    (symbolic, numeric tokens); the caller appends the denominator's tokens.  ``x`` as
    computed, ``given_x`` the spec's exact x (1 − x as the op takes it)."""
    rest = _one_minus(given_x)
    if bce_clamps(given_x)[2]:  # x·(1 − x) < 1e-12: PyTorch divides by the clamp
        symbolic = f"{name} = {ws}({xs} − {ts})/max({xs}·(1 − {xs}), 1e-12){d_text}"
        numeric = (*w, "(", x, " − ", target, ")/max(", x, "·", *rest, ", 1e-12)")
    else:
        symbolic = f"{name} = {ws}({xs} − {ts})/({xs}·(1 − {xs})){d_text}"
        numeric = (*w, "(", x, " − ", target, ")/(", x, "·", *rest, ")")
    return symbolic, numeric


def _bce_product_clamp_note(section: Section, xs: str, x: Any, given_x: Any) -> None:
    """The sentence under a gradient step whose x·(1 − x) PyTorch clamps at 1e-12, if it does
    (``x`` as computed, ``given_x`` the spec's exact x)."""
    if x == 0 or x == 1:
        section.add(
            sentence(
                f"{xs} = ",
                x,
                ": x·(1 − x) = 0 is clamped to 1e-12 (PyTorch), so this entry is huge or 0",
            )
        )
    elif bce_clamps(given_x)[2]:
        section.add(
            sentence(
                f"{xs} = ",
                x,
                ": x·(1 − x) = ",
                x * one_minus(given_x),
                " is below 1e-12 and is clamped to 1e-12, as PyTorch does",
            )
        )
