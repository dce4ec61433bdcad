"""Checking a run: its expected answers, and finite differences over the entries where the
function is differentiable (left out: kinks, ties, the edges of a domain), with the step
capped where the function bends.  core/gradcheck.py does the differencing itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.errors import LimitError
from gradcalc.core.gradcheck import check_gradients, step_for
from gradcalc.core.outcome import Check, GradientCheck, compare
from gradcalc.core.spec import Tolerance


def check_answers(
    expected: Mapping[str, np.ndarray],
    results: Mapping[str, Any],
    tolerance: Tolerance,
    jacobian_limit: int,
    *,
    count_entries: bool = False,
) -> list[Check]:
    """Compare each expected answer with its result; a list result (``output_shape``) is
    compared as exact numbers.

    A result missing from ``results`` is a Jacobian that was too large to build; with
    ``count_entries`` the error says how many entries it has (its expected answer's size).
    """
    checks = []
    readings = getattr(expected, "readings", {})  # core/spec.ExpectedAnswers
    for name, answer in expected.items():
        if name not in results:
            if count_entries:
                raise LimitError(
                    ("expected", name),
                    f"{name} has {answer.size:,} entries, above the Jacobian limit of "
                    f"{jacobian_limit:,} (raise it with --max-jacobian)",
                )
            raise LimitError(
                ("expected", name),
                f"{name} is above the Jacobian limit of {jacobian_limit:,} entries "
                "(raise it with --max-jacobian)",
            )
        value = results[name]
        if isinstance(value, list):
            value = np.array([Fraction(v) for v in value], dtype=object)
        check = compare(name, value, answer, tolerance)
        check.reading = readings.get(name, "")
        checks.append(check)
    return checks


def probes_for(work: int) -> int:
    """How many gradient entries finite differences probe for a pass of ``work``
    multiply-adds: each probe is two forward passes, so the whole check stays near 4M."""
    return int(max(2, min(32, 2_000_000 // max(work, 1))))


def check_gradients_where(
    loss: Callable[[Mapping[str, np.ndarray]], float],
    params: Mapping[str, np.ndarray],
    analytic: Mapping[str, np.ndarray],
    probe: Mapping[str, np.ndarray],
    *,
    max_entries: int = 32,
    skipped_because: str = "",
    scale: float | Mapping[str, np.ndarray] | None = None,
    bend: Mapping[str, np.ndarray] | None = None,
    bend_text: str = "",
    terms: Callable[[Mapping[str, np.ndarray]], float] | None = None,
) -> GradientCheck | None:
    """Central differences for the entries ``probe`` marks True (where the loss is smooth).

    At a kink (relu at 0) or an edge of the domain (bce at 0 or 1) a central
    difference measures nothing the analytic rule promises, so those entries
    are left out (``skipped_because`` says why, in the result's note); None
    when no entry is left.  ``entries_total`` still counts every gradient entry.
    """
    full = {name: np.array(value, dtype=float) for name, value in params.items()}
    masks = {
        name: np.asarray(probe.get(name, np.ones(full[name].shape, dtype=bool)), dtype=bool)
        for name in analytic
    }
    reduced = {name: full[name][masks[name]] for name in analytic if masks[name].any()}
    if not reduced:
        return None
    reduced_analytic = {
        name: np.asarray(analytic[name], dtype=object).astype(float)[masks[name]]
        for name in reduced
    }

    def rebuilt(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        whole = dict(full)
        for name, entries in values.items():
            whole[name] = full[name].copy()
            whole[name][masks[name]] = entries
        return whole

    def reduced_loss(values: Mapping[str, np.ndarray]) -> float:
        return loss(rebuilt(values))

    def reduced_terms(values: Mapping[str, np.ndarray]) -> float:
        assert terms is not None
        return terms(rebuilt(values))

    def probed(per_entry: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            name: np.broadcast_to(np.asarray(per_entry[name], dtype=float), full[name].shape)[
                masks[name]
            ]
            for name in reduced
            if name in per_entry
        }

    result = check_gradients(
        reduced_loss,
        reduced,
        reduced_analytic,
        max_entries=max_entries,
        scale=probed(scale) if isinstance(scale, Mapping) else scale,
        bend=None if bend is None else probed(bend),
        bend_text=bend_text,
        terms=None if terms is None else reduced_terms,
    )
    result.entries_total = sum(int(np.size(analytic[name])) for name in analytic)
    skipped = sum(int((~masks[name]).sum()) for name in analytic)
    if skipped:
        result.note = (
            f"{skipped} entr{'y' if skipped == 1 else 'ies'} not probed: {skipped_because}"
        )
    return result


def near(values: np.ndarray, points: tuple[float, ...]) -> np.ndarray:
    """True where a float value lies within two finite-difference steps (2h, h = step_for(x))
    of any of ``points``: a central difference there straddles the point."""
    values = np.asarray(values, dtype=float)
    reach = 2 * step_for(values)
    mask = np.zeros(values.shape, dtype=bool)
    for point in points:
        mask |= np.abs(values - point) <= reach
    return mask


# Beyond this distance from its bend, exp(−t) underflows against 1: σ, tanh, softmax are flat.
FLAT_BEYOND = 50.0


def bend_within(values: np.ndarray, middle: np.ndarray | float = 0.0) -> np.ndarray:
    """1 where a central difference at ``values`` reaches within FLAT_BEYOND of ``middle``
    (σ, tanh, gelu and the like bend over a distance of 1 there), else ∞ (flat or linear)."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(values - middle) <= FLAT_BEYOND + 2 * step_for(values)
    return np.where(close, 1.0, np.inf)


def softmax_bend(rows: np.ndarray) -> np.ndarray:
    """Per entry of N×C logits: 1 where an entry competes with another near its row's top
    (softmax bends over a distance of 1 there, at any magnitude), else ∞."""
    rows = np.asarray(rows, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        top = rows.max(axis=-1, keepdims=True)
        near_top = rows + 2 * step_for(rows) >= top - FLAT_BEYOND
        crowded = near_top.sum(axis=-1, keepdims=True) > 1
    return np.where(near_top & crowded, 1.0, np.inf)
