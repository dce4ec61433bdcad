"""The one reader of answers: ``run``'s ``expected`` and ``check``'s submissions alike.

An answer is read as exact numbers (:func:`read_answer`), then fitted to its result's shape
(:func:`fit`) by one rule: the result's own shape; or all its entries in row-major order,
written as a flat list, as one row (1×n) or as one column (n×1), with a note naming the
reading used (:func:`reading_note`).  Any other shape is a named mistake
(:func:`shape_mistake`): a transpose is diagnosed, never read as the result.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.errors import FieldPath, SpecError, format_path
from gradcalc.core.values import MAX_MAGNITUDE, parse_array, parse_number


def read_answer(
    raw: Any, path: FieldPath, max_elements: int, *, symbols: bool | frozenset[str] = False
) -> np.ndarray:
    """An answer as an object array of exact numbers (ints and Fractions), 0-D to 6-D;
    with ``symbols`` (a symbolic problem) entries may be formulas (core/symbolic.py).

    Regular nested lists of ints, Fractions (the YAML reader's numbers) and numeric
    text ("1/4") are read in one pass; anything else (floats, ragged rows, bad
    entries) goes through parse_array, which also reports the error's position.
    """
    if isinstance(raw, list):
        try:
            array = np.array(raw, dtype=object)
        except ValueError:  # ragged deeper down: parse_array locates the row
            array = np.empty(0, dtype=object)
        if 0 < array.size <= max_elements and array.ndim <= 6 and _plain_numbers(array):
            return array
    elif type(raw) in (int, Fraction) and abs(raw) <= MAX_MAGNITUDE:
        return np.array(raw, dtype=object)
    return parse_array(
        raw,
        path,
        ndims=tuple(range(0, 7)),
        what=format_path(path),
        max_elements=max_elements,
        symbols=symbols,
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


def shape_words(shape: tuple[int, ...]) -> str:
    """(2, 3) -> "2×3", (3,) -> "a list of 3", () -> "a single number"."""
    if not shape:
        return "a single number"
    return f"a list of {shape[0]}" if len(shape) == 1 else "×".join(map(str, shape))


def fit(answer: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray | None, str]:
    """``answer`` (any shape) in the result's ``shape``: (array, how it was read) or (None, "").

    How: "" in its own shape; "flat" for a flat list of every entry in row-major order;
    "the 1×n row" or "the n×1 column" for that list written as one row or one column.
    Nothing else is read: a transpose, or the right entries in another shape, is a mistake.
    """
    if answer.shape == shape:
        return answer, ""
    how = how_read(answer.shape, shape)
    return (None, "") if how is None else (answer.reshape(shape), how)


def how_read(answer_shape: tuple[int, ...], shape: tuple[int, ...]) -> str | None:
    """How an answer of ``answer_shape`` is read as ``shape`` (see :func:`fit`): "" for the
    same shape, "flat", "the 1×n row", "the n×1 column", or None when it is not read."""
    if answer_shape == shape:
        return ""
    size = math.prod(shape)
    if math.prod(answer_shape) != size:
        return None
    if len(answer_shape) == 1:
        return "flat"
    if len(answer_shape) == 2 and answer_shape[0] == 1:
        return f"the 1×{size} row"
    if len(answer_shape) == 2 and answer_shape[1] == 1:
        return f"the {size}×1 column"
    return None


def nested_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of a regular nested list of entries (() for one entry); None when ragged or
    empty.  For answers whose entries are not numbers (``kind: expr``'s expressions)."""
    if not isinstance(value, list):
        return ()
    if not value:
        return None
    inner = {nested_shape(item) for item in value}
    if len(inner) != 1 or None in inner:
        return None
    return (len(value), *inner.pop())


def reading_note(how: str, shape: tuple[int, ...]) -> str:
    """The note for an answer read by :func:`fit` as ``how``: "read flat in row-major order
    as 2×2"; "" for an answer in its own shape."""
    return f"read {how} in row-major order as {shape_words(shape)}" if how else ""


def accepted_forms(shape: tuple[int, ...]) -> str:
    """The shapes an answer to a result of ``shape`` may have, in words."""
    size = math.prod(shape)
    return (
        f"{shape_words(shape)}, or its {size} entr{'y' if size == 1 else 'ies'} in row-major "
        f"order as a flat list, one row (1×{size}) or one column ({size}×1)"
    )


def is_transposed(answer_shape: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """True when ``answer_shape`` is ``shape`` with its last two axes swapped (and differs)."""
    return (
        len(shape) >= 2
        and answer_shape != shape
        and answer_shape == (*shape[:-2], shape[-1], shape[-2])
    )


def shape_reason(answer_shape: tuple[int, ...], shape: tuple[int, ...]) -> str:
    """What an answer of ``answer_shape`` that :func:`fit` cannot read did wrong, in words:
    rows and columns swapped, the right number of entries in another shape, or another
    number of entries."""
    if is_transposed(answer_shape, shape):
        return "rows and columns swapped (a transpose is not accepted)"
    size, answered = math.prod(shape), math.prod(answer_shape)
    if size == answered:
        return (
            "the right number of entries in another shape "
            "(a flat list, one row or one column is read in row-major order)"
        )
    return f"{answered} entr{'y' if answered == 1 else 'ies'} instead of {size}"


def shape_mistake(answer_shape: tuple[int, ...], shape: tuple[int, ...]) -> str:
    """The named mistake: "2×2 where the result is a list of 3: 4 entries instead of 3"."""
    given, wanted = shape_words(answer_shape), shape_words(shape)
    return f"{given} where the result is {wanted}: {shape_reason(answer_shape, shape)}"
