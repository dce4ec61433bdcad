"""Small pieces every op module shares.

Checking expected answers, finite differences over the entries where a function is
differentiable, the end of a solve (a Solution led by a ``--focus`` picture), and writing
numbers into formulas and sentences.  NumPy only, like the rest of the core.  Reading a
spec's fields is core/kinds/fields.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.errors import LimitError
from gradcalc.core.explain import Matrix, Note, Symbol
from gradcalc.core.gradcheck import check_gradients, step_for
from gradcalc.core.kinds.fields import shape_text
from gradcalc.core.outcome import Check, GradientCheck, Solution, compare
from gradcalc.core.spec import SolveOptions, Tolerance
from gradcalc.core.values import to_float

# A matrix with more entries than this is summarized in a sentence, not printed.
MAX_MATRIX_SHOWN = 400


def arithmetic_words(
    *, exact: bool, irrational: str = "", forced: bool, size: str, limit: int
) -> str:
    """The convention line saying how the numbers were computed, and why.

    ``irrational`` names what forces floats ("sigmoid uses exp"); ``size`` is
    the problem's size in the unit the exact limit counts ("2,000 entries").
    """
    if exact:
        return "exact rational arithmetic (fractions print as p/q unless --decimal)"
    if irrational:
        return f"float64 arithmetic: {irrational}, whose values are irrational"
    if forced:
        return "float64 arithmetic (--float)"
    return f"float64 arithmetic: {size}, above the exact limit of {limit:,}"


def plain(value: Any) -> str:
    """A number for a sentence: 1.5 or 1/3 for a Fraction (decimal when it ends), else 6 digits."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        rest = value.denominator
        for prime in (2, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1 and value.denominator <= 10**6:
            return f"{float(value):.15g}"
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:.6g}"


def plus(value: Any) -> tuple[str | Any, ...]:
    """A term added after another, as formula tokens: " + 2", or " − 2" for −2."""
    return (" − ", -value) if value < 0 else (" + ", value)


def factor(value: Any) -> tuple[str | Any, ...]:
    """A number as formula tokens, parenthesized when negative: (−1)."""
    return ("(", value, ")") if value < 0 else (value,)


def element_symbol(name: str, index: tuple[int, ...], base: int, separator: str) -> Symbol:
    """``name`` at a 0-based ``index``, printed from ``base``."""
    return Symbol(name, tuple(int(i) + base for i in index), separator)


def show_matrix(
    label: str,
    values: np.ndarray,
    base: int,
    *,
    axes: tuple[str, ...] = (),
    caption: str = "",
    role: str = "",
) -> Matrix | Note:
    """A Matrix (``role`` as in :class:`Matrix`), or a one-line summary when it is too large
    to print usefully."""
    values = np.asarray(values, dtype=object)
    if values.size > MAX_MATRIX_SHOWN:
        return Note(
            f"{label}: {shape_text(values.shape)} ({values.size:,} entries, not printed; "
            "the results hold every value)"
        )
    # The results name unnamed axes axis0, axis1, …: the inputs' slices are named alike.
    names = axes or tuple(f"axis{i}" for i in range(values.ndim))
    return Matrix(
        label=label, values=values, axis_names=names, index_base=base, caption=caption, role=role
    )


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
        checks.append(compare(name, value, answer, tolerance))
    return checks


def probes_for(work: int) -> int:
    """How many gradient entries finite differences probe for a pass of ``work``
    multiply-adds: each probe is two forward passes, so the whole check stays near 4M."""
    return int(max(2, min(32, 2_000_000 // max(work, 1))))


def focus_target(focus: str | None, problem: Any) -> Any:
    """What ``--focus output[1,0]`` names among a sliding-window problem's ``focusable()``
    arrays (a core/windows.py FocusTarget); None without ``--focus``."""
    if focus is None:
        return None
    from gradcalc.core.windows import read_focus  # imported when --focus is used (start-up cost)

    return read_focus(focus, problem.focusable(), problem.index_base)


def solution_with_focus(
    kind: str, problem: Any, explainer: Any, options: SolveOptions, target: Any, **fields: Any
) -> Solution:
    """The Solution of a sliding-window kind (conv, pool): the explainer's ``sections()``,
    led for ``--focus`` by its ``section_focus(target)`` picture (``target`` None: none).
    ``problem`` gives the title and index base; ``fields`` are the rest of the Solution
    (results, exact, checks, gradient_check, axes)."""
    sections = explainer.sections()
    found = None
    if target is not None:
        focus_section, found = explainer.section_focus(target)
        sections.insert(0, focus_section)
    return Solution(
        kind=kind,
        title=problem.title,
        conventions=explainer.conventions() if options.explain else [],
        sections=sections,
        index_base=problem.index_base,
        focus=found,
        **fields,
    )


def same(a: np.ndarray, b: np.ndarray, exact: bool) -> bool:
    """Two results agree: equal when exact, else within 1e-9 (an identity's check)."""
    if exact:
        return bool(np.all(a == b))
    return bool(np.allclose(to_float(a), to_float(b), rtol=1e-9, atol=1e-9))


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
