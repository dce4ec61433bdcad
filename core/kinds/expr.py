"""What an expr spec may say: its usual mistakes and its practice profile.

An expr problem is a function of named variables written as text (SymPy reads it), its
gradient and Hessian, optionally at a point.  Its answers are symbolic: its own solver
compares them, so grading tries no usual mistakes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.profile import Draw, Knob, Profile, Variant

# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """None: a symbolic answer is compared by the solver, not re-solved under a mistake."""
    return []


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

# Each template is a function with drawn integer coefficients and a point at which
# every value and derivative is rational (exp, log, sin and cos are taken where they are).
TEMPLATES: dict[str, dict[str, Any]] = {
    "polynomial": {
        "function": "{a}*x**2*y + {b}*x*y**2 + {c}*y",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": "{y0}"},
    },
    "quadratic": {
        "function": "{a}*x**2 + {b}*x*y + {c}*y**2 + {d}*x",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": "{y0}"},
    },
    "rational": {
        "function": "({a}*x + {b})/(y**2 + 1)",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": "{y0}"},
    },
    "exponential": {
        "function": "{a}*x*exp({b}*y)",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": 0},
    },
    "logarithm": {
        "function": "{a}*x**2*log(y) + {b}*x*y",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": 1},
    },
    "trigonometric": {
        "function": "{a}*sin(x)*y**2 + {b}*cos(x)*y",
        "variables": ["x", "y"],
        "at": {"x": 0, "y": "{y0}"},
    },
    "sigmoid": {
        "function": "y/(1 + exp({a}*x))",
        "variables": ["x", "y"],
        "at": {"x": 0, "y": "{y0}"},
    },
    "three_variables": {
        "function": "{a}*x*y*z + {b}*x**2*z + {c}*y",
        "variables": ["x", "y", "z"],
        "at": {"x": "{x0}", "y": "{y0}", "z": "{z0}"},
    },
}
TEMPLATE = Knob(
    "template",
    "choice",
    "the function's form (default: one of them, by the seed)",
    choices=tuple(TEMPLATES),
    menu=tuple(TEMPLATES),
    label="{} template",
)
COEFFICIENT = Draw(-3, 3, nonzero=True)
_DRAWS = {
    **{name: COEFFICIENT for name in "abcd"},
    **{name: Draw(-2, 2) for name in ("x0", "y0", "z0")},
}


PRACTICE = Profile(
    {
        name: Variant(
            (),
            fixed=template,
            draws=_DRAWS,
            require=("function_at", "gradient_at", "hessian_at"),
        )
        for name, template in TEMPLATES.items()
    },
    by=TEMPLATE,
)
