"""Float64 values a net reads exactly, and back: the Fraction of a float's shortest repr
(``shortest_fraction``), and the float64 arrays core/values.py ``read_floats`` read from,
which converting those Fractions back to float64 gives again (``float_source``,
``each_float``; ``to_float`` where it rounds each entry once: ``rounds_each_once``).
"""

from __future__ import annotations

import math
import weakref
from fractions import Fraction

import numpy as np


def shortest_fraction(value: float) -> Fraction:
    """Fraction(repr(value)) for a finite float (0.1 is 1/10, -0.0 is 0), from the digits
    and exponent of its shortest repr as integers: the same Fraction, without the regular
    expression Fraction's text reader runs (half the time; a net reads 10^5 of them)."""
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, digits = mantissa.partition(".")
    numerator = int(whole + digits)
    scale = len(digits) - (int(exponent) if exponent else 0)
    if scale <= 0:
        return Fraction(numerator * 10**-scale)
    return Fraction(numerator, 10**scale)


# The float64 array each object array that ``read_floats`` made was read from (-0.0 as 0),
# by the id of the array that owns the data: (a weak reference to the owner, the floats,
# raveled).  Converting those Fractions back to float64 (Fraction.__float__, a few
# microseconds an entry) gives these floats again, so to_float and each_float take them
# (``float_source``).  The owners are made read-only: the floats stay theirs.
_FLOAT_SOURCES: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def remember_floats(array: np.ndarray, floats: np.ndarray) -> None:
    """Keep ``floats`` (raveled) as the values of object array ``array`` (read_floats')."""
    owner = array if array.base is None else array.base
    if not isinstance(owner, np.ndarray) or owner.size != array.size:
        return
    key = id(owner)
    owner.flags.writeable = False
    array.flags.writeable = False
    _FLOAT_SOURCES[key] = (weakref.ref(owner, lambda _: _FLOAT_SOURCES.pop(key, None)), floats)


def float_source(array: np.ndarray) -> np.ndarray | None:
    """The float64 values an object array of ``read_floats`` (or a copy or reshape of one)
    was read from, in its shape; None for any other array.  Each entry is the Fraction's
    correctly rounded float64 (float(Fraction(repr(v))) is v, and -0.0 was read as 0)."""
    owner = array if array.base is None else array.base
    known = _FLOAT_SOURCES.get(id(owner))
    if known is None or known[0]() is not owner or owner.size != array.size:
        return None
    if not (array.flags.c_contiguous and owner.flags.c_contiguous):
        return None
    return known[1].reshape(array.shape)


def each_float(array: np.ndarray) -> np.ndarray:
    """``array.astype(float)``: each exact value rounded once (Fraction.__float__, a few
    microseconds an entry), or at once the floats a net's array was read from
    (float_source), which are those values."""
    if array.dtype == object:
        known = float_source(array)
        if known is not None:
            return known.copy()
    return array.astype(float)


def rounds_each_once(floats: np.ndarray) -> bool:
    """Whether to_float of the Fractions of these floats' shortest reprs gives the floats:
    when every entry is whole (one denominator, 1) or the denominators' lcm reaches 2^53
    (each entry is then rounded once); looked at a few entries at a time, as computed
    values (16 or more digits) reach it at once.  False when the lcm stays below 2^53:
    dividing over it may round twice, so the Fractions are converted as they are."""
    return bool(np.all(floats == np.floor(floats))) or denominators_reach(floats)


def denominators_reach(floats: np.ndarray) -> bool:
    """Whether the lcm of the denominators of these floats' shortest reprs (the Fractions a
    spec reads them as) reaches 2^53, looked at in order, a few entries at a time: the
    first entries of a prefix decide it for computed values (16 or more digits), so the
    whole array is looked at only when they do not."""
    flat = floats.reshape(-1)
    denominator = 1
    for stop in (min(flat.size, 1024), flat.size):  # a prefix, then (if need be) all
        part = flat[:stop]
        fractional = np.flatnonzero(part != np.floor(part))
        denominator = 1
        for start in range(0, fractional.size, 64):
            for value in part[fractional[start : start + 64]].tolist():
                denominator = math.lcm(denominator, shortest_fraction(value).denominator)
                if denominator >= 2**53:
                    return True
        if stop == flat.size:
            break
    return False


# −0.0's bits (0x8000…) read as an int64: the smallest int64 (np.iinfo costs microseconds
# a call, and a net's numeric path asks for it at every layer).
_NEGATIVE_ZERO_BITS = int(np.iinfo(np.int64).min)


def holds_negative_zero(floats: np.ndarray) -> bool:
    """Whether float64 ``floats`` hold a −0.0: a spec reads it as 0, and most computed arrays
    hold none.  Read as int64, −0.0 (0x8000…) is the smallest int64 and every other float
    is larger, so one min (no temporary array) tells.  (A compiled scan was tried: on the
    benchmark machine NumPy's SIMD min is twice as fast as C99 without intrinsics.)"""
    return floats.size > 0 and int(floats.view(np.int64).min()) == _NEGATIVE_ZERO_BITS
