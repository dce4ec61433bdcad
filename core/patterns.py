"""Regular expressions compiled on first use, not at import.

Compiling a pattern costs 0.05-0.5 ms (more with ranges beyond U+00FF), and the modules
every command imports hold dozens that a run seldom needs (hexadecimal and sexagesimal
numbers, inline matrices, --focus targets, "2x1" pairs).  A :class:`LazyPattern` stands
where the compiled pattern would; its first use compiles it.

The few patterns every run uses and that say something simple (a whole number, an
identifier) are tested with str methods instead (:func:`is_whole_number`,
:func:`is_decimal_fraction`, :func:`is_ascii_name`, :func:`number_exponent`): no pattern is compiled for them at all.  Each answers as its pattern
did on any text (tests/test_str_patterns.py), Unicode digits and letters included:
``str.isdigit`` takes "²" and Arabic digits, ``str.isidentifier`` non-ASCII letters, so both
are asked only of ASCII text.
"""

from __future__ import annotations

import re
from typing import Any

# What a pattern is used for; each is copied into the instance's dict at the first use, so
# later uses find it there directly, as fast as on the compiled pattern itself.
_ATTRIBUTES = (
    "match",
    "fullmatch",
    "search",
    "sub",
    "subn",
    "split",
    "findall",
    "finditer",
    "pattern",
    "flags",
    "groups",
    "groupindex",
)


class LazyPattern:
    """``re.compile(pattern, flags)``, compiled the first time one of its attributes is
    read (``LazyPattern(r"[0-9]+").fullmatch(text)``)."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._source = (pattern, flags)

    def __getattr__(self, name: str) -> Any:
        compiled = re.compile(*self._source)
        for attribute in _ATTRIBUTES:
            self.__dict__[attribute] = getattr(compiled, attribute)
        return getattr(compiled, name)


def is_whole_number(text: str, *, signs: str = "", most_digits: int | None = None) -> bool:
    """True when ``text`` is a whole number with no leading zero, optionally after one sign
    from ``signs``, of at most ``most_digits`` ASCII digits: ``re.fullmatch(r"[-+]?(0|[1-9][0-9]*)",
    text)`` for ``signs="-+"``, with ``{0,most_digits-1}`` for the ``*``."""
    digits = text[1:] if text and text[0] in signs else text
    return (
        digits.isascii()
        and digits.isdigit()  # ASCII by now: 0-9 only
        and (digits[0] != "0" or len(digits) == 1)
        and (most_digits is None or len(digits) <= most_digits)
    )


def _unsigned(text: str) -> str:
    """``text`` without its one leading "-" or "+", if it has one."""
    return text[1:] if text[:1] in ("-", "+") else text


def _is_pointed(mantissa: str) -> bool:
    r"""True when ASCII ``mantissa`` is digits with one point, a digit on one side at least:
    ``[0-9]+\.[0-9]*|\.[0-9]+``."""
    whole, point, fraction = mantissa.partition(".")
    return bool(point and (whole or fraction)) and all(
        part.isdigit() for part in (whole, fraction) if part
    )


def is_decimal_fraction(text: str) -> bool:
    r"""True when ``text`` is a decimal with a point and an optional exponent:
    ``re.fullmatch(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", text)``."""
    if not text.isascii():  # then isdigit is 0-9 only, and lower() keeps every length
        return False
    mantissa, e, exponent = _unsigned(text).lower().partition("e")
    return _is_pointed(mantissa) and (not e or _unsigned(exponent).isdigit())


def number_exponent(text: str) -> str | None:
    """The exponent of a number written as ``text`` with no U+2212 ("-9" for "1e-9", "" for a
    number without one), or None when core/values.py's number rule without U+2212
    (_ASCII_SIGN_NUMBER_TEXT) does not take the text: an optional sign, digits with at most
    one point (a whole number without a leading zero), an optional exponent, optionally "/"
    and a whole number, spaces around the slash and the whole."""
    number, slash, denominator = text.strip().partition("/")
    number = number.rstrip()
    if (slash and not is_whole_number(denominator.lstrip(), signs="-+")) or not number.isascii():
        return None
    mantissa, e, exponent = _unsigned(number).lower().partition("e")
    if e and not _unsigned(exponent).isdigit():
        return None  # isdigit on ASCII text: 0-9 only
    taken = _is_pointed(mantissa) if "." in mantissa else is_whole_number(mantissa)
    return exponent if taken else None


def is_ascii_name(text: str) -> bool:
    """True when ``text`` is an ASCII identifier: ``re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*",
    text)`` (``isidentifier`` alone would take non-ASCII letters)."""
    return text.isascii() and text.isidentifier()
