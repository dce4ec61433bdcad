"""Central finite differences in float64: an independent check of every backward pass.

Needs no framework, only a function that returns the scalar loss for given
parameter arrays (cs231n's ``eval_numerical_gradient`` idea).

The step scales with the value, h = ε^(1/3)·max(1, |x|), so that 1e7 or 1e100
moves as visibly as 1; and the comparison allows for what float64 cannot
resolve: each difference of two losses carries rounding of about ε times the
size of the loss's terms, which the difference quotient divides by 2h.  An
entry fails only when two steps (h and h/2) agree with each other and not with
the analytic value; where rounding or overflow swamps the difference, the entry
is "not checkable here" instead of failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradcalc.core.outcome import GradientCheck

Loss = Callable[[Mapping[str, np.ndarray]], float]

EPSILON = float(np.finfo(float).eps)
# ε^(1/3) balances the truncation error (∝ h²) against rounding (∝ ε/h) of a central difference.
RELATIVE_STEP = EPSILON ** (1 / 3)
# An entry passes when |numeric − analytic| ≤ RTOL·|analytic| + the rounding bound.
RTOL = 1e-4
# A loss of n terms rounds by at most about log2(n)·ε·Σ|terms| (pairwise sums); 64 covers any
# array gradcalc allows with room to spare.
ROUNDINGS = 64
# Rounding above this share of the gradient leaves the difference quotient meaningless.
RESOLVABLE = 0.1
_HUGE = float(np.finfo(float).max)
# float64's absolute floor: below the smallest normal number a value keeps only the digits
# above 2^-1074, so a loss (or gradient) there rounds by about that much whatever its size.
SMALLEST = float(np.finfo(float).smallest_subnormal)
NORMAL = float(np.finfo(float).tiny)
# An analytic 0 fails when two steps agree on a slope this many times the nominal rounding
# ε·size/width (the bound ROUNDINGS·ε·size/width is a worst case, seldom reached).
ZERO_MARGIN = 16
Terms = Callable[[Mapping[str, np.ndarray]], float]
# (array name, index of the probed entry) -> a loss and its terms that only that entry's
# part of the loss changes, or None for the whole loss (see check_gradients).
Local = Callable[[str, tuple[int, ...]], tuple[Loss, Terms | None] | None]


def step_for(values: np.ndarray | float) -> np.ndarray | float:
    """The central-difference step at ``values``: ε^(1/3)·max(1, |x|)."""
    return RELATIVE_STEP * np.maximum(1.0, np.abs(values))


def step_at(x: float) -> float:
    """step_for at one number, as a float (the same bits, NaN included), without numpy's
    per-call cost: the checks take it once per probed entry."""
    size = abs(x)
    return RELATIVE_STEP * (size if size > 1.0 or size != size else 1.0)


def _quotient(
    loss: Loss,
    shifted: dict[str, np.ndarray],
    name: str,
    index: tuple[int, ...],
    h: float,
    terms: Terms | None = None,
) -> tuple[float, float, float]:
    """(L(x + h) − L(x − h)) / ((x + h) − (x − h)), the size of the loss's terms there (the
    larger |L|, and ``terms`` at x ± h when given), and the true width."""
    original = shifted[name][index]
    plus_x, minus_x = original + h, original - h
    size = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        shifted[name][index] = plus_x
        plus = float(loss(shifted))
        if terms is not None:
            size = max(size, abs(float(terms(shifted))))
        shifted[name][index] = minus_x
        minus = float(loss(shifted))
        if terms is not None:
            size = max(size, abs(float(terms(shifted))))
        shifted[name][index] = original
        width = float(plus_x - minus_x)  # the step float64 really took
        quotient = (plus - minus) / width if width else float("nan")
    return quotient, max(abs(plus), abs(minus), size), width


def _verdict(
    loss: Loss,
    shifted: dict[str, np.ndarray],
    name: str,
    index: tuple[int, ...],
    analytic: float,
    scale: float,
    h: float,
    typical: float = 0.0,
    terms: Terms | None = None,
) -> tuple[str, float]:
    """("passed" | "failed" | "unresolved", |numeric − analytic|) for one entry.

    ``scale`` bounds the size of the loss's terms apart from the probed entry's own.  When
    the quotient at ``h`` disagrees, a second one at h/2 tells a wrong gradient (the two
    agree with each other, not with it) from a function that bends within the step (they
    differ from each other as much): only the first fails.  ``typical`` is the largest
    gradient entry of the problem: an analytic 0 is resolved when the rounding is small
    next to it (a wrong 0 would be off by about that much), not next to 0 itself; but
    when the quotients at h and h/2 agree on a slope well above the nominal rounding
    ε·size/width, the 0 fails.  ``terms`` gives the size of the loss's terms at x ± h.
    """
    x = float(shifted[name][index])
    own = abs(analytic * x)
    if not np.isfinite(analytic):
        return "unresolved", 0.0

    def quotient(step: float) -> tuple[float, float, float] | None:
        value, size, width = _quotient(loss, shifted, name, index, step, terms)
        if not (np.isfinite(value) and np.isfinite(size)):
            return None  # float64 overflows there, or the step vanished next to x
        nominal = EPSILON * max(scale, size, own) / width
        # Below the smallest normal number a loss rounds by 2^-1074 and a gradient by
        # about 2^-1022 however small they are: float64's absolute floor.
        floor = ROUNDINGS * (SMALLEST / width + NORMAL)
        return value, ROUNDINGS * nominal + floor, nominal

    def unclear(value: float, noise: float) -> bool:
        reference = max(abs(analytic), abs(value), typical if analytic == 0 else 0.0)
        return noise > RESOLVABLE * reference

    first = quotient(h)
    if first is None:
        return "unresolved", 0.0
    numeric, noise, nominal = first
    error = abs(numeric - analytic)
    if analytic == 0 and error and error <= noise:
        return _zero_verdict(numeric, noise, nominal, quotient(h / 2), typical), error
    if error <= RTOL * abs(analytic) + noise:
        return ("unresolved" if error and unclear(numeric, noise) else "passed"), error
    second = quotient(h / 2)
    if second is None:
        return "unresolved", error
    halved, noise2, _ = second
    error2 = abs(halved - analytic)
    if error2 <= RTOL * abs(analytic) + noise2:
        return ("unresolved" if error2 and unclear(halved, noise2) else "passed"), error2
    spread = abs(numeric - halved) + noise + noise2
    if error2 <= RTOL * abs(analytic) + 4 * spread or unclear(halved, noise2):
        return "unresolved", error2
    return "failed", error2


def _zero_verdict(
    numeric: float,
    noise: float,
    nominal: float,
    second: tuple[float, float, float] | None,
    typical: float,
) -> str:
    """The verdict on an analytic 0 whose quotient ``numeric`` lies within the rounding bound
    ``noise``: failed when the quotient at h/2 (``second``) agrees with it on a slope well
    above the nominal rounding (a wrong 0 under a loose bound), passed when the bound is
    small next to the problem's largest gradient entry ``typical``, else unresolved."""
    if second is None:
        return "unresolved"
    halved, noise2, nominal2 = second
    agreed = min(abs(numeric), abs(halved)) - 2 * abs(numeric - halved)
    if agreed > ZERO_MARGIN * (nominal + nominal2) + ROUNDINGS * NORMAL:
        return "failed"
    if noise <= RESOLVABLE * typical:
        return "passed"
    return "unresolved"


def _probed(size: int, max_entries: int) -> np.ndarray:
    """The flat indices checked: all of them, or ``max_entries`` spread evenly (first and
    last included), so that a run is repeatable."""
    if size <= max_entries:
        return np.arange(size)
    # Evenly spaced, not random: importing numpy.random alone costs ~12 ms of start-up; and
    # a sorted set, not np.unique, which imports numpy.ma (~10 ms).
    spread = np.linspace(0, size - 1, max_entries).round().astype(int).tolist()
    return np.array(sorted(set(spread)), dtype=int)


def _step(x: float, bend: Any, index: tuple[int, ...], shape: tuple[int, ...]) -> float:
    """h for the entry ``x`` at ``index``: ε^(1/3)·max(1, |x|), at most ε^(1/3)·its bend
    distance (``bend``: an array broadcast to ``shape``, or None)."""
    h = step_at(x)
    if bend is not None:
        reach = np.broadcast_to(np.asarray(bend, dtype=float), shape)
        h = min(h, RELATIVE_STEP * float(reach[index]))
    return h


def _entry_size(
    overall: float, scales: np.ndarray | None, shape: tuple[int, ...], index: tuple[int, ...]
) -> float:
    """The size an entry's rounding is measured against: ``overall``, or its own size from
    ``scales`` (per-entry sizes in the gradient's shape) when larger (overflow: the largest)."""
    if scales is None:
        return overall
    own = float(np.asarray(scales, dtype=float).reshape(shape)[index])
    return max(overall, own if np.isfinite(own) else _HUGE)


def _sizes(
    loss: Loss,
    values: Mapping[str, np.ndarray],
    gradients: Mapping[str, np.ndarray],
    scale: float | Mapping[str, np.ndarray] | None,
) -> tuple[float, Mapping[str, np.ndarray], float]:
    """(the size every entry's rounding is measured against, the per-entry sizes ``scale``
    gives, the largest finite gradient entry): see check_gradients for ``scale``."""
    with np.errstate(over="ignore", invalid="ignore"):
        if scale is None:
            products = [np.abs(gradients[n] * values[n]) for n in gradients]
            scale = float(sum(np.sum(t[np.isfinite(t)]) for t in products))
        at = abs(float(loss(values)))
    finite = [np.abs(g[np.isfinite(g)]) for g in gradients.values()]
    typical = max((float(g.max()) for g in finite if g.size), default=0.0)
    overall = 0.0 if isinstance(scale, Mapping) else float(scale)
    overall = max(overall if np.isfinite(overall) else _HUGE, at if np.isfinite(at) else 0.0)
    entry_scales = scale if isinstance(scale, Mapping) else {}
    return overall, entry_scales, typical


def check_gradients(
    loss: Loss,
    params: Mapping[str, np.ndarray],
    analytic: Mapping[str, np.ndarray],
    *,
    max_entries: int = 32,
    scale: float | Mapping[str, np.ndarray] | None = None,
    bend: Mapping[str, np.ndarray] | None = None,
    bend_text: str = "",
    terms: Terms | None = None,
    local: Local | None = None,
) -> GradientCheck:
    """Compare ``analytic[name]`` (∂loss/∂params[name]) with central differences.

    At most ``max_entries`` entries of each parameter are checked, spread
    evenly over its flat index range (first and last included), so that a run
    is repeatable.  ``scale`` bounds the size of the terms the loss sums (its
    rounding is about ε times that): one number, or per parameter an array of
    per-entry sizes (for a loss that sums only the probed entry's change).  None
    takes Σ|gradient·value| over every parameter, which is exactly that for a
    loss linear in each parameter (dense, conv, pool).

    The step is h = ε^(1/3)·max(1, |x|), which assumes the loss bends no faster than
    over the value's own size.  ``bend`` gives, per entry, a shorter distance over which
    it does bend (σ, softmax and the like bend over 1 at any x; softplus over 1/β): h is
    then ε^(1/3)·min(max(1, |x|), bend), and ``bend_text`` names that rule ("1", "1/β").

    ``terms`` (parameters → Σ|terms|, e.g. Σ|upstream|·f(|x|) for a loss Σ upstream·f(x)) is
    the true size of the loss's terms, evaluated at each probed point x ± h: unlike
    Σ|gradient·value| it counts terms that cancel through the upstream, and the probed
    entry's own terms at x ± h where x = 0.

    ``local`` (array name, index -> (loss, terms), or None) gives, for one probed entry, a
    loss that differs from ``loss`` only by terms that do not depend on that entry (a conv's
    loss over the one sample or output channel the entry reaches): the same difference
    quotient, at a fraction of the work, with less rounding.  The rounding bound still
    counts the whole loss's size.
    """
    values = {key: np.array(value, dtype=float, copy=True) for key, value in params.items()}
    gradients = {name: np.asarray(g, dtype=object).astype(float) for name, g in analytic.items()}
    overall, entry_scales, typical = _sizes(loss, values, gradients, scale)
    worst = 0.0
    checked = unresolved = failed = total = 0
    per_result: dict[str, float] = {}
    for name, gradient in gradients.items():
        total += gradient.size
        result_worst = 0.0
        reach = None if bend is None else bend.get(name)
        for flat in _probed(gradient.size, max_entries):
            index = np.unravel_index(int(flat), gradient.shape) if gradient.ndim else ()
            size = _entry_size(overall, entry_scales.get(name), gradient.shape, index)
            h = _step(float(values[name][index]), reach, index, gradient.shape)
            probe_loss, probe_terms = (local and local(name, index)) or (loss, terms)
            verdict, error = _verdict(
                probe_loss,
                values,
                name,
                index,
                float(gradient[index]),
                size,
                h,
                typical,
                probe_terms,
            )
            if verdict == "unresolved":
                unresolved += 1
                continue
            failed += verdict == "failed"
            result_worst = max(result_worst, error)
            checked += 1
        per_result[name] = result_worst
        worst = max(worst, result_worst)
    return GradientCheck(
        ok=not failed,
        max_abs_error=worst,
        entries_checked=checked,
        entries_total=total,
        step=RELATIVE_STEP,
        per_result=per_result,
        unresolved=unresolved,
        bend=bend_text if bend is not None else "",
        sampled=max_entries if any(g.size > max_entries for g in gradients.values()) else 0,
    )
