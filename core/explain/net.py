"""The explanation of a net (core/kinds/net.py): the graph, then each layer's own kind's
sections, the forward ones (problem, size, forward) in order, the loss, and the backward
ones (derivative, Jacobian, routing, backward, …) in reverse.

Every layer was read and run by its own kind (core/kinds/net_run.py keeps each layer's problem
and Run in the trace), so its sections are that kind's explanation, built here by its own
Explainer as core/solve.py builds any kind's (and only when the net is explained, never for
the finite-difference check), titled with the layer's name; the upstream a layer received is named
∂L/∂(its output) with the layer's name as the output's symbol, which is the next layer's
∂L/∂input.  Flatten, which is no kind, is explained here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.explain import (
    GRADIENT,
    OUTPUT,
    Matrix,
    Note,
    Section,
    Summarised,
    SymbolTable,
    Words,
)
from gradcalc.core.float_source import each_float
from gradcalc.core.kinds.net import Layer, NetProblem
from gradcalc.core.words import count_words

# A layer's own sections that belong to the forward pass (shown in layer order); the rest
# are its backward pass (shown in reverse).
FORWARD_SECTIONS = ("problem", "size", "forward")
# A layer's own convention lines the net says once for all layers, in its own words.
_NET_SAYS = ("indices start at", "upstream", "exact rational arithmetic", "float64 arithmetic")
_NET_SAYS += ("symbolic entries",)  # one line naming every symbol of the net
# Lines about the layer's own finite-difference check or results, which the net replaces.
_NOT_THE_NETS = ("finite-difference check", "argmax (results")


def shape_words(shape: tuple[int, ...]) -> str:
    """``1×2×3×3``, ``3`` for a vector, ``a single number``."""
    return "×".join(map(str, shape)) if shape else "a single number"


def axis_names(ndim: int) -> tuple[str, ...]:
    """Slice names for a layer's arrays: n, c, row, col from the right (n, c, depth, row,
    col for a 3-D convolution's five axes)."""
    if ndim == 5:
        return ("n", "c", "depth", "row", "col")
    return (
        ("n", "c", "row", "col")[-ndim:] if 0 < ndim <= 4 else tuple(f"a{i}" for i in range(ndim))
    )


class Explained:
    """One layer's (or the loss's) own explanation: its kind's Explainer on the problem, Run
    and options the layer ran with (core/kinds/net_run.py LayerRun), as core/solve.py
    explains a spec of that kind; flatten, which is no kind, has none of its own."""

    def __init__(self, ran: Any):
        self.sections: list[Section] = []
        # The sections the kind leaves out unless --show names them (a pool's ties for an
        # average pool): the net passes each layer the sections it shows, so it leaves
        # them out itself when --show names none.
        self.not_applicable: frozenset[str] = frozenset()
        self._explainer = None
        self._conventions: list[str] | None = None
        if ran.problem is None:
            return
        explainer = registry.explain_module(ran.kind).Explainer(ran.problem, ran.run, ran.options)
        self.sections = explainer.sections()
        if hasattr(explainer, "not_applicable"):
            self.not_applicable = explainer.not_applicable()
        if ran.options.explain:
            self._explainer = explainer

    @property
    def conventions(self) -> list[str]:
        """The kind's convention lines, built when first asked for: the net says those of
        the backward runs and the loss, never a forward run's (its explainer only gives
        the size and forward sections)."""
        if self._conventions is None:
            explainer = self._explainer
            self._conventions = [] if explainer is None else explainer.conventions()
        return self._conventions


class Explainer:
    """The net's conventions and sections, from the layers' own solutions (its trace)."""

    def __init__(self, problem: NetProblem, run: Any, options: common.SolveOptions):
        self.p = problem
        self.run = run
        self.t = run.trace
        self.options = options
        self._explained: dict[int, Explained] = {}

    def _own(self, ran: Any) -> Explained:
        """A layer run's own explanation, built the first time it is asked for."""
        if id(ran) not in self._explained:
            self._explained[id(ran)] = Explained(ran)
        return self._explained[id(ran)]

    # conventions ---------------------------------------------------------
    def conventions(self) -> list[str]:
        p = self.p
        last = p.layers[-1].name
        lines = [
            "layers run in order, each solved by its own kind (its sections below carry its "
            "name); the backward pass runs them in reverse, and the upstream a layer receives, "
            "∂L/∂(its output), is the next layer's ∂L/∂input",
            self._loss_line(last),
            self._arithmetic_line(),
            f"indices start at {p.index_base} (index_base: {p.index_base})",
            *self._symbolic_lines(),
        ]
        if self.options.layer is not None:
            lines.append(
                f"--layer {self.options.layer}: only {self.options.layer}'s sections (its line of "
                "the graph, its forward and backward pass) are shown; the results and checks "
                "are the whole net's"
            )
        for layer, ran in zip(p.layers, self.t.backward, strict=True):
            if self._shown(layer):
                own = self._own(ran).conventions
                lines += [_prefixed(layer.name, line) for line in _own_lines(own)]
        if self.t.loss is not None and self.options.layer is None:
            own = self._own(self.t.loss).conventions
            lines += [_prefixed("loss", line) for line in _own_lines(own)]
        return lines

    def _symbolic_lines(self) -> list[str]:
        """The net's symbols, once for all its layers (docs/symbolic.md), or why they were
        given random values."""
        from gradcalc.core.explain.pieces import symbolic_words

        if self.p.symbolic_capped:
            return [self.p.symbolic_capped]
        from gradcalc.core.kinds.net_symbols import given_arrays

        return symbolic_words(*given_arrays(self.p))

    def _loss_line(self, last: str) -> str:
        L = self.p.names["loss"]
        if self.p.loss is not None:
            return f"loss {L}: {self.p.loss['loss']} of {last}'s output"
        if isinstance(self.p.upstream, np.ndarray):
            return f"no loss: the upstream ∂{L}/∂{last} as given in the spec"
        return f"no loss: upstream omitted, ∂{L}/∂{last} = ones, i.e. {L} = sum of {last}'s outputs"

    def _arithmetic_line(self) -> str:
        float_from = self.t.float_from
        if self.run.exact:
            return (
                "exact rational arithmetic in every layer (fractions print as p/q unless --decimal)"
            )
        if self.options.force_float or float_from is None:
            return "float64 arithmetic (--float)"
        names = [layer.name for layer in self.p.layers] + ["loss"]
        before = names[: names.index(float_from)]
        exact_part = (
            f"the forward pass is exact through {before[-1]}; "
            if before
            else "float64 throughout: "
        )
        return (
            f"{exact_part}from {float_from} on it runs in float64 ({self._float_reason()}), and "
            "so does every gradient (each layer's backward pass takes the float64 ∂L/∂output of "
            "the layer after it)"
        )

    def _float_reason(self) -> str:
        """Why the first float64 layer ran in float64, in its kind's own words."""
        name = self.t.float_from
        if name == "loss":
            ran = self.t.loss
        else:
            ran = self.t.backward[[layer.name for layer in self.p.layers].index(name)]
        for line in self._own(ran).conventions:
            if line.startswith("float64 arithmetic:"):
                return line.removeprefix("float64 arithmetic: ")
        return "its kind computes in float64"

    # sections ------------------------------------------------------------
    def sections(self) -> list[Section]:
        """The graph, each layer's forward sections in order, the loss, each layer's
        backward sections in reverse."""
        sections = [self.section_graph()] if self.options.wants("graph") else []
        shown = [layer for layer in self.p.layers if self._shown(layer)]
        for layer in shown:
            sections += self._layer_sections(layer, forward=True)
        if self.t.loss is not None and self.options.layer is None:
            sections += [_titled("loss", section) for section in self._own(self.t.loss).sections]
        for layer in reversed(shown):
            sections += self._layer_sections(layer, forward=False)
        return sections

    def _shown(self, layer: Layer) -> bool:
        """True for a layer whose sections are shown: every layer, or the one --layer names."""
        return self.options.layer is None or layer.name == self.options.layer

    def _layer_sections(self, layer: Layer, *, forward: bool) -> list[Section]:
        if layer.type == "flatten":
            key = "forward" if forward else "backward"
            if not self.options.wants(key):
                return []
            return [self._flatten_forward(layer) if forward else self._flatten_backward(layer)]
        solved = self.t.backward[layer.index]
        own = self._own(solved).sections
        if forward:
            # The problem statement (with the upstream the layer received) from the backward
            # pass; size and forward from the forward pass, exact while the chain is.
            problem = [s if solved.exact else _as_float64(s) for s in own if s.key == "problem"]
            own = problem + self._own(self.t.forward[layer.index]).sections
        else:
            own = [s for s in own if s.key not in FORWARD_SECTIONS]
        if self.options.sections is None:
            skip = self._own(solved).not_applicable
            own = [s for s in own if s.key not in skip]
        sections = [_titled(layer.name, section) for section in own]
        first = next((i for i, s in enumerate(sections) if forward or s.key != "problem"), None)
        # Where the layer's upstream is first shown: say where it is from (not in a section
        # built as the table report's summary, which leaves every note out).
        if first is not None and not isinstance(sections[first], Summarised):
            section = sections[first]
            notes = [self._upstream_note(layer), *self._rows_notes(layer, forward=forward)]
            sections[first] = section.with_items([*notes, *section.items], shift=len(notes))
        return sections

    def _rows_notes(self, layer: Layer, *, forward: bool) -> list[Note]:
        """A dense layer on a ≥3-D input (*, L) runs on its rows (core/kinds/net_run.py
        as_rows): how its input, output and gradients are read; [] for any other layer."""
        source = self.p.source(layer.index)
        before = self.p.input.shape if not layer.index else self.p.shapes[source]
        if layer.type != "dense" or len(before) < 3:
            return []
        after = self.p.shapes[layer.name]
        rows, features, out = int(np.prod(before[:-1])), before[-1], after[-1]
        L = self.p.names["loss"]
        if not forward:
            return [
                Note(
                    f"∂{L}/∂{source} below is {rows}×{features}, one row per row of "
                    f"{source}; it is read back as {shape_words(before)}, {source}'s shape"
                )
            ]
        return [
            Note(
                f"{layer.name} applies to the last axis (as nn.Linear): the {shape_words(before)} "
                f"input is read as {count_words(rows, 'row')} of {count_words(features, 'feature')}, and its {rows}×{out} "
                f"output is read back as {shape_words(after)}; ∂{L}/∂{layer.name} "
                f"({shape_words(after)}) is read as {count_words(rows, 'row')} of {out} likewise"
            )
        ]

    def _upstream_note(self, layer: Layer) -> Note:
        """Where the upstream ∂L/∂(this layer) comes from: the next layer's ∂L/∂input."""
        L = self.p.names["loss"]
        upstream = f"∂{L}/∂{layer.name}"
        if layer.index + 1 < len(self.p.layers):
            after = self.p.layers[layer.index + 1].name
            return Note(
                f"the upstream {upstream} is {after}'s ∂{L}/∂input (its backward pass, the "
                f"input of {after} being {layer.name})"
            )
        if self.p.loss is not None:
            return Note(f"the upstream {upstream} is the loss's ∂{L}/∂input")
        if isinstance(self.p.upstream, np.ndarray):
            return Note(f"the upstream {upstream} is the net's upstream, as given in the spec")
        return Note(
            f"the upstream {upstream} is all ones: {L} is the sum of {layer.name}'s outputs"
        )

    def section_graph(self) -> Section:
        if self.options.layer is not None:
            return self._graph_line(self.options.layer)
        p = self.p
        section = Section("graph", "Graph: the layers and the shapes that flow")
        rows, cells = [p.names["input"]], [("input", "", shape_words(p.input.shape))]
        chain = [f"{p.names['input']} {shape_words(p.input.shape)}"]
        for layer in p.layers:
            shape = shape_words(p.shapes[layer.name])
            rows.append(layer.name)
            cells.append((type_words(layer), self._parameters(layer), shape))
            chain.append(f"{layer.name} → {shape}")
        if p.loss is not None:
            rows.append(p.names["loss"])
            cells.append((f"loss: {p.loss['loss']}", "", shape_words(p.shapes["loss"])))
            chain.append(p.names["loss"])
        section.add(
            SymbolTable(
                "the layers", ("type", "parameters", "output shape"), tuple(rows), tuple(cells)
            )
        )
        section.add(Note(" → ".join(chain)))
        return section

    def _graph_line(self, name: str) -> Section:
        """The graph's line for one layer (--layer): its row, and what flows in and out."""
        p = self.p
        layer = next(layer for layer in p.layers if layer.name == name)
        source = p.source(layer.index)
        before = p.input.shape if not layer.index else p.shapes[source]
        section = Section("graph", f"Graph: {name}, the shapes that flow in and out")
        cells = ((type_words(layer), self._parameters(layer), shape_words(p.shapes[name])),)
        section.add(
            SymbolTable("the layer", ("type", "parameters", "output shape"), (name,), cells)
        )
        after = p.layers[layer.index + 1].name if layer.index + 1 < len(p.layers) else None
        after = after or (p.names["loss"] if p.loss is not None else None)
        chain = [f"{source} {shape_words(before)}", f"{name} → {shape_words(p.shapes[name])}"]
        section.add(Note(" → ".join(chain + ([after] if after else []))))
        return section

    def _parameters(self, layer: Layer) -> str:
        shapes = [
            f"{parameter} {shape_words(self.p.shapes[f'{layer.name}.{parameter}'])}"
            for parameter in layer.parameters
        ]
        return ", ".join(shapes)

    def _flatten_forward(self, layer: Layer) -> Section:
        source = self.p.source(layer.index)
        values = self.run.results[f"{layer.name}.output"]
        before = self.p.input.shape if not layer.index else self.p.shapes[source]
        section = Section(
            "forward", f"{layer.name} · Forward: flatten (torch.flatten, start_dim=1)"
        )
        section.add(
            Note(
                f"{layer.name} = {source} reshaped from {shape_words(before)} to "
                f"{shape_words(values.shape)}: each sample's entries in row-major order "
                "(the last index varies fastest); no value changes"
            )
        )
        section.add(
            Matrix(layer.name, values, axis_names(values.ndim), self.p.index_base, role=OUTPUT)
        )
        return section

    def _flatten_backward(self, layer: Layer) -> Section:
        source = self.p.source(layer.index)
        L = self.p.names["loss"]
        grad = self.t.backward[layer.index].results["grad_input"]
        section = Section("backward", f"{layer.name} · Backward: ∂{L}/∂{source}")
        section.add(
            Note(
                f"∂{L}/∂{source} = ∂{L}/∂{layer.name} reshaped back to {shape_words(grad.shape)}: "
                "each entry's gradient goes back to the entry it came from"
            )
        )
        section.add(
            Matrix(f"∂{L}/∂{source}", grad, axis_names(grad.ndim), self.p.index_base, role=GRADIENT)
        )
        return section


def type_words(layer: Layer) -> str:
    """``conv``, ``activation: relu``, ``pool: max 2``, ``softmax: log_softmax``."""
    detail = layer.keys.get("function") or layer.keys.get("mode")
    if layer.type == "dropout":
        detail = f"p = {layer.keys.get('p', '1/2')}"
    return f"{layer.type}: {detail}" if detail else layer.type


def _as_float64(section: Section) -> Section:
    """A problem statement of a layer that ran in float64, its arrays as float64: the values
    its arithmetic used (an upstream that came from a float64 layer is a float64 value, not
    the long fraction it reads as)."""
    items = [
        replace_values(item, _floats_of(item.values))
        if isinstance(item, Matrix) and item.values.dtype == object
        else item
        for item in section.items
    ]
    return section.with_items(items)


def _floats_of(values: np.ndarray) -> np.ndarray:
    """each_float of an object array (any shape, the same shape back); a marker a problem
    statement writes as text (a max pool's padding cells, '−∞') stays as it is written."""
    try:
        return each_float(values)
    except ValueError:  # a marker, such as '−∞' (U+2212), is no number
        pass
    marked = np.empty(values.shape, dtype=object)
    for index, value in np.ndenumerate(values):
        marked[index] = value if isinstance(value, str) else float(value)
    return marked


def replace_values(matrix: Matrix, values: np.ndarray) -> Matrix:
    return Matrix(
        matrix.label, values, matrix.axis_names, matrix.index_base, matrix.caption, matrix.role
    )


def _titled(name: str, section: Section) -> Section:
    return section.with_items(section.items, title=f"{name} · {section.title}")


def _own_lines(lines: list[str]) -> list[str]:
    return [
        line
        for line in lines
        if not line.startswith(_NET_SAYS) and not any(words in line for words in _NOT_THE_NETS)
    ]


def _prefixed(name: str, line: str) -> str:
    """``conv1: …``; a line of text and numbers (Words) keeps its numbers."""
    if isinstance(line, Words):
        return Words(f"{name}: ", *line.pieces)
    return f"{name}: {line}"
