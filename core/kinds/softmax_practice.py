"""A softmax problem's practice profile (``PRACTICE``, for ``gradcalc random softmax``): the
function, the classes and the batch.  The softmax catalog entry names this module in its
``parts``: solving a softmax, or a net's softmax layer, imports none of it."""

from __future__ import annotations

from gradcalc.core.kinds.profile import BATCH, CLASSES, Draw, Knob, Profile, Variant

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
