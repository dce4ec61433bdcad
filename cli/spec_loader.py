"""Reading a YAML spec safely, keeping each value's line and column.

PyYAML only *composes* the document into nodes here (no tag ever constructs a
Python object); this module turns the nodes into plain data itself, so it can

- keep numbers exact: ``0.1`` becomes ``Fraction(1, 10)``, not a float;
- remember where every value (and key) sits, for ``FILE:LINE:COL`` errors;
- reject duplicate keys, non-standard tags and non-text keys;
- cap the total number of values, so that alias expansion ("billion laughs")
  cannot use unbounded memory or time.
"""

from __future__ import annotations

import math
import os
import re
import stat
from fractions import Fraction
from typing import Any

import numpy as np
import yaml

from gradcalc.cli.plain_yaml import NotPlain, read_plain
from gradcalc.core.errors import FieldPath, GradcalcError
from gradcalc.core.patterns import LazyPattern, is_decimal_fraction, is_whole_number
from gradcalc.core.records import record

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_VALUES = 2_000_000

_STANDARD_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map",
}


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


class FileReadError(SpecFileError):
    """The file was not read (missing, not a regular file, unreadable, too large): its
    message says why and holds nothing that is in the file."""


@record
class LoadedSpec:
    """Plain data plus the YAML node tree it came from, for positions.

    Positions are looked up only when an error needs one, by walking the node
    tree along the field path, so loading a large matrix stores nothing per
    entry.
    """

    source: str
    data: Any
    root: yaml.Node | None = None
    # The text, when it was read by the plain reader (no nodes kept): composed on demand.
    text: str | None = None

    def position(self, path: FieldPath, *, at_key: bool = False) -> tuple[int, int] | None:
        """1-based (line, column) of the value at ``path`` (of its key with ``at_key``),
        or of the closest enclosing value when the path goes further than the spec."""
        if self.root is None and self.text is not None:
            try:
                self.root = yaml.compose(self.text, Loader=_MemoLoader or yaml.SafeLoader)
            except yaml.YAMLError:  # cannot happen for text the plain reader took; no position
                return None
        node = self.root
        if node is None:
            return None
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                        if last and at_key:
                            return _mark(key_node)
                        node = value_node
                        break
                else:
                    return _mark(node)
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(part, int)
                and 0 <= part < len(node.value)
            ):
                node = node.value[part]
            else:
                return _mark(node)
        return _mark(node)

    def where(self, path: FieldPath, *, at_key: bool = False) -> str:
        """``SOURCE:LINE:COL`` of the value at ``path`` (``SOURCE`` alone without a position)."""
        position = self.position(path, at_key=at_key)
        return self.source if position is None else f"{self.source}:{position[0]}:{position[1]}"


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_DIGIT_RUN = LazyPattern(r"[0-9]+")  # compiled only for a text long enough: see load_file
# More than 100 digits in a row, or an exponent of four or more digits (compiled only for a
# text that could hold either: see _number).
_OUTSIZED_NUMBER = LazyPattern(r"[0-9_]{101}|[eE][-+]?0*[0-9]{4}")


class _Converter:
    def __init__(self, source: str, max_values: int):
        self.source = source
        self.max_values = max_values
        self.count = 0
        self._constructor = yaml.SafeLoader.__new__(yaml.SafeLoader)
        yaml.constructor.SafeConstructor.__init__(self._constructor)

    def fail(self, node: yaml.Node, message: str) -> SpecFileError:
        line, column = _mark(node)
        return SpecFileError(self.source, message, line, column)

    def convert(self, node: yaml.Node, depth: int = 0) -> Any:
        self.count += 1
        if self.count > self.max_values:
            raise self.fail(
                node,
                f"the spec expands to more than {self.max_values:,} values (aliases included); "
                "raise the limit with --max-elements if this is intended",
            )
        if depth > 32:
            raise self.fail(node, "values are nested more than 32 levels deep")
        if node.tag not in _STANDARD_TAGS:
            raise self.fail(node, f"unsupported tag {node.tag!r}; specs use plain YAML values only")
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.fail(key_node, "keys must be plain text")
                key = key_node.value
                if key_node.tag == "tag:yaml.org,2002:str":
                    self._scalar(key_node)  # refuses a lone surrogate
                if key_node.tag == _INT_TAG:
                    key = self._scalar(
                        key_node
                    )  # numeric keys stay ints, for a clear later message
                if key in result:
                    raise self.fail(key_node, f"duplicate key {key!r}; each key may appear once")
                result[key] = self.convert(value_node, depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            items = node.value
            # Fast path for a row of plain integers, the bulk of any large spec.
            if all(
                type(item) is yaml.ScalarNode
                and item.tag == _INT_TAG
                and is_whole_number(item.value, signs="-+", most_digits=100)
                for item in items
            ):
                self.count += len(items)
                if self.count > self.max_values:
                    return self.convert(items[-1], depth + 1)  # raises the limit error at this row
                return [int(item.value) for item in items]
            return [self.convert(item, depth + 1) for item in items]
        return self._scalar(node)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag in (_INT_TAG, _FLOAT_TAG):
            return _number(node.value, tag)
        if tag == "tag:yaml.org,2002:bool":
            try:
                return self._constructor.construct_yaml_bool(node)
            except KeyError:  # "!!bool maybe": left as text, the core says what it expects
                return node.value
        if tag == "tag:yaml.org,2002:null":
            return None
        text = node.value
        if not text.isascii():
            surrogate = _first_surrogate(text)
            if surrogate is not None:
                raise self.fail(node, _surrogate_problem(surrogate))
        return text


# A double-quoted "\ud800" is a lone UTF-16 surrogate to PyYAML's pure-Python reader (LibYAML
# refuses it); on the command line, bytes that are not UTF-8 arrive as surrogates too.  No
# output can encode one, so they are refused where they are read.
def _first_surrogate(text: str) -> str | None:
    """The first lone surrogate (U+D800-U+DFFF) in ``text``, or None: the one character
    UTF-8 cannot encode, found by encoding (no pattern to compile: 0.1 ms of start-up)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return text[error.start]
    return None


def _surrogate_problem(char: str) -> str:
    return (
        f"U+{ord(char):04X} is a lone surrogate, not a character (text must be valid Unicode); "
        "write the character itself, or \\U0001F600 for one beyond U+FFFF"
    )


def check_text(text: str, source: str) -> None:
    """Refuse text no output can encode (an option's bytes that are not UTF-8)."""
    if not text.isascii():
        surrogate = _first_surrogate(text)
        if surrogate is not None:
            raise SpecFileError(
                source,
                f"U+{ord(surrogate):04X} is not text (bytes that are not UTF-8, or a lone "
                "surrogate); give UTF-8 text",
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
    if tag == _FLOAT_TAG:
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


class _ResolveMemo:
    """Remembers the tag each short plain scalar resolves to.

    LibYAML parses in C but asks Python's resolver about every scalar (a few
    regular expressions each); a spec repeats the same few numbers, so `gradcalc
    check` over a folder spends less time here.  Only scalars are memoized, and
    SafeLoader has no path resolvers, so the tag depends on the text alone.
    """

    _tags: dict[tuple[str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is not yaml.ScalarNode or len(value) > 40:
            return super().resolve(kind, value, implicit)  # type: ignore[misc]
        key = (value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            if len(self._tags) > 50_000:
                self._tags.clear()
            tag = self._tags[key] = super().resolve(kind, value, implicit)  # type: ignore[misc]
        return tag


_MemoLoader = (
    type("_MemoLoader", (_ResolveMemo, yaml.CSafeLoader), {})
    if hasattr(yaml, "CSafeLoader")
    else None
)


def _is_deep(text: str) -> bool:
    """True when the text nests deeply enough to be worth LibYAML's caution.

    LibYAML's composer recurses in C and crashes the process on absurd nesting
    (about 100,000 levels); PyYAML's pure-Python composer raises RecursionError
    instead, which becomes a clean message.  Ordinary specs nest a few levels.
    """
    # Depth never exceeds the number of openers: most specs need no scan at all.
    brackets = re.sub(r"[^\[\]{}]", "", text) if text.count("[") + text.count("{") > 64 else ""
    if brackets:
        codes = np.frombuffer(brackets.encode("ascii"), dtype=np.uint8)
        steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
        if int(np.cumsum(steps).max()) > 64:
            return True
    indents = re.findall(r"^[ \t-]*", text, flags=re.MULTILINE)
    return max((len(i) for i in indents), default=0) > 256


_SCALAR_TAGS = _STANDARD_TAGS - {"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}
_RESOLVER = yaml.resolver.Resolver()
_SCALAR_READER = _Converter("", 0)
_PLAIN_SCALARS: dict[str, Any] = {}


def _plain_scalar(text: str) -> Any:
    """A plain scalar's value, typed and converted exactly as on PyYAML's path."""
    try:
        return _PLAIN_SCALARS[text]
    except KeyError:
        pass
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    if tag not in _SCALAR_TAGS:
        raise NotPlain  # PyYAML's path reports the unsupported tag with its position
    value = _SCALAR_READER._scalar(yaml.ScalarNode(tag, text))
    if len(_PLAIN_SCALARS) < 50_000:
        _PLAIN_SCALARS[text] = value  # numbers, text, booleans: immutable, safe to share
    return value


# YAML's line breaks, as PyYAML and LibYAML count lines (CR LF is one break).
_LINE_BREAK = LazyPattern("\r\n|[\r\n\x85\u2028\u2029]")


def _line_column(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of the character at ``index``, counted as YAML marks are."""
    line, start = 1, 0
    for match in _LINE_BREAK.finditer(text, 0, index):
        line, start = line + 1, match.end()
    return line, index - start + 1


def _character_error(text: str, source: str, error: yaml.reader.ReaderError) -> SpecFileError:
    """A character YAML does not allow, at its line and column.

    The reader stops at the first such character, so its first occurrence is the
    one: located by value, because LibYAML's ``position`` counts UTF-8 bytes, not
    characters.
    """
    import unicodedata  # only for this error: not at start-up

    code = error.character
    index = text.find(chr(code)) if isinstance(code, int) else -1
    if index < 0:
        index = min(max(error.position, 0), len(text))
    what = "control character" if unicodedata.category(chr(code)) == "Cc" else "character"
    line, column = _line_column(text, index)
    return SpecFileError(
        source,
        f"{what} U+{code:04X} is not allowed in YAML; remove it (tabs and newlines are fine)",
        line,
        column,
    )


def _syntax_problem(text: str, error: yaml.MarkedYAMLError) -> str:
    """The parser's problem in one line, with what is allowed where the parser's words
    leave it unsaid."""
    problem = " ".join((error.problem or error.context or "invalid YAML").split())
    if problem.startswith("but ") and error.context:  # "but found another document"
        problem = f"{error.context}, {problem}"
    mark = error.problem_mark
    if mark is not None:
        lines = _LINE_BREAK.split(text)
        line = lines[mark.line] if mark.line < len(lines) else ""
        if line[mark.column : mark.column + 1] == "\t":
            problem += "; indent with spaces (a tab may not indent YAML)"
        elif problem.endswith("another document"):
            problem += (
                "; a spec is one document (remove the second '---' line and what follows, "
                "or split the file)"
            )
    return problem


# What starts a node, or separates one from the next: an opening bracket or brace, a comma,
# a block item's dash, a key's colon, an explicit key's question mark (the last three
# followed by a blank).  Every node of a document but the first follows one of these, and
# none introduces more than two (``[1``: a list and its first item), so the count bounds
# the nodes within a factor of two.  Counted in the text as a whole, quoted text and
# comments included: only a text holding more such characters than the cap of values can
# be refused for them.
_NODE_TOKENS = ("[", "{", ",") + tuple(
    mark + blank for mark in "-:?" for blank in (" ", "\t", "\n", "\r")
)


def node_estimate(text: str) -> int:
    """About how many nodes composing ``text`` makes (a linear scan, no parsing)."""
    return sum(text.count(token) for token in _NODE_TOKENS)


def check_node_estimate(text: str, source: str, max_values: int) -> None:
    """Refuse, before anything parses it, a text that would compose into more nodes than
    the value cap allows: PyYAML builds every node of a document before its first is
    converted (15 MB of ``- [[[[]]]]`` lines: 1.7 GB and over a minute)."""
    estimate = node_estimate(text)
    if estimate > max_values + max_values // 8:
        raise SpecFileError(
            source,
            f"the spec holds about {estimate:,} values (counting brackets, commas, dashes and "
            f"colons), above the limit of {max_values:,} (raise it with --max-elements)",
            1,
            1,
        )


def parse_text(text: str, source: str, *, max_values: int = MAX_VALUES) -> LoadedSpec:
    """Parse YAML text into a :class:`LoadedSpec`; every problem raises SpecFileError.

    The plain reader (cli/plain_yaml.py) takes the usual spec in a fraction of
    PyYAML's time; anything outside its subset, and every error, goes through PyYAML.
    A linear scan first refuses a text with far more nodes than the value cap allows,
    so neither reader's work grows beyond the cap.
    """
    check_node_estimate(text, source, max_values)
    data = read_plain(text, _plain_scalar, max_values)
    if data is not None:
        return LoadedSpec(source=source, data=data, text=text)
    fast = _MemoLoader
    loader = yaml.SafeLoader if fast is None or _is_deep(text) else fast
    try:
        node = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = _syntax_problem(text, error)
        if mark is not None:
            raise SpecFileError(
                source, f"YAML syntax error: {problem}", mark.line + 1, mark.column + 1
            ) from None
        raise SpecFileError(source, f"YAML syntax error: {problem}", 1, 1) from None
    except yaml.reader.ReaderError as error:
        raise _character_error(text, source, error) from None
    except yaml.YAMLError as error:
        raise SpecFileError(source, f"YAML error: {error}".splitlines()[0], 1, 1) from None
    except RecursionError:
        raise SpecFileError(source, "values are nested too deeply to read", 1, 1) from None
    if node is None:
        raise SpecFileError(
            source,
            "the spec is empty; it must be a mapping such as `kind: conv` plus the problem's keys",
            1,
            1,
        )
    converter = _Converter(source, max_values)
    if not isinstance(node, yaml.MappingNode):
        what = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        raise converter.fail(
            node, f"the spec must be a mapping of keys to values (like `input: ...`), got {what}"
        )
    return LoadedSpec(source=source, data=converter.convert(node), root=node)


_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(source: str, mode: int) -> SpecFileError:
    if stat.S_ISDIR(mode):
        return FileReadError(source, "is a directory; give a spec file (.yaml)")
    what = next((name for test, name in _NOT_REGULAR if test(mode)), "a special file")
    return FileReadError(source, f"not a regular file ({what}); give a .yaml file")


def read_spec_bytes(path: str, max_bytes: int = MAX_FILE_BYTES, *, streams: bool = False) -> bytes:
    """The bytes of the file at ``path`` (at most ``max_bytes`` + 1 of them).

    Every spec, problem and submission file is read here.  Unless ``streams``, a
    FIFO, a device (/dev/zero, /dev/stdin on a terminal or pipe) or a socket is
    refused before it is opened: a file found in a folder or named by a submission
    could block ``gradcalc check`` forever.  With ``streams`` (a path the user named
    on the command line, such as ``<(gradcalc random conv)`` or /dev/stdin), a FIFO
    or character device is read like standard input: up to the same cap.
    """
    try:
        info = os.stat(path)
        if streams and (stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode)):
            with open(path, "rb") as stream:
                return stream.read(max_bytes + 1)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, info.st_mode)
        if info.st_size > max_bytes:
            raise FileReadError(
                path, f"the file has {info.st_size:,} bytes, above the limit of {max_bytes:,}", 1, 1
            )
        # O_NONBLOCK: should the path become a FIFO after the check, opening it still
        # returns at once, and the check below refuses it.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        with os.fdopen(os.open(path, flags | getattr(os, "O_BINARY", 0)), "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise _not_regular(path, mode)
            return handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise FileReadError(path, "no such file") from None
    except PermissionError:
        raise FileReadError(path, "permission denied") from None
    except IsADirectoryError:
        raise FileReadError(path, "is a directory; give a spec file (.yaml)") from None
    except OSError as error:
        raise FileReadError(path, f"cannot read: {error.strerror or error}") from None


def load_file(
    path: str,
    *,
    max_values: int = MAX_VALUES,
    max_bytes: int = MAX_FILE_BYTES,
    streams: bool = True,
) -> LoadedSpec:
    """Read a spec file and parse it.  With ``streams`` (paths from the command line), ``-``
    is standard input and a pipe or device path is read like it; without (``gradcalc check``,
    whose files come from folders and submissions), only regular files are read."""
    source = path
    if path == "-" and streams:
        import sys

        raw = sys.stdin.buffer.read(max_bytes + 1)
        source = "<stdin>"
    else:
        raw = read_spec_bytes(path, max_bytes, streams=streams)
    if len(raw) > max_bytes:
        raise FileReadError(
            source, f"the input is larger than the limit of {max_bytes:,} bytes", 1, 1
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        raise SpecFileError(
            source,
            f"byte 0x{raw[error.start]:02x} is not valid UTF-8; save the spec as UTF-8 text",
            line,
            column,
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    # Parsing costs ~10 µs a value: refuse an oversized spec before parsing it.
    # The estimate counts digit runs (1.5 counts twice), hence the factor 2.  A text of n
    # characters holds at most (n + 1) // 2 runs: a shorter one cannot reach the limit.
    could_reach = (len(text) + 1) // 2 > 2 * max_values
    estimate = len(_DIGIT_RUN.findall(text)) if could_reach else 0
    if estimate > 2 * max_values:
        raise SpecFileError(
            source,
            f"the spec holds about {estimate:,} numbers, above the limit of {max_values:,} values "
            "(raise it with --max-elements)",
            1,
            1,
        )
    return parse_text(text, source, max_values=max_values)
