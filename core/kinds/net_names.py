"""The symbols a net's layers write their parameters with (W2, b2, γ1, Whh2, m2): a net with
several layers that have parameters numbers them, so that no two tables share a symbol.
core/kinds/net_run.py hands them to each layer's kind as its ``names``."""

from __future__ import annotations

from gradcalc.core.kinds.net import NORM_LAYERS, PARAMETERS, Layer, NetProblem

# The symbols of a layer's parameters when the net has several layers with parameters: W2,
# b2 for the second, so that no two tables share a symbol (the kinds' own: w, W, b).
_SYMBOLS = {"kernel": "w", "weight": "W", "bias": "b"}
_NORM_SYMBOLS = {"weight": "γ", "bias": "β"}  # a normalization layer's γ, β
_RNN_SYMBOLS = {"weight_ih": "Wih", "weight_hh": "Whh", "bias_ih": "bih", "bias_hh": "bhh"}


def parameter_symbols(problem: NetProblem, layer: Layer) -> dict[str, str]:
    """``{"weight": "W2", "bias": "b2"}`` for the second layer with parameters; {} when only
    one layer has parameters (it keeps its kind's symbols)."""
    if layer.type == "dropout":
        return _mask_symbol(problem, layer)
    with_parameters = [other.name for other in problem.layers if other.type in PARAMETERS]
    if len(with_parameters) < 2 or layer.name not in with_parameters:
        return {}
    count = with_parameters.index(layer.name) + 1
    symbols = (
        _NORM_SYMBOLS
        if layer.type in NORM_LAYERS
        else _RNN_SYMBOLS
        if layer.type == "rnn"
        else _SYMBOLS
    )
    return {role: f"{symbols[role]}{count}" for role in PARAMETERS[layer.type]}


def _mask_symbol(problem: NetProblem, layer: Layer) -> dict[str, str]:
    """``{"mask": "m2"}`` for the second of several dropout layers; {} for a lone one (m)."""
    dropouts = [other.name for other in problem.layers if other.type == "dropout"]
    if len(dropouts) < 2:
        return {}
    return {"mask": f"m{dropouts.index(layer.name) + 1}"}
