"""What a net says when a spec does not run (core/kinds/net.py reads it, net_run.py runs it):
each layer's or the loss's own error rewritten with its place in the net and the layers it
concerns: a layer that does not fit what the layer before gives, a number above 1e100 handed
between layers (its entry and where it comes from), an entry the loss refuses, and the word
--layer was given for a layer of another name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.fields import shape_text
from gradcalc.core.kinds.net import Layer, NetProblem
from gradcalc.core.words import count_words, number_text


def shape_words(shape: tuple[int, ...]) -> str:
    """'shape 2×3', 'a list of 3' (not 'shape a list of 3'), 'a single number'."""
    return f"shape {shape_text(shape)}" if len(shape) > 1 else shape_text(shape)


def layer_error(
    problem: NetProblem, layer: Layer, values: np.ndarray, error: SpecError, upstream: Any = None
) -> SpecError:
    """The layer's own error with its path inside the net spec; an error about the layer's
    input is a shape mismatch between two layers, and says so (or a number above 1e100 in
    its input ``values`` or its ``upstream``)."""
    source = problem.source(layer.index)
    here = ("layers", layer.index)
    dense_mismatch = layer.type == "dense" and error.path[:1] == ("weight",)
    if dense_mismatch and "each input sample has" in error.message:
        weight = np.shape(layer.keys["weight"])
        return SpecError(
            (*here, "weight"),
            f"{layer.name}'s weight is {shape_text(weight)}, so it takes {count_words(weight[1], 'feature')}, "
            f"but {source} gives {values.shape[-1]} "
            f"({'its output is' if layer.index else 'the input is'} {shape_words(values.shape)})",
        )
    if error.path[:1] == ("indices",):  # an embedding's indices are the net's input
        return SpecError(("input", *error.path[1:]), f"{layer.name} (embedding): {error.message}")
    if error.path[:1] in (("input",), ("upstream",)):
        role = "input" if error.path[:1] == ("input",) else "grad_output"
        given = values if role == "input" else upstream
        if too_large := _too_large(problem, layer, given, error, role):
            return SpecError(here, too_large)
        return SpecError(
            here,
            f"{layer.name} ({layer.type}) does not fit its input: {source} gives {shape_words(values.shape)}, "
            f"and the {layer.type} layer says: {error.message}",
        )
    message = error.message
    if "input" in message:  # the layer's input is no key of the spec: say what it is
        feeds = "the net's input" if not layer.index else f"{source}'s output"
        message += f" ({layer.name}'s input is {feeds}, {shape_words(values.shape)})"
    if layer.shorthand:
        return SpecError(here, f"{layer.name}: {message}")
    return SpecError((*here, *error.path), message, at_key=error.at_key)


def loss_input_error(problem: NetProblem, values: Any, error: SpecError) -> SpecError:
    """The loss's error about its input (the last layer's ``values``) at the net's loss: a
    number above 1e100, one entry it refuses (bce: outside [0, 1]), or a shape mismatch."""
    if too_large := _too_large(problem, None, values, error, "input"):
        return SpecError(("loss",), too_large)
    if len(error.path) > 1:  # an entry's value, not a shape
        return SpecError(("loss",), _refused_entry(problem, values, error))
    return SpecError(
        ("loss",),
        f"the loss does not fit the net's output: {problem.layers[-1].name} gives "
        f"{shape_words(values.shape)}, and the loss says: {error.message}",
    )


def _too_large(
    problem: NetProblem, layer: Layer | None, values: Any, error: SpecError, role: str
) -> str | None:
    """Why a layer (None: the loss) refuses what it is given when the reason is a number
    above 1e100 (the largest a spec may give, and so a layer may take), not its shape:
    ``values`` its input (role ``input``) or its upstream (role ``grad_output``).  None for
    any other error."""
    if not error.message.startswith("numbers larger than"):
        return None
    taker = "the loss" if layer is None else f"{layer.name} ({layer.type})"
    source = ""
    if role == "input":
        fed = problem.layers[-1].name if layer is None else problem.source(layer.index)
        whose, name = "its input", f"{fed}.output"
    else:
        after = layer.index + 1 < len(problem.layers)
        whose, name = "its upstream", f"{layer.name}.grad_output"
        source = f" (from {problem.layers[layer.index + 1].name if after else 'the loss'}'s backward pass)"
    entry = _first_too_large(values)
    where = (
        f"{whose}, {name},{source}"
        if entry is None
        else (f"{whose} {name}[{_index_text(problem, entry[0])}] ≈ {entry[1]}{source}")
    )
    capped = problem.symbolic_capped.rpartition("random values ")[2]
    at = (
        f" (at the random values a net above the symbolic limits gives: {capped})" if capped else ""
    )
    return (
        f"{taker} takes numbers up to 1e100 in magnitude, and {where} is above that{at}; "
        "scale the input or the parameters down"
    )


def _refused_entry(problem: NetProblem, values: Any, error: SpecError) -> str:
    """The loss's refusal of one entry of the last layer's output, written with that entry's
    name, and its value as the net shows it (a float64 one to 6 digits, not the fraction of
    its shortest repr the loss read): 'the loss's input fc.output[0,0] is refused: bce takes
    probabilities (…): an input must be in [0, 1], got 1.99975'."""
    index = tuple(error.path[1:])
    entry = np.asarray(values)[index]
    reason, got, _ = error.message.rpartition(", got ")
    if got:
        shown = f"{float(entry):.6g}" if isinstance(entry, float) else number_text(entry)
        reason = f"{reason}, got {shown.replace('-', '−', 1)}"
    name = f"{problem.layers[-1].name}.output[{_index_text(problem, index)}]"
    return f"the loss's input {name} is refused: {reason or error.message}"


def _first_too_large(values: Any) -> tuple[tuple[int, ...], str] | None:
    """The index and value (as text, 6 digits) of the first entry of ``values`` above 1e100
    in magnitude or not finite; None when there is none (or it holds formulas)."""
    from gradcalc.core.values import MAX_MAGNITUDE, holds_formulas

    array = np.asarray(values)
    if array.dtype == object and holds_formulas(array):
        return None
    for index in np.ndindex(*array.shape):
        entry = array[index]
        if isinstance(entry, float) and not np.isfinite(entry):
            return index, f"{entry} (float64)"
        if abs(entry) > MAX_MAGNITUDE:
            try:
                text = f"{float(entry):.6g}"
            except OverflowError:  # an exact number above float64's range
                text = f"{'-' if entry < 0 else ''}10^{len(str(abs(int(entry)))) - 1}"
            return index, text.replace("-", "−", 1)
    return None


def _index_text(problem: NetProblem, index: tuple[int, ...]) -> str:
    return ",".join(str(i + problem.index_base) for i in index)


def loss_error(raw: Mapping[str, Any], losses: tuple[str, ...]) -> SpecError | None:
    """What is wrong with a net's loss ``raw`` (its keys, ``type`` naming the loss) before the
    loss kind reads it, or None (the loss kind then says it): in order, a key the net supplies
    (net.LOSS_SUPPLIED), an unknown loss type, a key that loss does not take.  The keys that
    loss takes in a net are listed (the loss kind's own message would list a loss spec's
    keys, the net's among them)."""
    from gradcalc.core import registry
    from gradcalc.core.kinds.net import LOSS_SUPPLIED, loss_keys
    from gradcalc.core.spec import did_you_mean

    for key in raw:
        if key in LOSS_SUPPLIED:
            why = LOSS_SUPPLIED[key]
            return SpecError(("loss", key), f"the loss takes no {key} here: {why}", at_key=True)
    kind = raw["type"]
    if not isinstance(kind, str):
        return None
    loss = kind.strip().lower()
    if loss not in losses:
        hint = did_you_mean(kind, losses)
        return SpecError(
            ("loss", "type"),
            f"unknown loss {kind!r}{hint} Allowed: {', '.join(losses)}"
            if hint
            else f"unknown loss {kind!r}; allowed: {', '.join(losses)}",
        )
    allowed = ("type", *loss_keys(loss))
    taken = registry.field_names("loss")
    for key in raw:
        if key != "type" and key not in taken:
            hint = did_you_mean(str(key), allowed)
            return SpecError(
                ("loss", key),
                f"unknown key {key!r} for a {loss} loss{hint or '.'} Allowed keys: "
                f"{', '.join(allowed)}",
                at_key=True,
            )
    return None


def named_otherwise(problem: NetProblem, word: str) -> str:
    """A hint for a --layer word that is no layer's name but says which one is meant: the
    name in other letter case (FC), the layer's type or function as the spec wrote it (relu,
    dense), or the loss, which has no layer view; "" when it says none."""
    lowered = word.strip().lower()
    if lowered == "loss":
        return "; the loss is no layer (its sections show without --layer)."
    kinds = [
        layer.name
        for layer in problem.layers
        if lowered in (layer.name.lower(), layer.type, layer.keys.get("function"))
    ]
    if len(kinds) == 1:
        return f"; did you mean {kinds[0]!r}?"
    return f"; did you mean one of {', '.join(map(repr, kinds))}?" if kinds else ""
