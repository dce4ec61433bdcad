"""Reading an answer as exact numbers and comparing it with a result, cell by cell."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.errors import FieldPath, SpecError, format_path
from gradcalc.core.grading.grades import CellError, shape_words
from gradcalc.core.spec import Limits, Tolerance
from gradcalc.core.values import MAX_MAGNITUDE, parse_array, parse_number


def read_answer(raw: Any, path: FieldPath, limits: Limits) -> np.ndarray:
    """An answer as an object array of exact numbers (ints and Fractions).

    Regular nested lists of ints, Fractions (the YAML reader's numbers) and numeric
    text ("1/4") are read in one pass; anything else (floats, ragged rows, bad
    entries) goes through parse_array, which also reports the error's position.
    """
    if isinstance(raw, list):
        array = np.array(raw, dtype=object)
        if 0 < array.size <= limits.max_elements and array.ndim <= 6 and _plain_numbers(array):
            return array
    elif type(raw) in (int, Fraction) and abs(raw) <= MAX_MAGNITUDE:
        return np.array(raw, dtype=object)
    return parse_array(
        raw,
        path,
        ndims=tuple(range(0, 7)),
        what=format_path(path),
        max_elements=limits.max_elements,
    )


def _plain_numbers(array: np.ndarray) -> bool:
    """True when every entry is an exact number (numeric text is read in place)."""
    flat = array.reshape(-1)  # a view: np.array made the array contiguous
    for position, value in enumerate(flat):
        kind = type(value)
        if kind is int or kind is Fraction:
            if abs(value) > MAX_MAGNITUDE:
                return False
        elif kind is str:
            try:
                flat[position] = parse_number(value, ())
            except SpecError:
                return False
        else:
            return False
    return True


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


def fit(answer: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray | None, str]:
    """The answer in ``shape``: as written, or read flat in row-major order.

    Returns (array, "") when the shapes agree, (array, "2×2") when a flat list
    was read as a matrix of that shape, and (None, "") when neither fits.
    """
    if answer.shape == shape:
        return answer, ""
    size = int(np.prod(shape)) if shape else 1
    if answer.ndim == 1 and len(shape) > 1 and answer.size == size:
        return answer.reshape(shape), shape_words(shape)
    return None, ""


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
