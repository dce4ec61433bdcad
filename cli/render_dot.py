"""``--format dot``: a net's computational graph as Graphviz DOT text, written here (no
Graphviz library), so that ``gradcalc net --spec n.yaml --format dot | dot -Tsvg > n.svg``
draws it.

One node for the net's input, one per layer (its name, type, parameters' shapes and output
shape), one for the loss; edges for the forward flow.  With ``--values`` each node also
carries its forward values and ∂L/∂(its output), a layer's also its parameters' gradients,
written as every other output writes numbers (exact fractions, or ``--decimal``), each array
cut to ``--steps`` rows of at most ``--steps`` entries with a visible "…".

Node identifiers are gradcalc's own (``n0``, ``n1``, …, ``loss``); every text from the spec
(the title, the names of the input and the loss) is only ever inside a quoted label, with
its control characters written out and its backslashes and quotes escaped, so no title or
name can end the string, add an attribute or a node, or reach the terminal raw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.cli.safe_text import one_line
from gradcalc.core.words import count_words

if TYPE_CHECKING:
    from gradcalc.cli.numbers import NumberStyle
    from gradcalc.cli.options import RunOptions
    from gradcalc.core.outcome import Solution

INDENT = "  "


def quoted(text: str) -> str:
    """``text`` as a DOT quoted string: control and invisible characters written out
    (``\\x0a``: a name or title stays one line), then backslash and double quote escaped
    (a backslash left alone would start an escape such as ``\\N``, the node's name)."""
    safe = one_line(text).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{safe}"'


class Label:
    """A node's label built line by line: centred lines (``\\n``) for the heading, left
    aligned ones (``\\l``) for numbers.  Each line's text is escaped on its own; only the
    line ends gradcalc adds are DOT escapes."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def centred(self, text: str) -> None:
        self.parts.append(quoted(text)[1:-1] + "\\n")

    def left(self, text: str) -> None:
        self.parts.append(quoted(text)[1:-1] + "\\l")

    def text(self) -> str:
        return '"' + "".join(self.parts) + '"'


class DotWriter:
    """The DOT text of one solved net (``solution.net``: its NetProblem)."""

    def __init__(self, solution: Solution, style: NumberStyle, options: RunOptions):
        self.solution = solution
        self.net = solution.net
        self.style = style
        self.values = options.values
        self.layer = options.layer
        self.cap = options.steps  # rows per array, and entries per row (None: all)
        self.float_input = options.force_float

    def graph(self) -> str:
        from gradcalc.core.explain.net import shape_words, type_words

        p = self.net
        L = p.names["loss"]
        lines = [f"// gradcalc {self.solution.kind}: {self._checks()}", "digraph net {"]
        if p.title:
            lines.append(f"{INDENT}graph [label={quoted(p.title)}, labelloc=t];")
        lines.append(f'{INDENT}node [shape=box, style="rounded"];')
        label = self._heading(p.names["input"], "input", "", shape_words(p.input.shape))
        # An embedding's input is its indices: integers even under --float, and no ∂L/∂input.
        x = p.input.astype(float) if self.float_input and not p.looks_up else p.input
        inputs: list[tuple[str, Any]] = [(p.names["input"], x)]
        if not p.looks_up:
            inputs.append((f"∂{L}/∂{p.names['input']}", "grad_input"))
        self._arrays(label, inputs)
        lines.append(f"{INDENT}n0 [label={label.text()}];")
        for layer in p.layers:
            parameters = ", ".join(
                f"{name} {shape_words(p.shapes[f'{layer.name}.{name}'])}"
                for name in layer.parameters
            )
            label = self._heading(
                layer.name,
                type_words(layer),
                parameters,
                shape_words(p.shapes[layer.name]),
                layer=True,
            )
            arrays = [(layer.name, f"{layer.name}.output")]
            arrays.append((f"∂{L}/∂{layer.name}", f"{layer.name}.grad_output"))
            arrays += [
                (f"∂{L}/∂{layer.name}.{name}", f"{layer.name}.grad_{name}")
                for name in layer.parameters
            ]
            self._arrays(label, arrays)
            chosen = ', style="rounded,bold", penwidth=2' if layer.name == self.layer else ""
            lines.append(f"{INDENT}n{layer.index + 1} [label={label.text()}{chosen}];")
        nodes = [f"n{i}" for i in range(len(p.layers) + 1)]
        if p.loss is not None:
            label = self._heading(L, f"loss: {p.loss['loss']}", "", shape_words(p.shapes["loss"]))
            self._arrays(label, [(L, "loss")])
            lines.append(f"{INDENT}loss [label={label.text()}, shape=ellipse];")
            nodes.append("loss")
        lines += [f"{INDENT}{a} -> {b};" for a, b in zip(nodes, nodes[1:], strict=False)]
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _checks(self) -> str:
        """The comment line's verdict on the expected answers (the exit status's reason)."""
        checks = self.solution.checks
        if not checks:
            return "no expected answers to check"
        wrong = [check.name for check in checks if not check.ok]
        if not wrong:
            return f"every expected answer matches ({len(checks)} checked)"
        return one_line(f"{len(wrong)} of {len(checks)} expected answers do not match: ") + (
            one_line(", ".join(wrong))
        )

    def _heading(
        self, name: str, kind: str, parameters: str, shape: str, *, layer: bool = False
    ) -> Label:
        """Name, type (and parameters' shapes), output shape: the label without numbers."""
        label = Label()
        label.centred(name)
        label.centred(f"{kind} · {parameters}" if parameters else kind)
        if layer:
            label.centred(f"output {shape}")
        else:  # the input or the loss: its shape is no layer's output
            label.centred(shape if shape == "a single number" else f"shape {shape}")
        return label

    def _arrays(self, label: Label, arrays: list[tuple[str, Any]]) -> None:
        """With --values: each (symbol, result key or array) as ``symbol =`` and its rows."""
        if not self.values:
            return
        for symbol, value in arrays:
            array = self.solution.results[value] if isinstance(value, str) else value
            array = np.asarray(array, dtype=object if np.asarray(array).dtype == object else float)
            if array.ndim == 0:
                label.left(f"{symbol} = {self.style.format(array[()])}")
                continue
            label.left(f"{symbol} =")
            for line in self._rows(array):
                label.left(INDENT + line)

    def _rows(self, array: np.ndarray) -> list[str]:
        """One line per row (the last axis), led by the other axes' indices: ``[0,1,:] 1, 2``;
        at most ``cap`` rows of ``cap`` entries, the rest as "…"."""
        base = self.net.index_base
        rows = array.reshape(-1, array.shape[-1])
        lines = []
        shown = len(rows) if self.cap is None else min(len(rows), self.cap)
        for flat in range(shown):
            entries = [self.style.format(v) for v in rows[flat][: self.cap]]
            if self.cap is not None and rows.shape[1] > self.cap:
                entries.append("…")
            text = ", ".join(entries)
            if array.ndim > 1:
                index = np.unravel_index(flat, array.shape[:-1])
                text = f"[{','.join(str(int(i) + base) for i in index)},:] {text}"
            lines.append(text)
        if shown < len(rows):
            left = count_words(len(rows) - shown, "more row")
            lines.append(f"… {left} (--steps all shows every one)")
        return lines


def dot_graph(solution: Solution, style: NumberStyle, options: RunOptions) -> str:
    """The DOT text of a solved net."""
    return DotWriter(solution, style, options).graph()
