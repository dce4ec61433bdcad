"""How numbers are written: exact (4, -1/4) or decimal (--decimal, --precision)."""

from __future__ import annotations

import decimal
import math
import sys
from fractions import Fraction
from typing import Any

from gradcalc.core.records import record

MINUS = "−"


@record(frozen=True)
class NumberStyle:
    """``decimal``: print fractions as decimals; ``precision``: significant digits for decimals.

    Frozen: each style remembers the numbers it has written (a report writes the same few
    again and again: the bundled net's table report writes 1,169 numbers, 96 of them
    distinct, each costing microseconds to write), which a change of its fields would make
    stale."""

    decimal: bool = False
    precision: int = 6
    unicode_minus: bool = True

    def __post_init__(self) -> None:
        # (class, value) -> text, for format and factor.  The class is in the key because
        # equal numbers of different classes are written differently (Fraction(1, 2) and 0.5).
        self.__dict__["_written"] = {}
        self.__dict__["_factors"] = {}

    def format(self, value: Any) -> str:
        cls = value.__class__
        remembered = _REMEMBERED.get(cls)  # (a lookup, not a call: a report writes a thousand)
        if remembered is None:
            remembered = _remembered(cls)
        if remembered:
            key = (cls, value)
            text = self._written.get(key)
            if text is None:
                text = self._written[key] = self._format_number(value)
            return text
        if isinstance(value, str):  # text (expr's SymPy expressions) is shown as written
            return value
        if getattr(value, "ndim", None) == 0 and is_formula(value.item()):
            value = value.item()  # a loss of formulas, a 0-D array (a net's mse)
        if is_formula(value):  # a symbolic entry (core/symbolic.py)
            return formula_text(value, self.unicode_minus)
        return self._format_number(value)

    def _format_number(self, value: Any) -> str:
        """A number (not text nor a formula) as written, its minus sign − when unicode_minus."""
        text = self._format(value)
        if self.unicode_minus:
            text = text.replace(f"{APPROXIMATE}-", APPROXIMATE + MINUS)
            if text.startswith("-"):
                text = MINUS + text[1:]
        return text

    def _format(self, value: Any) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, int):
            return str(value)
        if isinstance(value, tuple):  # several numbers in one cell (pool argmax under ties)
            return "[" + ", ".join(self._format(v) for v in value) + "]"
        if isinstance(value, Fraction):
            if value.denominator == 1:
                return str(value.numerator)
            if not self.decimal:
                return f"{value.numerator}/{value.denominator}"
            return _fraction_decimal(value, self.precision)
        if isinstance(value, float):
            if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
                return str(int(value))
            return _decimal(value, self.precision)
        if hasattr(value, "item"):
            return self._format(value.item())
        return str(value)

    def sentence(self, note: Any) -> str:
        """A Note's text (or a convention's), its numbers (``pieces``) written as every other
        number."""
        pieces = getattr(note, "pieces", ())
        if not pieces:
            return note if isinstance(note, str) else note.text
        return "".join(p if isinstance(p, str) else self.format(p) for p in pieces)

    def factor(self, value: Any) -> str:
        """A number inside a product: negatives and fractions in parentheses, (−1)·(1/2)."""
        cls = value.__class__
        remembered = _REMEMBERED.get(cls)
        if remembered is None:
            remembered = _remembered(cls)
        if remembered:
            key = (cls, value)
            text = self._factors.get(key)
            if text is None:
                text = self._factors[key] = _in_product(self.format(value))
            return text
        text = self.format(value)
        if is_formula(value):  # a sum, a negative or a quotient in parentheses: (w_1 + w_2)
            needs = text.startswith((MINUS, "-")) or "/" in text or _is_sum(value)
            return f"({text})" if needs else text
        return _in_product(text)


def _in_product(text: str) -> str:
    """A number's ``text`` as a factor: in parentheses when negative, a fraction, rounded or
    in exponent form."""
    needs = text.startswith((MINUS, "-", APPROXIMATE)) or "/" in text or "e" in text
    return f"({text})" if needs else text


# Whether a style remembers how it wrote a value of a class, by class as it is met: exactly
# int, float and Fraction (not subclasses such as bool) and numpy's real scalars (float64,
# int64, bool_: written as their value, like the plain numbers); never text, a formula or
# an array.
_REMEMBERED: dict[type, bool] = {int: True, float: True, Fraction: True}


def _remembered(cls: type) -> bool:
    numpy = sys.modules.get("numpy")  # not imported here: a value of its class means it is
    reals = () if numpy is None else (numpy.integer, numpy.floating, numpy.bool_)
    known = _REMEMBERED[cls] = issubclass(cls, reals)
    return known


def is_formula(value: Any) -> bool:
    """Whether ``value`` is a SymPy expression (a symbolic entry), without importing SymPy."""
    return type(value).__module__.startswith("sympy")


def has_formulas(array: Any) -> bool:
    """Whether an object array holds a formula (a symbolic run's result)."""
    return array.dtype == object and any(map(is_formula, array.ravel()))


def formula_text(value: Any, unicode_minus: bool = True) -> str:
    """A formula for reading: w_1·x_1 + 2·w_2 − w_3^2 (the JSON and ``expected`` syntax,
    core/symbolic.text, with · for * and ^ for **)."""
    from gradcalc.core.symbolic import text

    shown = text(value).replace("**", "^").replace("*", "·")
    return shown.replace("-", MINUS) if unicode_minus else shown


def _is_sum(value: Any) -> bool:
    from gradcalc.core.symbolic import is_sum

    return is_sum(value)


# Marks a rounded value whose digits read as a whole number (5/2 at 1 digit: ≈2, not 2).
APPROXIMATE = "≈"


def _decimal(value: float, precision: int) -> str:
    text = _decimal_text(f"{value:.{precision}g}")
    return _marked(text, not math.isfinite(value) or float(text) == value)


def _fraction_decimal(value: Fraction, precision: int) -> str:
    """A Fraction as a decimal rounded from its exact value (halves to even: 9/20 → 0.4 at
    one digit, as 7/20 → 0.4), never through a binary float (which made 9/20 0.5 and 7/20
    0.3); 10**400/3 and 1/10**400 neither overflow nor print as 0."""
    with decimal.localcontext() as context:
        context.prec = precision
        context.rounding = decimal.ROUND_HALF_EVEN
        context.Emax, context.Emin = decimal.MAX_EMAX, decimal.MIN_EMIN
        # Division of two exact integers, correctly rounded to `precision` digits.
        rounded = decimal.Decimal(value.numerator) / decimal.Decimal(value.denominator)
        text = _decimal_text(f"{rounded:.{precision}g}")
    exact = Fraction(rounded) == value
    return _marked(text, exact)


def _marked(text: str, exact: bool) -> str:
    """``text`` with ≈ in front when it is rounded yet its digits have no point, in fixed or
    exponent form: 2 would say the value is exactly 2, 1e21 exactly 10^21.  Trailing zeros of
    an exponent form's mantissa go first (1.00000e21 → 1e21), so a value reads alike whether
    it came from a float or from an exact fraction."""
    mantissa, e, exponent = text.partition("e")
    if e and "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
        text = mantissa + e + exponent
    if exact or "." in mantissa:
        return text
    return APPROXIMATE + text


_FLOAT_MAX = Fraction(sys.float_info.max)
_FLOAT_SAFE_LOW = Fraction(1, 10**300)
_FLOAT_SAFE_HIGH = Fraction(10**300)


def _decimal_text(text: str) -> str:
    if "e" in text.lower():
        mantissa, exponent = text.lower().split("e")
        return f"{mantissa}e{int(exponent)}"
    return text


def to_json_number(value: Any) -> int | float | str:
    """Exact integers stay ints; other values become JSON floats; text (symbolic results,
    kind expr) stays text."""
    if isinstance(value, str):
        return value
    if is_formula(value):  # a symbolic entry, in the syntax `expected` reads
        from gradcalc.core.symbolic import text

        return text(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return value.numerator
        if abs(value) > _FLOAT_MAX:
            return str(value)  # beyond any float (never within the documented limits)
        # A tiny value rounds to a subnormal or 0 (exact_results holds it exactly): still a number.
        return float(value)
    number = float(value)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number
