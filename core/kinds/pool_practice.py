"""The practice profile of the pool kind (``PRACTICE``, for ``gradcalc random pool``; pool's
catalog entry names this module in its ``parts``, so that solving a pool needs none of it), and how it
honours its knobs beyond drawing entries: ``--ties none`` unties every max window, and the
rules an answer depends on at the drawn sizes are written into the spec.

``fields`` is the drawn spec (key -> plain data), its ``input`` H×W or C×H×W; ``values`` the
resolved knobs (window, stride and padding as (rows, cols) pairs, mode, ties).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core.kinds.pool import TIE_POLICIES
from gradcalc.core.kinds.profile import CHANNELS, IMAGE, Draw, Knob, Profile, Variant

# Raising a cell can tie it in a window it shares; this many raises is far more than any
# input up to 12×12 with 4 channels needs (a draw that needs more is drawn again).
_MAX_RAISES = 2000


def untie(fields: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any] | None:
    """``--ties none``: the drawn input (H×W or C×H×W) with every window's maximum alone.

    While some window's maximum is tied, the last tied cell in row-major order (of the first
    such window, planes and windows in order) is raised by 1: deterministic, so a seed still
    gives one problem, and the input stays near its drawn entries.  None: no such input found.
    """
    if values["ties"] != "none":
        return fields
    x = np.array(fields["input"], dtype=np.int64)
    planes = x.reshape(-1, *x.shape[-2:])
    spans = [
        (rows, cols)
        for rows in _window_spans(x.shape[-2], values["window"][0], values, 0)
        for cols in _window_spans(x.shape[-1], values["window"][1], values, 1)
    ]
    for _ in range(_MAX_RAISES):
        tied = next(
            (
                (plane, rows, cols)
                for plane in planes
                for rows, cols in spans
                if np.count_nonzero(plane[rows, cols] == plane[rows, cols].max()) > 1
            ),
            None,
        )
        if tied is None:
            return {**fields, "input": x.tolist()}
        plane, rows, cols = tied
        window = plane[rows, cols]  # a view: raising its cell raises the input's
        last = np.flatnonzero(window == window.max())[-1]
        window[np.unravel_index(last, window.shape)] += 1
    return None


def state_rules(fields: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The rules the answers depend on at these sizes, written even at PyTorch's default:
    ceil_mode when a window hangs over the (padded) input's end, count_include_pad when an
    average's window covers padding."""
    height, width = np.shape(fields["input"])[-2:]
    padding = values.get("padding", (0, 0))
    rules: dict[str, Any] = {}
    for axis, length in enumerate((height, width)):
        span = length + 2 * padding[axis] - values["window"][axis]
        if span % values["stride"][axis]:
            rules["ceil_mode"] = False
    if values["mode"] == "avg" and any(padding):
        rules["count_include_pad"] = True
    return {**fields, **rules}


def untie_and_state_rules(
    fields: dict[str, Any], values: Mapping[str, Any]
) -> dict[str, Any] | None:
    untied = untie(fields, values)
    return None if untied is None else state_rules(untied, values)


def argmax_unchecked(values: Mapping[str, Any]) -> tuple[str, ...]:
    """Under ties: all or split a tied window routes to several cells: no argmax to key."""
    return () if values["ties"] in ("none", "first") else ("argmax",)


def _window_spans(length: int, window: int, values: Mapping[str, Any], axis: int) -> list[slice]:
    """The input cells (not padding) each window reads along one axis, floor mode, no dilation."""
    stride, padding = values["stride"][axis], values["padding"][axis]
    starts = range(-padding, length + padding - window + 1, stride)
    spans = [slice(max(start, 0), min(start + window, length)) for start in starts]
    # A window of padding alone (padding over half the window) is the solver's to refuse.
    return [span for span in spans if span.start < span.stop]


# ---------------------------------------------------------------------------
# The profile

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

TIES = Knob(
    "ties",
    "choice",
    "max only: none draws no tied window (the spec says ties: first); first, all or split "
    "allow ties and write that rule",
    default="none",
    field="ties",
    choices=("none", *TIE_POLICIES),
    label="ties: {}",
    label_default=False,
    spec_values=(("none", "first"),),
)
_KNOBS = (IMAGE, WINDOW, STRIDE, PADDING, CHANNELS)
_TENSORS = {"input": ("channels?", "size")}

PRACTICE = Profile(
    {
        "max": Variant(
            (*_KNOBS, TIES),
            _TENSORS,
            {"input": Draw(0, 9)},
            adjust=untie_and_state_rules,
            omit=argmax_unchecked,
        ),
        "avg": Variant(
            _KNOBS,
            _TENSORS,
            {"input": Draw(0, 9)},
            denominator_from=("window",),
            adjust=state_rules,
        ),
        # LP pooling takes p-th roots: √(a² + b² + …) is rarely whole.
        "lp": Variant(
            (IMAGE, WINDOW, STRIDE, LP_P, CHANNELS),
            _TENSORS,
            {"input": Draw(0, 4)},
            decimals=True,
            adjust=state_rules,
        ),
    },
    by=MODE,
)
