"""A loss problem's practice profile (``PRACTICE``, for ``gradcalc random loss``): the loss, its
reduction and the input's shape.  The loss catalog entry names this module in its ``parts``:
solving a loss, or a net's loss, imports none of it."""

from __future__ import annotations

from gradcalc.core.kinds.profile import BATCH, CLASSES, Draw, Knob, Profile, Variant

LOSS = Knob(
    "loss",
    "choice",
    "cross_entropy, nll, mse, bce or bce_with_logits (default: mse or nll, by the seed)",
    field="loss",
    choices=("cross_entropy", "nll", "mse", "bce", "bce_with_logits"),
    menu=("mse", "nll"),
    label="{}",
)
REDUCTION = Knob(
    "reduction",
    "choice",
    "mean or sum",
    default="mean",
    field="reduction",
    choices=("mean", "sum"),
    label="{}",
)
LOSS_VALUES = Knob(
    "size", "shape", "input shape: N, AxB or AxBxC", default=(2, 2), maximum=4, label="{} input"
)
BINARY = Draw(0, 1)

PRACTICE = Profile(
    {
        # A row of equal scores has p = 1/C: a gradient (p − 1[i = t])/N.
        "cross_entropy": Variant(
            (CLASSES, BATCH, REDUCTION),
            {"input": ("batch?", "classes"), "target": ("batch?",)},
            {"input": Draw(-2, 2), "target": Draw(0, "classes")},
            decimals=True,
            denominator_from=("classes", "batch"),
        ),
        "nll": Variant(
            (CLASSES, BATCH, REDUCTION),
            {"input": ("batch?", "classes"), "target": ("batch?",)},
            {"input": Draw(-4, 0), "target": Draw(0, "classes")},
            denominator_from=("batch",),
        ),
        "mse": Variant(
            (LOSS_VALUES, REDUCTION),
            {"input": ("size",), "target": ("size",)},
            denominator_from=("size",),
        ),
        # The loss is a log; its gradient (x − t)/(x(1 − x))/N is rational: with x in
        # {1/4, 1/2, 3/4} it is ±2, 4/3 or 4 over N, so 3N is its natural denominator.
        "bce": Variant(
            (LOSS_VALUES, REDUCTION),
            {"input": ("size",), "target": ("size",)},
            {"input": Draw(1, 3, denominator=4), "target": BINARY},
            decimals=True,
            denominator_from=("size", 3),
        ),
        # (σ(x) − t)/N is rational where x = 0: ±1/(2N).
        "bce_with_logits": Variant(
            (LOSS_VALUES, REDUCTION),
            {"input": ("size",), "target": ("size",)},
            {"input": Draw(-2, 2), "target": BINARY},
            decimals=True,
            denominator_from=("size", 2),
        ),
    },
    by=LOSS,
)
