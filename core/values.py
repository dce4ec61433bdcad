"""Reading numbers and arrays from plain spec data, exactly.

Integers, decimals, exponent strings ("1e-6") and fraction strings ("1/4") all
become :class:`fractions.Fraction`, so a homework problem stays exact end to end.
Arrays of them are NumPy ``object`` arrays of ``Fraction``.
"""

from __future__ import annotations

import math
import re
import sys
import weakref
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.errors import FieldPath, SpecError
from gradcalc.core.float_source import (
    float_source,
    remember_floats,
    rounds_each_once,
    shortest_fraction,
)
from gradcalc.core.patterns import LazyPattern, number_exponent
from gradcalc.core.words import entries, number_text

Number = Fraction | float

# "1/4", "-3", "0.25", "1e-6", "+2.5E3", " 3 / 4 "; no "nan" / "inf" spellings.  The minus
# sign U+2212 "−" counts as "-": gradcalc prints it, so its own output pastes back in.  Digits
# are ASCII only ("\d" would take "１" and other Unicode digits, which Fraction reads).
_MINUS = "\u2212"
# The signs a number may start with, for the checks that text looks like a whole number.
SIGNS = "+-" + _MINUS
# A whole number has no leading zeros ("010": YAML 1.1 reads it as octal 8, other readers as
# 10; gradcalc refuses it and names both, see number_form_problem).
_NUMBER_SOURCE = (
    r"^\s*[-+\u2212]?([0-9]+\.[0-9]*|\.[0-9]+|0|[1-9][0-9]*)([eE][-+\u2212]?[0-9]+)?"
    r"\s*(/\s*[-+\u2212]?(0|[1-9][0-9]*)\s*)?$"
)
_NUMBER_TEXT = LazyPattern(_NUMBER_SOURCE)
# The same for text with no U+2212 (parse_number writes it as "-" first), as
# core/patterns.py number_exponent reads it with str methods (compiling the pattern took
# 0.3 ms of a run whose spec writes one number as text, "1e-9"; tests/test_str_patterns.py
# holds the two to each other).
_ASCII_SIGN_NUMBER_TEXT = LazyPattern(_NUMBER_SOURCE.replace(r"\u2212", ""))
_INT_TEXT = LazyPattern(r"^\s*[-+\u2212]?[0-9]+\s*$")
# The same rule for the JSON Schema of a spec (core/schema.py): an ECMA-262 regex as well.
NUMBER_TEXT_PATTERN = _NUMBER_SOURCE

# Python's Fraction accepts exponents of any size; "1e999999999" would build a
# number with a billion digits.  Nothing a homework needs comes close to these
# bounds, and they keep every product of two entries finite in float64.
_MAX_EXPONENT = 300
MAX_MAGNITUDE = 10**100
_MAGNITUDE_TEXT = "1e100"


def describe(value: Any) -> str:
    """A short description of a value of the wrong type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean (true/false)"
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:27] + "..."
        return f"the text {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, np.ndarray):
        return "an array"
    if isinstance(value, (int, float, Fraction, np.number)):
        return number_text(value)
    return str(value)


# Numbers written as text, already read (Fractions are immutable, so safe to share).
_TEXT_NUMBERS: dict[str, Fraction] = {}


ANY_NUMBER = 'a number such as 2, -0.5, 1e-6 or "1/4"'


def parse_number(
    value: Any, path: FieldPath, *, what: str = "a number", allowed: str = ANY_NUMBER
) -> Fraction:
    """Read one number exactly.

    Accepts int, Fraction, finite float (read through its shortest repr, so 0.1
    is 1/10) and numeric text ("1/4", "1.5/2", "1e-6", "−1" with the minus sign
    U+2212).  Booleans, null, NaN, infinities, magnitudes above 1e100 and digits
    other than ASCII 0-9 are errors.  ``allowed`` is what the error says is allowed
    (for a number with a lower bound: examples within it).
    """
    if isinstance(value, bool) or value is None:
        raise SpecError(path, f"expected {what}, got {describe(value)}; allowed: {allowed}")
    if isinstance(value, int):
        return _bounded(Fraction(value) if abs(value) <= MAX_MAGNITUDE else value, path)
    if isinstance(value, Fraction):
        return _bounded(value, path)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpecError(path, f"{value} is not allowed: entries must be finite numbers")
        # float(): NumPy's float64 is a float too, but its repr is np.float64(…) (NumPy 2)
        return _bounded(shortest_fraction(float(value)), path)
    if isinstance(value, np.generic):
        return parse_number(value.item(), path, what=what, allowed=allowed)
    if isinstance(value, str):
        known = _TEXT_NUMBERS.get(value)
        if known is not None:
            return known
        text = value.strip()
        if not text.isascii():
            _check_characters(text, path)
            text = text.replace(_MINUS, "-")
        if text.lower().lstrip("+-").strip() in ("nan", "inf", "infinity", ".nan", ".inf"):
            raise SpecError(path, f"{text!r} is not allowed: entries must be finite numbers")
        exponent = number_exponent(text)  # no U+2212 left in text
        if exponent is not None:
            if len(text) > 400:
                raise SpecError(
                    path, f"a number written with {len(text)} characters is too long (at most 400)"
                )
            if exponent and abs(int(exponent)) > _MAX_EXPONENT:
                raise SpecError(
                    path, f"{text!r}: exponents beyond ±{_MAX_EXPONENT} are not supported"
                )
            numerator, _, denominator = text.replace(" ", "").partition("/")
            result = Fraction(numerator)
            if denominator:
                if Fraction(denominator) == 0:
                    raise SpecError(path, f"{text!r} divides by zero")
                result /= Fraction(denominator)
            result = _bounded(result, path)
            if len(_TEXT_NUMBERS) < 10_000:
                _TEXT_NUMBERS[value] = result  # "1/4" recurs across a folder of specs
            return result
        problem = number_form_problem(text)
        if problem is not None:
            raise SpecError(path, problem)
        raise SpecError(path, f"expected {what}, got {describe(value)}; allowed: {allowed}")
    raise SpecError(path, f"expected {what}, got {describe(value)}; allowed: {allowed}")


# Spellings of numbers that YAML 1.1 (PyYAML) or Python read but gradcalc does not: a spec
# file and an option must give the same number, and "stride: 010" being 8 in a file but 10 on
# the command line is a wrong answer nobody notices.  Each is refused with its fix named.
_PREFIXED = LazyPattern(r"0([xXoObB])([0-9a-zA-Z_]*)")
_BASES = {"x": (16, "hexadecimal"), "o": (8, "octal"), "b": (2, "binary")}
_SEXAGESIMAL = LazyPattern(r"[0-9_]+(?::[0-9_]*)+(?:\.[0-9_]*)?")
_LEADING_ZEROS = LazyPattern(r"([-+\u2212]?)0+([0-9]+)((?:[eE][-+\u2212]?[0-9]+)?)")
# Values are worked out for the message only for short texts: the check stays linear.
_SHOWN_DIGITS = 60


def number_form_problem(text: str) -> str | None:
    """Why ``text`` is a number gradcalc refuses to read, with the fix; None when it is not
    one of those spellings: hexadecimal, octal or binary (``0x1F``, ``0o17``, ``0b101``),
    base 60 (``1:30``, YAML 1.1's 90), underscores (``1_000``) and leading zeros (``010``,
    which YAML 1.1 reads as octal 8 and everything else as 10)."""
    text = text.strip()
    sign = text[:1] if text[:1] in SIGNS else ""
    body = text[len(sign) :]
    minus = "-" if sign in ("-", _MINUS) else ""
    short = len(text) <= _SHOWN_DIGITS
    shown = repr(text) if short else repr(text[:_SHOWN_DIGITS] + "…")
    prefixed = _PREFIXED.fullmatch(body)
    if prefixed is not None:
        base, name = _BASES[prefixed[1].lower()]
        digits = prefixed[2].replace("_", "")
        try:
            value = int(digits, base) if short and digits else None
        except ValueError:
            value = None
        fix = f"write {minus}{value}; " if value is not None else ""
        return f"{shown}: {fix}{name} numbers are not read (write numbers in decimal)"
    if ":" in body and _SEXAGESIMAL.fullmatch(body):
        parts = body.replace("_", "").split(":")
        fix = ""
        # Every part a number ("1:30", "1:30.5"), else no fix is named ("0:.", "1::2").
        if short and all(re.fullmatch(r"[0-9]+(\.[0-9]*)?|\.[0-9]+", part) for part in parts):
            value = Fraction(0)
            for part in parts:
                value = value * 60 + Fraction(part)
            number = value.numerator if value.denominator == 1 else float(value)
            fix = f"write {minus}{number} if base 60 was meant"
            if len(parts) == 2 and parts[1].isdigit():
                fix += f", or {minus}{parts[0]}/{parts[1]} for a fraction"
            fix += "; "
        return f"{shown}: {fix}base-60 numbers (YAML 1.1's 1:30 = 90) are not read"
    if "_" in text:
        plain = text.replace("_", "")
        fix = f"write {plain}; " if short and _NUMBER_TEXT.match(plain) else ""
        return f"{shown}: {fix}underscores are not read in numbers"
    parts = [part.strip() for part in text.split("/", 1)]
    if any(_LEADING_ZEROS.fullmatch(part) for part in parts):
        fixed = "/".join(_LEADING_ZEROS.sub(r"\1\2\3", part) for part in parts)
        octal = _LEADING_ZEROS.fullmatch(text)
        if short and octal is not None and not octal[3] and set(octal[2]) <= set("01234567"):
            as_octal = f"{octal[1]}{int(octal[2], 8)}"
            if as_octal != fixed:
                return (
                    f"{shown}: write {fixed}, or {as_octal} if octal was meant; "
                    "leading zeros are not read as octal"
                )
        fix = f"write {fixed}; " if short else ""
        return f"{shown}: {fix}a whole number may not start with 0 (nor is it read as octal)"
    return None


_OTHER_DASHES = "‐‑‒–—―－﹣"


def _check_characters(text: str, path: FieldPath) -> None:
    """Refuse Unicode digits ("１", "٣", "²") and dashes other than the minus sign ("–2"):
    Python reads some digits as numbers, but a spec or command line that holds them was most
    likely not typed as meant; say which character it is."""
    for char in text:
        if not char.isascii() and (char.isdigit() or char.isdecimal()):
            raise SpecError(
                path,
                f"{text!r} has the digit {char!r} (U+{ord(char):04X}); use ASCII digits 0-9",
            )
        if char in _OTHER_DASHES:  # pasted from a word processor: a minus sign was meant
            raise SpecError(
                path,
                f"{text!r} has the dash {char!r} (U+{ord(char):04X}); write a minus sign as - "
                "(or −)",
            )


def looks_numeric(text: str) -> bool:
    """True when ``text`` starts like a number (a sign, a digit of any script, or ``.5``):
    a field that also takes words ("global", "same") reads it as a number, so ``1e3`` is
    read (or refused with its reason) the same in every field."""
    body = text.strip().lstrip(SIGNS)
    return body[:1].isdigit() or (body[:1] == "." and body[1:2].isdigit())


def _bounded(number: Fraction | int, path: FieldPath) -> Fraction:
    if not -MAX_MAGNITUDE <= number <= MAX_MAGNITUDE:
        raise SpecError(
            path, f"numbers larger than {_MAGNITUDE_TEXT} in magnitude are not supported"
        )
    return number if type(number) is Fraction else Fraction(number)


# The largest size, stride, padding, dilation or divisor a spec may give: these reach NumPy's
# 64-bit integers (C longs), so they are kept far enough below 2^63 that sums and products
# of a few of them stay exact too.  Nothing a worked problem needs comes near it.
MAX_INDEX = 2**31 - 1
MAX_INDEX_TEXT = "2147483647 (2^31 − 1)"


def parse_int(
    value: Any,
    path: FieldPath,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    what: str = "an integer",
) -> int:
    """Read a whole number (``2``, ``2.0``, ``1e3`` and ``"2"`` are fine; ``2.5`` is not),
    at least ``minimum`` and at most ``maximum`` (:data:`MAX_INDEX` names its limit)."""
    if type(value) is int and -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
        # An int (not a bool) within bounds reads as itself: what parse_number's Fraction of
        # it gives back, without making one (every spec's index_base, sizes and strides).
        return _int_within(value, path, minimum, maximum, what)
    if isinstance(value, str) and not _INT_TEXT.match(value) and not _NUMBER_TEXT.match(value):
        if not value.isascii():
            _check_characters(value.strip(), path)
        problem = number_form_problem(value)
        raise SpecError(path, problem or f"expected {what}, got {describe(value)}")
    try:
        number = parse_number(value, path, what=what)
    except SpecError as error:
        if not error.message.startswith("expected"):
            raise  # "'010': write 10, …", "numbers larger than 1e100 …": they say what is wrong
        raise SpecError(path, f"expected {what}, got {describe(value)}") from None
    if number.denominator != 1:
        raise SpecError(path, f"expected {what}, got {number_text(number)}")
    return _int_within(int(number), path, minimum, maximum, what)


def _int_within(
    result: int, path: FieldPath, minimum: int | None, maximum: int | None, what: str
) -> int:
    """``result`` when it lies within ``minimum`` and ``maximum`` (each None: no bound)."""
    if minimum is not None and result < minimum:
        raise SpecError(path, f"{what} must be at least {minimum}, got {result}")
    if maximum is not None and result > maximum:
        limit = MAX_INDEX_TEXT if maximum == MAX_INDEX else str(maximum)
        raise SpecError(path, f"{what} must be at most {limit}, got {result}")
    return result


def parse_bool(value: Any, path: FieldPath) -> bool:
    if isinstance(value, bool):
        return value
    raise SpecError(path, f"expected true or false, got {describe(value)}")


def parse_array(
    value: Any,
    path: FieldPath,
    *,
    ndims: tuple[int, ...],
    what: str,
    max_elements: int,
    symbols: bool | frozenset[str] = False,
) -> np.ndarray:
    """Read a nested list into an object array of Fractions.

    ``ndims`` lists the allowed numbers of dimensions (a bare number counts as
    0-D).  Ragged rows, wrong depth and bad entries are reported at the
    offending row or entry.  With ``symbols``, an entry may be a name or a formula
    (``b11``, ``2*w_1``): a SymPy expression (core/symbolic.py); a set of names allows those
    names only (the spec's ``symbols``), True any name.
    """
    allowed_dims = " or ".join(f"{d}-D" for d in ndims)
    if isinstance(value, np.ndarray):  # a net passes a layer's output on (never a spec file)
        read = _read_ndarray(value, ndims, max_elements)
        if read is not None:
            return read
        value = value.tolist()  # read as written out, with the same checks and messages
    if not isinstance(value, (list, tuple)):
        if 0 in ndims:
            return np.array(_entry_reader(symbols)(value, path), dtype=object)
        problem = number_form_problem(value) if isinstance(value, str) else None
        if problem is not None:
            raise SpecError(path, problem)
        raise SpecError(
            path,
            f"{what} must be a {allowed_dims} matrix (nested lists of numbers), got {describe(value)}",
        )
    shape = _infer_shape(value, path, what)
    if len(shape) not in ndims:
        raise SpecError(
            path,
            f"{what} has {len(shape)} dimension{'s' if len(shape) != 1 else ''} "
            f"(shape {'×'.join(map(str, shape))}); allowed: {allowed_dims}",
        )
    size = math.prod(shape)
    if size == 0:
        raise SpecError(path, f"{what} is empty; give at least one number")
    if size > max_elements:
        from gradcalc.core.errors import LimitError

        raise LimitError(
            path,
            f"{what} has {size} entries, above the limit of {max_elements} (raise it with --max-elements)",
        )
    fast = _fast_integer_array(value, shape)
    if fast is not None:
        return _read_already(fast)
    flat: list[Fraction] = []
    _flatten(value, path, flat, {}, _entry_reader(symbols))
    array = np.empty(size, dtype=object)
    array[:] = flat
    return _read_already(array.reshape(shape))


# Object arrays parse_array and ``read_floats`` made (keyed by id): read already (Python
# ints, or Fractions, within MAX_MAGNITUDE), so a net handing one to a layer takes it as it
# is, without comparing every entry with the bounds again (a Fraction comparison is a
# microsecond or more).
_READ_FLOATS: weakref.WeakValueDictionary[int, np.ndarray] = weakref.WeakValueDictionary()


def _read_already(array: np.ndarray) -> np.ndarray:
    _READ_FLOATS[id(array)] = array
    return array


def read_floats(
    values: np.ndarray, known: dict[float, Fraction] | None = None
) -> np.ndarray | None:
    """A float64 array read exactly as parse_array reads a list of its values: each entry
    the Fraction of its shortest repr (0.1 is 1/10; -0.0 is 0), without writing the lists
    out (equal values are read once; ``known`` holds those read before, and takes the
    new ones: a net's arrays share most of their values, relu's output its input's).
    None when an entry is not finite or above 1e100 in magnitude: reading its lists then
    says so."""
    with np.errstate(invalid="ignore"):
        if values.ndim == 0 or not np.all(np.abs(values) <= MAX_MAGNITUDE):
            return None
    known = {} if known is None else known
    flat = []
    for value in values.ravel().tolist():
        number = known.get(value)
        if number is None:
            number = known[value] = shortest_fraction(value)
        flat.append(number)
    read = np.empty(values.size, dtype=object)
    read[:] = flat
    read = read.reshape(values.shape)
    _READ_FLOATS[id(read)] = read
    remember_floats(read, (values + 0.0).ravel())
    return read


def _read_ndarray(value: np.ndarray, ndims: tuple[int, ...], max_elements: int) -> Any:
    """An array a net hands from one layer to the next, without writing it out as lists:

    - exact values (an object array of Python ints, or of Fractions) as they are: what
      reading them from lists gives (a mix of ints and Fractions is not: ints read as
      Fractions there);
    - float64 values as float64, -0.0 as 0.0: what reading each one exactly (from its
      shortest repr) and rounding it back gives.  Callers that keep exact values (to show
      them) pass ``values.tolist()`` instead.

    None when the array needs the checked path (wrong dimensions, too many entries, a
    non-finite or too large value): reading its lists raises the error there."""
    if value.ndim == 0 or value.ndim not in ndims or not 0 < value.size <= max_elements:
        return None
    if value.dtype == float:
        with np.errstate(invalid="ignore"):
            fits = np.all(np.abs(value) <= MAX_MAGNITUDE)  # False for nan and inf too
        return value + 0.0 if fits else None
    if value.dtype != object:
        return None
    if _READ_FLOATS.get(id(value)) is value:
        copy = value.copy()
        floats = float_source(value)
        if floats is not None:
            _READ_FLOATS[id(copy)] = copy
            remember_floats(copy, floats.ravel())
        return copy
    kinds = set(map(type, value.ravel().tolist()))
    if kinds <= {int} or kinds <= {Fraction}:
        fits = -MAX_MAGNITUDE <= value.min() and value.max() <= MAX_MAGNITUDE
        return value.copy() if fits else None
    if holds_formulas(value):
        # A net's layer output of formulas (core/symbolic.py: ints, Fractions and tidy
        # polynomials, each already checked), whatever names the next layer declares.
        return value.copy()
    return None


def _fast_integer_array(value: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """The common case, a regular matrix of plain integers, without a Python loop per entry.

    Python ints are exact values just like Fractions (both have numerator and
    denominator), so they are kept as they are.  Anything else returns None
    and goes through the checked per-entry path, which also locates errors.
    """
    try:
        array = np.array(value, dtype=object)
    except ValueError:
        return None
    if array.shape != shape:
        return None
    flat = array.ravel().tolist()
    if set(map(type, flat)) <= {int} and max(map(abs, flat), default=0) <= MAX_MAGNITUDE:
        return array
    return None


def _infer_shape(value: Any, path: FieldPath, what: str) -> tuple[int, ...]:
    """Shape of a nested list, following its first elements; raggedness is checked later."""
    shape: list[int] = []
    node = value
    depth = 0
    while isinstance(node, (list, tuple)):
        shape.append(len(node))
        depth += 1
        if depth > 8:
            raise SpecError(path, f"{what} is nested more than 8 levels deep")
        if not node:
            break
        node = node[0]
    _check_regular(value, path, tuple(shape), what)
    return tuple(shape)


def _check_regular(value: Any, path: FieldPath, shape: tuple[int, ...], what: str) -> None:
    """Raise at the first row whose length or depth differs from ``shape``."""
    if not shape:
        if isinstance(value, (list, tuple)):
            raise SpecError(
                path,
                f"{_named(what, path)}expected a number here, got a list (rows nested unevenly)",
            )
        return
    if not isinstance(value, (list, tuple)):
        raise SpecError(
            path,
            f"{_named(what, path)}expected a row of {entries(shape[0])} here, got {describe(value)} (ragged matrix)",
        )
    if len(value) != shape[0]:
        raise SpecError(
            path,
            f"{_named(what, path)}this row has {len(value)} entr{'y' if len(value) == 1 else 'ies'} but the first row has {shape[0]}; "
            "every row must have the same length",
        )
    for i, item in enumerate(value):
        _check_regular(item, (*path, i), shape[1:], what)


def _named(what: str, path: FieldPath) -> str:
    """``what`` as a prefix when the error has no field path (which would name the field)."""
    return "" if path else f"{what}: "


def _flatten(
    value: Any,
    path: FieldPath,
    out: list[Fraction],
    known: dict[float, Fraction],
    entry: Any = parse_number,
) -> None:
    """Every entry read, in order; a float read before (``known``) is not read again."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if type(item) is float and item in known:
                out.append(known[item])
            elif type(item) is float:
                out.append(known.setdefault(item, parse_number(item, (*path, i))))
            else:
                _flatten(item, (*path, i), out, known, entry)
    else:
        out.append(entry(value, path))


def holds_formulas(*values: Any) -> bool:
    """Whether any of ``values`` (arrays, entries) holds a SymPy formula (core/symbolic.py);
    False at once while SymPy was never imported, so a numeric run loads nothing for it."""
    if "sympy" not in sys.modules:
        return False
    from gradcalc.core import symbolic

    return symbolic.any_symbolic(*values)


def _entry_reader(symbols: bool | frozenset[str]) -> Any:
    """How one entry is read: a number, or with ``symbols`` also a formula (of those names
    only, when a set of them)."""
    if not symbols:
        return parse_number
    allowed = symbols if isinstance(symbols, frozenset) else None
    spent: dict[str, int] = {}  # the expansion work of this array's formulas (read_entry)
    return lambda value, path: _number_or_formula(value, path, allowed, spent)


def _number_or_formula(
    value: Any, path: FieldPath, allowed: frozenset[str] | None, spent: dict[str, int]
) -> Any:
    """A number as ``parse_number`` reads it; text that is no number is read as a formula
    (core/symbolic.py, which imports SymPy only then)."""
    if not isinstance(value, str) or not any(c.isalpha() for c in value):
        return parse_number(value, path)
    text = value.strip().replace(_MINUS, "-")
    if _NUMBER_TEXT.match(text) or text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return parse_number(value, path)  # 1e-6; nan and inf are refused with their reason
    one_token = looks_numeric(text) and re.fullmatch(r"[-+]?[0-9A-Za-z_.:]+", text) is not None
    problem = number_form_problem(text) if one_token else None
    if problem is not None:
        raise SpecError(path, problem)  # 0x1F: a number in another spelling, not a formula
    from gradcalc.core import symbolic

    return symbolic.read_entry(value, path, allowed, spent=spent)


def to_float(array: np.ndarray) -> np.ndarray:
    """Exact values (object array of ints/Fractions) -> float64 array of the same shape.

    ``Fraction.__float__`` goes through Python-level properties (about 3 µs an
    entry); ints convert in C.  So an array of ints converts directly, and a
    Fraction array as numerators over one common denominator.
    """
    array = np.asarray(array)
    if array.dtype != object:
        return array.astype(float)
    known = float_source(array)
    if known is not None and rounds_each_once(known):
        return known.copy()
    flat = array.ravel().tolist()
    if set(map(type, flat)) <= {int}:
        return array.astype(float)
    denominator = 1
    for den in {v.denominator for v in flat}:  # stop early: the lcm of many can be huge
        denominator = math.lcm(denominator, den)
        if denominator >= 2**53:
            break
    if denominator < 2**53:
        numerators = np.array(
            [v.numerator * (denominator // v.denominator) for v in flat], dtype=object
        )
        if all(abs(n) < 2**1000 for n in numerators.tolist()):
            return (numerators.astype(float) / denominator).reshape(array.shape)
    return np.array([float(v) for v in flat], dtype=float).reshape(array.shape)
