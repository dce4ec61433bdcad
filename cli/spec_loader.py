"""Reading a YAML spec safely, keeping each value's line and column.

Every spec, problem and submission file is read here: size and file-type checks,
UTF-8, a cap on the number of values, then the plain reader (cli/plain_yaml.py) for
the usual spec and PyYAML (cli/yaml_nodes.py, imported only then) for the rest and
for every error.  Either way a value is typed as YAML 1.1 types it and converted the
same way (:func:`scalar_value`): numbers stay exact, ``0.1`` becomes
``Fraction(1, 10)``; positions for ``FILE:LINE:COL`` errors are looked up in
PyYAML's nodes when an error needs one.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any

from gradcalc.cli.plain_yaml import NotPlain, read_plain
from gradcalc.cli.yaml_values import (
    SCALAR_TAGS,
    SpecFileError,
    first_surrogate,
    plain_tag,
    scalar_value,
    surrogate_problem,
)
from gradcalc.core.errors import FieldPath
from gradcalc.core.patterns import LazyPattern
from gradcalc.core.records import record

if TYPE_CHECKING:
    import yaml

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_VALUES = 2_000_000


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
        from gradcalc.cli import yaml_nodes  # PyYAML: only when an error needs a position

        if self.root is None and self.text is not None:
            self.root = yaml_nodes.compose_taken(self.text)
        if self.root is None:
            return None
        return yaml_nodes.position(self.root, path, at_key=at_key)

    def where(self, path: FieldPath, *, at_key: bool = False) -> str:
        """``SOURCE:LINE:COL`` of the value at ``path`` (``SOURCE`` alone without a position)."""
        position = self.position(path, at_key=at_key)
        return self.source if position is None else f"{self.source}:{position[0]}:{position[1]}"


_DIGIT_RUN = LazyPattern(r"[0-9]+")  # compiled only for a text long enough: see load_file


def check_text(text: str, source: str) -> None:
    """Refuse text no output can encode (an option's bytes that are not UTF-8)."""
    surrogate = first_surrogate(text)
    if surrogate is not None:
        raise SpecFileError(
            source,
            f"U+{ord(surrogate):04X} is not text (bytes that are not UTF-8, or a lone "
            "surrogate); give UTF-8 text",
        )


_PLAIN_SCALARS: dict[str, Any] = {}


def _plain_scalar(text: str) -> Any:
    """A plain scalar's value, typed and converted exactly as on PyYAML's path."""
    try:
        return _PLAIN_SCALARS[text]
    except KeyError:
        pass
    tag = plain_tag(text)
    if tag is None:
        from gradcalc.cli.yaml_nodes import resolve_tag

        tag = resolve_tag(text)
    if tag not in SCALAR_TAGS:
        raise NotPlain  # PyYAML's path reports the unsupported tag with its position
    value = scalar_value(tag, text)
    if len(_PLAIN_SCALARS) < 50_000:
        _PLAIN_SCALARS[text] = value  # numbers, text, booleans: immutable, safe to share
    return value


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
    # Only text from the Python API can hold a lone surrogate (a file's bytes are decoded as
    # UTF-8); neither YAML reader can take it.
    surrogate = first_surrogate(text)
    if surrogate is not None:
        from gradcalc.cli.yaml_nodes import line_column

        line, column = line_column(text, text.index(surrogate))
        raise SpecFileError(source, surrogate_problem(surrogate), line, column)
    data = read_plain(text, _plain_scalar, max_values)
    if data is not None:
        return LoadedSpec(source=source, data=data, text=text)
    from gradcalc.cli.yaml_nodes import compose_spec

    root, data = compose_spec(text, source, max_values)
    return LoadedSpec(source=source, data=data, root=root)


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
