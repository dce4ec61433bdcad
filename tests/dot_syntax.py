"""A small reader of the Graphviz DOT language, for the tests of ``--format dot``: it
tokenizes and parses the DOT that gradcalc writes as Graphviz's own lexer does (scan.l:
in a quoted string ``\\"`` is a quote and ``\\\\`` stays two characters for the label to read),
so a title or name that broke out of its string, or added a node or an attribute, shows
as a parse error or an unexpected node or attribute.  ``run_dot`` runs Graphviz's ``dot``
on it when installed (skips with the reason otherwise, or fails under
GRADCALC_REQUIRE_DOT=1).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

import pytest

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/|^\#[^\n]*)
  | (?P<edge>->|--)
  | (?P<punct>[{}\[\]=;,:])
  | (?P<quoted>"(?:\\.|[^"\\])*")
  | (?P<number>-?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?))
  | (?P<word>[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9\x80-\U0010ffff]*)
    """,
    re.VERBOSE | re.DOTALL | re.MULTILINE,
)


class DotSyntaxError(AssertionError):
    pass


def tokens(text: str) -> list[tuple[str, str]]:
    """(kind, value) of each token; a quoted string's value as Graphviz's lexer keeps it."""
    found, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise DotSyntaxError(f"no DOT token at {text[position : position + 30]!r}")
        position = match.end()
        kind = match.lastgroup
        if kind in ("space", "comment"):
            continue
        value = match.group()
        if kind == "quoted":
            # scan.l: \" is a quote, \\ stays \\ (the label reads it), \<newline> is dropped.
            inner = value[1:-1]
            value = re.sub(
                r"\\(.)", lambda m: m.group(1) if m.group(1) == '"' else m.group(), inner
            )
            value = value.replace("\\\n", "")
            kind = "id"
        elif kind in ("number", "word"):
            kind = "id"
        found.append((kind, value))
    return found


@dataclass
class DotGraph:
    name: str | None
    graph_attributes: dict[str, str] = field(default_factory=dict)
    node_defaults: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)


class _Parser:
    def __init__(self, found: list[tuple[str, str]]):
        self.found, self.at = found, 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.at + offset
        return self.found[index] if index < len(self.found) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise DotSyntaxError(f"expected {value or kind} at token {self.at}, got {token}")
        self.at += 1
        return token[1]

    def attributes(self) -> dict[str, str]:
        result: dict[str, str] = {}
        while self.peek() == ("punct", "["):
            self.take("punct", "[")
            while self.peek() != ("punct", "]"):
                key = self.take("id")
                self.take("punct", "=")
                if key in result:
                    raise DotSyntaxError(f"attribute {key} given twice")
                result[key] = self.take("id")
                if self.peek() in (("punct", ","), ("punct", ";")):
                    self.at += 1
            self.take("punct", "]")
        return result

    def graph(self) -> DotGraph:
        kind = self.take("id")
        if kind not in ("digraph", "graph"):
            raise DotSyntaxError(f"a DOT file starts with digraph or graph, got {kind!r}")
        name = self.take("id") if self.peek() and self.peek()[0] == "id" else None
        graph = DotGraph(name)
        self.take("punct", "{")
        while self.peek() != ("punct", "}"):
            self.statement(graph)
            if self.peek() == ("punct", ";"):
                self.at += 1
        self.take("punct", "}")
        if self.peek() is not None:
            raise DotSyntaxError(f"text after the graph: {self.found[self.at :]}")
        return graph

    def statement(self, graph: DotGraph) -> None:
        first = self.take("id")
        if first in ("graph", "node", "edge") and self.peek() == ("punct", "["):
            target = {"graph": graph.graph_attributes, "node": graph.node_defaults}.get(first, {})
            target.update(self.attributes())
            return
        if self.peek() == ("punct", "="):
            self.take("punct", "=")
            graph.graph_attributes[first] = self.take("id")
            return
        chain = [first]
        while self.peek() and self.peek()[0] == "edge":
            self.take("edge")
            chain.append(self.take("id"))
        attributes = self.attributes()
        if len(chain) == 1:
            if first in graph.nodes:
                raise DotSyntaxError(f"node {first} declared twice")
            graph.nodes[first] = attributes
        else:
            graph.edges += list(zip(chain, chain[1:], strict=False))


def parse(text: str) -> DotGraph:
    """The one graph of ``text``, or a DotSyntaxError."""
    return _Parser(tokens(text)).graph()


def label_lines(label: str) -> list[str]:
    """A label's lines as Graphviz draws them: ``\\n``, ``\\l``, ``\\r`` end a line, ``\\\\``
    is a backslash; any other escape (``\\N``: the node's name, ``\\G``, …) would be replaced
    by Graphviz, so here it is an error: gradcalc's text must never hold one."""
    lines, current, index = [], "", 0
    while index < len(label):
        char = label[index]
        if char != "\\":
            current += char
            index += 1
            continue
        escape = label[index + 1 : index + 2]
        if escape in ("n", "l", "r"):
            lines.append(current)
            current = ""
        elif escape == "\\":
            current += "\\"
        else:
            raise DotSyntaxError(f"a label escape Graphviz would replace: \\{escape} in {label!r}")
        index += 2
    if current:
        lines.append(current)
    return lines


def dot_path() -> str:
    """Graphviz's dot; skips (or fails under GRADCALC_REQUIRE_DOT=1) when it is not installed."""
    path = shutil.which("dot")
    if path is None:
        if os.environ.get("GRADCALC_REQUIRE_DOT") == "1":
            pytest.fail(
                "GRADCALC_REQUIRE_DOT=1 but Graphviz's dot is not installed (apt: graphviz)"
            )
        pytest.skip(
            "Graphviz's dot is not installed (apt: graphviz): the DOT parser here checks it"
        )
    return path


def dot_installed() -> bool:
    """True when Graphviz's dot is here (or GRADCALC_REQUIRE_DOT=1 asks for it: then
    ``run_dot`` fails without it)."""
    return shutil.which("dot") is not None or os.environ.get("GRADCALC_REQUIRE_DOT") == "1"


def run_dot(text: str) -> str:
    """``dot -Tsvg`` on ``text``: its SVG; fails on any error or warning."""
    done = subprocess.run(
        [dot_path(), "-Tsvg"], input=text.encode(), capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert not done.stderr, done.stderr.decode(errors="replace")
    return done.stdout.decode()
