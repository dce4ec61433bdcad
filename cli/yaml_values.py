"""YAML scalars as gradcalc reads them, and the error a spec file raises.

Shared by the spec loader (cli/spec_loader.py, with the plain reader) and the PyYAML
path (cli/yaml_nodes.py), so that a value reads the same on either: a scalar is typed
as YAML 1.1 types it (:func:`plain_tag` works out PyYAML's resolver for the usual
scalars without importing it) and converted by :func:`scalar_value`, numbers exact.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from gradcalc.core.errors import GradcalcError
from gradcalc.core.patterns import LazyPattern, is_decimal_fraction, is_whole_number

STR_TAG = "tag:yaml.org,2002:str"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
BOOL_TAG = "tag:yaml.org,2002:bool"
NULL_TAG = "tag:yaml.org,2002:null"
SCALAR_TAGS = frozenset((STR_TAG, INT_TAG, FLOAT_TAG, BOOL_TAG, NULL_TAG))
STANDARD_TAGS = SCALAR_TAGS | {"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}


class SpecFileError(GradcalcError):
    """A spec file cannot be read or parsed; carries its own position."""

    def __init__(
        self, source: str, message: str, line: int | None = None, column: int | None = None
    ):
        super().__init__(message)
        self.source = source
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        return f"{where}: {self.message}"


# More than 100 digits in a row, or an exponent of four or more digits (compiled only for a
# text that could hold either: see _number).
_OUTSIZED_NUMBER = LazyPattern(r"[0-9_]{101}|[eE][-+]?0*[0-9]{4}")


# A double-quoted "\ud800" is a lone UTF-16 surrogate to PyYAML's pure-Python reader (LibYAML
# refuses it); on the command line, bytes that are not UTF-8 arrive as surrogates too.  No
# output can encode one, so they are refused where they are read.
def first_surrogate(text: str) -> str | None:
    """The first lone surrogate (U+D800-U+DFFF) in ``text``, or None: the one character
    UTF-8 cannot encode, found by encoding (no pattern to compile: 0.1 ms of start-up)."""
    if text.isascii():  # most text: known without encoding it
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return text[error.start]
    return None


def surrogate_problem(char: str) -> str:
    return (
        f"U+{ord(char):04X} is a lone surrogate, not a character (text must be valid Unicode); "
        "write the character itself, or \\U0001F600 for one beyond U+FFFF"
    )


def _number(text: str, tag: str) -> Any:
    """A scalar YAML 1.1 calls a number, read as gradcalc reads numbers (core/values.py).

    The numbers the loader converts itself are decimal (is_decimal_fraction,
    is_whole_number), as gradcalc reads numbers everywhere; YAML 1.1 floats need a dot, so
    "1e3" is text for the number reader."""
    # A text of at most 100 characters without an e holds neither 101 digits nor an
    # exponent: most numbers, known without compiling the pattern.
    if (len(text) > 100 or "e" in text or "E" in text) and _OUTSIZED_NUMBER.search(text):
        # Left as text: the core's number reader rejects it with its field path,
        # before anything tries to build a number with a billion digits.
        return text
    if tag == FLOAT_TAG:
        lowered = text.lower()
        if lowered in (".nan", "+.nan", "-.nan"):
            return math.nan
        if lowered.lstrip("+-") == ".inf":
            return -math.inf if lowered.startswith("-") else math.inf
        if is_decimal_fraction(text):
            return Fraction(text)
    if is_whole_number(text, signs="-+"):
        return int(text)
    # YAML 1.1's other numbers (010 as octal 8, 0x1F, 0b1, 1:30 in base 60, 1_000) and what
    # an explicit tag claims ("!!int abc") stay text: the core's number reader refuses them
    # with the fix named, so a file reads a number as an option does (and PyYAML's base-60
    # conversion, quadratic in the length, never runs).
    return text


# YAML 1.1's booleans, as PyYAML reads them (any case of each word that its resolver takes).
_BOOL_VALUES = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}
_BOOL_TEXTS = frozenset(
    form for word in _BOOL_VALUES for form in (word, word.capitalize(), word.upper())
)
_NULL_TEXTS = frozenset(("~", "null", "Null", "NULL"))


def scalar_value(tag: str, text: str) -> Any:
    """The value of a scalar with the standard scalar tag ``tag`` (resolved or explicit)
    and the text ``text``, on either reader's path."""
    if tag in (INT_TAG, FLOAT_TAG):
        return _number(text, tag)
    if tag == BOOL_TAG:
        # "!!bool maybe" stays text: the core says what it expects.
        return _BOOL_VALUES.get(text.lower(), text)
    if tag == NULL_TAG:
        return None
    return text


# Every character YAML 1.1's number and date patterns can match (digits, signs, "_", ".",
# ":", exponents, hex digits, 0b/0x, .inf/.nan, a date's T/Z/blanks, the line break "$" takes).
_NUMBER_PATTERN_CHARACTERS = frozenset("0123456789+-_.:eExXbBaAcCdDfFiInNtTZ \t\n")


def plain_tag(text: str) -> str | None:
    """The tag PyYAML's resolver gives the plain scalar ``text``, worked out without
    PyYAML (importing it is a tenth of gradcalc's start-up) for what specs hold: words,
    whole numbers, decimals, ``1e-9`` and ``1/3`` (text to YAML 1.1).  None for the rest
    (leading zeros, underscores, ``1.5e-3``, base 60, dates, ``.5``, ``.inf``, ``=``,
    ``<<``, a final line break), which PyYAML's resolver then types.

    The resolver tries the patterns registered for the text's first character, each
    anchored at both ends.  A text that starts with none of ``-+.0123456789`` (numbers,
    dates), ``=`` (value), ``<`` (merge) or ``!&*`` (registered, though no plain scalar
    can start so) is a boolean, a null or text, and those are whole words (the patterns'
    ``$`` also takes a final line break: left to PyYAML).  A text that starts like a
    number but holds a character no number or date pattern takes is text."""
    if not text:
        return NULL_TAG
    first = text[0]
    if first in "-+.0123456789":
        if not _NUMBER_PATTERN_CHARACTERS.issuperset(text):
            return STR_TAG  # no number or date pattern takes the character: "1/3", "2π"
        unsigned = text[1:] if first in "-+" else text
        whole, dot, fraction = unsigned.partition(".")
        if whole.isdigit():
            if dot:
                # [-+]?[0-9][0-9_]*\.[0-9_]* : a float (tried before int and timestamp)
                return FLOAT_TAG if fraction.isdigit() or not fraction else None
            # [-+]?(?:0|[1-9][0-9_]*) : an int; a leading zero (octal) is left to PyYAML
            return INT_TAG if whole == "0" or whole[0] != "0" else None
        # Digits, an e and a signed exponent, without a dot: no YAML 1.1 number ("1e-9").
        mantissa, _, exponent = unsigned.replace("E", "e").partition("e")
        power = exponent[1:] if exponent[:1] in ("+", "-") else exponent
        return STR_TAG if mantissa.isdigit() and power.isdigit() else None
    if first in "=<!&*" or text[-1] == "\n":
        return None
    if text in _BOOL_TEXTS:
        return BOOL_TAG
    return NULL_TAG if text in _NULL_TEXTS else STR_TAG
