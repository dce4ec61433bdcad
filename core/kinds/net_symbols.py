"""Symbols in a net (docs/symbolic.md): the input, a layer's kernel, weight or bias, and the
upstream may hold symbols, as in the single-layer kinds, and every result is a polynomial.

Three things are the net's own, beyond what each layer's kind does:

- which layers can take formulas (:func:`check_layer`, :func:`check_loss`): the polynomial
  ones (conv, dense, average pooling, flatten, dropout, embedding, a mean squared error);
  relu and max pooling only where the sign or order they need is a number; the others
  (sigmoid, softmax, a cross-entropy, …) are not polynomial, and the run stops with one
  line naming the layer, the entry and why;
- the symbolic limits: a layer above them does not give its own symbols random values (they
  are other layers' symbols too: its input holds them), it raises OverCap
  (core/kinds/symbolic_fields.py); the net then gives every symbol of the net one random
  value (:func:`give_values`) and runs with numbers, as a capped single layer does;
- the float64 pass that reads the layers (net_run.output_shapes) runs on numbers standing in
  for the symbols (:func:`stand_in`): it only needs the shapes.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.kinds.net import PARAMETERS, Layer, NetProblem
from gradcalc.core.values import holds_formulas

# Layers that only add and multiply: formulas flow through them (pool: mode avg only).
POLYNOMIAL_LAYERS = ("conv", "dense", "flatten", "dropout", "embedding", "pool", "conv_transpose")
# Activations that only need the sign of their input: polynomial where it is a number.
SIGN_ACTIVATIONS = ("relu", "leaky_relu")
# The loss that is a polynomial of its input (a sum of squares).
POLYNOMIAL_LOSSES = ("mse",)
_ADVICE = "give numbers, or use a linear layer (conv, dense, avg pool, dropout) there"


def given_arrays(problem: NetProblem) -> list[np.ndarray]:
    """The net's input, its upstream (when given) and every read layer's parameters."""
    arrays = [problem.input, problem.upstream]
    for layer, read in zip(problem.layers, problem.read_layers, strict=False):
        arrays += [getattr(read, role, None) for role in PARAMETERS.get(layer.type, ())]
    return [a for a in arrays if isinstance(a, np.ndarray)]


def holds_symbols(problem: NetProblem) -> bool:
    """Whether the net's input, upstream or any layer's parameters hold symbols."""
    return holds_formulas(*given_arrays(problem))


def reads_symbols(layer: Layer, kind_problem: Any) -> bool:
    """Whether the layer's parameters, as its kind read them, hold symbols."""
    arrays = [getattr(kind_problem, role, None) for role in PARAMETERS.get(layer.type, ())]
    return holds_formulas(*(a for a in arrays if isinstance(a, np.ndarray)))


def _first_formula(values: Any) -> tuple[tuple[int, ...], Any] | None:
    """The index and entry of the first formula in ``values``, None when there is none."""
    array = np.asarray(values, dtype=object)
    if not holds_formulas(array):
        return None
    from gradcalc.core import symbolic

    for index in np.ndindex(*array.shape):
        if symbolic.is_symbolic(array[index]):
            return index, array[index]
    return None  # pragma: no cover - holds_formulas found one


def _entry_words(problem: NetProblem, name: str, index: tuple[int, ...], entry: Any) -> str:
    from gradcalc.core import symbolic

    where = ",".join(str(i + problem.index_base) for i in index)
    return f"{name}[{where}] = {symbolic.text(entry)}"


def _what(layer: Layer) -> str:
    if layer.type == "activation":
        return str(layer.keys.get("function"))
    if layer.type == "pool":
        return f"{layer.keys.get('mode', 'max')} pooling"
    if layer.type == "softmax":
        return str(layer.keys.get("function", "softmax"))
    return layer.type


def check_layer(problem: NetProblem, layer: Layer, values: Any, upstream: Any) -> None:
    """Refuse a layer that cannot take the formulas it is given (its input ``values`` or its
    ``upstream``), naming the layer, the first such entry and why; nothing when it can."""
    _refuse_float_upstream(problem, layer, values, upstream)
    if layer.type == "embedding":
        return  # its input is integer indices, read as such
    source = problem.source(layer.index)
    source_name = f"{source}.output" if layer.index else source
    given = _first_formula(values)
    what = _what(layer)
    if given is not None and not _takes_formula_input(layer):
        index, entry = given
        entry_text = _entry_words(problem, source_name, index, entry)
        if layer.type == "activation" and what in SIGN_ACTIVATIONS:
            need = f"{what} needs the sign of {entry_text}, which depends on the symbols"
        elif layer.type == "pool" and what == "max pooling":
            need = f"max pooling needs the order of its inputs, and {entry_text} depends on the symbols"
        else:
            need = (
                f"{what} is not a polynomial, so its output is no formula in the symbols of "
                f"{entry_text}"
            )
        raise SpecError(("layers", layer.index), f"{layer.name} ({layer.type}): {need}; {_ADVICE}")
    pulled = _first_formula(upstream)
    if pulled is not None and not _takes_formula_upstream(layer):
        index, entry = pulled
        entry_text = _entry_words(problem, f"{layer.name}.grad_output", index, entry)
        raise SpecError(
            ("layers", layer.index),
            f"{layer.name} ({layer.type}): its upstream holds symbols ({entry_text}), and "
            f"{_float_backward(what)}; {_ADVICE}",
        )


def _refuse_float_upstream(problem: NetProblem, layer: Layer, values: Any, upstream: Any) -> None:
    """A float64 upstream (a later layer or the loss is no polynomial: the symbols reached
    it as numbers only, a zero input or an embedding row never looked up) cannot meet this
    layer's symbols: its gradients would be formulas with float coefficients."""
    if not isinstance(upstream, np.ndarray) or upstream.dtype == object:
        return
    read = problem.read_layers[layer.index] if problem.read_layers else None
    held = [role for role in PARAMETERS.get(layer.type, ()) if _held(read, role)]
    held += ["input"] if _first_formula(values) is not None else []
    if held:
        raise SpecError(
            ("layers", layer.index),
            f"{layer.name} ({layer.type}): its {' and '.join(held)} "
            f"{'hold' if len(held) > 1 else 'holds'} symbols, and its "
            "upstream is float64 (a layer after it, or the loss, is no polynomial and runs in "
            "float64), so its gradients are no formulas with exact coefficients; "
            f"{_ADVICE}",
        )


def _held(read: Any, role: str) -> bool:
    array = getattr(read, role, None)
    return isinstance(array, np.ndarray) and holds_formulas(array)


def _float_backward(what: str) -> str:
    """Why a layer's backward pass takes no formula upstream: its local derivatives are no
    rational numbers, and a formula's coefficients are exact fractions."""
    return (
        f"{what}'s derivatives are no exact fractions (its backward pass runs in float64), so "
        "its ∂L/∂input is no formula with exact coefficients"
    )


def _takes_formula_input(layer: Layer) -> bool:
    if layer.type == "pool":
        return _what(layer) == "avg pooling"
    return layer.type in POLYNOMIAL_LAYERS


def _takes_formula_upstream(layer: Layer) -> bool:
    """A layer whose backward pass is a polynomial of its upstream given its numbers: relu
    and max pooling route it by the signs and maxima of their (numeric) input."""
    if layer.type == "pool":
        return _what(layer) in ("avg pooling", "max pooling")
    if layer.type == "activation":
        return _what(layer) in SIGN_ACTIVATIONS
    return layer.type in POLYNOMIAL_LAYERS


def _written_symbolic(value: Any) -> bool:
    return isinstance(value, str) and value.strip().startswith("symbolic")


def check_input_symbol(problem: NetProblem, raw_input: Any, raw_upstream: Any) -> None:
    """A ``symbolic`` input names its entries after the net's input symbol: refuse one that
    is also another symbolic field's (a layer's W, w or b, the upstream's g), which would
    make one name two different entries and every derivative shown false."""
    if not _written_symbolic(raw_input):
        return
    from gradcalc.core.kinds.net_names import parameter_symbols
    from gradcalc.core.kinds.symbolic_fields import UPSTREAM_SYMBOL

    taken = {UPSTREAM_SYMBOL: "the upstream's"} if _written_symbolic(raw_upstream) else {}
    for layer in problem.layers:
        if layer.type in PARAMETERS and "symbols" in registry.field_names(layer.type):
            names = {**registry.op_module(layer.type).NAME_DEFAULTS}
            names.update(parameter_symbols(problem, layer))
            for role in PARAMETERS[layer.type]:
                if _written_symbolic(layer.keys.get(role)):
                    taken.setdefault(names[role], f"{layer.name}'s {role}'s")
    symbol = problem.names["input"]
    if symbol in taken:
        raise SpecError(
            ("names", "input"),
            f"a symbolic input names its entries {symbol}_…, and so are {taken[symbol]} "
            f"entries: one name would be two different entries; give the input another "
            "symbol under names",
        )


def check_backward(problem: NetProblem) -> None:
    """Refuse a layer that a formula upstream would have to cross: one before the last
    layer whose parameters hold symbols (or any, for an upstream of symbols), whose backward
    pass is no polynomial of its upstream.  Checked once the layers are read, before the
    forward pass would hand such a layer's float64 output to the layer with symbols."""
    owner = _last_symbolic(problem)
    if owner is None:
        return
    position, holder = owner
    for layer in problem.layers[:position]:
        if not _takes_formula_upstream(layer) and layer.type != "embedding":
            raise SpecError(
                ("layers", layer.index),
                f"{layer.name} ({layer.type}): its upstream carries symbols back from "
                f"{holder}, and {_float_backward(_what(layer))}; {_ADVICE}",
            )


def _last_symbolic(problem: NetProblem) -> tuple[int, str] | None:
    """(the position after which no symbols enter, what holds them there): the net's
    upstream (after every layer), or the last layer whose parameters hold symbols."""
    if isinstance(problem.upstream, np.ndarray) and holds_formulas(problem.upstream):
        return len(problem.layers), f"the upstream ∂L/∂{problem.layers[-1].name}"
    for layer in reversed(problem.layers):
        read = problem.read_layers[layer.index]
        for role in PARAMETERS.get(layer.type, ()):
            if holds_formulas(getattr(read, role, None)):
                return layer.index, f"{layer.name}'s {role}"
    return None


def check_loss(problem: NetProblem, values: Any) -> None:
    """Refuse a loss that is not a polynomial of formulas it is given (all but mse)."""
    given = _first_formula(values)
    if given is None or problem.loss is None or problem.loss["loss"] in POLYNOMIAL_LOSSES:
        return
    index, entry = given
    last = problem.layers[-1].name
    entry_text = _entry_words(problem, f"{last}.output", index, entry)
    loss = problem.loss["loss"]
    why = (
        f"takes numbers only (its explanation reads its input in float64), and {entry_text} "
        "holds symbols"
        if loss == "nll"
        else f"is not a polynomial, so it is no formula in the symbols of {entry_text}"
    )
    raise SpecError(
        ("loss", "type"), f"the loss {loss} {why}; give numbers, or use mse (a sum of squares)"
    )


# ---------------------------------------------------------------------------
# Numbers standing in for the symbols (the float64 pass that reads the layers)


def stand_in(value: Any, number: int = 1) -> Any:
    """``value`` (an array, or a kind's problem whose arrays may hold formulas) with every
    symbol given ``number``: for a pass that only needs shapes.  (Not the random values of
    a capped net: a**999 at 9 is no float64, and the pass runs in float64.)"""
    if isinstance(value, np.ndarray):
        if not holds_formulas(value):
            return value
        from fractions import Fraction

        from gradcalc.core import symbolic

        given = dict.fromkeys(symbolic.symbols_of(value), Fraction(number))
        return symbolic.substitute(value, given)
    if value is None or not hasattr(value, "__dict__"):
        return value
    copied = copy.copy(value)
    for name, field in vars(value).items():
        if isinstance(field, np.ndarray) and holds_formulas(field):
            setattr(copied, name, stand_in(field, number))
    return copied


def within_bounds(values: Any) -> Any:
    """A stand-in pass's float64 ``values`` (one array) held within ±1e100 (nan as 0) for the
    next layer's reader.  They are no values of the net (each symbol at 1): 10**99*a**3
    through a dense weight 20 is 6e100 at a = 1, which the reader would refuse as a number
    above 1e100, though the net's own values are formulas, whose coefficients have no bound.
    Values within the bounds are returned as they are."""
    from gradcalc.core.values import MAX_MAGNITUDE

    array = np.asarray(values)
    if array.dtype != float:
        return values
    with np.errstate(invalid="ignore"):
        if np.all(np.abs(array) <= MAX_MAGNITUDE):
            return values
    return np.nan_to_num(np.clip(array, -float(MAX_MAGNITUDE), float(MAX_MAGNITUDE)), nan=0.0)


def stand_in_loss(
    problem: NetProblem, values: Any, read: list[Any], run_loss: Any, options: Any
) -> Any:
    """``run_loss(problem, values, options)`` on the stand-in pass's last output ``values``.  A loss that refuses those
    numbers (bce: an input outside [0, 1]) would quote a stand-in's value as the net's: when
    the output depends on the symbols (it changes when they go from 1 to 2), the loss is
    refused as check_loss refuses a formula."""
    try:
        return run_loss(problem, stand_in(values), options)
    except SpecError:
        if problem.loss["loss"] in POLYNOMIAL_LOSSES or not _reaches_loss(problem, read):
            raise
        loss, last = problem.loss["loss"], problem.layers[-1].name
        raise SpecError(
            ("loss", "type"),
            f"the loss {loss} is not a polynomial, so it is no formula in the symbols that "
            f"reach {last}.output; give numbers, or use mse (a sum of squares)",
        ) from None


def _reaches_loss(problem: NetProblem, read: list[Any]) -> bool:
    """Whether the last layer's output changes when every symbol goes from 1 to 2."""
    from gradcalc.core.kinds import net_ops

    outputs = []
    for number in (1, 2):
        values = stand_in(problem.input, number)
        for layer, kind_problem in zip(problem.layers, read, strict=True):
            numeric = stand_in(kind_problem, number)
            values, _ = net_ops.forward(layer.type, numeric, net_ops.as_read(values, layer.type))
        outputs.append(np.asarray(values, dtype=float))
    return not np.array_equal(*outputs)


# ---------------------------------------------------------------------------
# Above the symbolic limits: one random value per symbol, for the whole net


def _parameter_arrays(problem: NetProblem, limits: Any) -> list[tuple[Layer, str, np.ndarray]]:
    """Each layer's parameters written with symbols, read as object arrays in the shape they
    are written (``symbolic 2x2`` as its symbols, named as the layer's kind names them)."""
    from gradcalc.core.kinds.net_names import parameter_symbols
    from gradcalc.core.kinds.symbolic_fields import read_tensor

    found = []
    for layer in problem.layers:
        if layer.type == "flatten" or "symbols" not in registry.field_names(layer.type):
            continue
        names = {**registry.op_module(layer.type).NAME_DEFAULTS}
        names.update(parameter_symbols(problem, layer))
        for role in PARAMETERS.get(layer.type, ()):
            raw = layer.keys.get(role)
            if raw is None:
                continue
            array = read_tensor(
                raw,
                ("layers", layer.index, role),
                ndims=tuple(range(7)),
                what=role,
                limits=limits,
                symbol=names[role],
                index_base=problem.index_base,
                flat_index=problem.flat_index,
                declared=problem.declared,
            )
            if holds_formulas(array):
                found.append((layer, role, array))
    return found


def give_values(problem: NetProblem, limits: Any, size: str) -> dict[Any, Any]:
    """Every symbol of the net (input, parameters, upstream) replaced by one random whole
    number (symbolic.random_values), in place; ``problem.symbolic_capped`` says why and
    which values.  Returns the values (for the expected answers)."""
    from gradcalc.core import symbolic

    parameters = _parameter_arrays(problem, limits)
    upstream = problem.upstream if isinstance(problem.upstream, np.ndarray) else None
    arrays = [problem.input, upstream, *(array for _, _, array in parameters)]
    values = symbolic.random_values(symbolic.symbols_of(*(a for a in arrays if a is not None)))
    problem.input = _substitute(problem.input, values, ("input",), size)
    if upstream is not None:
        problem.upstream = _substitute(upstream, values, ("upstream",), size)
    for layer, role, array in parameters:
        layer.keys[role] = _substitute(array, values, ("layers", layer.index, role), size)
    problem.floats.clear()
    problem.symbolic_capped = (
        f"symbolic entries, but {size} (docs/symbolic.md): every result below is for the "
        f"random values {symbolic.values_text(values)}"
    )
    return values


# The highest degree whose value stays within 1e100 at the random values (|v| ≤ 9) a capped
# net gives its symbols: 9**104 < 1e100 < 9**105.
_MOST_DEGREE = 104


def _substitute(
    array: np.ndarray, values: dict[Any, Any], path: tuple[Any, ...], size: str
) -> np.ndarray:
    """symbolic.substitute, refusing at its entry a formula whose value passes 1e100 (a**999
    at a = 7): the layer reading it would call it too large a number, not say why."""
    import sympy

    from gradcalc.core import symbolic
    from gradcalc.core.values import MAX_MAGNITUDE

    result = symbolic.substitute(array, values)
    for flat, number in enumerate(result.ravel().tolist()):
        if abs(number) > MAX_MAGNITUDE:
            formula = np.asarray(array, dtype=object).ravel()[flat]
            index = tuple(int(i) for i in np.unravel_index(flat, result.shape))
            given = {s: v for s, v in values.items() if s in symbolic.symbols_of(formula)}
            degree = sympy.Poly(formula, *given).total_degree()
            why = (
                f"its degree {degree} is too large for that; allowed: a degree of at most "
                f"{_MOST_DEGREE} (9**{_MOST_DEGREE} < 1e100)"
                if degree > _MOST_DEGREE
                else "its numbers are too large for that; allowed: entries within 1e100 there"
            )
            raise SpecError(
                (*path, *index),
                f"{symbolic.text(formula)} is above 1e100 at {symbolic.values_text(given)}: "
                f"{size}, so every symbol of the net is given a whole number from −9 to 9, and "
                f"{why}, or a net small enough to stay symbolic",
            )
    return result


class NetOverCap(Exception):
    """A layer of the net is above the symbolic limits: ``words`` says which and how."""

    def __init__(self, words: str) -> None:
        super().__init__(words)
        self.words = words


def symbol_keys(problem: NetProblem, kind: str) -> dict[str, Any]:
    """The net's ``symbols`` and ``flat_index`` for a layer whose kind reads symbols (its
    matrices may use the declared names; docs/symbolic.md), as that kind's spec writes them."""
    if "symbols" not in registry.field_names(kind):
        return {}
    keys: dict[str, Any] = {"flat_index": problem.flat_index} if problem.flat_index else {}
    if problem.declared:
        keys["symbols"] = sorted(problem.declared)
    return keys


def read_upstream(problem: NetProblem, shape: tuple[int, ...], limits: Any) -> None:
    """The net's upstream, shaped like the last layer's output, kept as an exact array: numbers,
    formulas of the declared names, or ``symbolic`` (g_…)."""
    from gradcalc.core.spec import read_upstream as read

    naming = {
        "index_base": problem.index_base,
        "flat_index": problem.flat_index,
        "declared": problem.declared,
    }
    last = problem.layers[-1].name
    problem.upstream, _ = read({"upstream": problem.upstream}, shape, last, limits, naming=naming)


def over_cap(name: str, error: Exception) -> NetOverCap | None:
    """``error`` as the net's NetOverCap when it says that layer ``name`` (or the loss) is
    above the symbolic limits (an OverCap, or a result entry of more than
    symbolic.MAX_TERMS terms), in the words of a capped run's note; None for another error
    (the layer's own SpecError)."""
    from gradcalc.core.kinds.symbolic_fields import OverCap

    if isinstance(error, OverCap):
        return NetOverCap(f"{name} {error.size}")
    if isinstance(error, LimitError) and "above the symbolic limit" in error.message:
        from gradcalc.core import symbolic

        return NetOverCap(
            f"a result entry of {name} has more than {symbolic.MAX_TERMS:,} terms, above "
            "the symbolic limit"
        )
    return None
