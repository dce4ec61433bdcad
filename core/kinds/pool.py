"""What a pool spec may say: its usual mistakes and its practice profile.

A pool problem is one 2-D pooling layer (PyTorch's MaxPool2d, AvgPool2d or LPPool2d): an
input, a window (``size``), stride and padding, and the mode's own keys (``ties``,
``count_include_pad``, ``p``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradcalc.core.kinds.fields import pair_as_written
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.mistakes import forgot_upstream, is_zero, size_mistakes, spec_text
from gradcalc.core.kinds.profile import CHANNELS, IMAGE, Draw, Knob, Profile, Variant

# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)

# Each tie rule in words: where a max pool's backward pass sends a window's upstream value.
_TIES = (
    ("first", "the whole upstream value to the first maximum, PyTorch's rule"),
    ("all", "the upstream value to every tied maximum"),
    ("split", "1/k of the upstream value to each of k tied maxima"),
)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The mistakes worth trying for this problem, most telling first."""
    variants = []
    mode = spec.get("mode")
    if mode == "max":
        current = spec.get("ties", "first")
        for ties, words in _TIES:
            if ties != current:
                variants.append(
                    Mistake(
                        f"ties: {ties}",
                        f"{{name}} matches the result under ties: {ties} ({words}); "
                        f"this problem uses ties: {current}",
                        (("ties", ties),),
                        results=("grad_input", "jacobian_input", "argmax"),
                    )
                )
    if mode == "avg" and not is_zero(spec.get("padding")):
        include = spec.get("count_include_pad", True) is not False
        variants.append(
            Mistake(
                "count_include_pad",
                f"{{name}} matches the result with count_include_pad: {spec_text(not include)}; "
                f"this problem uses count_include_pad: {spec_text(include)} (padding cells "
                f"{'count' if include else 'do not count'} in the divisor)",
                (("count_include_pad", not include),),
            )
        )
    stride = (
        pair_as_written(spec["stride"])
        if spec.get("stride") is not None
        else pair_as_written(spec.get("size"))
    )
    return variants + size_mistakes(spec, stride) + forgot_upstream(spec, ("grad_input",))


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

WINDOW = Knob(
    "window",
    "pair",
    "pool window: N or KHxKW",
    default=(2, 2),
    field="size",
    maximum=6,
    label="{} window",
)
STRIDE = Knob(
    "stride",
    "pair",
    "N or SHxSW (default: the window)",
    default="window",
    field="stride",
    maximum=6,
    label="stride {}",
)
PADDING = Knob(
    "padding",
    "pair",
    "max and avg: N or PHxPW, at most half the window",
    default=(0, 0),
    field="padding",
    minimum=0,
    maximum=3,
    label="padding {}",
)
MODE = Knob(
    "mode",
    "choice",
    "max, avg or lp (default: max or avg, by the seed)",
    field="mode",
    choices=("max", "avg", "lp"),
    menu=("max", "avg"),
    label="{} pool",
)
LP_P = Knob("p", "int", "lp only: the power p", default=2, field="p", maximum=4, label="p={}")

_KNOBS = (IMAGE, WINDOW, STRIDE, PADDING, CHANNELS)
_TENSORS = {"input": ("channels?", "size")}

PRACTICE = Profile(
    {
        "max": Variant(_KNOBS, _TENSORS, {"input": Draw(0, 9)}),
        "avg": Variant(_KNOBS, _TENSORS, {"input": Draw(0, 9)}, denominator_from=("window",)),
        # LP pooling takes p-th roots: √(a² + b² + …) is rarely whole.
        "lp": Variant(
            (IMAGE, WINDOW, STRIDE, LP_P, CHANNELS),
            _TENSORS,
            {"input": Draw(0, 4)},
            decimals=True,
        ),
    },
    by=MODE,
)
