"""Numbers and counts in sentences: one formatter for a number in a message (3/2, 1.5, 1e+300)
and for a count with its noun (1 entry, 3 entries), shared by readers, explanations and the CLI."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np


def count_words(count: int, singular: str, plural: str | None = None) -> str:
    """'1 row', '3 rows'; ``plural`` where adding s is wrong ('1 class', '2 classes')."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def all_of(count: int, singular: str, plural: str | None = None) -> str:
    """'all 3 rows', 'the only row' (not 'all 1 rows')."""
    if count == 1:
        return f"the only {singular}"
    return f"all {count_words(count, singular, plural)}"


def entries(count: int) -> str:
    """'1 entry', '3 entries'."""
    return count_words(count, "entry", "entries")


def number_text(value: Any) -> str:
    """A number in a message as the spec's fields show them: 7, 3/2 (a YAML 1.5 is read as
    Fraction(3, 2); "expected stride, got 5/2"), and e-notation once a numerator or denominator
    passes 15 digits, so 1e300 is not printed with 301 digits."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return repr(value)
    fraction = Fraction(value)
    if max(abs(fraction.numerator), fraction.denominator) >= 10**15:
        return f"{float(fraction):.6g}"
    return str(fraction)


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
