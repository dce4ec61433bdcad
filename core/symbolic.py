"""Symbolic entries: tensor fields whose entries are names (``w_00``, ``b11``) or formulas.

A conv or dense spec may give a tensor field as ``symbolic`` (every entry a symbol named
from ``names``: ``kernel: symbolic 3x3`` is w_00 … w_22, or w_11 … w_33 with
``index_base: 1``, or w_1 … w_9 with ``flat_index: true`` as well), or as a matrix that
mixes symbols and numbers (``[[b11, b12], [0, 1]]``).  Such a run is one more exactness mode
of the op adapter (core/ops/adapter.py): the ops run on object arrays of SymPy expressions,
and every result entry is expanded (a polynomial in the symbols, collected by monomial);
entries that come out as plain numbers are ints and Fractions again, as in an exact run.

The text syntax of a formula is the one ``gradcalc expr`` reads (core/expr_parse.py):
``+ - * /``, ``**`` or ``^`` for a power, parentheses, numbers as in a spec.  A result is
written in that syntax (JSON, ``expected``), so any output pastes back in.

SymPy is imported only here, and only when a spec holds a symbol: ``is_symbolic`` answers
False without importing it while no symbol was ever read (``"sympy" not in sys.modules``).
"""

from __future__ import annotations

import re
import sys
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.errors import FieldPath, LimitError, SpecError

SYMBOLIC_WORD = "symbolic"
# The most multiply-adds a symbolic run may take (docs/symbolic.md): polynomial arithmetic
# is about 10^3 times slower than exact integers (a 12×12 input with a 3×3 kernel, 900
# multiply-adds, takes about a second), and an answer with more terms is not read anyway.
# Above it the symbols get random values (random_values) and the run is numeric.
MAX_SYMBOLIC_WORK = 5_000
# The most terms one result entry may have once expanded; a longer polynomial is no longer
# a readable answer (docs/symbolic.md).
MAX_TERMS = 200
# The most terms (an upper bound, _terms_bound) a difference of formulas is expanded at to be
# compared exactly: two expanded entries of MAX_TERMS terms each are far below it.
EXACT_TERMS = 20_000
# The most terms expanding one entry read from text may build (_expansion): about 0.2 s.
MAX_ENTRY_WORK = 2_000
# The same for all the formula entries of one array: some 10 s at most.  A symbolic run's
# answers, within MAX_SYMBOLIC_WORK, are a few thousand entries of a few terms each.
MAX_ARRAY_WORK = 60_000
# Random rational points a comparison of two larger formulas evaluates at; each point of a
# nonzero polynomial of degree d over N^2 numerators is a root with probability ≤ d/N^2.
CHECK_POINTS = 8
# How formulas are compared, in the words a failed check prints.
COMPARISON = "the difference must expand to 0"
# `symbolic` or `symbolic 3x3` (compiled on first use: nothing at start-up).
_SHAPE = r"^\s*symbolic(?:\s+([0-9]+(?:\s*[x×]\s*[0-9]+)*))?\s*$"
# A size of more digits is above every limit; int() of 4,300 digits or more raises.
_MAX_SIZE_DIGITS = 12


def is_symbolic(value: Any) -> bool:
    """Whether ``value`` (an array or one entry) holds a SymPy expression that is not a
    number; False at once when SymPy was never imported (no spec held a symbol)."""
    if "sympy" not in sys.modules:
        return False
    import sympy

    if isinstance(value, np.ndarray):
        if value.dtype != object:
            return False
        return any(isinstance(v, sympy.Basic) for v in value.ravel().tolist())
    return isinstance(value, sympy.Basic)


def any_symbolic(*values: Any) -> bool:
    """Whether any of ``values`` (arrays, entries, anything else) is symbolic."""
    return "sympy" in sys.modules and any(is_symbolic(v) for v in values)


def symbolic_shape(value: Any) -> tuple[int, ...] | None | bool:
    """For ``symbolic`` / ``symbolic 3x3`` text: the shape written (() when none), else
    False (the value is not the word)."""
    if not isinstance(value, str):
        return False
    match = re.match(_SHAPE, value)
    if match is None:
        return False
    if match.group(1) is None:
        return ()
    sizes = re.split(r"\s*[x×]\s*", match.group(1).strip())
    # Long sizes are kept within int()'s reach: any of 10^12 entries is refused all the same.
    return tuple(int(n) if len(n) <= _MAX_SIZE_DIGITS else 10**_MAX_SIZE_DIGITS for n in sizes)


def symbol_array(
    name: str, shape: tuple[int, ...], *, index_base: int, flat_index: bool
) -> np.ndarray:
    """An object array of symbols ``name_ij…`` in ``shape``, named as the explanation names
    the entries (w_12: row 1, column 2): indices from ``index_base``, run together while every
    index is one digit, else joined by _ (w_10_2).  With ``flat_index`` (and 2 or more axes)
    one row-major index written without the _ (w1 … w9): w12, the 12th entry, is then never
    read as w_12, the entry in row 1, column 2."""
    import sympy

    flat = flat_index and len(shape) > 1
    lead = name if flat and not name[-1].isdigit() else f"{name}_"
    array = np.empty(shape, dtype=object)
    for position, index in enumerate(np.ndindex(*shape)):
        numbers = (position,) if flat or len(shape) <= 1 else index
        numbers = tuple(n + index_base for n in numbers)
        joiner = "" if all(n < 10 for n in numbers) else "_"
        array[index] = sympy.Symbol(lead + joiner.join(map(str, numbers)), real=True)
    return array


class _EntryNames:
    """Names for :func:`read_entry`: a (real) symbol for any valid name, or for the
    ``allowed`` ones only (the others are unknown names, with a did-you-mean)."""

    symbols: dict[str, Any] = {}

    def __init__(self, allowed: frozenset[str] | None) -> None:
        self.allowed = allowed
        self.describe = "" if allowed is None else "the symbols are those the spec declares"

    def lookup(self, name: str) -> Any | None:
        return None

    def call_error(self, name: str) -> str | None:
        return f"{name!r} is not a function here; entries are numbers, names and + − * / ^"

    def new_symbol(self, name: str) -> Any | None:
        import sympy

        if self.allowed is not None and name not in self.allowed:
            return None
        return sympy.Symbol(name, real=True)

    def known(self) -> list[str]:
        return sorted(self.allowed or ())


def read_entry(
    text: str,
    path: FieldPath,
    allowed: frozenset[str] | None = None,
    *,
    spent: dict[str, int] | None = None,
) -> Any:
    """One entry written as a formula (``b11``, ``2*w_1 - x``): a polynomial, expanded, of
    the ``allowed`` names (None: any).  Functions (sin, exp, …) are refused: the ops here
    are sums of products.  ``spent`` adds up the expansion work of one array's entries
    (under "work"), which MAX_ARRAY_WORK bounds."""
    import sympy

    from gradcalc.core.expr_parse import GenericFunctions, parse

    generic = GenericFunctions(allow_new=False)
    value = parse(text, path, _EntryNames(allowed), generic, what="an entry")  # type: ignore[arg-type]
    if generic.objects or not value.value.is_polynomial():
        raise SpecError(
            path,
            f"{text!r}: an entry is a polynomial: numbers and names joined by + − * and "
            "whole powers ^, divided by numbers only (no functions, no division by a name)",
        )
    if value.value.has(sympy.pi, sympy.E):
        # The ops run over the rationals (evaluate's ring): pi or e there is an internal error.
        raise SpecError(path, f"{text!r}: an entry's numbers are exact (no pi or e)")
    # Expanding (a + b + c + d)**1000 would run for hours: bound the terms first, and the
    # terms built on the way (a sum of 150 powers (a + k)**199 took 7 s).
    terms, work = _expansion(value.value)
    if terms > MAX_TERMS:
        raise LimitError(
            path,
            f"{_short(text)!r} expands to more than {MAX_TERMS:,} terms, above the symbolic limit "
            "(docs/symbolic.md)",
        )
    if work > MAX_ENTRY_WORK:
        raise LimitError(
            path,
            f"{_short(text)!r} builds more than {MAX_ENTRY_WORK:,} terms as it is expanded, above "
            "the symbolic limit (docs/symbolic.md); write the entry expanded",
        )
    if spent is not None:
        spent["work"] = spent.get("work", 0) + work
        if spent["work"] > MAX_ARRAY_WORK:
            raise LimitError(
                path,
                f"the formulas up to here build more than {MAX_ARRAY_WORK:,} terms as they are "
                "expanded, above the symbolic limit (docs/symbolic.md); write them expanded, "
                "or give numbers",
            )
    try:
        return tidy_entry(sympy.expand(value.value))
    except LimitError as error:
        raise LimitError(path, error.message) from None


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _terms_bound(value: Any, cap: int = MAX_TERMS) -> int:
    """An upper bound on the number of terms of ``value`` (a polynomial) once expanded,
    computed without expanding it: the fewer of the terms a product of sums can make and the
    monomials of its degree in its symbols.  Any bound above ``cap`` is cap + 1."""
    return _expansion(value, cap)[0]


def _expansion(value: Any, cap: int = MAX_TERMS) -> tuple[int, int]:
    """(:func:`_terms_bound`, the terms expanding it builds): the sum over the tree's nodes
    of each one's bound, since SymPy expands every power and product of sums on the way,
    at some 100 µs a term."""
    import math

    if not value.is_polynomial():
        return cap + 1, 0
    degree, terms, work = _degree_and_terms(value, cap + 1)
    return min(terms, math.comb(degree + len(value.free_symbols), degree)), work


def _degree_and_terms(value: Any, cap: int) -> tuple[int, int, int]:
    """(total degree, bound on expanded terms, at most ``cap``, and the terms built on the
    way) of a polynomial expression tree; capping keeps the numbers small."""
    import math

    if value.is_Symbol:
        return 1, 1, 1
    if not value.free_symbols:
        return 0, 1, 1
    parts = [_degree_and_terms(a, cap) for a in value.args]
    below = sum(w for _, _, w in parts)
    if value.is_Add:
        terms = min(cap, sum(t for _, t, _ in parts))
        return max(d for d, _, _ in parts), terms, below + terms
    if value.is_Mul:
        terms = min(cap, math.prod(t for _, t, _ in parts))
        return sum(d for d, _, _ in parts), terms, below + terms
    (degree, terms, _), _ = parts
    power = int(value.exp)  # a polynomial's powers are whole numbers ≥ 0
    # k terms to the n: at most C(n + k − 1, k − 1) distinct products (multinomial theorem).
    spread = math.comb(power + terms - 1, terms - 1) if terms <= cap else cap
    # One symbol to the n has n + 1 monomials however many terms its base has.
    if len(value.free_symbols) == 1:
        spread = min(spread, degree * power + 1)
    return degree * power, min(cap, spread), below + min(cap, spread)


def tidy_entry(value: Any) -> Any:
    """An entry as results hold it: a number as an int or a Fraction, a formula expanded
    (collected by monomial); a polynomial of :func:`evaluate`'s ring as a formula."""
    import sympy
    from sympy.polys.rings import PolyElement

    if isinstance(value, PolyElement):
        _check_terms(len(value))
        value = value.as_expr()
    elif isinstance(value, Fraction) and value.denominator == 1:
        return value.numerator  # as an exact run gives a whole number
    elif not isinstance(value, sympy.Basic):
        return value
    else:
        value = sympy.expand(value)
    if value.is_Integer:
        return int(value)
    if value.is_Rational:
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, sympy.Add):
        _check_terms(len(value.args))
    return value


def _check_terms(count: int) -> None:
    if count > MAX_TERMS:
        raise LimitError(
            (),
            f"a result entry has {count:,} terms, above the symbolic limit of {MAX_TERMS:,} "
            "(docs/symbolic.md); give numbers instead of symbols",
        )


def tidy(array: Any) -> Any:
    """``tidy_entry`` on every entry of an object array (a lone formula, such as a sum over
    every axis, as a 0-D array; anything else as it is)."""
    if _is_entry(array):
        array = np.array(array, dtype=object)
    if not isinstance(array, np.ndarray) or array.dtype != object:
        return array
    result = np.empty(array.shape, dtype=object)
    result.ravel()[:] = [tidy_entry(v) for v in array.ravel().tolist()]
    return result


def _is_entry(value: Any) -> bool:
    """A formula or a polynomial ring element, not in an array."""
    return type(value).__module__.startswith("sympy")


def evaluate(function: Any, *operands: Any) -> Any:
    """``function(*operands)`` with every exact array among the operands turned into
    polynomials over QQ in all their symbols (SymPy's sparse ring elements: a sum of 100
    products costs microseconds there, seconds as SymPy expressions), and every array (in
    a tuple or a mapping too) of the result back into tidy entries.  Other operands (a
    geometry, a flag) pass as they are."""
    import sympy
    from sympy.polys.rings import ring

    arrays = [o for o in operands if isinstance(o, np.ndarray) and o.dtype == object]
    names = symbols_of(*arrays)
    polynomials, *_ = ring(names or [sympy.Symbol("_")], sympy.QQ)
    converted = [_into(polynomials, o) for o in operands]
    # An operand handed back as it is (an op's cache holds its input) is the original again.
    originals = {id(new): old for new, old in zip(converted, operands, strict=True)}
    return _back(function(*converted), originals)


def _into(polynomials: Any, value: Any) -> Any:
    """An object array's entries as ring elements (ints stay ints: they mix with them)."""
    if not isinstance(value, np.ndarray) or value.dtype != object:
        return value
    result = np.empty(value.shape, dtype=object)
    result.ravel()[:] = [
        v if type(v) is int else polynomials(_sympy_number(v)) for v in value.ravel().tolist()
    ]
    return result


def _sympy_number(value: Any) -> Any:
    import sympy

    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    return value


def _back(value: Any, originals: dict[int, Any]) -> Any:
    if id(value) in originals:
        return originals[id(value)]
    if _is_entry(value):  # first: a ring element is a dict
        return tidy(value)
    if isinstance(value, tuple):
        return tuple(_back(v, originals) for v in value)
    if isinstance(value, dict):
        return {key: _back(v, originals) for key, v in value.items()}
    if isinstance(value, np.ndarray):
        return tidy(value)
    return value


def text(value: Any) -> str:
    """A formula in the syntax ``expected`` reads (SymPy's, which ``gradcalc expr`` reads):
    w_1*x_1 + 2*w_2, b11**2."""
    import sympy

    return sympy.sstr(value, order="grlex")


def latex(value: Any) -> str:
    """A formula as LaTeX math (no $ around it): w_{1} x_{1} + 2 w_{2}."""
    import sympy

    names = {s: _latex_name(s.name) for s in getattr(value, "free_symbols", ())}
    return sympy.latex(value, order="grlex", symbol_names=names)


def _latex_name(name: str) -> str:
    """A symbol's name as LaTeX that tells it from every other name.  SymPy's own reading
    makes a__b the power a^{b} and typesets W_0_0 as W_{0 0}, which is W_{00} on the page;
    here W_0_0 is W_{0,0}, and a name with an empty part between its _ (a__b, x_) is
    written out in full."""
    import sympy

    parts = name.split("_")
    if any(not part for part in parts):
        return r"\mathit{" + name.replace("_", r"\_") + "}"
    head = sympy.latex(sympy.Symbol(parts[0]))
    if len(parts) == 1:
        return head
    numbered = re.fullmatch(r"(.*?)([0-9]+)", parts[0])
    if numbered is not None:
        # A net's W2_11 (W2: the second layer's weight): SymPy would write w_{2 11}, the
        # head's digits run into the index; here the head keeps them, W2_{11}.
        head = sympy.latex(sympy.Symbol(numbered.group(1))) + numbered.group(2)
    elif len(parts) == 2:
        return sympy.latex(sympy.Symbol(name))
    return head + "_{" + ",".join(parts[1:]) + "}"


def is_sum(value: Any) -> bool:
    """Whether a formula is a sum (needs parentheses as a factor)."""
    import sympy

    return isinstance(value, sympy.Add)


def symbols_of(*arrays: Any) -> list[Any]:
    """Every symbol in ``arrays``, sorted by name."""
    found: set[Any] = set()
    for array in arrays:
        for value in np.asarray(array, dtype=object).ravel().tolist():
            if is_symbolic(value):
                found |= value.free_symbols
    return sorted(found, key=lambda s: s.name)


def equal(left: Any, right: Any, *, seed: int = 0) -> bool:
    """Whether two entries (numbers or formulas) are equal: their difference expands to 0;
    when its expansion could exceed EXACT_TERMS terms, it is evaluated at CHECK_POINTS rational
    points, the same on every run (a nonzero difference of degree d vanishes at a uniformly
    random such point with probability at most d/(2·10^6 + 1), Schwartz–Zippel)."""
    import sympy

    difference = sympy.sympify(left) - sympy.sympify(right)
    # Entries read or computed here are expanded, of at most MAX_TERMS terms each: their
    # difference expands exactly in milliseconds, however many operations it counts.
    if _terms_bound(difference, cap=EXACT_TERMS) <= EXACT_TERMS:
        return sympy.expand(difference) == 0
    import random

    names = sorted(difference.free_symbols, key=lambda s: s.name)
    generator = random.Random(seed)
    for _ in range(CHECK_POINTS):
        point = {s: sympy.Rational(generator.randint(-(10**6), 10**6), 997) for s in names}
        if difference.subs(point) != 0:
            return False
    return True


def substitute(array: np.ndarray, values: dict[Any, Fraction]) -> np.ndarray:
    """Every entry with the symbols replaced by numbers (ints and Fractions)."""
    import sympy

    point = {s: sympy.Rational(v.numerator, v.denominator) for s, v in values.items()}
    result = np.empty(np.shape(array), dtype=object)
    result.ravel()[:] = [
        tidy_entry(sympy.sympify(v).xreplace(point)) if is_symbolic(v) else v
        for v in np.asarray(array, dtype=object).ravel().tolist()
    ]
    return result


def random_values(symbols: list[Any], seed: int = 0) -> dict[Any, Fraction]:
    """A value for each symbol: whole numbers from −9 to 9 other than 0, the same ones on
    every run (``seed``), so that a capped run is reproducible."""
    import random

    generator = random.Random(seed)
    return {s: Fraction(generator.choice([-1, 1]) * generator.randint(1, 9)) for s in symbols}


def values_text(values: dict[Any, Fraction], shown: int = 12) -> str:
    """'w_00 = 3, w_01 = −2, … (9 symbols)' for a sentence."""
    items = [f"{s.name} = {v}".replace("-", "−") for s, v in values.items()]
    more = f", … ({len(items)} symbols)" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more
