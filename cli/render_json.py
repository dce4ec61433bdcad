"""The JSON contract for scripts (``--format json``): results as nested lists of numbers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.cli.numbers import is_formula, to_json_number
from gradcalc.core.outcome import Solution


def nested(value: Any) -> Any:
    """Arrays -> nested lists of JSON numbers; a 0-D array -> a number.

    Symbolic results (kind expr) are text, and may be grouped in mappings.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {str(key): nested(item) for key, item in value.items()}
    if value is None:
        return None
    if isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
        return [nested(item) for item in value]
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiu" and value.ndim:
        return _numeric_rows(value)
    array = np.asarray(value, dtype=object)
    if array.ndim == 0:
        return to_json_number(array[()])
    if array.ndim > 1:
        return [nested(row) for row in array]
    # A cell may hold several numbers (pool argmax under ties: all/split): a list.
    return [
        [to_json_number(i) for i in v] if isinstance(v, tuple) else to_json_number(v) for v in array
    ]


def _numeric_rows(array: np.ndarray) -> list[Any]:
    """A float or int array as nested lists, each entry as to_json_number gives it (an
    integer value below 2^53 as an int, 1.0 -> 1), converted by NumPy in bulk: a big float
    run has hundreds of thousands of entries."""
    if array.dtype.kind in "iu":
        return array.tolist()
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(array) & (array == np.trunc(array)) & (np.abs(array) < 2.0**53)
    if whole.all():
        return array.astype(np.int64).tolist()
    if not whole.any():
        return array.tolist()
    mixed = array.astype(object)
    mixed[whole] = array[whole].astype(np.int64)  # int64 -> object gives Python ints
    return mixed.tolist()


def exact_text(value: Any) -> Any:
    """Arrays -> nested lists of exact strings such as "1/4"."""
    array = np.asarray(value, dtype=object)
    if array.ndim == 0:
        item = array[()]
        if is_formula(item):  # a symbolic entry: its text, as in results
            return to_json_number(item)
        return str(item) if isinstance(item, Fraction) else item
    return [exact_text(row) for row in array]


def has_fractions(value: Any) -> bool:
    return any(
        isinstance(v, Fraction) and v.denominator != 1
        for v in np.asarray(value, dtype=object).ravel()
    )


def solution_document(solution: Solution) -> dict[str, Any]:
    document: dict[str, Any] = {
        "kind": solution.kind,
        "title": solution.title,
        "exact": solution.exact,
        "conventions": solution.conventions,
        "results": {name: nested(value) for name, value in solution.results.items()},
    }
    fractional = {
        name: exact_text(v)
        for name, v in solution.results.items()
        if solution.exact and has_fractions(v)
    }
    if fractional:
        # JSON numbers cannot hold 1/3 exactly; these strings can.
        document["exact_results"] = fractional
    document["checks"] = [
        {
            "name": check.name,
            "ok": check.ok,
            "cells": check.cells,
            "wrong": [
                {
                    "index": list(cell.index),
                    "given": to_json_number(cell.given),
                    "correct": to_json_number(cell.correct),
                }
                for cell in check.wrong
            ],
            "max_abs_error": check.max_abs_error,
            "tolerance": {"atol": float(check.tolerance.atol), "rtol": float(check.tolerance.rtol)},
            **({"reading": check.reading} if check.reading else {}),
        }
        for check in solution.checks
    ]
    gradient = solution.gradient_check
    document["gradient_check"] = (
        None
        if gradient is None
        else {
            "ok": gradient.ok,
            "max_abs_error": gradient.max_abs_error,
            "entries_checked": gradient.entries_checked,
            "entries_total": gradient.entries_total,
            "step": gradient.step,
            "step_rule": gradient.step_rule,
            "unresolved": gradient.unresolved,
            **({"note": gradient.note} if gradient.note else {}),
        }
    )
    if solution.focus is not None:
        document["focus"] = solution.focus.document()
    document["ok"] = solution.ok
    return document


def render_json(solution: Solution, *, one_line: bool = False) -> str:
    """The JSON document, indented, or on one line (JSON Lines, for several specs)."""
    document = solution_document(solution)
    if one_line:
        return _ONE_LINE.encode(document)
    return indented(document)


# allow_nan=False: never emit Infinity/NaN, which are not JSON.  Both encoders run in C.
_ONE_LINE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_INLINE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def indented(value: Any, depth: int = 0) -> str:
    """JSON indented by two spaces, except that a list of numbers (a row of a result, an
    index) stays on one line: ``[1, -2, 0.5]``.  Rows go to the C encoder whole, so a result
    with 400,000 entries is written in a fraction of a second, not one Python call each."""
    inner = "  " * (depth + 1)
    if isinstance(value, dict) and value:
        items = (
            f"{inner}{_INLINE.encode(str(k))}: {indented(v, depth + 1)}" for k, v in value.items()
        )
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
    if isinstance(value, list) and value and not all(type(v) in _NUMBER_TYPES for v in value):
        items = (inner + indented(v, depth + 1) for v in value)
        return "[\n" + ",\n".join(items) + "\n" + "  " * depth + "]"
    return _INLINE.encode(value)


_NUMBER_TYPES = (int, float)
