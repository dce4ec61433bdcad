"""A net spec: a chain of single-layer kinds (conv, pool, dense, activation, softmax, dropout,
the normalizations, self-attention; embedding as the first layer) and flatten, ended by a loss or an upstream, read here
(``read(spec, limits) -> NetProblem``), run by core/kinds/net_run.py (``run``; its float64
layers by their ops, core/kinds/net_ops.py) and checked by core/kinds/net_gradcheck.py
(``finite_differences``) for core/solve.py.

A layer is written as its own kind's keys (``function`` for activation, ``mode``/``size``
for pool, ``layout`` for dense) plus ``type`` and an optional ``name``, or as a bare word:
an activation function's name, ``flatten``, ``softmax`` or ``log_softmax``.  Each layer is
read by its own kind (core/kinds/KIND.py, or core/losses.py for the loss) when the net is
read (one float64 pass: shapes flow from layer to layer), so its messages are that kind's,
with the path prefixed (``layers[2].size: …``).  The keys of a net spec are the registry's
Field table for kind net.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.symbolic_fields import answers_at, naming, read_tensor
from gradcalc.core.patterns import is_ascii_name
from gradcalc.core.records import record
from gradcalc.core.values import describe

KIND = "net"
KEYS = registry.field_names(KIND)
NAME_DEFAULTS = {"input": "x", "loss": "L"}
# The results every net has; each layer N adds N.output, N.grad_output and N.grad_<param>
# (RESULT_PATTERN, which the JSON Schema lists).
RESULTS = ("output", "loss", "grad_input")
RESULT_PATTERN = (
    r"^[A-Za-z_][A-Za-z0-9_]*\.(output|grad_output|grad_[a-z_]+|running_mean|running_var)$"
)
# A batch norm layer in training also gives its running statistics, updated by the batch's
# (N.running_mean, N.running_var), as the batchnorm kind does.
RUNNING = ("running_mean", "running_var")
SECTIONS = registry.sections(KIND)
# The single-layer kinds a layer may be, and flatten (a reshape, core/ops/flatten.py).
LAYER_KINDS = ("conv", "pool", "dense", "activation", "softmax", "dropout", "embedding")
NORM_LAYERS = ("batchnorm", "layernorm", "groupnorm")  # issue 16: γ, β per feature
LAYER_KINDS += NORM_LAYERS
LAYER_KINDS += ("rnn",)  # issue 17: its output (every step's h_t) feeds the next layer
LAYER_KINDS += ("conv_transpose",)  # issue 15
LAYER_KINDS += ("attention",)  # issue 17: self-attention, the input as query, key and value
LAYER_TYPES = (*LAYER_KINDS, "flatten")
# The layers' parameters, whose gradients are results (N.grad_kernel, …).
PARAMETERS = {"conv": ("kernel", "bias"), "dense": ("weight", "bias"), "embedding": ("weight",)}
PARAMETERS.update({kind: ("weight", "bias") for kind in NORM_LAYERS})
PARAMETERS["rnn"] = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
PARAMETERS["conv_transpose"] = ("kernel", "bias")
# The key that turns a normalization layer's γ and β off (default true).
AFFINE_FLAGS = {"batchnorm": "affine", "groupnorm": "affine", "layernorm": "elementwise_affine"}
# Keys the net gives every layer itself: a layer that writes one is refused.
SUPPLIED = {
    "input": "the previous layer's output (the first layer's is the net's input)",
    "indices": "the net's input (an embedding layer is the first layer)",
    **{
        role: "the layer's input (an attention layer is self-attention)"
        for role in ("query", "key", "value")
    },
    "upstream": "the next layer's ∂L/∂input (the last layer's comes from the loss)",
    "expected": "the net's expected answers, keyed N.output, N.grad_weight, …",
    "tolerance": "the net's tolerance",
    "names": "the net's names (a layer's output is written with the layer's name)",
    "index_base": "the net's index_base",
    "title": "the net's title",
    "kind": "type",
    # Declared once for the whole net: a layer's matrices may use them (docs/symbolic.md).
    "symbols": "the net's symbols (declared once, at the top of the net spec)",
    "flat_index": "the net's flat_index (written once, at the top of the net spec)",
    # An rnn layer passes on its output (every step's h_t); h_n and c_n feed nothing.
    "upstream_h_n": "∂L/∂output alone (h_n is the output's last step, and feeds no layer)",
    "upstream_c_n": "∂L/∂output alone (c_n feeds no layer)",
}
# Names a layer may not take: they are the net's own results.
RESERVED = ("input", "output", "loss", "grad_input")


@record
class Layer:
    """One layer as written: its type, its name and its kind's own keys (``keys``)."""

    index: int
    type: str
    name: str
    keys: dict[str, Any]
    shorthand: bool

    @property
    def label(self) -> str:
        """``layers[4] (fc)``: how messages point at the layer."""
        return f"layers[{self.index}] ({self.name})"

    @property
    def parameters(self) -> tuple[str, ...]:
        """The parameters this layer has: those written (a dense layer without bias has only
        weight), and a normalization layer's γ and β unless its affine flag is false (its
        kind reads an unwritten γ as ones and β as zeros, PyTorch's initial values, and they
        are parameters as in PyTorch: their gradients are results)."""
        names = PARAMETERS.get(self.type, ())
        if self.type in NORM_LAYERS and _affine(self):
            return names
        return tuple(p for p in names if self.keys.get(p) is not None)


def _affine(layer: Layer) -> bool:
    """A normalization layer's affine flag (elementwise_affine for layer norm); a flag
    that is not true or false counts as true (its kind refuses it when the layer is read)."""
    flag = layer.keys.get(AFFINE_FLAGS.get(layer.type, "affine"))
    return flag is None or flag is not False


@record
class NetProblem:
    """A validated net spec.  ``input`` is an object array of Fractions in the spec's shape;
    ``loss`` the loss spec's keys (``loss`` naming the loss) or None; ``upstream`` the
    spec's upstream as written (None or "ones": all ones) when there is no loss;
    ``shapes`` maps each layer's name to the shape of its output."""

    title: str | None
    input: np.ndarray
    layers: tuple[Layer, ...]
    loss: dict[str, Any] | None
    upstream: Any
    names: dict[str, str]
    index_base: int
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance
    shapes: dict[str, tuple[int, ...]]
    # Each layer's problem as its kind read it in the float64 pass that validated the net
    # (None for flatten): its geometry and parameters for core/kinds/net_ops.py, whose
    # float64 runs put their own input in.
    read_layers: list[Any] = field(default_factory=list)
    read_loss: Any = None  # the loss as the loss kind read it (None without a loss)
    # float64 copies of exact arrays the float64 runs take (core/kinds/net_ops.py
    # ``float_params``), made once: converting Fractions costs microseconds an entry.
    floats: dict[Any, np.ndarray] = field(default_factory=dict)
    # The spec's `symbols` and `flat_index` (docs/symbolic.md), which every layer that takes
    # symbols reads its matrices with.
    declared: frozenset[str] = frozenset()
    flat_index: bool = False
    # Why the symbols were given random values (net_symbols.give_values); "" if not.
    symbolic_capped: str = ""

    @property
    def looks_up(self) -> bool:
        """The first layer is an embedding: the input is its indices (no ∂L/∂input)."""
        return self.layers[0].type == "embedding"

    @property
    def holds_symbols(self) -> bool:
        """The input, the upstream or a layer's parameters hold symbols (core/solve.py
        refuses --float and skips finite differences for them)."""
        from gradcalc.core.kinds import net_symbols

        return net_symbols.holds_symbols(self)

    def source(self, position: int) -> str:
        """What feeds layer ``position``: the previous layer's name, or the input's symbol."""
        return self.layers[position - 1].name if position else self.names["input"]


def read(spec: Mapping[str, Any], limits: common.Limits) -> NetProblem:
    """Validate a net spec (plain data) or raise SpecError at the value at fault.

    Each layer's own keys are read by its kind when the chain is run once in float64 here
    (shapes flow from layer to layer, so a layer is only valid given its input)."""

    common.check_keys(spec, KIND, KEYS)
    raw_input = common.require(spec, "input", KIND, "the network's input")
    names = common.read_names(spec, NAME_DEFAULTS)
    symbols = naming(spec, names, "input")
    x = read_tensor(
        raw_input, ("input",), ndims=tuple(range(7)), what="input", limits=limits, **symbols
    )
    layers = read_layers(spec.get("layers"), "layers" in spec)
    loss = read_loss(spec)
    clash = next((layer for layer in layers if layer.name in names.values()), None)
    if clash is not None:
        raise SpecError(
            ("layers", clash.index),
            f"the name {clash.name!r} is also the symbol of the net's "
            "input or loss (names); give the layer another name",
        )
    problem = NetProblem(
        title=common.read_title(spec),
        input=x,
        layers=layers,
        loss=loss,
        upstream=spec.get("upstream"),
        names=names,
        index_base=common.read_index_base(spec),
        expected={},
        tolerance=common.read_tolerance(spec),
        shapes={},
        declared=symbols["declared"],
        flat_index=symbols["flat_index"],
    )
    from gradcalc.core.kinds import net_symbols

    net_symbols.check_input_symbol(problem, raw_input, spec.get("upstream"))
    values = _read_layers_symbolic(problem, limits)
    problem.expected = common.read_expected(
        spec,
        known_results(problem),
        limits,
        symbols=_answer_names(problem, values),
        hints=lambda name, known: _result_hint(problem, name, known),
    )
    answers_at(problem.expected, values)
    return problem


def _read_layers_symbolic(problem: NetProblem, limits: common.Limits) -> dict[Any, Any]:
    """Read every layer (net_run.output_shapes) into ``problem``; when a layer is above the
    symbolic limits, every symbol of the net gets a number first (net_symbols.give_values:
    the values given are returned, {} when none)."""
    from gradcalc.core.kinds import net_run, net_symbols
    from gradcalc.core.kinds.symbolic_fields import net_decides_cap

    values: dict[Any, Any] = {}
    try:
        with net_decides_cap():
            found = net_run.output_shapes(problem, limits)
    except net_symbols.NetOverCap as over:
        values = net_symbols.give_values(problem, limits, over.words)
        found = net_run.output_shapes(problem, limits)
    problem.shapes, problem.read_layers, problem.read_loss = found
    net_symbols.check_backward(problem)
    return values


def _answer_names(problem: NetProblem, given: dict[Any, Any]) -> frozenset[str] | bool:
    """The names an ``expected`` formula may use: the net's symbols (those ``given`` random
    values too) and the declared ones; False (numbers only) when the net holds none."""
    from gradcalc.core.kinds import net_symbols

    if given:
        return frozenset(s.name for s in given) | problem.declared
    if not net_symbols.holds_symbols(problem):
        return False
    from gradcalc.core import symbolic

    present = symbolic.symbols_of(*net_symbols.given_arrays(problem))
    return frozenset(s.name for s in present) | problem.declared


def _result_hint(problem: NetProblem, name: str, known: list[str]) -> str | None:
    """The hint for an ``expected`` name that is no result (relu1.output: activation1.output),
    from core/kinds/net_messages.py, imported on this error path alone."""
    from gradcalc.core.kinds import net_messages

    return net_messages.net_result_hint(problem, name, known)


def known_results(problem: NetProblem) -> dict[str, tuple[int, ...]]:
    """Every result of this net with its shape, in the order the results are shown."""
    last = problem.layers[-1].name
    known: dict[str, tuple[int, ...]] = {"output": problem.shapes[last]}
    if problem.loss is not None:
        known["loss"] = problem.shapes["loss"]
    if not problem.looks_up:
        known["grad_input"] = problem.input.shape
    for layer in problem.layers:
        known[f"{layer.name}.output"] = problem.shapes[layer.name]
        known[f"{layer.name}.grad_output"] = problem.shapes[layer.name]
        for parameter in layer.parameters:
            known[f"{layer.name}.grad_{parameter}"] = problem.shapes[f"{layer.name}.{parameter}"]
        kind_problem = problem.read_layers[layer.index]
        if layer.type == "batchnorm" and kind_problem.running:
            for key in RUNNING:
                known[f"{layer.name}.{key}"] = kind_problem.running_mean.shape
    return known


# ---------------------------------------------------------------------------
# Layers


def read_layers(raw: Any, given: bool) -> tuple[Layer, ...]:
    """The layers in order, each with its type, name and own keys; names are unique."""
    if not given:
        raise SpecError((), "missing required key 'layers' (the list of layers) for kind 'net'")
    if not isinstance(raw, list):
        raise SpecError(
            ("layers",),
            f"layers must be a list of layers (mappings with a type, or words such as relu), "
            f"got {describe(raw)}",
        )
    if not raw:
        raise SpecError(("layers",), "layers is empty; a net needs at least one layer, e.g. [relu]")
    counts: dict[str, int] = {}
    layers: list[Layer] = []
    defaulted: set[int] = set()  # the layers named by their type and count
    for index, item in enumerate(raw):
        layer = read_layer(item, index)
        counts[layer.type] = counts.get(layer.type, 0) + 1
        if not layer.name:
            layer.name = f"{layer.type}{counts[layer.type]}"
            defaulted.add(index)
        twin = next((other for other in layers if other.name == layer.name), None)
        if twin is not None:
            own = "the default name" if index in defaulted else "the name"
            theirs = ", its default name" if twin.index in defaulted else ""
            raise SpecError(
                ("layers", index, "name") if "name" in _as_mapping(item) else ("layers", index),
                f"{own} {layer.name!r} is taken by {twin.label}{theirs}; give each layer its "
                "own name",
            )
        if layer.type == "embedding" and index:
            raise SpecError(
                ("layers", index, "type") if isinstance(item, Mapping) else ("layers", index),
                "an embedding layer must be the first layer: its indices are the net's input "
                "(integers); a layer's output is not indices, and no gradient flows through them",
            )
        layers.append(layer)
    return tuple(layers)


def _as_mapping(item: Any) -> Mapping[str, Any]:
    return item if isinstance(item, Mapping) else {}


def shorthands() -> dict[str, tuple[str, dict[str, str]]]:
    """The bare words a layer may be: each activation function, flatten, softmax and
    log_softmax, with the type and keys each stands for."""
    words = {
        function: ("activation", {"function": function})
        for function in registry.choices("activation", "function")
    }
    words["flatten"] = ("flatten", {})
    for function in registry.choices("softmax", "function"):
        words[function] = ("softmax", {"function": function})
    return words


def read_layer(item: Any, index: int) -> Layer:
    """One layer: a bare word (relu, flatten, softmax, …) or a mapping with ``type``."""
    path: tuple[Any, ...] = ("layers", index)
    if isinstance(item, str):
        words = shorthands()
        if item in LAYER_TYPES and item not in words:
            # A type whose layer takes keys: "did you mean 'batchnorm'?" would only repeat it.
            raise SpecError(
                path,
                f"{item!r} is a layer type, written as a mapping: {{type: {item}, …}} with its "
                f"keys (see gradcalc new {item}); a bare word is only one of "
                f"{', '.join(words)}",
            )
        if item not in words:
            hint = did_you_mean_any(item, (*words, *LAYER_TYPES))
            raise SpecError(
                path,
                f"unknown layer {item!r}{hint or '.'} A word stands for a layer: "
                f"{', '.join(words)}; other layers are mappings such as "
                "{type: dense, weight: …}",
            )
        kind, keys = words[item]
        return Layer(index, kind, "", dict(keys), shorthand=True)
    if not isinstance(item, Mapping):
        raise SpecError(
            path, f"a layer is a mapping with a type, or a word such as relu; got {describe(item)}"
        )
    if "type" not in item:
        raise SpecError(
            path, f"layers[{index}] has no type; allowed types: {', '.join(LAYER_TYPES)}"
        )
    kind = item["type"]
    words = shorthands()
    if kind not in LAYER_TYPES and isinstance(kind, str) and kind in words:
        # "did you mean 'relu'?" would repeat it: say how the word is written instead.
        meant, keys = words[kind]
        written = ", ".join(f"{key}: {value}" for key, value in {"type": meant, **keys}.items())
        raise SpecError(
            (*path, "type"),
            f"{kind!r} is a layer word, not a type: write it bare (- {kind}) or as "
            f"{{{written}}}; allowed types: {', '.join(LAYER_TYPES)}",
        )
    if kind not in LAYER_TYPES:
        hint = did_you_mean_any(str(kind), (*LAYER_TYPES, *words))
        raise SpecError(
            (*path, "type"),
            f"unknown layer type {kind!r}{hint or '.'} Allowed types: {', '.join(LAYER_TYPES)}",
        )
    _check_layer_keys(item, index, kind)
    name = _read_name(item, index)
    keys = {key: value for key, value in item.items() if key not in ("type", "name")}
    if kind == "dense":
        # Samples flow through a net as the rows of an N×L batch: y = xWᵀ + b, as nn.Linear.
        keys.setdefault("layout", "row")
    return Layer(index, kind, name, keys, shorthand=False)


def did_you_mean_any(word: str, choices: tuple[str, ...]) -> str:
    """common.did_you_mean over ``choices`` without repeats."""
    return common.did_you_mean(word, tuple(dict.fromkeys(choices)))


def layer_keys(kind: str) -> tuple[str, ...]:
    """The keys a layer of ``kind`` takes: its kind's own, less those the net supplies."""
    if kind == "flatten":
        return ()
    return tuple(key for key in registry.field_names(kind) if key not in SUPPLIED)


def _check_layer_keys(item: Mapping[str, Any], index: int, kind: str) -> None:
    """Refuse a key the layer's kind does not take, naming the kind it belongs to."""
    own = layer_keys(kind)
    allowed = ("type", "name", *own)
    for key in item:
        if key in allowed:
            continue
        path = ("layers", index, key)
        if not isinstance(key, str):
            raise SpecError(path, f"keys must be text, got {describe(key)}", at_key=True)
        if key in SUPPLIED:
            raise SpecError(
                path, f"a layer takes no {key}: the net gives it {SUPPLIED[key]}", at_key=True
            )
        owners = [other for other in LAYER_KINDS if other != kind and key in layer_keys(other)]
        # "an activation layer", "an rnn layer" (said "an R-N-N"), "a dense layer"
        article = "an" if kind[0] in "aeiou" or kind == "rnn" else "a"
        if owners:
            also = f" (also of {' and '.join(owners[1:])} layers)" if owners[1:] else ""
            raise SpecError(
                path,
                f"{key} is a key of {owners[0]} layers, not of {article} {kind} layer{also}; "
                f"{article} {kind} layer takes: {', '.join(allowed)}",
                at_key=True,
            )
        hint = common.did_you_mean(key, allowed)
        raise SpecError(
            path,
            f"unknown key {key!r} for {article} {kind} layer{hint or '.'} Allowed keys: "
            f"{', '.join(allowed)}",
            at_key=True,
        )


def _read_name(item: Mapping[str, Any], index: int) -> str:
    """The layer's name as given ("" when it has none: the default is set later)."""
    if "name" not in item:
        return ""
    name = item["name"]
    # A final newline is let through, as the pattern ^[A-Za-z_][A-Za-z0-9_]*$ (whose $ matches
    # before one) let it through when it was written so.
    if not isinstance(name, str) or not is_ascii_name(name.removesuffix("\n")) or len(name) > 12:
        raise SpecError(
            ("layers", index, "name"),
            "a layer's name is a word of letters, digits and _ (1-12 characters, not starting "
            f"with a digit), got {describe(name)}",
        )
    if name in RESERVED:
        raise SpecError(
            ("layers", index, "name"),
            f"{name!r} is one of the net's own results ({', '.join(RESERVED)}); "
            "give the layer another name",
        )
    return name


# Keys a net's loss refuses: the net gives its input, and the spec's common keys are the net's
# (the loss would be run with the net's index_base, tolerance, …, not its own).
LOSS_SUPPLIED = {
    "input": "its input is the last layer's output",
    "loss": "write the loss's name as type",
    **{key: f"{key} belongs to the net" for key in common.COMMON_KEYS},
}


def read_loss(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The loss as a loss spec's keys (``loss`` naming it), or None for an upstream instead."""
    raw = spec.get("loss")
    if raw is None:
        return None
    if spec.get("upstream") is not None:
        raise SpecError(
            ("upstream",),
            "give either loss or upstream, not both: the loss gives the last layer its upstream",
        )
    if not isinstance(raw, Mapping):
        raise SpecError(
            ("loss",),
            "loss must be a mapping such as {type: cross_entropy, target: [2]}, "
            f"got {describe(raw)}",
        )
    losses = registry.choices("loss", "loss")
    if "type" not in raw:
        raise SpecError(("loss",), f"the loss has no type; allowed types: {', '.join(losses)}")
    kind = raw["type"]
    known = isinstance(kind, str) and kind.strip().lower() in losses
    taken = (*registry.field_names("loss"), "type")
    if not known or any(key in LOSS_SUPPLIED or key not in taken for key in raw):
        from gradcalc.core.kinds.net_messages import loss_error

        if (error := loss_error(raw, losses)) is not None:  # else the loss kind's own message
            raise error
    named = kind.strip().lower() if known else kind  # " MSE " is mse, and is shown so
    return {"loss": named, **{key: value for key, value in raw.items() if key != "type"}}


# ---------------------------------------------------------------------------
# Running (core/kinds/net_run.py), named here for core/solve.py


def run(problem: NetProblem, options: common.SolveOptions) -> Any:
    """The forward pass, the loss and the backward pass: core/kinds/net_run.py run.  The Run
    carries the problem for the Solution (``net``: the graph --format dot draws)."""

    if options.layer is not None:
        check_layer(problem, options.layer)  # before the work: a usage error
    ran = _run_symbolic(problem, options)
    ran.solution["net"] = problem
    return ran


def _run_symbolic(problem: NetProblem, options: common.SolveOptions) -> Any:
    """net_run.run; when a layer turns out above the symbolic limits as the formulas flow
    (its input holds them), every symbol of the net gets a number and the net runs again."""
    from gradcalc.core.kinds import net_run, net_symbols
    from gradcalc.core.kinds.symbolic_fields import net_decides_cap

    if not net_symbols.holds_symbols(problem):
        return net_run.run(problem, options)
    try:
        with net_decides_cap():
            return net_run.run(problem, options)
    except net_symbols.NetOverCap as over:
        values = net_symbols.give_values(problem, options.limits, over.words)
    problem.shapes, problem.read_layers, problem.read_loss = net_run.output_shapes(
        problem, options.limits
    )
    answers_at(problem.expected, values)
    return net_run.run(problem, options)


def check_layer(problem: NetProblem, name: str) -> Layer:
    """The layer ``--layer`` names, or a LayerError listing the layers."""
    from gradcalc.core.errors import LayerError

    names = [layer.name for layer in problem.layers]
    if name in names:
        return problem.layers[names.index(name)]
    from gradcalc.core.kinds.net_messages import named_otherwise

    hint = named_otherwise(problem, name) or common.did_you_mean(name, names)
    listed = f"{hint} Its layers: " if hint else "; its layers: "
    raise LayerError(f"no layer {name!r} in this net{listed}{', '.join(names)}")


def finite_differences(problem: NetProblem, run: Any) -> Any:
    """The whole chain against float64 central differences: net_gradcheck.finite_differences."""
    from gradcalc.core.kinds import net_gradcheck

    return net_gradcheck.finite_differences(problem, run)


def usual_mistakes(spec: Mapping[str, Any]) -> Any:
    """The slips gradcalc check names across layers: core/kinds/net_mistakes.py."""
    from gradcalc.core.kinds import net_mistakes

    return net_mistakes.usual_mistakes(spec)


def result_groups(
    spec: Mapping[str, Any], names: list[str]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The graded ``names`` by layer, for gradcalc check's per-layer scores: ``N.…`` under
    layer N, ``grad_input`` (∂L/∂x, which the first layer's backward gives) under the first
    layer, ``output`` under the last, ``loss`` on its own; layers in order, then the loss,
    each only when it has a graded result.  () when the layers cannot be read."""
    try:
        layers = read_layers(spec.get("layers"), "layers" in spec)
    except SpecError:
        return ()
    groups: dict[str, list[str]] = {layer.name: [] for layer in layers}
    groups["loss"] = []
    for name in names:
        layer = name.split(".", 1)[0] if "." in name else ""
        if name == "grad_input":
            layer = layers[0].name
        elif name == "output":
            layer = layers[-1].name
        elif name == "loss":
            layer = "loss"
        groups.setdefault(layer, []).append(name)
    return tuple((group, tuple(members)) for group, members in groups.items() if members)
