"""Comparing an answer with a result, cell by cell (core/answers.py reads it and fits its shape,
for ``run`` and ``check`` alike)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.grading.grades import CellError
from gradcalc.core.spec import Tolerance
from gradcalc.core.values import holds_formulas


def as_array(value: Any) -> np.ndarray:
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        array = np.empty(len(value), dtype=object)
        array[:] = [Fraction(v) for v in value]
        return array
    return np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value


def written_shape(value: Any) -> str:
    """How an answer was written, in shape words: "a single number", "a list of 2", "2×3"."""
    if not isinstance(value, list):
        return "a single value"
    rows = {len(row) if isinstance(row, list) else -1 for row in value}
    if len(rows) == 1 and (width := rows.pop()) > 0:
        return f"{len(value)}×{width}"
    return f"a list of {len(value)}"


def numbers_only(array: np.ndarray) -> bool:
    """False when a cell holds something other than one number (a tuple of tied indices)."""
    return array.dtype != object or not any(isinstance(v, tuple) for v in array.flat)


def size_of(value: Any) -> int:
    return int(as_array(value).size)


def abs_rel_errors(given: Any, correct: Any) -> tuple[float | None, float | None]:
    try:
        difference = abs(float(given) - float(correct))
        magnitude = abs(float(correct))
    except (TypeError, ValueError):
        return None, None
    return difference, (difference / magnitude if magnitude else None)


def compare_cells(
    answer: np.ndarray, correct: np.ndarray, tolerance: Tolerance, *, first_only: bool = False
) -> list[CellError]:
    """The wrong cells: right when |given − correct| ≤ atol + rtol·|correct|.

    The relative part never forgives a sign: an answer of another sign (0 for a
    nonzero value included) is right only within atol, as in the float path.  Exact
    results are compared in Fractions; float results in float64.  ``first_only`` stops
    at the first wrong cell.
    """
    correct = np.asarray(correct)
    if correct.dtype != object:
        return _compare_floats(answer, correct, tolerance, first_only)
    equal = answer == correct  # elementwise, exact; the common case needs nothing more
    if bool(np.all(equal)):
        return []
    if holds_formulas(answer, correct):  # formulas: right when the difference is 0
        return _compare_formulas(answer, correct, equal, first_only)
    if any(isinstance(v, float) for v in correct.ravel()):
        return _compare_floats(answer, correct.astype(float), tolerance, first_only)
    wrong = []
    for index in map(tuple, np.argwhere(~np.asarray(equal, dtype=bool))):
        given, right = Fraction(answer[index]), Fraction(correct[index])
        error = abs(given - right)
        same_sign = (given > 0) == (right > 0) and (given < 0) == (right < 0)
        ok = error <= tolerance.atol or (
            error <= tolerance.atol + tolerance.rtol * abs(right) and same_sign
        )
        if not ok:
            relative = None if right == 0 else float(error / abs(right))
            wrong.append(
                CellError(tuple(int(i) for i in index), given, right, float(error), relative)
            )
            if first_only:
                break
    return wrong


def _compare_floats(
    answer: np.ndarray, correct: np.ndarray, tolerance: Tolerance, first_only: bool
) -> list[CellError]:
    given = answer.astype(float)
    error = np.abs(given - correct)
    atol, rtol = float(tolerance.atol), float(tolerance.rtol)
    same_sign = np.sign(given) == np.sign(correct)
    ok = (error <= atol) | ((error <= atol + rtol * np.abs(correct)) & same_sign)
    wrong = []
    for index in map(tuple, np.argwhere(~ok)):
        right = float(correct[index])
        relative = None if right == 0 else float(error[index] / abs(right))
        wrong.append(
            CellError(
                tuple(int(i) for i in index), answer[index], right, float(error[index]), relative
            )
        )
        if first_only:
            break
    return wrong


def _compare_formulas(
    answer: np.ndarray, correct: np.ndarray, equal: Any, first_only: bool
) -> list[CellError]:
    """The wrong cells of a symbolic result (core/symbolic.py): a formula is right or wrong,
    no tolerance, and no numeric error to show."""
    from gradcalc.core import symbolic

    wrong = []
    for index in map(tuple, np.argwhere(~np.asarray(equal, dtype=bool))):
        if not symbolic.equal(answer[index], correct[index]):
            wrong.append(
                CellError(tuple(int(i) for i in index), answer[index], correct[index], None, None)
            )
            if first_only:
                break
    return wrong
