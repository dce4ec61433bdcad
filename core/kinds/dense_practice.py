"""A dense problem's practice profile (``PRACTICE``, for ``gradcalc random dense``): input and
output features, batch and layout.  The dense catalog entry names this module in its ``parts``:
solving a dense problem, or a net's dense layer, imports none of it."""

from __future__ import annotations

from gradcalc.core.kinds.profile import BATCH, Knob, Profile, Variant

INPUTS = Knob("inputs", "int", "input features L", default=3, label="{} inputs")
OUTPUTS = Knob("outputs", "int", "output features O", default=2, label="{} outputs")
LAYOUT = Knob(
    "layout",
    "choice",
    "column: y = Wx + b; row: y = xWᵀ + b",
    default="column",
    field="layout",
    choices=("column", "row"),
    label="{} layout",
)

PRACTICE = Profile(
    {
        "": Variant(
            (INPUTS, OUTPUTS, BATCH, LAYOUT),
            {
                "input": ("batch?", "inputs"),
                "weight": ("outputs", "inputs"),
                "bias": ("outputs",),
            },
        )
    }
)
