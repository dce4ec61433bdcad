"""Heatmaps: the shade of a matrix cell by its sign and magnitude (table report and exports)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from gradcalc.core.explain import GRADIENT, OUTPUT

# Heatmaps: matrices with these roles get cells shaded by sign and magnitude.
HEATMAP_ROLES = frozenset({GRADIENT, OUTPUT})
# (pale, deep) background per sign, from ColorBrewer's RdBu (red-blue reads for red-green
# color blindness too); HEAT_LEVELS shades in between, so a few styles cover a report.
HEAT_COLORS = {-1: ((253, 219, 199), (178, 24, 43)), 1: ((209, 229, 240), (33, 102, 172))}
HEAT_LEVELS = 8
# With only the 16 standard colors, pale shades would all round to white and hide the sign:
# up to half the peak the number is colored, beyond it the cell is.
HEAT_STANDARD = {-1: ("red", "bold #ffffff on red"), 1: ("bright_blue", "bold #ffffff on blue")}
HEAT_LEGEND = (
    "red negative, blue positive; the deeper the shade, the closer |value| is to the largest "
    "|value| of its matrix; 0 unshaded"
)
LEGEND_SWATCHES = (("−max", -1), ("−max/2", -0.5), ("0", 0), ("+max/2", 0.5), ("+max", 1))


def heat_style(value: Any, peak: float, *, standard_colors: bool = False) -> str:
    """The Rich style shading ``value`` in a matrix whose largest finite |value| is ``peak``.

    Text and background are both set so that the cell reads on light and dark terminals;
    zero, NaN and non-numbers (such as −∞ padding) stay unstyled.  ``standard_colors``:
    the terminal has only the 16 standard colors (see HEAT_STANDARD).
    """
    number = as_float(value)
    if number is None or number == 0 or math.isnan(number):
        return ""
    if math.isinf(number) or peak <= 0:
        fraction = 1.0
    else:
        fraction = min(abs(number) / peak, 1.0)
    level = max(1, math.ceil(fraction * HEAT_LEVELS))  # every nonzero value is visibly shaded
    sign = 1 if number > 0 else -1
    if standard_colors:
        return HEAT_STANDARD[sign][level > HEAT_LEVELS // 2]
    pale, deep = HEAT_COLORS[sign]
    t = (level - 1) / (HEAT_LEVELS - 1)
    red, green, blue = (round(p + (d - p) * t) for p, d in zip(pale, deep, strict=True))
    ink = "#000000" if level <= 5 else "#ffffff"
    return f"{ink} on #{red:02x}{green:02x}{blue:02x}"


def as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
    except OverflowError:  # an exact integer or fraction beyond float range
        return math.inf if value > 0 else -math.inf


def heat_peak(blocks: Iterable[np.ndarray]) -> float:
    """The largest finite |value| in the blocks (0.0 when there is none)."""
    peak = 0.0
    for block in blocks:
        for value in block.flat:
            number = as_float(value)
            if number is not None and math.isfinite(number):
                peak = max(peak, abs(number))
    return peak
