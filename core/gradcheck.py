"""Central finite differences in float64: an independent check of every backward pass.

Needs no framework, only a function that returns the scalar loss for given
parameter arrays (cs231n's ``eval_numerical_gradient`` idea).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from gradcalc.core.outcome import GradientCheck

Loss = Callable[[Mapping[str, np.ndarray]], float]


def numerical_gradient(
    loss: Loss, params: Mapping[str, np.ndarray], name: str, index: tuple[int, ...], step: float
) -> float:
    """(L(p + h·e) − L(p − h·e)) / 2h for one entry of one parameter."""
    shifted = {key: np.array(value, dtype=float, copy=True) for key, value in params.items()}
    original = shifted[name][index]
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow shows up as a failed check
        shifted[name][index] = original + step
        plus = loss(shifted)
        shifted[name][index] = original - step
        minus = loss(shifted)
    return (plus - minus) / (2 * step)


def check_gradients(
    loss: Loss,
    params: Mapping[str, np.ndarray],
    analytic: Mapping[str, np.ndarray],
    *,
    max_entries: int = 32,
    step: float = 1e-6,
) -> GradientCheck:
    """Compare ``analytic[name]`` (∂loss/∂params[name]) with central differences.

    At most ``max_entries`` entries of each parameter are checked, spread
    evenly over its flat index range (first and last included), so that a run
    is repeatable.  An entry passes when
    |numeric − analytic| ≤ 1e-4·(1 + |analytic|).
    """
    worst = 0.0
    checked = 0
    total = 0
    per_result: dict[str, float] = {}
    ok = True
    for name, gradient in analytic.items():
        gradient = np.asarray(gradient, dtype=float)
        total += gradient.size
        flat_indices = np.arange(gradient.size)
        if gradient.size > max_entries:
            # Evenly spaced, not random: importing numpy.random alone costs ~12 ms of start-up.
            flat_indices = np.unique(
                np.linspace(0, gradient.size - 1, max_entries).round().astype(int)
            )
        result_worst = 0.0
        for flat in flat_indices:
            index = np.unravel_index(int(flat), gradient.shape) if gradient.ndim else ()
            numeric = numerical_gradient(loss, params, name, index, step)
            error = abs(numeric - float(gradient[index]))
            result_worst = max(result_worst, error)
            if error > 1e-4 * (1 + abs(float(gradient[index]))):
                ok = False
            checked += 1
        per_result[name] = result_worst
        worst = max(worst, result_worst)
    return GradientCheck(
        ok=ok,
        max_abs_error=worst,
        entries_checked=checked,
        entries_total=total,
        step=step,
        per_result=per_result,
    )
