"""How numbers are written: exact (4, -1/4) or decimal (--decimal, --precision)."""

from __future__ import annotations

import decimal
import math
import sys
from fractions import Fraction
from typing import Any

from gradcalc.core.records import record

MINUS = "−"


@record
class NumberStyle:
    """``decimal``: print fractions as decimals; ``precision``: significant digits for decimals."""

    decimal: bool = False
    precision: int = 6
    unicode_minus: bool = True

    def format(self, value: Any) -> str:
        text = self._format(value)
        if self.unicode_minus and text.startswith("-"):
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

    def factor(self, value: Any) -> str:
        """A number inside a product: negatives and fractions in parentheses, (−1)·(1/2)."""
        text = self.format(value)
        needs = text.startswith(MINUS) or text.startswith("-") or "/" in text or "e" in text
        return f"({text})" if needs else text


def _decimal(value: float, precision: int) -> str:
    return _decimal_text(f"{value:.{precision}g}")


def _fraction_decimal(value: Fraction, precision: int) -> str:
    """A Fraction as a decimal: through float where float holds it, else exactly (Decimal),
    so 10**400/3 or 1/10**400 neither overflow nor print as 0."""
    if _FLOAT_SAFE_LOW < abs(value) < _FLOAT_SAFE_HIGH:
        return _decimal(float(value), precision)
    with decimal.localcontext() as context:
        context.prec = precision + 10
        exact = decimal.Decimal(value.numerator) / decimal.Decimal(value.denominator)
    return _decimal_text(f"{exact:.{precision}g}")


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
