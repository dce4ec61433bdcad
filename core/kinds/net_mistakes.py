"""The usual mistakes of a net (``gradcalc check``), named across layers.

Each is a core/kinds/mistakes.py Variant, tried by core/grading like every kind's, and named
only when the net run again with the slip reproduces the answer:

- the loss: its 1/N left out (reduction sum for mean) or added; the cross-entropy gradient's
  sign flipped, carried back through every layer (the backward pass is linear in it);
- an activation's or softmax's derivative skipped: its ∂L/∂input taken as its upstream;
- a max pool's gradient routed by another tie rule, or to the last of a window's tied
  maxima (the other maximum, under ties: first);
- a layer with parameters: its weight or kernel gradient taken with the wrong layer's output
  as its input (one layer too early, or its own output), its upstream forgotten (ones), and
  its kind's own usual mistakes (core/kinds/<kind>.py: the kernel flipped, ∂L/∂W transposed,
  the stride or padding ignored) on its own parameters' gradients;
- ∂L/∂ a layer's output answered with ∂L/∂ its neighbour's: one layer off.

A slip a spec key states (the loss's reduction, a pool's ties, a conv's flip_kernel) is a
change of the net spec's ``loss`` or ``layers``; one no key states (a backward rule skipped)
is a ``rerun``: the net's forward pass once, then its backward pass again with the slip
(:class:`Reruns`, cached per spec).  Every message names the layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds import net
from gradcalc.core.kinds.mistakes import Variant
from gradcalc.core.records import record

_TIES = {
    "first": "the whole upstream value to the first maximum",
    "all": "the upstream value to every tied maximum",
    "split": "1/k of the upstream value to each of k tied maxima",
}


@record(frozen=True)
class Slip:
    """One layer's backward rule done wrong: ``how`` is "skip" (∂L/∂input taken as the
    upstream), "ones" (the layer run with an upstream of ones), "input" (its parameters'
    gradients taken with the output of layer ``stand_in`` as its input; -1: the net's input)
    or "last" (a max pool's ∂L/∂input routed to each window's last maximum)."""

    layer: int
    how: str
    stand_in: int = 0


class Reruns:
    """A net spec read once (with the grading's limits) and its backward pass run again
    under slips, each run cached by its label."""

    def __init__(self, spec: Mapping[str, Any]):
        self.spec = {key: value for key, value in spec.items() if key != "expected"}
        self._runs: dict[str, dict[str, Any] | None] = {}
        self._base: Any = None

    def results(self, label: str, make: Callable[[Any], dict[str, Any]]) -> Callable:
        """A Variant's ``rerun``: (limits) -> ``make(base)``'s results, or None when the
        slipped net cannot run (a stand-in of another shape)."""

        def rerun(limits: common.Limits) -> dict[str, Any] | None:
            if label not in self._runs:
                try:
                    self._runs[label] = make(self._read(limits))
                except SpecError:
                    self._runs[label] = None
            return self._runs[label]

        return rerun

    def slipped(self, label: str, slip: Slip) -> Callable:
        return self.results(label, lambda base: backward(base, slip))

    def _read(self, limits: common.Limits) -> Any:
        if self._base is None:
            from gradcalc.core.kinds import net_run

            problem = net.read(self.spec, limits)
            options = net_run.quiet(common.SolveOptions(limits=limits), force_float=False)
            forward, loss, _ = net_run.forward_pass(problem, options)
            self._base = Base(problem, options, forward, loss)
        return self._base


@record
class Base:
    """The net as read, the options its layers ran with, and its forward pass."""

    problem: net.NetProblem
    options: Any
    forward: list[Any]
    loss: Any
    plain: dict[str, Any] | None = None  # the results without a slip, once computed

    def correct(self) -> dict[str, Any]:
        if self.plain is None:
            self.plain = backward(self, Slip(-1, ""))
        return self.plain


def _input_of(base: Base, index: int) -> np.ndarray:
    """The output of layer ``index`` (-1: the net's input)."""
    return base.problem.input if index < 0 else base.forward[index].results["output"]


def _ones(shape: tuple[int, ...]) -> np.ndarray:
    ones = np.empty(shape, dtype=object)
    ones.fill(1)
    return ones


def backward(base: Base, slip: Slip) -> dict[str, Any]:
    """The net's results with its backward pass run again, ``slip`` in one layer: every
    other layer by its own kind on its true input and the (slipped) upstream it receives."""
    from gradcalc.core.kinds import net_run

    problem = base.problem
    results: dict[str, Any] = {"output": base.forward[-1].results["output"]}
    if base.loss is not None:
        results["loss"] = base.loss.results["loss"]
        upstream: Any = base.loss.results["grad_input"]
    else:
        upstream = None if upstream_is_ones(problem.upstream) else problem.upstream
    for layer in reversed(problem.layers):
        ran = base.forward[layer.index]
        name = layer.name
        results[f"{name}.output"] = ran.results["output"]
        results.update(net_run.running_results(layer, ran))  # no slip moves them
        shape = np.shape(ran.results["output"])
        results[f"{name}.grad_output"] = _ones(shape) if upstream is None else upstream
        if slip.layer == layer.index and slip.how == "skip":
            upstream = results[f"{name}.grad_output"]
            continue
        floats = upstream is not None and np.asarray(upstream).dtype != object
        options = net_run.replace(base.options, force_float=not ran.exact or floats)
        slipped = slip.layer == layer.index
        given = None if slipped and slip.how == "ones" else upstream
        values = _input_of(base, layer.index - 1)
        ran_layer = net_run.run_layer(problem, layer, values, given, options)
        solved = ran_layer.results
        if slipped and slip.how == "last":
            solved = {**solved, "grad_input": _routed_to_last(ran_layer)}
        grads = solved
        if slipped and slip.how == "input":
            stand_in = _input_of(base, slip.stand_in)
            if np.shape(stand_in) != np.shape(values):
                raise SpecError(("layers", layer.index), "the stand-in has another shape")
            grads = net_run.run_layer(problem, layer, stand_in, upstream, options).results
        for parameter in layer.parameters:
            results[f"{name}.grad_{parameter}"] = grads[f"grad_{parameter}"]
        upstream = solved.get("grad_input")  # an embedding (the first layer) has none
    if not problem.looks_up:
        results["grad_input"] = upstream
    return results


# ---------------------------------------------------------------------------
# The mistakes


def _routed_to_last(ran: Any) -> np.ndarray:
    """A max pool layer's ∂L/∂input (its input's shape) with each window's upstream value
    sent to the window's last maximum in row-major order instead of its tie rule's."""
    from gradcalc.core.kinds import pool

    problem = ran.problem
    computed = pool.compute(problem, exact=ran.exact, ties="last")
    return computed.grad_input.reshape(problem.input.shape)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Variant]:
    """The mistakes worth trying for this net, most telling first (none when its layers
    cannot be read: the problem's own error is reported where it is solved)."""
    try:
        layers = net.read_layers(spec.get("layers"), "layers" in spec)
    except SpecError:
        return []
    reruns = Reruns(spec)
    ends_in_ones = spec.get("loss") is None and upstream_is_ones(spec.get("upstream"))
    variants = _loss_mistakes(spec, layers)
    for layer in reversed(layers):
        if layer.type in ("activation", "softmax"):
            variants.append(_skipped(layer, layers, reruns))
        if layer.type == "pool" and _word(layer, "mode", "") == "max":
            variants += _tie_rules(spec, layer, layers)
            variants.append(_routed_last(layer, layers, reruns))
    for layer in layers:
        if layer.parameters:
            last_with_ones = ends_in_ones and layer.index == len(layers) - 1
            variants += _parameter_mistakes(spec, layer, layers, reruns, last_with_ones)
    return variants + _one_layer_off(layers, reruns)


def upstream_is_ones(upstream: Any) -> bool:
    """True for a net's upstream that is all ones (omitted or "ones")."""
    return upstream is None or (isinstance(upstream, str) and upstream.strip() == "ones")


def _parameters(layer: net.Layer) -> tuple[str, ...]:
    return tuple(f"{layer.name}.grad_{parameter}" for parameter in layer.parameters)


def gradients_before(layers: tuple[net.Layer, ...], index: int) -> tuple[str, ...]:
    """∂L/∂x and the gradients of every layer before layer ``index``: what a slip in that
    layer's backward rule changes."""
    names = [] if layers[0].type == "embedding" else ["grad_input"]  # indices: no gradient
    for layer in layers[:index]:
        names += [f"{layer.name}.grad_output", *_parameters(layer)]
    return tuple(names)


def _loss_mistakes(spec: Mapping[str, Any], layers: tuple[net.Layer, ...]) -> list[Variant]:
    """The mean loss's 1/N left out or added, and the cross-entropy gradient's sign flipped."""
    loss = spec.get("loss")
    if not isinstance(loss, Mapping):
        return []
    gradients = gradients_before(layers, len(layers))
    variants = []
    reduction = loss.get("reduction", "mean")
    if reduction in ("mean", "sum"):
        other = "sum" if reduction == "mean" else "mean"
        words = (
            "the mean loss's 1/N left out"
            if reduction == "mean"
            else "divided by N, though the loss is a sum"
        )
        variants.append(
            Variant(
                f"loss reduction: {other}",
                f"{{name}} matches the net with the loss's reduction: {other} ({words}); "
                f"this problem uses reduction: {reduction}",
                (("loss", {**loss, "reduction": other}),),
                results=("loss", *gradients),
                reveals=("loss", *gradients),  # the key times or over N
            )
        )
    if loss.get("type") == "cross_entropy":
        variants.append(
            Variant(
                "loss sign flipped",
                "{name} has its sign flipped: the loss's gradient taken as 1[i = gt] − p_i "
                "instead of p_i − 1[i = gt], and carried back through every layer",
                transform=lambda array, _name: -array,
                results=gradients,
                reveals=gradients,
            )
        )
    return variants


def _skipped(layer: net.Layer, layers: tuple[net.Layer, ...], reruns: Reruns) -> Variant:
    """An activation's (or softmax's) derivative skipped: the upstream passed through."""
    function = layer.keys.get("function", layer.type)
    factor = "Jacobian" if layer.type == "softmax" else f"factor {function}′"
    explained = gradients_before(layers, layer.index)
    return Variant(
        f"{layer.name} derivative skipped",
        f"{{name}} matches the net with {layer.name}'s derivative skipped (layers[{layer.index}], "
        f"{function}): its ∂L/∂input taken as its upstream ∂L/∂{layer.name} unchanged, "
        f"without the {factor}",
        results=explained,
        reveals=explained,  # the key is the answer times the derivative, entry by entry
        rerun=reruns.slipped(f"{layer.name} skip", Slip(layer.index, "skip")),
    )


def _with_layer_keys(spec: Mapping[str, Any], layer: net.Layer, changes: Any) -> list[Any]:
    """The spec's layers as written, with ``layer``'s keys changed (None removes a key)."""
    written = list(spec["layers"])
    keys = {"type": layer.type, "name": layer.name, **layer.keys}
    for key, value in changes:
        if value is None:
            keys.pop(key, None)
        else:
            keys[key] = value
    written[layer.index] = keys
    return written


def _word(layer: net.Layer, key: str, default: str) -> str:
    """A layer's word-valued key as its kind reads it (core/kinds/fields.read_choice: any case,
    spaces around it; null or missing: ``default``), so that ``ties: First`` is ``first``."""
    value = layer.keys.get(key)
    return value.strip().lower() if isinstance(value, str) else default


def _tie_rules(
    spec: Mapping[str, Any], layer: net.Layer, layers: tuple[net.Layer, ...]
) -> list[Variant]:
    """A max pool's gradient routed to another maximum (another tie rule)."""
    current = _word(layer, "ties", "first")
    explained = gradients_before(layers, layer.index)
    return [
        Variant(
            f"{layer.name} ties: {ties}",
            f"{{name}} matches the net with {layer.name}'s gradient routed by ties: {ties} "
            f"({words}; layers[{layer.index}]); this problem uses ties: {current}",
            (("layers", _with_layer_keys(spec, layer, (("ties", ties),))),),
            results=explained,
            reveals=explained,  # the key is the answer with each tied window's share moved
        )
        for ties, words in _TIES.items()
        if ties != current
    ]


def _routed_last(layer: net.Layer, layers: tuple[net.Layer, ...], reruns: Reruns) -> Variant:
    """A max pool's gradient sent to the last of a window's tied maxima (the one a scan that
    keeps the latest ≥ finds), where the problem's tie rule sends it elsewhere."""
    current = _word(layer, "ties", "first")
    explained = gradients_before(layers, layer.index)
    return Variant(
        f"{layer.name} routed to the last maximum",
        f"{{name}} matches the net with {layer.name}'s gradient routed to the wrong maximum: "
        f"each window's upstream value sent to its last tied maximum (layers[{layer.index}]); "
        f"this problem uses ties: {current} ({_TIES[current]})",
        results=explained,
        reveals=explained,  # the key is the answer with each tied window's value moved
        rerun=reruns.slipped(f"{layer.name} last", Slip(layer.index, "last")),
    )


def _parameter_mistakes(
    spec: Mapping[str, Any],
    layer: net.Layer,
    layers: tuple[net.Layer, ...],
    reruns: Reruns,
    last_with_ones: bool,
) -> list[Variant]:
    """A layer with parameters: its input taken from the wrong layer, its upstream
    forgotten, and its kind's own usual mistakes, on its parameters' gradients."""
    own = _parameters(layer)
    main = next(name for name in own if not name.endswith(".grad_bias"))
    symbol = {"dense": "∂L/∂W", "rnn": "∂L/∂W_ih"}.get(layer.type, "∂L/∂kernel")
    source = layers[layer.index - 1].name if layer.index else "the net's input"
    variants = []
    for stand_in in (layer.index - 2, layer.index):
        if stand_in == layer.index - 2 and layer.index == 0:
            continue
        what = (
            f"{layer.name}'s own output"
            if stand_in == layer.index
            else "the net's input"
            if stand_in < 0
            else f"{layers[stand_in].name}'s output"
        )
        words = "" if stand_in == layer.index else ", one layer too early"
        variants.append(
            Variant(
                f"{layer.name} input from {stand_in}",
                f"{{name}} matches {symbol} computed with {what} in place of {layer.name}'s "
                f"input ({source}'s output{words}; layers[{layer.index}])",
                results=(main,),
                reveals=(main,),  # with the answer and both inputs, the key follows
                rerun=reruns.slipped(
                    f"{layer.name} input {stand_in}", Slip(layer.index, "input", stand_in)
                ),
            )
        )
    if not last_with_ones:
        variants.append(
            Variant(
                f"{layer.name} upstream forgotten",
                f"{{name}} matches the net with an upstream of ones in {layer.name} "
                f"(layers[{layer.index}]): ∂L/∂{layer.name} ({layer.name}.grad_output) was forgotten "
                "(the chain rule's last factor)",
                results=own,
                rerun=reruns.slipped(f"{layer.name} ones", Slip(layer.index, "ones")),
            )
        )
    return variants + _kind_mistakes(spec, layer)


def _kind_mistakes(spec: Mapping[str, Any], layer: net.Layer) -> list[Variant]:
    """The layer's kind's own usual mistakes (core/kinds/<kind>.py), on the layer's own
    parameters' gradients: a key changed in that layer (the net run again with it), or its
    own gradient transformed (∂L/∂W transposed).  A normalization layer has none here:
    its kind computes its slips (unbiased variance, eps forgotten) from its own input and
    upstream, which in a net are the previous layer's output and the next layer's
    gradient, not keys of the layer."""
    if layer.type in net.NORM_LAYERS:
        return []
    kind_mistakes = registry.kind_part(layer.type, "usual_mistakes")
    own = {f"grad_{parameter}" for parameter in layer.parameters}
    variants = []
    for mistake in kind_mistakes({"kind": layer.type, **layer.keys}):
        explained = tuple(
            f"{layer.name}.{name}"
            for name in sorted(own)
            if not mistake.results or name in mistake.results
        )
        if not explained or any(key == "upstream" for key, _ in mistake.changes):
            continue
        if mistake.rerun is not None:  # it reruns the kind's own spec, not the net
            continue
        changes = ()
        if mistake.changes:
            changes = (("layers", _with_layer_keys(spec, layer, mistake.changes)),)
        transform = mistake.transform
        variants.append(
            Variant(
                f"{layer.name}: {mistake.label}",
                f"{mistake.message} (layers[{layer.index}])",
                changes,
                transform=None if transform is None else _local(transform),
                results=explained,
                reveals=tuple(
                    name for name in explained if name.split(".", 1)[1] in mistake.reveals
                ),
            )
        )
    return variants


def _local(transform: Callable) -> Callable:
    """A kind's transform, given the layer's own result name (grad_weight for fc.grad_weight)."""
    return lambda array, name: transform(array, name.split(".", 1)[1])


def _one_layer_off(layers: tuple[net.Layer, ...], reruns: Reruns) -> list[Variant]:
    """∂L/∂ a layer's output answered with ∂L/∂ the output of the layer before or after
    it (∂L/∂x counts as the output before the first layer's, unless that layer is an
    embedding).  Not across a flatten: its two gradients hold the same values, one the
    other reshaped."""
    slots = ["grad_input", *(f"{layer.name}.grad_output" for layer in layers)]
    variants = []
    for position, name in enumerate(slots):
        for other in (position + 1, position - 1):
            # slots[p] and slots[p + 1] are layer p's input and output
            if not 0 <= other < len(slots) or layers[min(position, other)].type == "flatten":
                continue
            if layers[0].type == "embedding" and 0 in (position, other):
                continue  # an embedding's input is its indices: it has no ∂L/∂x
            wrong = slots[other]
            off = "later" if other > position else "earlier"
            variants.append(
                Variant(
                    f"{name} as {wrong}",
                    f"{{name}} is {wrong}, the gradient with respect to the output one layer "
                    f"{off}: taken with respect to the wrong layer's output",
                    results=(name,),
                    reveals=(name,),  # it says which other result the answer is
                    rerun=reruns.results(
                        f"off {name} {wrong}", lambda base, n=name, w=wrong: {n: base.correct()[w]}
                    ),
                )
            )
    return variants
