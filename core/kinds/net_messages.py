"""What a net says when a spec does not run (core/kinds/net.py reads it, net_run.py runs it):
each layer's or the loss's own error rewritten with its place in the net and the layers it
concerns: a layer that does not fit what the layer before gives, a number above 1e100 handed
between layers (its entry and where it comes from), an entry the loss refuses, and the word
--layer was given for a layer of another name; and the hint for a result named as an
assignment names it (relu1.output is activation1.output), from the net's hook for
core/spec.py result_hint."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.fields import shape_text
from gradcalc.core.kinds.net import (
    LAYER_TYPES,
    LOSS_SUPPLIED,
    NORM_LAYERS,
    PARAMETERS,
    Layer,
    NetProblem,
    shorthands,
)
from gradcalc.core.spec import did_you_mean
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


def loss_keys(loss: str) -> tuple[str, ...]:
    """The keys besides ``type`` a net's loss of type ``loss`` takes: the loss kind's own, less
    those the net supplies and the options that loss does not take (core/kinds/loss.py): the
    keys its unknown-key message lists, and the JSON Schema's (core/schema.py)."""
    from gradcalc.core.kinds.loss import OPTIONS
    from gradcalc.core.kinds.loss_temporal import TEMPORAL_LOSSES

    refused = {key for keys in OPTIONS.values() for key in keys} - set(OPTIONS[loss])
    if loss not in TEMPORAL_LOSSES:
        refused.add("temporal")
    skipped = refused | LOSS_SUPPLIED.keys()
    return tuple(key for key in registry.field_names("loss") if key not in skipped)


def loss_error(raw: Mapping[str, Any], losses: tuple[str, ...]) -> SpecError | None:
    """What is wrong with a net's loss ``raw`` (its keys, ``type`` naming the loss) before the
    loss kind reads it, or None (the loss kind then says it): in order, a key the net supplies
    (net.LOSS_SUPPLIED), an unknown loss type, a key that loss does not take.  The keys that
    loss takes in a net are listed (the loss kind's own message would list a loss spec's
    keys, the net's among them)."""
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


# ---------------------------------------------------------------------------
# A result named as a student's assignment names it: relu1.output, dense1.grad_W,
# conv1.grad_weight, pool1.grad_input, L, x.grad.  Each hint names a result of the net, and
# only one that means the same quantity; a name it cannot place keeps the close-match hint.

# Other words for a layer type, as frameworks and assignments write them (and a pool's
# mode: maxpool1 is the first max pool layer).
_TYPE_WORDS: dict[str, tuple[str, str | None]] = {
    **dict.fromkeys(("linear", "fc", "affine", "fully_connected"), ("dense", None)),
    **dict.fromkeys(("conv1d", "conv2d", "conv3d", "convolution"), ("conv", None)),
    **dict.fromkeys(("maxpool", "max_pool", "maxpool1d", "maxpool2d"), ("pool", "max")),
    **dict.fromkeys(("avgpool", "avg_pool", "avgpool1d", "avgpool2d"), ("pool", "avg")),
    **dict.fromkeys(("lppool", "lp_pool", "lppool1d", "lppool2d"), ("pool", "lp")),
    **dict.fromkeys(("bn", "batch_norm", "batchnorm1d", "batchnorm2d"), ("batchnorm", None)),
    **dict.fromkeys(("ln", "layer_norm"), ("layernorm", None)),
    **dict.fromkeys(("gn", "group_norm"), ("groupnorm", None)),
    **dict.fromkeys(("deconv", "convtranspose", "convtranspose2d"), ("conv_transpose", None)),
    "embed": ("embedding", None),
    "attn": ("attention", None),
    "self_attention": ("attention", None),
    "act": ("activation", None),
}
# A parameter's other names (lower case): a conv's W is its kernel, a dense layer's its
# weight; a normalization layer's γ and β are its weight and bias.
_WEIGHT_WORDS = ("w", "weight", "weights", "kernel", "filter", "filters")
_BIAS_WORDS = ("b", "bias", "biases")
_NORM_WORDS = {"gamma": "weight", "γ": "weight", "beta": "bias", "β": "bias"}
_RNN_WORDS = {
    role.replace("_", "").replace("weight", "w").replace("bias", "b"): role
    for role in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
}
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


def result_hint(solution: Any, name: str, known: list[str]) -> str | None:
    """The kind's part for core/grading/problem.py: :func:`net_result_hint` on the solved
    net (``solution.net``)."""
    return net_result_hint(solution.net, name, known)


def net_result_hint(problem: NetProblem, name: str, known: list[str]) -> str | None:
    """ "; did you mean 'activation1.output' (activation1 is the first relu layer)?" for a
    result name (not among ``known``) that means one of the net's results; a note for one
    that means a quantity the net has no result for ("; the net has 1 relu layer,
    activation1.", "; fc's weight is given; …"); None when the name says neither (the
    caller's close-match hint)."""
    prefix, dot, suffix = name.partition(".")
    if not dot:
        meant = _whole_name(problem, name)
    elif prefix == problem.names["input"] and suffix.lower() == "grad":
        meant = ("grad_input", "")
    else:
        layer, why = _layer_meant(problem, prefix)
        if layer is None:
            return f"; {why}." if why else None
        meant = _suffix_meant(problem, layer, suffix)
        if meant is None:
            return _other_result(layer, suffix, why, known) if why else None
        meant = (meant[0], ", ".join(filter(None, (why, meant[1]))))
    if meant is None:
        return None
    result, why = meant
    if not result:  # a quantity that is no result: say what it is
        return f"; {why}."
    if result == "grad_input" and result not in known and problem.layers[0].type == "embedding":
        first, symbol = problem.layers[0].name, problem.names["input"]
        return (
            f"; {symbol} holds indices into {first}'s weight, and no gradient flows to indices "
            f"(PyTorch gives none): {first}'s gradient is {first}.grad_weight."
        )
    if result not in known:
        return None
    return f"; did you mean {result!r}{f' ({why})' if why else ''}?"


def _whole_name(problem: NetProblem, name: str) -> tuple[str, str] | None:
    """A name without a dot: the loss's or the input's gradient's symbol (L, grad_x, dx), a
    layer (its output), or a parameter's gradient (grad_W: the layer's, when one layer has
    that parameter; else a note naming each layer's)."""
    symbol = problem.names["input"]
    if any(layer.name == name for layer in problem.layers):  # a layer named dx is no ∂L/∂x
        return f"{name}.output", ""
    if name == problem.names["loss"]:
        return "loss", ""
    if name in (
        f"grad_{symbol}",
        f"d{symbol}",
        "grad_input",
    ):  # grad_input: no result after an embedding
        return "grad_input", ""
    layer, why = _layer_meant(problem, name)
    if layer is not None:
        return f"{layer.name}.output", why
    if why:
        return "", why
    word = name.lower()
    word = word[5:] if word.startswith("grad_") else ""
    found = [
        f"{layer.name}.grad_{role}"
        for layer in problem.layers
        if (role := _parameter_meant(layer, word)) is not None
    ]
    if len(found) == 1:
        return found[0], f"{found[0].partition('.')[0]} is the only layer with that parameter"
    if found:
        return "", f"each layer's parameters are named with the layer: {', '.join(found)}"
    return None


def _layer_meant(problem: NetProblem, word: str) -> tuple[Layer | None, str]:
    """The layer a name's first part means, and why when it is not the layer's name
    ("activation1 is the first relu layer"); (None, what the net has) when the word counts
    layers but says none of them ("the net has 1 relu layer, activation1"); (None, "") when
    the word means no layer."""
    named = [layer for layer in problem.layers if layer.name.lower() == word.lower()]
    if len(named) == 1:
        return named[0], ""
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*?)_?([0-9]*)", word)
    counted = _counted(problem, match.group(1).lower()) if match else None
    if counted is None:
        return None, ""
    layers, what = counted
    number = int(match.group(2)) if match.group(2) else None
    if number is None and len(layers) == 1:
        return layers[0], f"{layers[0].name} is the net's only {what} layer"
    if number is not None and 1 <= number <= len(layers):
        layer = layers[number - 1]
        return layer, f"{layer.name} is the {_ordinal(number)} {what} layer"
    if not layers:
        return None, f"the net has no {what} layer"
    # A count above the net's, 0 (counted from 0 or from 1?) or none among several: which
    # layer is meant is not said, so say which there are.
    names = ", ".join(layer.name for layer in layers)
    return None, f"the net has {count_words(len(layers), what + ' layer')}, {names}"


def _ordinal(number: int) -> str:
    """'first' … 'eighth', then '9th', '21st', '112th'."""
    if number <= len(_ORDINALS):
        return _ORDINALS[number - 1]
    last = number % 10 if number % 100 not in (11, 12, 13) else 0
    ending = {1: "st", 2: "nd", 3: "rd"}.get(last, "th")
    return f"{number}{ending}"


def _counted(problem: NetProblem, word: str) -> tuple[list[Layer], str] | None:
    """The layers a word counts (a type, an activation function, another word for a type)
    and how they are called; None for a word that counts none of these."""
    if word in LAYER_TYPES:
        return [layer for layer in problem.layers if layer.type == word], word
    if (shorthand := shorthands().get(word)) is not None:  # relu, log_softmax: type and function
        kind, keys = shorthand
        return [
            layer
            for layer in problem.layers
            if layer.type == kind and all(layer.keys.get(k) == v for k, v in keys.items())
        ], word
    if word not in _TYPE_WORDS:
        return None
    kind, mode = _TYPE_WORDS[word]
    layers = [layer for layer in problem.layers if layer.type == kind]
    if mode is None:
        return layers, kind
    return [layer for layer in layers if layer.keys.get("mode") == mode], f"{mode} {kind}"


def _suffix_meant(problem: NetProblem, layer: Layer, suffix: str) -> tuple[str, str] | None:
    """The result a name's second part means for ``layer``, and why when it is not what the
    part says: its input's gradient is the layer before's grad_output (the net's grad_input
    for the first layer), a parameter named by another word (W, weight for a kernel).  ("",
    why) when it names no result but says a quantity (the net's input, a parameter)."""
    word = suffix.lower()
    if word in ("output", "out", "grad_output", "grad_out", "dout"):
        return f"{layer.name}.{'output' if word in ('output', 'out') else 'grad_output'}", ""
    if word in ("input", "grad_input", "dx"):
        gradient = word != "input"
        if layer.index == 0:
            feeds = f"{layer.name}'s input is the net's input, {problem.names['input']}"
            return ("grad_input", feeds) if gradient else ("", f"{feeds}, which is given")
        before = problem.layers[layer.index - 1].name
        result = f"{before}.{'grad_output' if gradient else 'output'}"
        return result, f"{layer.name}'s input is {before}'s output"
    if (role := _parameter_meant(layer, word)) is not None:
        gradient = f"{layer.name}.grad_{role}"
        return "", f"{layer.name}'s {role} is given; its gradient is {gradient!r}"
    word = word[5:] if word.startswith("grad_") else word[1:] if word.startswith("d") else ""
    role = _parameter_meant(layer, word)
    if role is None:
        return None
    if role != word and {role, word} <= {"kernel", "weight", "weights", "filter", "filters"}:
        said = "weight" if role == "kernel" else "kernel"  # PyTorch's word, or Keras's
        return f"{layer.name}.grad_{role}", f"a {layer.type} layer's {said} is its {role}"
    if word in _NORM_WORDS:
        return f"{layer.name}.grad_{role}", f"{word} is a {layer.type} layer's {role}"
    return f"{layer.name}.grad_{role}", ""


def _parameter_meant(layer: Layer, word: str) -> str | None:
    """The parameter of ``layer`` a word (lower case) names, None when it names none."""
    if layer.type == "rnn":
        role = _RNN_WORDS.get(word.replace("_", "").replace("weight", "w").replace("bias", "b"))
    elif word in _WEIGHT_WORDS:
        role = "kernel" if "kernel" in PARAMETERS.get(layer.type, ()) else "weight"
    else:
        role = "bias" if word in _BIAS_WORDS else _NORM_WORDS.get(word)
        if word in _NORM_WORDS and layer.type not in NORM_LAYERS:
            role = None
    return role if role in layer.parameters else None


def _other_result(layer: Layer, suffix: str, why: str, known: list[str]) -> str:
    """The hint for a layer named another way whose result is misspelt (its own result
    spelt closest, 'outptu': output) or one it lacks (the results it has)."""
    import difflib

    own = [name for name in known if name.startswith(f"{layer.name}.")]
    endings = [name.partition(".")[2] for name in own]
    # Strict: 'grad' is not a slip for grad_bias, nor grad_W for grad_output.
    close = difflib.get_close_matches(suffix, endings, n=1, cutoff=0.75)
    if close:
        return f"; did you mean '{layer.name}.{close[0]}' ({why})?"
    return f"; {why}, whose results are {', '.join(own)}."
