"""What a loss run records (LossTrace, for core/explain/loss.py) and how bce's entries are
taken where float64 would lose them: the differences a problem hands the ops exactly
(``exact_differences``), 1 − x as the ops take it (``one_minus``) and where PyTorch's
clamps act (``bce_clamps``, ``bce_clamped``), so that the steps and the op agree.

Arrays have the input's shape (elementwise losses) or N×C (class losses), as noted.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core.ops import Cache
from gradcalc.core.ops.losses import (
    BCE_EPSILON,
    BCE_LOG_FLOOR,
    bce_logs,
    cancelled,
    cross_entropy_gradient,
)
from gradcalc.core.records import record

if TYPE_CHECKING:  # core/kinds/loss.py imports this module
    from gradcalc.core.kinds.loss import LossProblem


@record
class LossTrace:
    """What the forward and backward pass recorded: the loss and what the explanation needs
    along the way (object Fractions when exact, else float64)."""

    loss: Any  # Fraction or float
    grad_input: np.ndarray  # the input's shape
    exact: bool
    per_item: np.ndarray  # ℓ_n (class losses: N) or ℓ_i (elementwise: the input's shape)
    denominator: Any  # D: L = Σ ℓ / D
    coefficients: np.ndarray | None = None  # a: N×C (class losses)
    counted: np.ndarray | None = None  # N bools: not ignored
    probabilities: np.ndarray | None = None  # softmax (N×C) or sigmoid (input shape)
    log_p: np.ndarray | None = None  # cross_entropy: N×C
    # bce only (else all False), the input's shape: entries within 2h of 0 or 1, which the
    # finite-difference check skips, and entries where one of PyTorch's clamps acts.
    edges: np.ndarray | None = None
    clamped: np.ndarray | None = None
    complements: np.ndarray | None = None  # bce_with_logits: σ(−s), the input's shape
    form: np.ndarray | None = None  # bce_with_logits: how σ(s) − t was taken (ops.losses PLAIN…)
    taken_exactly: np.ndarray | None = None  # bce, bce_with_logits: a difference taken exactly
    # cross_entropy (N×C unless noted): 1 − p as taken (ops.softmax.softmax_parts), where
    # log Z was log1p(r) (N×1) and r (N×1), where ∂ℓ/∂s was taken as p·Σ_{c≠k} a_c −
    # a_k·(1 − p) (ops.losses.cross_entropy_gradient) and those sums Σ_{c≠k} a_c.
    one_minus_p: np.ndarray | None = None
    log1p_rows: np.ndarray | None = None
    rest: np.ndarray | None = None
    stable: np.ndarray | None = None
    other_coefficients: np.ndarray | None = None


def exact_differences(problem: LossProblem) -> dict[str, np.ndarray]:
    """The differences bce and bce_with_logits take from the exact input and target (object
    arrays), before float64 rounds them: 1 − x at x = 0.9999999999999 is 1e-13, where
    1 − float(x) is 1.00031e-13.  The ops use them only where the float difference cancels.
    None for float problems (finite differences) and the other losses."""
    x, t = problem.input, problem.values
    if x.dtype != object or t.dtype != object:
        return {}
    if problem.loss == "bce":
        return {"one_minus_input": 1 - x, "one_minus_target": 1 - t, "input_minus_target": x - t}
    if problem.loss == "bce_with_logits":
        return {"half_minus_target": Fraction(1, 2) - t, "one_minus_target": 1 - t}
    return {}


def one_minus_taken(value: Any) -> tuple[float, bool]:
    """1 − value as the bce ops take it, and whether it came from the exact value: it does
    where rounding value first would lose digits (within 2^-20 of 1); elsewhere it is
    1 − float(value), as PyTorch computes it."""
    exact = 1 - value if isinstance(value, Fraction) else None
    rest, replaced = cancelled(1 - float(value), exact, 1.0)
    return float(rest), bool(replaced)


def one_minus(value: Any) -> float:
    """1 − value as the bce ops take it (see :func:`one_minus_taken`)."""
    return one_minus_taken(value)[0]


def bce_clamps(x: Any) -> tuple[float, float, bool]:
    """log x and log(1 − x) as float64 (−∞ at the edges), and whether PyTorch's backward
    divides by the clamp: the steps show a clamp exactly where one acts (log < −100,
    x·(1 − x) < 1e-12), not only at 0 and 1.  ``x`` exact (a Fraction) or a float; 1 − x
    as :func:`one_minus` takes it, so the steps and the op agree."""
    value, (rest, replaced) = float(x), one_minus_taken(x)
    near_one = replaced and value > 0.5
    log_x, log_rest = bce_logs(np.array(value), np.array(rest), np.array(near_one))
    return float(log_x), float(log_rest), value * rest < BCE_EPSILON


def bce_clamped(values: np.ndarray) -> np.ndarray:
    """True at each entry where one of PyTorch's bce clamps acts."""
    flat = [bce_clamps(v) for v in np.asarray(values).reshape(-1)]
    mask = [lx < BCE_LOG_FLOOR or lr < BCE_LOG_FLOOR or d for lx, lr, d in flat]
    return np.array(mask, dtype=bool).reshape(np.shape(values))


def traced(loss: Any, grad_input: np.ndarray, exact: bool, cache: Cache) -> LossTrace:
    """The LossTrace of a run from its op's forward cache (core/ops/losses.py)."""
    fields = ("coefficients", "counted", "probabilities", "log_p", "complements", "form")
    recorded = {name: cache.get(name) for name in (*fields, "taken_exactly")}
    if "log1p_rows" in cache:  # cross_entropy
        recorded.update(cross_entropy_forms(cache))
    return LossTrace(
        loss=loss,
        grad_input=grad_input,
        exact=exact,
        per_item=cache["per_item"],
        denominator=cache["denominator"],
        **recorded,
    )


def cross_entropy_forms(cache: Cache) -> dict[str, np.ndarray]:
    """The LossTrace fields saying how cross_entropy's op took log Z, 1 − p and ∂ℓ/∂s
    where the written forms cancel (``cache``: its forward's), so the steps show them."""
    _, stable, others = cross_entropy_gradient(cache)
    return {
        "stable": stable,
        "other_coefficients": others,
        "taken_exactly": stable | cache["log1p_rows"],
        **{key: cache[key] for key in ("one_minus_p", "log1p_rows", "rest")},
    }
