"""Reading a tensor field that may hold symbols (core/symbolic.py): ``symbolic 3x3``, or a
matrix mixing names, formulas and numbers.  SymPy is imported only when one is met.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from gradcalc.core.errors import FieldPath, LimitError, SpecError
from gradcalc.core.spec import Limits, read_index_base
from gradcalc.core.values import describe, holds_formulas, parse_array, parse_bool

# The upstream's symbols when it is `symbolic`: g_ij = ∂L/∂y_ij (docs/symbolic.md).
UPSTREAM_SYMBOL = "g"
SYMBOLIC_PREFIX = "symbolic"


def plain_name(name: str) -> bool:
    """A name a formula can be written with: letters, digits and _ as the formula reader
    (core/expr_tokens.py) reads them.  Python names may also hold a middle dot (w·x), which
    a table would show as the product w·x."""
    from gradcalc.core.expr_parse import valid_name

    return valid_name(name) and all(c.isalnum() or c == "_" for c in name)


def read_flat_index(spec: Mapping[str, Any]) -> bool:
    """``flat_index: true``: symbols of a ``symbolic`` field carry one row-major index."""
    value = spec.get("flat_index")
    return False if value is None else parse_bool(value, ("flat_index",))


def read_declared(spec: Mapping[str, Any]) -> frozenset[str]:
    """``symbols: [b11, b12]`` (or "b11 b12", "b11, b12"): the names a matrix entry may use.
    Without it an entry must be a number, so that a typo (O for 0) is an error, not a
    symbol."""
    value = spec.get("symbols")
    if value is None:
        return frozenset()
    words = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(words, list) or not words:
        raise SpecError(
            ("symbols",),
            f"symbols must be a list of names such as [b11, b12], got {describe(value)}",
        )
    from gradcalc.core.expr_parse import RESERVED_NAMES

    for i, word in enumerate(words):
        if not isinstance(word, str) or not plain_name(word) or word in RESERVED_NAMES:
            raise SpecError(
                ("symbols", i),
                f"a symbol is a name of letters, digits and _ (not pi, e or a function's), "
                f"got {describe(word)}",
            )
    return frozenset(words)


def naming(spec: Mapping[str, Any], names: Mapping[str, str], role: str) -> dict[str, Any]:
    """How a field of ``role`` reads symbols (:func:`read_tensor`'s keywords): the role's
    symbol, the index base and whether one flat index is used (``symbolic``), and the names
    entries may use (``symbols``)."""
    if role == "output":
        _check_upstream_symbol(spec, names)
    return {
        "symbol": names[role],
        "index_base": read_index_base(spec),
        "flat_index": read_flat_index(spec),
        "declared": read_declared(spec),
    }


def _check_upstream_symbol(spec: Mapping[str, Any], names: Mapping[str, str]) -> None:
    """A ``symbolic`` upstream's entries are g_ij = ∂L/∂y_ij: another role also written g
    would make its entries the same symbols, and every derivative shown false."""
    upstream = spec.get("upstream")
    if not (isinstance(upstream, str) and upstream.strip().startswith(SYMBOLIC_PREFIX)):
        return
    for role, symbol in names.items():
        if role != "output" and symbol == UPSTREAM_SYMBOL:
            raise SpecError(
                ("names", role),
                f"a symbolic upstream names its entries {UPSTREAM_SYMBOL}_… (∂L/∂y), and "
                f"{role} is also written {UPSTREAM_SYMBOL!r}; give {role} another symbol",
            )


def answer_names(spec: Mapping[str, Any], *arrays: Any) -> frozenset[str] | bool:
    """The names an ``expected`` formula may use: the problem's symbols and the declared
    ones; False (numbers only) when the problem holds no symbol."""
    if not holds_formulas(*arrays):
        return False
    from gradcalc.core import symbolic

    present = symbolic.symbols_of(*(a for a in arrays if a is not None))
    return frozenset(s.name for s in present) | read_declared(spec)


def _written_shape(value: Any, path: FieldPath) -> tuple[int, ...] | bool:
    """The shape a ``symbolic 3x3`` text writes (() for ``symbolic`` alone), else False."""
    if not (isinstance(value, str) and value.lstrip().startswith("symbolic")):
        return False
    from gradcalc.core.symbolic import symbolic_shape

    written = symbolic_shape(value)
    if written is False and re.match(r"\s*symbolic\b", value):
        raise SpecError(
            path,
            f"{value.strip()!r} is not a symbolic shape; write 'symbolic 3x3' (sizes joined "
            "by x), or 'symbolic' alone where the shape is known (an upstream)",
        )
    return written


def read_tensor(
    value: Any,
    path: FieldPath,
    *,
    ndims: tuple[int, ...],
    what: str,
    limits: Limits,
    symbol: str,
    index_base: int,
    flat_index: bool,
    declared: frozenset[str] = frozenset(),
    shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """A tensor field: numbers, names and formulas (an object array of Fractions and SymPy
    expressions), or ``symbolic`` / ``symbolic 3x3``: every entry the symbol
    ``symbol_ij…`` (core/symbolic.symbol_array).  Entries may name the ``declared`` symbols
    only.  ``shape`` is the field's shape when the problem fixes it (an upstream's), which
    ``symbolic`` may then leave out."""
    written = _written_shape(value, path)
    if written is False:
        return parse_array(
            value,
            path,
            ndims=ndims,
            what=what,
            max_elements=limits.max_elements,
            symbols=declared or False,
        )
    assert isinstance(written, tuple)
    if not written:
        if shape is None:
            raise SpecError(
                path, f"symbolic {what} needs its shape: write e.g. 'symbolic 3x3' (rows x columns)"
            )
        written = shape
    if len(written) not in ndims:
        allowed = " or ".join(f"{d}-D" for d in ndims)
        raise SpecError(path, f"{what} is {len(written)}-D; allowed: {allowed}")
    if shape is not None and written != shape:
        want = "×".join(map(str, shape))
        raise SpecError(path, f"{what} must be {want}, got symbolic {'×'.join(map(str, written))}")
    if math.prod(written) > limits.max_elements or 0 in written:
        # symbolic_shape writes a size of more than 12 digits as 10^12.
        count = f"{math.prod(written):,}" if max(written) < 10**12 or 0 in written else "over 10^12"
        raise LimitError(path, f"{what} has {count} entries (1 to {limits.max_elements:,})")
    if not plain_name(symbol):
        raise SpecError(
            path,
            f"symbolic {what} names its entries {symbol}_…, and {symbol!r} is not a plain name; "
            "give it one under names (letters, digits, _)",
        )
    from gradcalc.core.symbolic import symbol_array

    array = symbol_array(symbol, written, index_base=index_base, flat_index=flat_index)
    _check_not_declared(array, declared, path, f"symbolic {what} names its entries {symbol}_…")
    return array


def _check_not_declared(
    array: np.ndarray, declared: frozenset[str], path: FieldPath, what: str
) -> None:
    """A declared symbol that is also one of ``array``'s entries would be one variable in
    two roles, and every partial derivative shown (each holding the other role fixed)
    false."""
    shared = sorted(declared & {s.name for s in array.ravel().tolist()})
    if shared:
        raise SpecError(
            path,
            f"{what}, and {', '.join(shared)} is also declared under symbols: one name would "
            "be two different entries; rename one",
        )


def numbers_above_cap(
    fields: dict[str, np.ndarray | None], work: int, terms: int
) -> tuple[dict[str, np.ndarray | None], dict[Any, Any], str]:
    """``fields`` as they are, or, when they hold symbols and the run takes more than
    symbolic.MAX_SYMBOLIC_WORK multiply-adds or sums more than symbolic.MAX_TERMS products
    into one entry (``terms``), with every symbol replaced by a random whole number
    (symbolic.random_values).  Returns the fields, the values given ({} when none) and the
    sentence a convention says it with ("" when none)."""
    if not holds_formulas(*fields.values()):
        return fields, {}, ""
    from gradcalc.core import symbolic

    if work <= symbolic.MAX_SYMBOLIC_WORK and terms <= symbolic.MAX_TERMS:
        return fields, {}, ""
    size = (
        f"takes {work:,} multiply-adds, above the symbolic limit of {symbolic.MAX_SYMBOLIC_WORK:,}"
        if work > symbolic.MAX_SYMBOLIC_WORK
        else f"sums up to {terms:,} products into one entry, above the symbolic limit of "
        f"{symbolic.MAX_TERMS:,} terms"
    )
    if _NET_DECIDES:
        # A net's layer: its symbols are also other layers' (its input holds them), so the
        # net gives every symbol one value, for all its layers (core/kinds/net_symbols.py).
        raise OverCap(size)
    given = [a for a in fields.values() if a is not None]
    values = symbolic.random_values(symbolic.symbols_of(*given))
    replaced = {
        name: None if array is None else symbolic.substitute(array, values)
        for name, array in fields.items()
    }
    note = (
        f"symbolic entries, but this run {size} (docs/symbolic.md): every result below is "
        f"for the random values {symbolic.values_text(values)}"
    )
    return replaced, values, note


class OverCap(Exception):
    """A layer of a net (read while :func:`net_decides_cap` is on) is above the symbolic
    limits; ``size`` says how, as a capped single layer's note does."""

    def __init__(self, size: str) -> None:
        super().__init__(size)
        self.size = size


# Set while a net reads or runs its layers: a layer above the symbolic limits raises OverCap
# instead of giving its own symbols random values.
_NET_DECIDES: list[bool] = []


@contextmanager
def net_decides_cap() -> Iterator[None]:
    """Layers read inside raise :class:`OverCap` above the symbolic limits."""
    _NET_DECIDES.append(True)
    try:
        yield
    finally:
        _NET_DECIDES.pop()


def answers_at(expected: Any, values: dict[Any, Any]) -> Any:
    """Expected answers with the symbols given ``values`` (the capped run's), in place."""
    if values:
        from gradcalc.core import symbolic

        for name, answer in expected.items():
            expected[name] = symbolic.substitute(answer, values)
    return expected
