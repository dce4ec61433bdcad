"""The JSON contract for scripts (``--format json``): results as nested lists of numbers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.cli.numbers import to_json_number
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
    array = np.asarray(value, dtype=object)
    if array.ndim == 0:
        return to_json_number(array[()])
    if array.ndim > 1:
        return [nested(row) for row in array]
    # A cell may hold several numbers (pool argmax under ties: all/split): a list.
    return [
        [to_json_number(i) for i in v] if isinstance(v, tuple) else to_json_number(v) for v in array
    ]


def exact_text(value: Any) -> Any:
    """Arrays -> nested lists of exact strings such as "1/4"."""
    array = np.asarray(value, dtype=object)
    if array.ndim == 0:
        item = array[()]
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
    # allow_nan=False: never emit Infinity/NaN, which are not JSON.
    return json.dumps(
        solution_document(solution),
        ensure_ascii=False,
        indent=None if one_line else 2,
        separators=(",", ":") if one_line else None,
        allow_nan=False,
    )
