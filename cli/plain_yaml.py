"""A fast reader for the plain subset of YAML that specs are written in.

LibYAML parses quickly, but PyYAML hands every token to Python as objects with
start and end marks and asks Python's resolver about every scalar: about 0.7 ms
for a seed-sized spec, most of ``gradcalc check``'s time over a folder.  Specs
are nearly always block mappings of flow lists of numbers (``input: [[1, 2], [3,
4]]``), so this module reads that subset line by line and gives up (returns
None) on anything else; the caller then reads the text with PyYAML as before.

What it reads: ``key: value`` lines (keys are identifiers, dots allowed), nested block
mappings, block sequences of values (``- [1, 2]``) and of mappings (``- type: conv``
and the keys under it), one-line flow sequences of
scalars (nested), one-line flow mappings of scalars and flow sequences, quoted strings without
escapes, plain scalars, and comments.  Everything else (anchors, tags, block
scalars, multi-line flow collections or plain scalars, tabs, documents markers,
duplicate keys, odd indentation, anything the reader is unsure of) gives None.

Scalars are typed by PyYAML's own resolver and converted by the spec loader's
own scalar conversion, so a value read here is exactly the value PyYAML's path
gives; tests compare the two readers on the bundled problems and on generated
documents.  No positions are kept: the loader composes the text again with
PyYAML only when an error needs a line and column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradcalc.core.patterns import LazyPattern, is_whole_number

# Characters that start something other than a plain scalar (anchors, tags, block
# scalars, directives, …) or a structure this reader does not take.
_BAD_START = frozenset("-?:,]}#&*!|>%@`")
# Characters that may not appear in a scalar inside a flow collection here.
_FLOW_UNSAFE = frozenset(":{}[]#'\"&*!|>%@`?")
# Nesting taken here, in blocks and in flow lists each: together well below the loader's 32.
_MAX_DEPTH = 8
# A flow list of integers (possibly nested) — and digit runs too long for that shortcut.
_INT_ROWS = LazyPattern(r"[\[\]0-9, -]*")
_LONG_DIGITS = LazyPattern(r"[0-9]{19}")
_NOT_BRACKETS = LazyPattern(r"[^\[\]]+")
# Characters outside printable YAML, or that YAML reads as line breaks (NEL, U+2028, U+2029)
# or treats specially (tab, CR, a BOM inside the text): their texts go to PyYAML.  (Checked
# on the text's distinct characters: a regular expression of these ranges takes 7 ms to
# compile, a twentieth of gradcalc's start-up.)
_ASCII_UNTAKEN = LazyPattern(r"[^\n\x20-\x7e]")
_TAKEN_RANGES = (
    (0xA0, 0x2027),
    (0x202A, 0xD7FF),
    (0xE000, 0xFEFE),
    (0xFF00, 0xFFFD),
    (0x10000, 0x10FFFF),
)
# Integer rows longer than this are read by json (in C); shorter ones by the loop below,
# which spares importing json for a small spec.
_JSON_ROWS_FROM = 300


class NotPlain(Exception):
    """The text is outside the subset: read it with PyYAML instead."""


def read_plain(text: str, scalar: Callable[[str], Any], max_values: int) -> dict | None:
    """The spec in ``text`` as plain data, or None when it is outside the subset.

    ``scalar`` converts a plain scalar's text exactly as the full reader would
    (it raises NotPlain for a value the full reader must handle, such as an
    unsupported tag).
    """
    if _has_untaken(text):
        return None
    try:
        reader = _Reader(text, scalar, max_values)
        return reader.document()
    except (NotPlain, ValueError, RecursionError):
        # ValueError: a scalar PyYAML's own conversion cannot take ("0x_"); the full
        # path reports it, or the YAML error around it, with its position.
        return None


def _has_untaken(text: str) -> bool:
    if text.isascii():
        return _ASCII_UNTAKEN.search(text) is not None
    for char in set(text):
        code = ord(char)
        if code > 0x7E and not any(low <= code <= high for low, high in _TAKEN_RANGES):
            return True
        if code < 0x20 and char != "\n" or code == 0x7F:
            return True
    return False


class _Reader:
    def __init__(self, text: str, scalar: Callable[[str], Any], max_values: int):
        self.scalar = scalar
        self.max_values = max_values
        self.count = 0
        # (indent, is_item, key, value) for every line that holds something.
        self.lines: list[tuple[int, bool, str | None, Any]] = []
        for line in text.split("\n"):
            stripped = line.lstrip(" ")
            if not stripped or stripped[0] == "#":
                continue
            self._line(len(line) - len(stripped), stripped.rstrip(" "))

    def _line(self, indent: int, rest: str) -> None:
        # "- - [1, 2]" is an item holding a list whose first item sits two columns
        # further: recorded as an empty item followed by that deeper item.  Positions, not
        # slices: a line of a million "- " is read in linear time (and given up after a few).
        start, length, items = 0, len(rest), 0
        while _is_dash(rest, start, length):
            after = min(start + 2, length)
            while after < length and rest[after] == " ":
                after += 1
            if not _is_dash(rest, after, length):
                found = _key_at(rest, after)
                if found is not None:
                    # "- type: conv": a mapping in the item, its first key on the dash's line
                    # (recorded as an empty item, then that key where it stands).
                    key, end = found
                    self.lines.append((indent + start, True, None, _NOTHING))
                    value = self._inline_value(rest[end:])
                    self.lines.append((indent + after, False, key, value))
                    return
                self.lines.append((indent + start, True, None, self._inline_value(rest[after:])))
                return
            self.lines.append((indent + start, True, None, _NOTHING))
            items += 1
            if items > _MAX_DEPTH:
                raise NotPlain  # nested deeper than this reader goes anyway
            start = after
        found = _key_at(rest, 0)
        if found is None:
            raise NotPlain  # "---", "-1" as a key, "? key", a plain multi-line scalar, …
        key, end = found
        self.lines.append((indent, False, key, self._inline_value(rest[end:])))

    # -- values on one line --------------------------------------------------------------

    def _inline_value(self, text: str) -> Any:
        """The value written after ``key:`` or ``-`` (``_NOTHING`` when there is none)."""
        if not text or text[0] == "#":
            return _NOTHING
        first = text[0]
        if first in "\"'":
            value, end = _quoted(text, 0)
            tail = text[end:]
            # Only spaces, or spaces and a comment, may follow the closing quote.
            if tail and (tail[0] != " " or tail.lstrip(" ")[:1] not in ("", "#")):
                raise NotPlain
            self._counted(1)
            return value
        comment = text.find(" #")
        if comment >= 0:
            text = text[:comment].rstrip(" ")
        if first == "[":
            if (
                len(text) >= _JSON_ROWS_FROM
                and _INT_ROWS.fullmatch(text)
                and not _LONG_DIGITS.search(text)
                and _flow_depth(text) <= _MAX_DEPTH
            ):
                # Integers only: JSON reads them as YAML does, in C (a ValueError means
                # something like "[1 2]" or "[01]", which the loop below handles).
                import json

                try:
                    value = json.loads(text)
                except ValueError:
                    pass
                else:
                    self._counted(text.count(",") + text.count("[") + 1)
                    return value
            value, end = self._flow_sequence(text, 0, 0)
            if end != len(text):
                raise NotPlain
            return value
        if first == "{":
            return self._flow_mapping(text)
        if first in _BAD_START and not _is_negative_start(text):
            raise NotPlain
        if ": " in text or text.endswith(":"):
            raise NotPlain
        self._counted(1)
        return self.scalar(text)

    def _flow_sequence(self, text: str, start: int, depth: int) -> tuple[list[Any], int]:
        """The flow list opening at ``text[start]``, and the index after its ``]``."""
        if depth > _MAX_DEPTH:
            raise NotPlain
        items: list[Any] = []
        position = start + 1
        length = len(text)
        while True:
            while position < length and text[position] == " ":
                position += 1
            if position >= length:
                raise NotPlain  # continues on another line
            char = text[position]
            if char == "]" and not items:
                return items, position + 1
            if char == "[":
                item, position = self._flow_sequence(text, position, depth + 1)
                items.append(item)
            elif char in "\"'":
                item, position = _quoted(text, position)
                items.append(item)
            else:
                end = position
                while end < length and text[end] not in ",]":
                    end += 1
                token = text[position:end].rstrip(" ")
                _check_flow_scalar(token)
                # At most 18 digits: an int64, as PyYAML's path converts it.
                plain_int = is_whole_number(token, signs="-", most_digits=18)
                items.append(int(token) if plain_int else self.scalar(token))
                position = end
            while position < length and text[position] == " ":
                position += 1
            if position >= length:
                raise NotPlain
            if text[position] == "]":
                self._counted(len(items) + 1)
                return items, position + 1
            if text[position] != ",":
                raise NotPlain
            position += 1
            while position < length and text[position] == " ":
                position += 1
            if position < length and text[position] == "]":
                raise NotPlain  # a trailing comma: leave it to PyYAML

    def _flow_mapping(self, text: str) -> dict[str, Any]:
        """``{key: value, …}`` on one line; each value a plain scalar or a flow list (a net's
        layer: ``- {type: conv, kernel: [[1, 0], [0, 1]], stride: 1}``)."""
        if not text.endswith("}"):
            raise NotPlain
        inner = text[1:-1].strip(" ")
        result: dict[str, Any] = {}
        if not inner:
            self._counted(1)
            return result
        if "'" in inner or '"' in inner:
            raise NotPlain  # quoted text: its commas and brackets would be the text's own
        for part in _entries(inner):
            key, separator, value = part.strip(" ").partition(": ")
            value = value.strip(" ")
            if not separator or not _is_key(key) or key in result or not value:
                raise NotPlain
            if value[0] == "[":
                result[key] = self._inline_value(value)  # as a flow list after "key: "
                continue
            _check_flow_scalar(value)
            result[key] = self.scalar(value)
        self._counted(2 * len(result) + 1)
        return result

    def _counted(self, values: int) -> None:
        self.count += values
        if self.count > self.max_values:
            raise NotPlain  # PyYAML's path gives the limit error with its position

    # -- block structure ------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        if not self.lines or self.lines[0][0] != 0 or self.lines[0][1]:
            raise NotPlain
        result, index = self._mapping(0, 0, 0)
        if index != len(self.lines):
            raise NotPlain
        return result

    def _mapping(self, index: int, indent: int, depth: int) -> tuple[dict[str, Any], int]:
        if depth > _MAX_DEPTH:
            raise NotPlain
        result: dict[str, Any] = {}
        lines = self.lines
        while index < len(lines):
            line_indent, is_item, key, value = lines[index]
            if line_indent < indent:
                break
            if line_indent > indent or is_item or key in result:
                raise NotPlain
            index += 1
            if value is not _NOTHING:
                result[key] = value
                continue
            following = lines[index] if index < len(lines) else None
            if following is not None and following[1] and following[0] >= indent:
                result[key], index = self._sequence(index, following[0], depth + 1)
            elif following is not None and following[0] > indent:
                result[key], index = self._mapping(index, following[0], depth + 1)
            else:
                self._counted(1)
                result[key] = None
        self._counted(len(result) + 1)
        return result, index

    def _sequence(self, index: int, indent: int, depth: int) -> tuple[list[Any], int]:
        if depth > _MAX_DEPTH:
            raise NotPlain
        items = []
        lines = self.lines
        while index < len(lines) and lines[index][0] == indent and lines[index][1]:
            value = lines[index][3]
            index += 1
            if value is _NOTHING:
                # "-" alone or "- key: …": a list or a mapping nested in the item.
                following = lines[index] if index < len(lines) else None
                if following is None or following[0] <= indent:
                    raise NotPlain
                if following[1]:
                    value, index = self._sequence(index, following[0], depth + 1)
                else:
                    value, index = self._mapping(index, following[0], depth + 1)
            items.append(value)
        self._counted(1)
        return items, index


_NOTHING = object()


def _is_dash(text: str, start: int, length: int) -> bool:
    """Whether ``text[start:]`` begins an item: ``- `` or a ``-`` that ends the line."""
    return text.startswith("- ", start) or (start == length - 1 and text[start] == "-")


def _flow_depth(text: str) -> int:
    """How deeply the brackets in ``text`` nest (only the brackets are walked)."""
    depth = deepest = 0
    for char in _NOT_BRACKETS.sub("", text):
        depth += 1 if char == "[" else -1
        deepest = max(deepest, depth)
    return deepest


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The quoted scalar opening at ``text[start]`` and the index after its closing quote.

    Single quotes: ``''`` is a quote.  Double quotes: no escapes are taken (a
    backslash gives NotPlain), so the text between the quotes is the value.
    """
    quote = text[start]
    position = start + 1
    while True:
        end = text.find(quote, position)
        if end < 0:
            raise NotPlain  # continues on another line
        if quote == "'" and text[end + 1 : end + 2] == "'":
            position = end + 2
            continue
        inner = text[start + 1 : end]
        if quote == '"' and "\\" in inner:
            raise NotPlain
        return (inner.replace("''", "'") if quote == "'" else inner), end + 1


def _is_key(text: str) -> bool:
    """Whether ``text`` is a key this reader takes: YAML allows a simple key of at most 1024
    characters, spec keys are short; a dot may follow the first character (a net's result
    names: conv1.grad_kernel).  No YAML 1.1 type but a string reads a text that starts with
    an ASCII letter or an underscore and holds only these, digits and dots: the pattern
    ``[A-Za-z_][A-Za-z0-9_.]{0,127}``, tested with str methods (no pattern compiled)."""
    return (
        0 < len(text) <= 128
        and text.isascii()  # then isidentifier takes ASCII letters, digits and _ only
        and text[0] != "."
        and text.replace(".", "").isidentifier()
    )


def _key_at(text: str, start: int) -> tuple[str, int] | None:
    """``(key, end)`` for a key written at ``text[start]`` as ``key:`` followed by spaces
    (``end`` after them) or by the end of the line; None for anything else."""
    colon = text.find(":", start, start + 129)  # a key holds no colon and 128 characters at most
    if colon < 0 or not _is_key(text[start:colon]):
        return None
    end = colon + 1
    if end < len(text) and text[end] == " ":
        while end < len(text) and text[end] == " ":
            end += 1
    elif end < len(text) and text[end:] != "\n":  # the pattern's $ matched before a final \n
        return None
    return text[start:colon], end


def _entries(inner: str) -> list[str]:
    """A flow mapping's text between its braces, split at the commas outside brackets."""
    if "[" not in inner:
        return inner.split(",")
    entries, depth, start = [], 0, 0
    for position, char in enumerate(inner):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            entries.append(inner[start:position])
            start = position + 1
    entries.append(inner[start:])
    return entries


def _is_negative_start(text: str) -> bool:
    """``-3``, ``-x``: a plain scalar that starts with a dash (``- 3`` would be an item)."""
    return len(text) > 1 and text[0] == "-" and text[1] != " "


def _check_flow_scalar(token: str) -> None:
    """Raise NotPlain unless ``token`` is a plain scalar this reader takes inside ``[…]``/``{…}``."""
    if (
        not token
        or not _FLOW_UNSAFE.isdisjoint(token)
        or (token[0] in _BAD_START and not _is_negative_start(token))
    ):
        raise NotPlain
