"""What read() refuses in a pool spec beyond its fields' own ranges: windows that do not
fit the padded input or read more taps than --max-work, a dilated max window of padding
only, and LP inputs where PyTorch's LPPool2d gives NaN; and how a pair and a power are
written in those messages and in the explanation.

Arrays are NCHW as in core/kinds/pool.py: input N×C×H×W, window arrays N×C×H_out×W_out×T.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.kinds.symbolic_fields import read_tensor
from gradcalc.core.ops.pool import gather_windows, power_sums
from gradcalc.core.ops.pool_geometry import PoolGeometry, TapLayout
from gradcalc.core.values import holds_formulas
from gradcalc.core.words import plain


def pair_text(pair: tuple[int, int]) -> str:
    """2 for (2, 2), else [2, 3]."""
    return str(pair[0]) if pair[0] == pair[1] else f"[{pair[0]}, {pair[1]}]"


def power_text(p: Fraction) -> str:
    """An exponent after ^: 2, or (3/2) in parentheses."""
    return str(p) if p.denominator == 1 else f"({p})"


def check_windows_fit(geometry: PoolGeometry, limits: common.Limits) -> None:
    """At least one window along each axis, and no more window taps than --max-work."""
    g = geometry
    for axis, out, span, size, pad in (
        ("rows", g.out_h, g.span_h, g.in_h, g.padding[0]),
        ("columns", g.out_w, g.span_w, g.in_w, g.padding[1]),
    ):
        if out < 1:
            raise SpecError(
                ("size",),
                f"the window spans {span} {axis} but the padded input has only {size + 2 * pad} "
                f"({size} + 2·padding {pad}); the window must fit inside the padded input "
                "(ceil_mode: true keeps one clipped window instead, as PyTorch does)",
            )
    if g.work > limits.max_work:
        raise LimitError(
            ("input",),
            f"this pooling reads {g.work:,} window taps, above the limit of {limits.max_work:,} "
            "(raise it with --max-work)",
        )


def check_every_window_reads_input(layout: TapLayout, g: PoolGeometry, ndim: int) -> None:
    """A dilated max window can fall entirely on padding; PyTorch then outputs −inf."""
    empty = ~layout.real.any(axis=-1)
    if empty.any():
        i, j = (int(v) for v in np.argwhere(empty)[0])
        raise SpecError(
            ("dilation",),
            f"window ({i}, {j}) (0-based) reads only padding: with dilation "
            f"{pair_text(g.dilation)} its taps skip over every input cell, and PyTorch would "
            "output −inf; use a smaller dilation or padding",
        )


def check_lp_domain(x: np.ndarray, p: Fraction, layout: TapLayout, g: PoolGeometry) -> None:
    """Where PyTorch's LP pooling gives NaN, refuse the spec.

    x^p is not real for x < 0 and a non-integer p; with an odd p ≥ 3 a window's
    Σ x^p can be negative, and its 1/p-th power is not real.
    """
    negative = np.asarray(x < 0, dtype=bool)
    if not negative.any():
        return
    if p.denominator == 1:
        if p % 2 == 0 or p == 1:
            return
        xf = x.reshape(g.batch, g.channels, g.in_h, g.in_w).astype(float)
        sums = power_sums(gather_windows(xf, layout, 0.0), layout.real, int(p))[0]
        if (sums < 0).any():
            n, c, i, j = (int(v) for v in np.argwhere(sums < 0)[0])
            where = "".join(
                f"{k}, " for k in ((n, c) if x.ndim == 4 else (c,) if x.ndim == 3 else ())
            )
            raise SpecError(
                ("input",),
                f"the window of output ({where}{i}, {j}) (0-based) has a negative Σ x^{plain(p)}, whose "
                f"1/{plain(p)}-th power is not real (PyTorch gives NaN); use an even p or inputs ≥ 0",
            )
        return
    if negative.any():
        index = tuple(int(v) for v in np.argwhere(negative)[0])
        raise SpecError(
            ("input", *index),
            f"entry {plain(x[index])} is negative and p = {plain(p)} is not an integer: "
            f"({plain(x[index])})^{power_text(p)} is not a real number (PyTorch gives NaN); "
            "use an integer p or inputs ≥ 0",
        )


def read_pool_input(
    raw: Any, mode: str, limits: common.Limits, naming: Mapping[str, Any]
) -> np.ndarray:
    """The input (H×W, C×H×W or N×C×H×W): numbers, or for average pooling symbols too
    (core/kinds/symbolic_fields.py): max compares its entries and LP raises them to p."""
    x = read_tensor(raw, ("input",), ndims=(2, 3, 4), what="input", limits=limits, **naming)
    if mode != "avg" and holds_formulas(x):
        raise SpecError(
            ("input",),
            f"{mode} pooling compares or raises its input entries, so they must be numbers; "
            "average pooling takes symbols, and max pooling a symbolic upstream",
        )
    return x
