"""Formula steps for tests/equation_truth.py: in a run with symbols (docs/symbolic.md) a step
``y_11 = x_11·w_11 + … = w_11·x_11 + …`` is a polynomial identity.  A part that reads as a
polynomial of the symbols the JSON results use (· for *, ^ for **, − for -) is a formula;
the formulas of one equation must expand to the same polynomial, and a left side naming a
result entry must equal that entry's formula."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_FORMULA_TEXT = re.compile(r"[A-Za-z0-9_ +\-*/().]+")


def _read(text: str) -> Any | None:
    """``text`` as a SymPy polynomial, or None (not a formula of names and numbers)."""
    import sympy

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


def formula(part: str, symbols: set[Any]) -> Any | None:
    """A part of an equation as a polynomial of ``symbols``, or None (numbers only, words,
    ∂ or Σ, or names that are labels, not symbols)."""
    value = _read(part)
    if value is None or not value.free_symbols or not value.free_symbols <= symbols:
        return None
    return value


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
