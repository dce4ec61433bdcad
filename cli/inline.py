"""A spec's fields as command-line options: ``--input "2 -1; 0 -1" --kernel "1 0; -1 -2"``.

The options are generated from the registry's field descriptions, so every kind
(and every kind added later) gets them without code of its own.  A value is read as

- YAML/JSON flow text when it starts with ``[`` or ``{`` (``--stride "[2, 1]"``,
  ``--names "{input: X}"``); numbers stay exact, as in a spec file;
- a matrix when the field holds arrays and the text has several entries: rows split
  by ``;`` or line breaks, entries by spaces or commas (``"1 2; 3 4"`` is 2×2, so is
  ``"1 2\\n3 4"``; ``"1 2 3"`` is a vector, ``"1 2 3;"`` a 1×3 matrix);
- raw text for text fields (``--title``, ``--function "x**2*y"``);
- a pair ``[2, 1]`` for ``2x1`` / ``2×1`` in pair-valued fields (stride, padding,
  dilation, a pool's size), as ``gradcalc random`` writes them;
- otherwise one YAML scalar (``2``, ``1/4``, ``true``, ``same``, ``null``).

Options override the fields of a ``--spec`` file.  A value that cannot be read is
one line naming the option (``gradcalc conv --input: row 2 has …``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any

import click

from gradcalc.core.kinds.entry import SYMBOL_FIELDS, OpEntry
from gradcalc.core.kinds.field import Field
from gradcalc.core.patterns import LazyPattern
from gradcalc.core.records import record

OPTION_PREFIX = "field_"
_SEPARATORS = LazyPattern(r"[\s,]+")
# A row ends at ";" or at a line break (any that str.splitlines knows, CRLF counted once;
# "\s" would otherwise read them as entry separators and flatten the matrix).  A ";" that
# ends a line and the line break after it are one separator: "1 2;\n3 4" has two rows.
_LINE_BREAK = r"(?:\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029])"
_ROW_SEPARATOR = LazyPattern(rf";[ \t]*{_LINE_BREAK}?|{_LINE_BREAK}(?:[ \t]*;)?")
_METAVARS = {
    "tensor": "MATRIX",
    "number": "NUMBER",
    "integer": "INT",
    "ints": "INTS",
    "boolean": "BOOL",
    "choice": "WORD",
    "text": "TEXT",
    "texts": "TEXT",
    "mapping": "MAPPING",
    "answers": "MAPPING",
    "layers": "LAYERS",
}


def option_name(key: str) -> str:
    """``flip_kernel`` -> ``--flip-kernel``."""
    return "--" + key.replace("_", "-")


def inline_fields(entry: OpEntry) -> tuple[Field, ...]:
    """The fields that become options, the kind's own first (``kind`` is the command itself)."""
    common = tuple(f for f in entry.spec_fields() if f not in entry.fields)
    return (*entry.fields, *(f for f in common if f.name != "kind"))


def takes_symbols(entry: OpEntry) -> bool:
    """Whether the kind's tensors may hold symbols (docs/symbolic.md): then a matrix option's
    entries may be names (``--kernel "b11 b12; 0 1" --symbols "b11 b12"``) or ``symbolic 3x3``."""
    return all(f in entry.fields for f in SYMBOL_FIELDS)


def _metavar(spec_field: Field) -> str:
    if spec_field.type == "choice" and spec_field.choices:
        words = "|".join(str(c) for c in spec_field.choices)
        if len(words) <= 24:
            return words
    return _METAVARS[spec_field.types[0]]


def _help(spec_field: Field, symbols: bool = False) -> str:
    extra = "; here also HxW, e.g. 2x1" if "ints" in spec_field.types else ""
    if symbols and "tensor" in spec_field.types:
        extra = "; symbols: 'symbolic 3x3', or names given to --symbols"
    return f"Spec field {spec_field.name}: {spec_field.help}{extra}."


def field_options(entry: OpEntry) -> Callable[[Callable], Callable]:
    """A decorator adding one option per spec field of ``entry``."""

    def decorate(command: Callable) -> Callable:
        symbols = takes_symbols(entry)
        for spec_field in reversed(inline_fields(entry)):
            command = click.option(
                option_name(spec_field.name),
                OPTION_PREFIX + spec_field.name,
                metavar=_metavar(spec_field),
                default=None,
                help=_help(spec_field, symbols),
            )(command)
        return command

    return decorate


def inline_values(params: Mapping[str, Any]) -> dict[str, str]:
    """The spec fields given as options: spec key -> the option's text."""
    return {
        name[len(OPTION_PREFIX) :]: value
        for name, value in params.items()
        if name.startswith(OPTION_PREFIX) and value is not None
    }


# ---------------------------------------------------------------------------
# Reading one value


# `symbolic`, `symbolic 3x3`, `symbolic 2×3×3`: a whole field of symbols (core/kinds/symbolic_fields.py
# reads the text and refuses a bad shape with the reason).
_SYMBOLIC_FIELD = LazyPattern(r"symbolic(?:\s+\S.*)?", re.DOTALL)
# An entry that is a name or a formula of names and numbers (b11, -w_1, b22/2, 2*a^2, 1/a): handed
# to the core as text, which reads only the names the spec declares and says which one is meant
# (and why 1/a is no entry), as it does for the same entry in a spec file.
_FORMULA_ENTRY = LazyPattern(r"(?=[^A-Za-z]*[A-Za-z])[\w+\-*/^().]+")


def parse_value(
    text: str, spec_field: Field, source: str, *, symbols: bool = False, dims: Any = None
) -> Any:
    """The plain data an option's text stands for; SpecFileError names ``source`` (the option).
    ``symbols``: the spec declares symbols, so a matrix's entries may be names and formulas.
    ``dims``: a convolution's spatial axes as given (3: stride 1x2x2 is a triple; 1 and 3:
    other text goes to the kind, whose message names that many axes), None for 2-D."""
    from gradcalc.cli.spec_loader import SpecFileError, check_text

    check_text(text, source)
    stripped = text.strip()
    types = spec_field.types
    if stripped[:1] in ("[", "{"):
        return _flow(stripped, source)
    if "text" in types or ("texts" in types and stripped[:1] != "["):
        return text
    if not stripped:
        raise SpecFileError(source, "the value is empty")
    pairs = "ints" in types  # stride, padding, dilation, a pool's size
    if pairs:
        from gradcalc.core.errors import SpecError
        from gradcalc.core.kinds.fields import pair_from_text

        try:
            pair = pair_from_text(stripped) or (
                pair_from_text(stripped, triple=True) if dims == 3 else None
            )
        except SpecError as error:  # "1x010": refused as a lone "010" is
            raise SpecFileError(source, error.message) from None
        if pair is not None:  # "2x1", as `gradcalc random --stride 2x1` takes it
            return pair
    arrays = "tensor" in types or pairs
    if "tensor" in types and _SYMBOLIC_FIELD.fullmatch(stripped):
        return stripped
    if arrays and (_ROW_SEPARATOR.search(stripped) or len(_SEPARATORS.split(stripped)) > 1):
        return parse_matrix(stripped, source, symbols=symbols and "tensor" in types)
    value = _flow(stripped, source)
    if isinstance(value, str):
        number = _number(value)
        if number is not None:
            return number
        if pairs and not _is_choice(value, spec_field) and dims not in (1, 3):
            reason = _number_problem(value)
            raise SpecFileError(
                source,
                reason
                or f'expected a whole number or two as HxW (2x1), "2 1" or [2, 1], got '
                f"{value!r} ({spec_field.name}: {spec_field.help})",
            )
    return value


def _is_choice(text: str, spec_field: Field) -> bool:
    """``same``, ``global``: a word the field takes besides numbers (the core reads it)."""
    word = text.strip().lower()
    return any(word == str(choice).lower() for choice in spec_field.choices)


def parse_matrix(text: str, source: str, *, symbols: bool = False) -> list:
    """``"2 -1; 0 -1"`` (or ``"2 -1\\n0 -1"``) -> [[2, -1], [0, -1]]; without ``;`` or a line
    break, a flat list of entries.  Blank lines around the text are ignored.  ``symbols``: an
    entry may be a name or a formula (``b11``, ``b22/2``), kept as text for the core to read."""
    from gradcalc.cli.spec_loader import SpecFileError

    text = text.strip()
    rows = _ROW_SEPARATOR.split(text)
    two_dimensional = len(rows) > 1
    if two_dimensional and not rows[-1].strip():
        rows.pop()  # "1 2 3;" is a 1×3 matrix
    matrix: list[list[Any]] = []
    for r, row in enumerate(rows, start=1):
        tokens = _entries(row)
        where = f"row {r}" if two_dimensional else "the list"
        if not tokens:
            raise SpecFileError(source, f"{where} is empty (rows are split by ';' or line breaks)")
        entries = []
        for c, token in enumerate(tokens, start=1):
            at = f"row {r}, entry {c}" if two_dimensional else f"entry {c}"
            if not token:
                reason = _empty_entry(c, len(tokens), "the row" if two_dimensional else "the list")
                raise SpecFileError(source, f"{at} is empty ({reason})")
            number = _number(token)
            if number is None and symbols and _FORMULA_ENTRY.fullmatch(token):
                number = token  # the core checks it names declared symbols only
            if number is None:
                reason = _number_problem(token)
                if reason is not None:  # a number, but one gradcalc cannot take (1e300)
                    raise SpecFileError(source, f"{at}: {reason}")
                raise SpecFileError(
                    source,
                    f"{at}: {token!r} is not a number (write 2, -0.5, 1e-6 or 1/4; "
                    "rows split by ';' or line breaks, entries by spaces or commas)",
                )
            entries.append(number)
        if matrix and len(entries) != len(matrix[0]):
            raise SpecFileError(
                source,
                f"row {r} has {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} but row 1 "
                f"has {len(matrix[0])}; every row must have the same length",
            )
        matrix.append(entries)
    return matrix if two_dimensional else matrix[0]


def _entries(row: str) -> list[str]:
    """A row's entries as text, split by spaces or commas; ``""`` for an empty entry
    between two commas or before/after one ("1,,2", "1, ,2", ",1", "1,"), which is
    refused rather than dropped: a dropped entry shifts the rest into the wrong place."""
    parts = row.split(",")
    if len(parts) == 1:
        return row.split()
    entries: list[str] = []
    for part in parts:
        entries.extend(part.split() or [""])
    return entries


def _empty_entry(position: int, count: int, where: str) -> str:
    if position == 1:
        return f"{where} starts with a comma; remove it"
    if position == count:
        return f"a comma ends {where}; remove it"
    return "nothing between two commas; write a number there or remove a comma"


def _number(token: str) -> Any:
    """An exact number (int, or Fraction) for numeric text, else None."""
    from gradcalc.core.errors import SpecError
    from gradcalc.core.values import parse_number

    try:
        number = parse_number(token, ())
    except SpecError:
        return None
    return number.numerator if number.denominator == 1 else number


def _number_problem(token: str) -> str | None:
    """Why numeric-looking text is refused (too large, exponent too big), or None when it
    is not a number at all."""
    from gradcalc.core.errors import SpecError
    from gradcalc.core.values import parse_number

    try:
        parse_number(token, ())
    except SpecError as error:
        return None if error.message.startswith("expected") else error.message
    return None


def _flow(text: str, source: str) -> Any:
    """One YAML value (flow text such as ``[[1, 2], [3, 4]]``), numbers exact."""
    import yaml

    from gradcalc.cli.spec_loader import MAX_VALUES, SpecFileError
    from gradcalc.cli.yaml_nodes import Converter

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        column = f" at character {mark.column + 1}" if mark is not None else ""
        problem = error.problem or error.context or "invalid"
        raise SpecFileError(source, f"cannot read the value{column}: {problem}") from None
    except (yaml.YAMLError, RecursionError):
        raise SpecFileError(source, "cannot read the value as YAML or JSON") from None
    if node is None:
        return None
    return Converter(source, MAX_VALUES).convert(node)


# ---------------------------------------------------------------------------
# Merging options into a spec


@record
class _Merged:
    """A spec read from a file and/or options, with positions for the file's fields only."""

    source: str  # the command, e.g. "gradcalc conv"
    data: dict[str, Any]
    loaded: Any = None  # the LoadedSpec of the --spec file, if any
    options: dict[str, str] = field(default_factory=dict)  # spec key -> option name

    def position(self, path, *, at_key: bool = False) -> tuple[int, int] | None:
        if self.loaded is None or (path and path[0] in self.options):
            return None
        return self.loaded.position(path, at_key=at_key)

    def where(self, path, *, at_key: bool = False) -> str:
        if path and path[0] in self.options:
            return f"{self.source} {self.options[path[0]]}"
        if self.loaded is not None:
            return self.loaded.where(path, at_key=at_key)
        return self.source


def load_problem(
    kind: str,
    spec_path: str | None,
    given: Mapping[str, str],
    *,
    max_values: int,
    preloaded: Any = None,
) -> Any:
    """The spec to solve: the ``--spec`` file (if any) with the inline fields ``given`` (spec
    key -> the option's text) laid over it; ``preloaded``: the file, read already (by
    ``gradcalc run``)."""
    from gradcalc.cli.spec_loader import SpecFileError, load_file
    from gradcalc.core.registry import OPS

    command = f"gradcalc {kind}"
    if spec_path is None and not given:
        raise SpecFileError(
            command,
            "give a spec file (--spec FILE, '-' for standard input) or the problem's fields as "
            f"options (see `gradcalc {kind} --help`)",
        )
    if not given:
        return preloaded if preloaded is not None else load_file(spec_path, max_values=max_values)
    loaded = load_file(spec_path, max_values=max_values) if spec_path is not None else None
    data = dict(loaded.data) if loaded is not None else {}
    fields = {f.name: f for f in inline_fields(OPS[kind])}
    # Names in a matrix option are read only once symbols are declared (--symbols, or the spec
    # file's `symbols`): until then "1 O" stays the typo it is, with the option's own message.
    symbols = takes_symbols(OPS[kind]) and ("symbols" in given or "symbols" in data)
    options: dict[str, str] = {}
    dims = _axes(data.get("dims"))  # the file's, unless --dims (read first) says otherwise
    for key, text in sorted(given.items(), key=lambda item: item[0] != "dims"):
        option = option_name(key)
        data[key] = parse_value(
            text, fields[key], f"{command} {option}", symbols=symbols, dims=dims
        )
        options[key] = option
        if key == "dims":
            dims = _axes(data[key])
    return _Merged(source=command, data=data, loaded=loaded, options=options)


def _axes(dims: Any) -> int | None:
    """A spec's ``dims`` as a number when it reads as one (3, "3", 3.0), else None (the kind
    refuses it with its own message)."""
    if dims is None or isinstance(dims, bool):
        return None
    number = _number(str(dims))
    return number if isinstance(number, int) else None
