"""Hypothesis strategies for exact entries that are cheap to draw."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st


def fractions_between(low: int, high: int, max_denominator: int) -> st.SearchStrategy[Fraction]:
    """Every fraction p/q with 1 <= q <= ``max_denominator`` from ``low`` to ``high``: the values
    of ``st.fractions(low, high, max_denominator=...)``, drawn as one choice among them.
    st.fractions draws a numerator and a denominator and rejects what falls outside the bounds,
    about 2 ms a value, and a drawn tensor has dozens of entries; a choice is some 30 times
    cheaper.  Simplest first (0, whole numbers, halves, …, smaller before larger, positive
    before negative), so that a failure shrinks towards them as st.fractions' does."""
    values = {
        Fraction(numerator, denominator)
        for denominator in range(1, max_denominator + 1)
        for numerator in range(low * denominator, high * denominator + 1)
    }
    return st.sampled_from(sorted(values, key=lambda v: (v.denominator, abs(v), v < 0)))
