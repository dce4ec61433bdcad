"""Loss ops (PyTorch semantics): cross_entropy, nll, mse, bce, bce_with_logits.

A loss maps an input x to one number L; ``backward(grad_L, cache)`` gives ∂L/∂x
times ∂L/∂L (1 at the end of a chain).  The class losses take x as rows, N×C, and
one coefficient a[n, c] per sample and class (see :func:`class_coefficients`):

- cross_entropy: ℓ_n = Σ_c a[n,c]·(−log p[n,c]), ∂ℓ_n/∂s[n,c] = (Σ_k a[n,k])·p[n,c] − a[n,c];
- nll:           ℓ_n = Σ_c a[n,c]·(−x[n,c]),     ∂ℓ_n/∂x[n,c] = −a[n,c];

and L = Σ_n ℓ_n / D.  mse, bce and bce_with_logits are elementwise over an input of
any shape (the target and a weight broadcast to it); mean divides by the entry count.

nll is piecewise (it picks one entry per row) and runs on the exact values; mse is
exact in integers (x and t scaled by their own denominators: its ``exact_forward``);
the others use log or exp and run in float64.  Every forward's cache holds what the
explanation shows: ``per_item`` (ℓ), ``denominator`` (D), and for the class losses
``coefficients``, ``counted``, for cross_entropy ``probabilities`` and ``log_p``, for
bce_with_logits ``probabilities`` (σ(x)).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.exact import from_integers, scale_to_integers, zeros_like_kind
from gradcalc.core.ops import Cache, Exactness, Op, Params
from gradcalc.core.ops.elementwise import CANCELLED, sigmoid
from gradcalc.core.ops.softmax import others_sums, softmax_parts

# PyTorch's BCELoss clamps each log at −100, and its backward divides by
# max(x·(1 − x), EPSILON) with EPSILON = 1e-12 held as a float32 constant.
BCE_LOG_FLOOR = -100.0
BCE_EPSILON = float(np.float32(1e-12))


class NoDenominator(ArithmeticError):
    """A class loss's mean divides by 0: every sample ignored, or the counted weights sum to 0.

    ``counted`` (N bools) says which samples were counted."""

    def __init__(self, counted: np.ndarray):
        super().__init__("the mean's denominator is 0")
        self.counted = counted


def _is_exact(values: np.ndarray) -> bool:
    return values.dtype == object


def _chain(grad: np.ndarray, grad_loss: Any) -> np.ndarray:
    """∂L/∂x times ∂L/∂L's upstream, an array of grad's dtype (a 0-D product would be a scalar)."""
    return np.asarray(grad * grad_loss, dtype=grad.dtype)


# ---------------------------------------------------------------------------
# The class losses: x N×C


def class_coefficients(x_rows: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray, Any]:
    """(a: N×C, counted: N bools, D) for x_rows N×C, exact when x_rows is.

    params: ``weight`` (C, or None: 1 each), ``label_smoothing`` ε, ``reduction`` (mean,
    sum), and the target: ``target`` N×C probabilities, or ``labels`` (N class indices)
    with ``ignore_index``.  Class-index target y_n: a[n,c] = (1 − ε)·w[y_n]·1[c = y_n] +
    (ε/C)·w[c], mean D = Σ_n w[y_n] over the counted samples; probability target t:
    a[n,c] = w[c]·((1 − ε)·t[n,c] + ε/C), mean D = N.  sum: D = 1.  A temporal loss (cs231n's
    temporal_softmax_loss) adds ``step_mask`` (N bools: rows whose mask is 0 are not counted)
    and ``sequences`` (its mean's D: the number of sequences, not of counted rows).
    """
    exact = _is_exact(x_rows)
    count, classes = x_rows.shape
    one = Fraction(1) if exact else 1.0
    weight = params["weight"]
    weight = weight if weight is not None else np.array([one] * classes, object)
    weight = weight if exact else weight.astype(float)
    eps = params["label_smoothing"]
    smooth = eps / classes
    if params.get("target") is not None:
        target = params["target"]
        target = target if exact else target.astype(float)
        coefficients = weight[None, :] * ((one - eps) * target + smooth)
        counted = np.ones(count, dtype=bool)
        denominator = Fraction(count) if exact else float(count)
    else:
        labels = params["labels"]
        counted = labels != params["ignore_index"]
        if params.get("step_mask") is not None:
            counted = counted & params["step_mask"]
        coefficients = zeros_like_kind((count, classes), exact)
        if smooth:
            coefficients[counted] = weight[None, :] * smooth
        rows = np.flatnonzero(counted)
        coefficients[rows, labels[rows]] += (one - eps) * weight[labels[rows]]
        denominator = sum((weight[labels[n]] for n in rows), 0 * one)
    if params.get("sequences") is not None:
        denominator = params["sequences"] * one
    if params["reduction"] == "sum":
        denominator = one
    return coefficients, counted, denominator


def _class_cache(x_rows: np.ndarray, params: Params) -> dict[str, Any]:
    coefficients, counted, denominator = class_coefficients(x_rows, params)
    if denominator == 0:
        raise NoDenominator(counted)
    return {"coefficients": coefficients, "counted": counted, "denominator": denominator}


def nll_forward(x_rows: np.ndarray, params: Params) -> tuple[Any, Cache]:
    """x_rows: N×C log-probabilities -> L (a number); params as :func:`class_coefficients`
    (class-index targets).  One entry per sample, a[n, y_n] (0 when ignored), counts."""
    cache = _class_cache(x_rows, params)
    counted, coefficients = cache["counted"], cache["coefficients"]
    picked = (np.arange(counted.size), np.where(counted, params["labels"], 0))
    per_item = -(coefficients[picked] * x_rows[picked])
    cache.update(per_item=per_item, picked=picked, shape=x_rows.shape, exact=_is_exact(x_rows))
    return per_item.sum() / cache["denominator"], cache


def nll_backward(grad_loss: Any, cache: Cache) -> dict[str, np.ndarray]:
    """grad_loss: a number -> {"input": N×C}, −a[n, y_n]/D at each picked entry, else 0."""
    grad = zeros_like_kind(cache["shape"], cache["exact"])
    picked = cache["picked"]
    grad[picked] = -cache["coefficients"][picked] / cache["denominator"]
    return {"input": _chain(grad, grad_loss)}


def cross_entropy_forward(x_rows: np.ndarray, params: Params) -> tuple[Any, Cache]:
    """x_rows: N×C logits (float64) -> L; params as :func:`class_coefficients`.

    log p and 1 − p as ops.softmax.softmax_parts takes them (log Z as log1p(r) where Z =
    1 + r rounds r away: ℓ = 4.25e-18 at s = [40, 0], gt = 0, not 0).  The cache adds
    ``probabilities``, ``log_p``, ``one_minus_p`` (N×C), ``log1p_rows`` (N×1 bools) and
    ``rest`` r (N×1).
    """
    cache = _class_cache(x_rows, params)
    parts = softmax_parts(x_rows.astype(float))
    per_item = -(cache["coefficients"] * parts.log_p).sum(axis=1)
    cache.update(
        per_item=per_item,
        probabilities=parts.p,
        log_p=parts.log_p,
        one_minus_p=parts.one_minus_p,
        log1p_rows=parts.log1p_rows,
        rest=parts.rest,
    )
    return per_item.sum() / cache["denominator"], cache


def others_total(values: np.ndarray) -> np.ndarray:
    """N×C -> N×C, Σ_{c≠k} values[n, c] at [n, k]: the row total minus the entry, except at
    each row's largest entry, summed without it (the values are ≥ 0, so only an entry
    holding more than half the total can make the difference cancel)."""
    others = values.sum(axis=1, keepdims=True) - values
    rows, top = np.arange(values.shape[0]), np.argmax(values, axis=1)
    others[rows, top] = others_sums(values, rows, top)
    return others


def cross_entropy_gradient(cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """∂ℓ_n/∂s[n,k] (N×C, before dividing by D), where it was taken in the stable form
    (N×C bools), and Σ_{c≠k} a[n,c] (N×C).

    (Σ_c a_c)·p_k − a_k as written (PyTorch's) cancels where p_k is near a_k/Σ a: at a hard
    label with p_gt near 1, p_gt − 1 is 0 for s = [40, 0] (true −4.25e-18).  The same value
    is p_k·Σ_{c≠k} a_c − a_k·(1 − p_k), with 1 − p_k = Σ_{j≠k} p_j from the softmax's
    terms (:class:`SoftmaxParts`): both terms smaller, so taken where the written form
    loses more than 20 bits (and differs).
    """
    if "gradient_forms" in cache:  # the backward pass took them (the trace reads them again)
        return cache["gradient_forms"]
    coefficients, p = cache["coefficients"], cache["probabilities"]
    totals = coefficients.sum(axis=1, keepdims=True)
    plain = totals * p - coefficients
    others = others_total(coefficients)
    stable_form = p * others - coefficients * cache["one_minus_p"]
    size = np.maximum(totals * p, np.abs(coefficients))
    stable = (np.abs(plain) < size * CANCELLED) & (stable_form != plain)
    forms = cache["gradient_forms"] = (np.where(stable, stable_form, plain), stable, others)
    return forms


def cross_entropy_backward(grad_loss: Any, cache: Cache) -> dict[str, np.ndarray]:
    """grad_loss: a number -> {"input": N×C}, ((Σ_k a[n,k])·p[n,c] − a[n,c]) / D, taken
    without cancellation (see :func:`cross_entropy_gradient`)."""
    grad = cross_entropy_gradient(cache)[0] / cache["denominator"]
    return {"input": _chain(grad, grad_loss)}


# ---------------------------------------------------------------------------
# The elementwise losses: x of any shape


def _mean_denominator(x: np.ndarray, reduction: str, exact: bool) -> Any:
    entries = max(x.size, 1)
    if reduction == "mean":
        return Fraction(entries) if exact else float(entries)
    return Fraction(1) if exact else 1.0


def _total(per_item: np.ndarray, exact: bool) -> Any:
    return per_item.sum() if exact else float(np.sum(per_item))


def mse_forward(x: np.ndarray, params: Params) -> tuple[Any, Cache]:
    """x: any shape (float64), params ``target`` (x's shape), ``reduction`` -> L = Σ (x − t)² / D.
    An object array of x holds polynomials (a symbolic run, core/symbolic.py): D stays exact."""
    exact = x.dtype == object
    denominator = _mean_denominator(x, params["reduction"], exact=exact)
    difference = x - params["target"]
    per_item = np.broadcast_to(difference * difference, x.shape)
    cache = {
        "per_item": per_item,
        "denominator": denominator,
        "difference": difference,
        "shape": x.shape,
    }
    return _total(per_item, exact) / denominator, cache


def mse_exact_forward(x: np.ndarray, params: Params) -> tuple[Any, Cache]:
    """mse in integers: x = X/dx and t = T/dt, so x − t = (X·dt − T·dx)/(dx·dt).

    One Fraction per result entry at the end instead of one per operation (see
    core/exact.py): a large problem stays quick.
    """
    denominator = _mean_denominator(x, params["reduction"], exact=True)
    x_num, x_den, _ = scale_to_integers(x)
    t_num, t_den, _ = scale_to_integers(params["target"])
    # over x_den·t_den, Python ints (asarray: a 0-D product comes back as a bare int)
    difference = np.asarray(x_num * t_den - t_num * x_den, dtype=object)
    scale = x_den * t_den
    squares = np.asarray(difference * difference, dtype=object)
    total = Fraction(int(squares.sum()), scale * scale)
    cache = {
        "per_item": from_integers(squares, scale * scale),
        "denominator": denominator,
        "difference": difference,
        "scale": scale,
    }
    return total / denominator, cache


def mse_backward(grad_loss: Any, cache: Cache) -> dict[str, np.ndarray]:
    """grad_loss: a number -> {"input": x's shape}, 2·(x − t)/D."""
    difference, denominator = cache["difference"], cache["denominator"]
    if "scale" in cache:  # the exact forward's integers over scale
        grad = from_integers(
            np.asarray(2 * difference, dtype=object), cache["scale"] * int(denominator)
        )
    else:
        grad = np.broadcast_to(2 * difference / denominator, cache["shape"]).copy()
    return {"input": _chain(grad, grad_loss)}


def cancelled(rounded: Any, exact: Any, size: Any) -> tuple[np.ndarray, np.ndarray]:
    """A difference of rounded floats (``rounded``, PyTorch's arithmetic), replaced by the
    same difference taken before rounding (``exact``, from the spec's exact values; None
    when there are none) where it is below size·2^-20: there rounding the operands first
    lost more than 20 of its 53 bits (1 − x at x = 0.9999999999999 kept 4 digits).
    Returns (the difference, where it was replaced: where it is that small and the two
    differ; 1 − x at x = 1 is 0 either way and stays PyTorch's)."""
    rounded = np.asarray(rounded, dtype=float)
    if exact is None:
        return rounded, np.zeros(rounded.shape, dtype=bool)
    exact = np.asarray(exact, dtype=float)
    replaced = (np.abs(exact) < np.asarray(size) * CANCELLED) & (exact != rounded)
    return np.where(replaced, exact, rounded), replaced


def bce_logs(
    x: np.ndarray, one_minus_x: np.ndarray, near_one: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """log x and log(1 − x), unclamped (−∞ at 0 and 1), all of x's shape.

    Where ``near_one`` (1 − x was taken exactly: x within 2^-20 of 1) both come from
    1 − x, log x as log1p(−(1 − x)); elsewhere log x and log1p(−x) of the rounded x, as
    PyTorch computes them.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        log_x = np.where(near_one, np.log1p(-one_minus_x), np.log(x))
        log_rest = np.where(near_one, np.log(one_minus_x), np.log1p(-x))
    return log_x, log_rest


def bce_forward(x: np.ndarray, params: Params) -> tuple[Any, Cache]:
    """x: probabilities, any shape (float64); params ``target``, ``weight`` (None or
    broadcastable), ``reduction`` -> L = Σ −w·(t·log x + (1 − t)·log(1 − x)) / D, each log
    clamped at −100 as PyTorch does.

    Optional params ``one_minus_input`` (1 − x), ``one_minus_target`` (1 − t) and
    ``input_minus_target`` (x − t), taken from exact values before rounding: used where
    the same differences of the rounded floats cancel (see :func:`cancelled`).  The cache
    holds ``one_minus_input`` as used and ``taken_exactly`` (where any of the three was),
    both of x's shape.
    """
    denominator = _mean_denominator(x, params["reduction"], exact=False)
    t = params["target"]
    weight = 1.0 if params["weight"] is None else params["weight"]
    rest, near_one = cancelled(1 - x, params.get("one_minus_input"), 1.0)
    target_rest, target_near_one = cancelled(1 - t, params.get("one_minus_target"), 1.0)
    logs = bce_logs(x, rest, near_one & (x > 0.5))
    log_x, log_rest = (np.maximum(log, BCE_LOG_FLOOR) for log in logs)
    per_item = np.broadcast_to(-weight * (t * log_x + target_rest * log_rest), x.shape)
    difference, close = cancelled(
        x - t, params.get("input_minus_target"), np.maximum(np.abs(x), np.abs(t))
    )
    cache = {
        "taken_exactly": np.broadcast_to(near_one | target_near_one | close, x.shape),
        "per_item": per_item,
        "denominator": denominator,
        "x": x,
        "difference": difference,
        "one_minus_input": rest,
        "weight": weight,
    }
    return _total(per_item, False) / denominator, cache


def bce_backward(grad_loss: Any, cache: Cache) -> dict[str, np.ndarray]:
    """grad_loss: a number -> {"input": x's shape}, w·(x − t)/max(x·(1 − x), ε)/D."""
    x, rest, weight = cache["x"], cache["one_minus_input"], cache["weight"]
    grad = weight * cache["difference"] / np.maximum(x * rest, BCE_EPSILON) / cache["denominator"]
    return {"input": _chain(np.broadcast_to(grad, x.shape).copy(), grad_loss)}


# How ∂ℓ/∂s = σ(s) − t is computed for each logit (see :func:`sigmoid_minus_target`).
PLAIN, CENTRED, UPPER = 0, 1, 2


def sigmoid_minus_target(
    s: np.ndarray, t: np.ndarray, half_minus_t: Any, one_minus_t: Any
) -> tuple[np.ndarray, np.ndarray]:
    """σ(s) − t without cancellation, and which form gave it (PLAIN, CENTRED or UPPER).

    s, t: floats of one broadcast shape; ``half_minus_t``, ``one_minus_t``: 1/2 − t and
    1 − t taken before rounding (or None).  σ(s) − t as written (PLAIN, PyTorch's) loses
    digits where σ(s) is close to t; there the same value is also

    - CENTRED: tanh(s/2)/2 + (1/2 − t), whose terms are small where σ(s) and t are near 1/2
      (s = 1e-13, t = 1/2: 2.5e-14, where PLAIN gave 2.498e-14);
    - UPPER: (1 − t) − σ(−s), whose terms are small where both are near 1 (s = 40, t = 1:
      −4.25e-18, where PLAIN gave 0).

    Where PLAIN cancels (|σ(s) − t| below 2^-20 of its larger term), the form whose larger
    term is smallest is taken, its rounding then that small; where that gives PLAIN's value
    anyway (s = 0, t = 1/2: 0), PLAIN stays.
    """
    probability, complement = sigmoid(s), sigmoid(-s)
    half = np.tanh(s / 2) / 2
    half_minus_t = 0.5 - t if half_minus_t is None else np.asarray(half_minus_t, dtype=float)
    one_minus_t = 1 - t if one_minus_t is None else np.asarray(one_minus_t, dtype=float)
    forms = np.broadcast_arrays(probability - t, half + half_minus_t, one_minus_t - complement)
    sizes = np.broadcast_arrays(
        np.maximum(probability, np.abs(t)),
        np.maximum(np.abs(half), np.abs(half_minus_t)),
        np.maximum(np.abs(one_minus_t), complement),
    )
    best = np.argmin(np.stack(sizes), axis=0)
    plain_cancels = np.abs(forms[PLAIN]) < sizes[PLAIN] * CANCELLED
    form = np.where(plain_cancels & (np.choose(best, forms) != forms[PLAIN]), best, PLAIN)
    return np.choose(form, forms), form


def bce_with_logits_forward(x: np.ndarray, params: Params) -> tuple[Any, Cache]:
    """x: logits, any shape (float64); params as bce -> L = Σ w·(max(x, 0) − x·t +
    log(1 + e^(−|x|))) / D, the form that never takes exp of a large positive number.

    Optional params ``half_minus_target`` (1/2 − t) and ``one_minus_target`` (1 − t), from
    exact values: for x > 0, max(x, 0) − x·t is x·(1 − t), taken so where t is within
    2^-20 of 1; and ∂ℓ/∂x = σ(x) − t (see :func:`sigmoid_minus_target`).  The cache holds
    ``probabilities`` σ(x), ``complements`` σ(−x), ``difference`` σ(x) − t, ``form`` and
    ``taken_exactly`` (where x·(1 − t) or a form other than PLAIN was used).
    """
    denominator = _mean_denominator(x, params["reduction"], exact=False)
    t = params["target"]
    weight = 1.0 if params["weight"] is None else params["weight"]
    one_minus_t = params.get("one_minus_target")
    linear = np.maximum(x, 0) - x * t
    rescaled = np.zeros(np.shape(linear), dtype=bool)
    if one_minus_t is not None:
        exact_rest, changed = cancelled(1 - t, one_minus_t, 1.0)
        rescaled = (x > 0) & changed
        linear = np.where(rescaled, x * exact_rest, linear)
    per_item = weight * (linear + np.log1p(np.exp(-np.abs(x))))
    per_item = np.broadcast_to(per_item, x.shape)
    difference, form = sigmoid_minus_target(x, t, params.get("half_minus_target"), one_minus_t)
    cache = {
        "taken_exactly": np.broadcast_to(rescaled | (form != PLAIN), x.shape),
        "per_item": per_item,
        "denominator": denominator,
        "probabilities": sigmoid(x),
        "complements": sigmoid(-x),
        "difference": difference,
        "form": form,
        "weight": weight,
    }
    return _total(per_item, False) / denominator, cache


def bce_with_logits_backward(grad_loss: Any, cache: Cache) -> dict[str, np.ndarray]:
    """grad_loss: a number -> {"input": x's shape}, w·(σ(x) − t)/D."""
    probabilities = cache["probabilities"]
    grad = cache["weight"] * cache["difference"] / cache["denominator"]
    return {"input": _chain(np.broadcast_to(grad, probabilities.shape).copy(), grad_loss)}


LOSS_OPS: dict[str, Op] = {
    "cross_entropy": Op(
        "cross_entropy", Exactness.IRRATIONAL, cross_entropy_forward, cross_entropy_backward
    ),
    "nll": Op("nll", Exactness.PIECEWISE, nll_forward, nll_backward),
    "mse": Op(
        "mse", Exactness.PIECEWISE, mse_forward, mse_backward, exact_forward=mse_exact_forward
    ),
    "bce": Op("bce", Exactness.IRRATIONAL, bce_forward, bce_backward),
    "bce_with_logits": Op(
        "bce_with_logits",
        Exactness.IRRATIONAL,
        bce_with_logits_forward,
        bce_with_logits_backward,
    ),
}
