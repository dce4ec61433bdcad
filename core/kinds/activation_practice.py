"""An activation problem's practice profile (``PRACTICE``, for ``gradcalc random activation``):
the input's shape, the function and leaky_relu's slope.  The activation catalog entry names this
module in its ``parts``: solving an activation, or a net's activation layer, imports none of it."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from gradcalc.core.kinds.profile import Draw, Knob, Profile, Variant

VALUES = Knob(
    "size", "shape", "input shape: N, AxB or AxBxC", default=(2, 3), maximum=6, label="{} input"
)
FUNCTION = Knob(
    "function",
    "choice",
    "relu, leaky_relu, sigmoid, tanh, softplus, elu or gelu (default: relu or leaky_relu, "
    "by the seed)",
    field="function",
    menu=("relu", "leaky_relu"),
    choices=("relu", "leaky_relu", "sigmoid", "tanh", "softplus", "elu", "gelu"),
    label="{}",
)
ALPHA = Knob(
    "alpha",
    "number",
    "leaky_relu's slope for x < 0 (default: 1/10, 1/5, 1/4 or 1/2, by the seed)",
    field="alpha",
    menu=(Fraction(1, 10), Fraction(1, 5), Fraction(1, 4), Fraction(1, 2)),
    label="α = {}",
)


def _state_kink(fields: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """f′(0) written out, PyTorch's (relu 0, leaky_relu α): courses differ at the kink.
    A leaky_relu with α = 1 is the identity: no kink, nothing to state."""
    at_zero = values["alpha"] if values["function"] == "leaky_relu" else 0
    if at_zero == 1:
        return fields
    return {**fields, "subgradient_at_zero": at_zero}


PRACTICE = Profile(
    {
        "relu": Variant((VALUES,), {"input": ("size",)}, adjust=_state_kink),
        # α·x for x < 0: α's denominator (1/13, 0.05 = 1/20) is the natural one.
        "leaky_relu": Variant(
            (VALUES, ALPHA), {"input": ("size",)}, denominator_from=("alpha",), adjust=_state_kink
        ),
        **{
            name: Variant((VALUES,), {"input": ("size",)}, {"input": Draw(-2, 2)}, decimals=True)
            for name in ("sigmoid", "tanh", "softplus", "elu", "gelu")
        },
    },
    by=FUNCTION,
)
