"""Exact arithmetic that runs at NumPy speed.

Every linear layer gradcalc explains is *bilinear* in its two operands
(output = x ⋆ w, ∂L/∂w = x ⋆ upstream, ∂L/∂x = upstream ⋆ᵀ w).  So instead of
multiplying ``Fraction`` objects (about 5 µs per multiply-add), each operand is
scaled to integers by the common denominator of its entries, the integer
arrays go through the ordinary NumPy routine, and the result is divided once
by the product of the two denominators.

Integers stay in int64 when a bound on every partial sum proves they cannot
overflow, and fall back to Python ints in an ``object`` array otherwise (still
exact, about 40 ns per multiply-add).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from gradcalc.core.errors import LimitError
from gradcalc.core.spec import EXACT_COST, EXACT_DIGITS
from gradcalc.core.values import holds_formulas

_INT64_SAFE = 2**62
# 10^EXACT_DIGITS needs this many bits: an integer of more bits has more than EXACT_DIGITS digits.
DIGIT_BITS = math.ceil(EXACT_DIGITS * math.log2(10))


class ExactLimitError(LimitError):
    """Exact arithmetic would need integers beyond the documented digit or cost cap."""

    def __init__(self, what: str, limit: str = ""):
        limit = limit or f"{EXACT_DIGITS:,} digits per numerator or denominator"
        super().__init__(
            (),
            f"exact arithmetic would need {what}; its limit is {limit} "
            "(docs/exit-codes-and-limits.md: Limits): rerun with --float for float64",
        )


def _digits_text(bits: int) -> str:
    return f"about {int(bits * math.log10(2)) + 1:,} digits"


def scale_to_integers(values: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Split an object array of Fractions into (integer numerators, denominator, max |numerator|).

    ``values == numerators / denominator`` elementwise.  The numerators are
    Python ints in an object array.  Raises ExactLimitError as soon as the common
    denominator or a numerator passes EXACT_DIGITS digits: the lcm of many
    different denominators grows without bound (1,000 different 390-digit ones:
    390,000 digits), so it is built one denominator at a time and stopped there.
    """
    flat = values.ravel().tolist()
    denominator = 1
    for den in {getattr(v, "denominator", 1) for v in flat}:
        denominator = math.lcm(denominator, den)
        if denominator.bit_length() > DIGIT_BITS:
            raise ExactLimitError(
                f"a common denominator of more than {EXACT_DIGITS:,} digits for one array's "
                f"{len(flat):,} entries"
            )
    numerators = np.empty(len(flat), dtype=object)
    numerators[:] = [v.numerator * (denominator // v.denominator) for v in flat]
    bound = max((abs(n) for n in numerators.tolist()), default=0)
    if bound.bit_length() > DIGIT_BITS:
        raise ExactLimitError(f"numerators of {_digits_text(bound.bit_length())}")
    return numerators.reshape(values.shape), denominator, bound


def integers(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Fractions -> (numerators, common denominator): int64 when every numerator fits below
    2^62, else Python ints."""
    numerators, denominator, bound = scale_to_integers(values)
    return (numerators.astype(np.int64) if bound < _INT64_SAFE else numerators), denominator


def check_cost(work: int, left_bound: int, right_bound: int) -> None:
    """Refuse a product of Python ints whose cost (multiply-adds weighted by the 64-bit words
    of each factor) is above EXACT_COST: the multiply-add limit counts operations, not digits."""
    words = max(1, -(-left_bound.bit_length() // 64)) * max(1, -(-right_bound.bit_length() // 64))
    if work * words > EXACT_COST:
        raise ExactLimitError(
            f"{work:,} multiply-adds of {_digits_text(left_bound.bit_length())} by "
            f"{_digits_text(right_bound.bit_length())} ({work * words:,} 64-bit word products)",
            limit=f"{EXACT_COST:,} word products",
        )


def _as_int_dtype(numerators: np.ndarray, safe: bool) -> np.ndarray:
    return numerators.astype(np.int64) if safe else numerators


def bilinear_exact(
    op: Callable[[np.ndarray, np.ndarray], np.ndarray],
    left: np.ndarray,
    right: np.ndarray,
    terms_per_output: int,
    work: int | None = None,
) -> np.ndarray:
    """Evaluate a bilinear ``op(left, right)`` exactly on Fraction arrays.

    ``terms_per_output`` bounds how many products any output entry sums; it
    decides whether int64 is safe.  ``work`` is the op's multiply-add count (default:
    the larger operand's size times ``terms_per_output``), for the cost cap of Python
    ints.  Returns an object array of exact values (see ``from_integers``).
    """
    if holds_formulas(left, right):  # formulas (core/symbolic.py): polynomial + and *
        from gradcalc.core import symbolic

        return symbolic.evaluate(op, left, right)
    left_num, left_den, left_bound = scale_to_integers(left)
    right_num, right_den, right_bound = scale_to_integers(right)
    # Both operands must fit too: a zero on one side does not make the other's 10^19 fit.
    largest = max(left_bound, right_bound, left_bound * right_bound * max(terms_per_output, 1))
    safe = largest < _INT64_SAFE
    if not safe:
        estimate = max(left.size, right.size) * max(terms_per_output, 1)
        check_cost(estimate if work is None else work, left_bound, right_bound)
    product = op(_as_int_dtype(left_num, safe), _as_int_dtype(right_num, safe))
    return from_integers(product, left_den * right_den)


def from_integers(numerators: np.ndarray, denominator: int) -> np.ndarray:
    """Integer array / denominator -> object array of exact values (reduced Fractions;
    Python ints when the denominator is 1, as exact as Fractions and ~20× cheaper)."""
    result = np.empty(numerators.size, dtype=object)
    if denominator == 1:
        result[:] = [int(n) for n in numerators.ravel().tolist()]
    else:
        result[:] = [Fraction(int(n), denominator) for n in numerators.ravel().tolist()]
    return result.reshape(numerators.shape)


def linear_exact(
    op: Callable[[np.ndarray], np.ndarray], values: np.ndarray, terms_per_output: int
) -> np.ndarray:
    """Evaluate a linear ``op(values)`` (a sum, a selection) exactly on a Fraction array.

    ``terms_per_output`` bounds how many entries any output entry sums; it decides
    whether int64 is safe (sums of Python ints are cheap: no cost cap).
    """
    if holds_formulas(values):
        from gradcalc.core import symbolic

        return symbolic.tidy(np.asarray(symbolic.evaluate(op, values), dtype=object))
    numerators, denominator, bound = scale_to_integers(values)
    safe = bound * max(terms_per_output, 1) < _INT64_SAFE
    return from_integers(np.asarray(op(_as_int_dtype(numerators, safe))), denominator)


def zeros_like_kind(shape: tuple[int, ...], exact: bool) -> np.ndarray:
    """Zeros as Fractions (object array) or float64."""
    if not exact:
        return np.zeros(shape)
    array = np.empty(shape, dtype=object)
    array.fill(Fraction(0))
    return array
