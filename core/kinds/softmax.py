"""What a softmax spec may say: its usual mistakes and its practice profile.

A softmax problem is softmax or log_softmax over the last axis of a vector of scores or
a batch of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.mistakes import forgot_upstream
from gradcalc.core.kinds.profile import BATCH, CLASSES, Draw, Knob, Profile, Variant

# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The mistakes worth trying for this problem, most telling first."""
    return forgot_upstream(spec, ("grad_input",))


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

FUNCTION = Knob(
    "function",
    "choice",
    "softmax or log_softmax",
    default="softmax",
    field="function",
    choices=("softmax", "log_softmax"),
    label="{}",
)

# exp(a)/Σ exp is rational only when every score of a row is equal: 1/C, and a
# gradient (1/C)(u_i − Σu/C) with denominator C².
PRACTICE = Profile(
    {
        "": Variant(
            (FUNCTION, CLASSES, BATCH),
            {"input": ("batch?", "classes")},
            {"input": Draw(-2, 2)},
            decimals=True,
            denominator_from=("classes", "classes"),
        )
    }
)
