"""What an activation spec may say: its usual mistakes and its practice profile.

An activation problem is one elementwise function (relu, leaky_relu, sigmoid, tanh,
softplus, elu or gelu) applied to an input of any shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.mistakes import forgot_upstream
from gradcalc.core.kinds.profile import Draw, Knob, Profile, Variant

# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The mistakes worth trying for this problem, most telling first."""
    return forgot_upstream(spec, ("grad_input",), reveals=("grad_input",))


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

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

PRACTICE = Profile(
    {
        "relu": Variant((VALUES,), {"input": ("size",)}),
        # α·x for x < 0: α's denominator (1/13, 0.05 = 1/20) is the natural one.
        "leaky_relu": Variant((VALUES, ALPHA), {"input": ("size",)}, denominator_from=("alpha",)),
        **{
            name: Variant((VALUES,), {"input": ("size",)}, {"input": Draw(-2, 2)}, decimals=True)
            for name in ("sigmoid", "tanh", "softplus", "elu", "gelu")
        },
    },
    by=FUNCTION,
)
