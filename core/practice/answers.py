"""A drawn problem's answer key: clean answers (integers, small fractions, rounded decimals)
and the tolerances a key of rounded decimals needs (core/practice's docstring says which)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.kinds.profile import Variant
from gradcalc.core.spec import DEFAULT_ATOL

DECIMAL_PLACES = 4
# Rounding to 4 places is off by at most 5e-5, a wrong last digit by more: the tolerance is
# 5e-5 plus a slack far below the last place, for the float a result is computed in.
DECIMAL_TOLERANCE = Fraction(1, 2 * 10**DECIMAL_PLACES) + Fraction(1, 10**9)
# The results of such a spec that have no rounded entry keep gradcalc's usual tolerance.
EXACT_TOLERANCE = DEFAULT_ATOL
SMALLEST_DECIMAL = 0.001
# A float answer within this (relative) distance of a simple fraction is that fraction.
_FRACTION_MATCH = 1e-9
# A float this close to a fraction with a denominator up to this is rational, not a decimal
# to round (computed rationals are a few ulps off; an irrational value is rarely this close).
_RATIONAL_DENOMINATOR = 1000
_RATIONAL_MATCH = 1e-12


def set_tolerances(
    spec: dict[str, Any], answers: Mapping[str, Any], decimal_results: tuple[str, ...]
) -> None:
    """The spec-wide tolerance accepts the rounding (``gradcalc run`` reads only that one);
    ``accept.tolerance`` keeps each result without a rounded entry exact for ``gradcalc check``.

    Both are floats whose shortest text is the exact decimal (0.000050001), as a spec writes it.
    """
    spec["tolerance"] = float(DECIMAL_TOLERANCE)
    exact = [n for n in answers if n not in decimal_results and _numeric(answers[n])]
    if exact:
        spec["accept"] = {"tolerance": {name: float(EXACT_TOLERANCE) for name in exact}}


def _natural_denominator(variant: Variant, values: Mapping[str, Any]) -> int:
    product = 1
    for part in variant.denominator_from:
        value = part if isinstance(part, int) else values[part]
        if isinstance(value, Fraction):
            value = value.denominator
        product *= math.prod(value) if isinstance(value, tuple) else value
    return product


def _clean_key(
    results: Mapping[str, Any], expectable: tuple[str, ...] | None, limit: int, variant: Variant
) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """The answer key (result name -> plain data), and the results written as decimals;
    (None, ()) when an answer is not clean."""
    key: dict[str, Any] = {}
    decimal_results: list[str] = []
    for name, value in results.items():
        if expectable is not None and name not in expectable:
            continue
        if name.startswith("jacobian"):
            continue
        found = _plain(value, limit, variant.decimals)
        if found is None:
            if expectable is None and not _numeric(value):
                continue  # text, mappings: not something an answer can give
            return None, ()
        plain, decimal = found
        key[name] = plain
        if decimal:
            decimal_results.append(name)
    return key, tuple(decimal_results)


def _numeric(value: Any) -> bool:
    flat = (
        np.asarray(value, dtype=object).ravel().tolist() if not isinstance(value, Mapping) else []
    )
    return bool(flat) and all(
        isinstance(v, (int, float, Fraction, np.number)) and not isinstance(v, bool) for v in flat
    )


def _plain(value: Any, limit: int, decimals: bool) -> tuple[Any, bool] | None:
    """``value`` (array, list or scalar) as nested lists of clean entries, and whether any
    entry is a rounded decimal; None when an entry is not clean."""
    if isinstance(value, np.ndarray):
        value = value.tolist() if value.ndim else value.item()
    if isinstance(value, (list, tuple)):
        entries = [_plain(v, limit, decimals) for v in value]
        if any(e is None for e in entries):
            return None
        return [e[0] for e in entries], any(e[1] for e in entries)  # type: ignore[index]
    if isinstance(value, str):
        return value, False
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
        return None
    if isinstance(value, (int, Fraction)):
        number = Fraction(value)
        if number.denominator > limit:
            return None
        return (int(number) if number.denominator == 1 else number), False
    if not math.isfinite(value):
        return None
    nearest = Fraction(value).limit_denominator(limit)
    if abs(float(nearest) - value) <= _FRACTION_MATCH * max(1.0, abs(value)):
        return (int(nearest) if nearest.denominator == 1 else nearest), False
    if not decimals or abs(value) < SMALLEST_DECIMAL:
        return None
    rational = Fraction(value).limit_denominator(_RATIONAL_DENOMINATOR)
    if abs(float(rational) - value) <= _RATIONAL_MATCH * max(1.0, abs(value)):
        return None  # a fraction with a large denominator: exact, but not clean
    return round(value, DECIMAL_PLACES), True
