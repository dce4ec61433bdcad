"""Reading a spec with PyYAML: composing it into nodes and turning them into data.

The spec loader (cli/spec_loader.py) reads the usual spec with the plain reader
(cli/plain_yaml.py) and comes here only for the rest: a spec outside the plain
subset, every error (PyYAML's messages carry the line and column), and the line and
column of a value an error in the core names.  Importing PyYAML costs more than a
tenth of gradcalc's start-up, so this module is imported only then.

PyYAML only *composes* the document into nodes here (no tag ever constructs a
Python object); :class:`Converter` turns the nodes into plain data itself, so it can

- keep numbers exact: ``0.1`` becomes ``Fraction(1, 10)``, not a float;
- reject duplicate keys, non-standard tags and non-text keys;
- cap the total number of values, so that alias expansion ("billion laughs")
  cannot use unbounded memory or time.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import yaml

from gradcalc.cli.yaml_values import (
    INT_TAG,
    STANDARD_TAGS,
    STR_TAG,
    SpecFileError,
    first_surrogate,
    scalar_value,
    surrogate_problem,
)
from gradcalc.core.errors import FieldPath
from gradcalc.core.patterns import LazyPattern, is_whole_number


def mark(node: yaml.Node) -> tuple[int, int]:
    """1-based (line, column) where ``node`` starts."""
    return node.start_mark.line + 1, node.start_mark.column + 1


def position(root: yaml.Node, path: FieldPath, *, at_key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of the value at ``path`` under ``root`` (of its key with
    ``at_key``), or of the closest enclosing value when the path goes further."""
    node = root
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    if last and at_key:
                        return mark(key_node)
                    node = value_node
                    break
            else:
                return mark(node)
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            node = node.value[part]
        else:
            return mark(node)
    return mark(node)


def compose_taken(text: str) -> yaml.Node | None:
    """The node tree of a text the plain reader took (it keeps no positions), or None
    should PyYAML refuse it, which cannot happen for such a text."""
    try:
        return yaml.compose(text, Loader=_MemoLoader or yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def resolve_tag(text: str) -> str:
    """The tag PyYAML's resolver gives the plain scalar ``text``."""
    return _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))


_RESOLVER = yaml.resolver.Resolver()


class Converter:
    """Turns composed nodes into plain data (see the module's docstring), counting values."""

    def __init__(self, source: str, max_values: int):
        self.source = source
        self.max_values = max_values
        self.count = 0

    def fail(self, node: yaml.Node, message: str) -> SpecFileError:
        line, column = mark(node)
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
        if node.tag not in STANDARD_TAGS:
            raise self.fail(node, f"unsupported tag {node.tag!r}; specs use plain YAML values only")
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.fail(key_node, "keys must be plain text")
                key = key_node.value
                if key_node.tag in (STR_TAG, INT_TAG):
                    # Refuses a lone surrogate; numeric keys stay ints, for a clear later message.
                    key = self._scalar(key_node)
                if key in result:
                    raise self.fail(key_node, f"duplicate key {key!r}; each key may appear once")
                result[key] = self.convert(value_node, depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            items = node.value
            # Fast path for a row of plain integers, the bulk of any large spec.
            if all(
                type(item) is yaml.ScalarNode
                and item.tag == INT_TAG
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
        text = node.value
        if node.tag == STR_TAG:
            surrogate = first_surrogate(text)
            if surrogate is not None:
                raise self.fail(node, surrogate_problem(surrogate))
        return scalar_value(node.tag, text)


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


# YAML's line breaks, as PyYAML and LibYAML count lines (CR LF is one break).
_LINE_BREAK = LazyPattern("\r\n|[\r\n\x85\u2028\u2029]")


def line_column(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of the character at ``index``, counted as YAML marks are."""
    line, start = 1, 0
    for match in _LINE_BREAK.finditer(text, 0, index):
        line, start = line + 1, match.end()
    return line, index - start + 1


def character_error(text: str, source: str, error: yaml.reader.ReaderError) -> SpecFileError:
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
    line, column = line_column(text, index)
    return SpecFileError(
        source,
        f"{what} U+{code:04X} is not allowed in YAML; remove it (tabs and newlines are fine)",
        line,
        column,
    )


def syntax_problem(text: str, error: yaml.MarkedYAMLError) -> str:
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


def compose_spec(text: str, source: str, max_values: int) -> tuple[yaml.Node, Any]:
    """The spec's node tree and its data; every problem raises SpecFileError."""
    fast = _MemoLoader
    loader = yaml.SafeLoader if fast is None or _is_deep(text) else fast
    try:
        node = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as error:
        problem_mark = error.problem_mark or error.context_mark
        problem = syntax_problem(text, error)
        if problem_mark is not None:
            raise SpecFileError(
                source,
                f"YAML syntax error: {problem}",
                problem_mark.line + 1,
                problem_mark.column + 1,
            ) from None
        raise SpecFileError(source, f"YAML syntax error: {problem}", 1, 1) from None
    except yaml.reader.ReaderError as error:
        raise character_error(text, source, error) from None
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
    converter = Converter(source, max_values)
    if not isinstance(node, yaml.MappingNode):
        what = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        raise converter.fail(
            node, f"the spec must be a mapping of keys to values (like `input: ...`), got {what}"
        )
    return node, converter.convert(node)
