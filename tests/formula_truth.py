"""Formula steps for tests/equation_truth.py: in a run with symbols (docs/symbolic.md) a step
``y_11 = x_11·w_11 + … = w_11·x_11 + …`` is a polynomial identity.  A part that reads as a
polynomial of the symbols the JSON results use (· for *, ^ for **, − for -) is a formula;
the formulas of one equation must expand to the same polynomial, and a left side naming a
result entry must equal that entry's formula.

With --decimal the numbers of a step are rounded decimals beside the exact coefficients of
the formulas (``x_00·1·1.33333 = 4·x_00/3``): each decimal is read as a placeholder name
(``decimal_0``) that stands for every number rounding to it, and two formulas agree when each
coefficient of their difference can be 0 for some such numbers (tests/equation_truth.py
bounds the coefficients)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_FORMULA_TEXT = re.compile(r"[A-Za-z0-9_ +\-*/().]+")
DECIMAL = re.compile(r"(?<![A-Za-z0-9_.])\d+\.\d+(?:e[−-]?\d+)?")
DECIMAL_PREFIX = "decimal_"


def _read(text: str, decimals: dict[str, str] | None = None) -> Any | None:
    """``text`` as a SymPy polynomial, or None (not a formula of names and numbers).  With
    ``decimals``, each decimal number becomes a placeholder symbol, its text kept there."""
    import sympy

    if decimals is not None:

        def placeholder(match: re.Match[str]) -> str:
            name = f"{DECIMAL_PREFIX}{len(decimals)}"
            decimals[name] = match.group(0)
            return name

        text = DECIMAL.sub(placeholder, text)
    text = text.strip().replace("·", "*").replace("−", "-").replace("^", "**")
    if not text or not _FORMULA_TEXT.fullmatch(text) or "**-" in text:
        return None
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    local = {name: sympy.Symbol(name, real=True) for name in names}
    try:
        value = sympy.parse_expr(text, local_dict=local, evaluate=True)
    except Exception:  # noqa: BLE001 - any text SymPy cannot read is not a formula
        return None
    return value if value.is_polynomial() else None


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def formula_symbols(results: Mapping[str, Any] | None) -> set[Any]:
    """The symbols of the JSON results' formula entries (empty without symbols)."""
    found: set[Any] = set()
    for value in (results or {}).values():
        for text in _strings(value):
            formula = _read(text)
            if formula is not None:
                found |= formula.free_symbols
    return found


def formula(part: str, symbols: set[Any], decimals: dict[str, str] | None = None) -> Any | None:
    """A part of an equation as a polynomial of ``symbols``, or None (numbers only, words,
    ∂ or Σ, or names that are labels, not symbols).  With ``decimals``, its decimal numbers
    are placeholders (see the module docstring), named with their texts in ``decimals``."""
    value = _read(part, decimals)
    if value is None:
        return None
    names = {s for s in value.free_symbols if not s.name.startswith(DECIMAL_PREFIX)}
    if not names or not names <= symbols:
        return None
    return value


def difference_coefficients(left: Any, right: Any) -> list[Any]:
    """The coefficients of ``left − right`` as a polynomial of the problem's symbols (not the
    decimal placeholders): each a polynomial of the placeholders, rational without them."""
    import sympy

    difference = sympy.expand(left - right)
    names = [s for s in difference.free_symbols if not s.name.startswith(DECIMAL_PREFIX)]
    if not names:
        return [difference]
    return sympy.Poly(difference, *sorted(names, key=str)).coeffs()


def same(left: Any, right: Any) -> bool:
    import sympy

    return sympy.expand(left - right) == 0


def entry_formula(entry: Any) -> Any | None:
    """A JSON result entry as a polynomial (a number too), or None."""
    import sympy

    if isinstance(entry, str):
        return _read(entry)
    if isinstance(entry, (int, float)):
        return sympy.nsimplify(entry)
    return None
