"""The LP parts of a pool explanation: a window's formula (y = (Σ x^p)^(1/p), or
y = m·(Σ (x/m)^p)^(1/p) where the computation scaled the window by its largest |x|, m)
and the relations section (LP against average and max pooling, seed 002).

Functions of core/explain/pool.py's Explainer, which imports this module for mode lp only
(start-up cost of max and average pooling); they use the explainer's problem ``p``,
geometry ``g``, trace ``c``, input ``xs`` and ``sym_y``, ``_taps`` and ``_sum_tokens``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from gradcalc.core.explain import Formula, Section, SymbolTable
from gradcalc.core.kinds.pool_checks import power_text
from gradcalc.core.ops.windows import REAL
from gradcalc.core.words import plain

if TYPE_CHECKING:
    from gradcalc.core.explain.pool import Explainer

# p values of the "growing p approaches the max" table.
RELATION_PS = (1, 2, 4, 8, 16, 32, 64, 128)


def root_text(p: Fraction) -> str:
    """The exponent 1/p after ^, always parenthesized: (1/2), (2/3), (1)."""
    return f"({1 / p})"


def power_base(value: Any) -> tuple[Any, ...]:
    """A number as the tokens of a power's base: parenthesized when negative or a fraction,
    so that (2/3)^2 does not read as 2/(3^2)."""
    fraction = isinstance(value, Fraction) and value.denominator != 1
    return ("(", value, ")") if value < 0 or fraction else (value,)


def window_formula(
    explainer: Explainer,
    target: str,
    symbols: list[str],
    values: list[Any],
    at: tuple[int, int, int, int],
    real: list[tuple[Any, int, int]],
    more: str,
) -> tuple[str, list[Any]]:
    """Output ``at`` (n, c, i, j)'s LP formula and its numbers (``real``: the window's taps on
    input cells).  Where the computation scaled the window by its largest |x|, m, the form it
    used: y = m·((x/m)^p + …)^(1/p), each x/m written as its exact value."""
    n, c, i, j = at
    p = explainer.p.p
    pw, root = power_text(p), root_text(p)
    scale = explainer.c.scales[i, j]
    scale_text = "" if scale == 1 else f"{explainer.g.taps}/{int(round(explainer.g.taps / scale))}·"
    opening, closing = ("(", ")") if scale_text else ("", "")
    largest = None
    if explainer.c.units[n, c, i, j] != 1:
        # m as the computation took it (the largest |x| of every tap, shown or not),
        # exactly: the float it was rounded to is that of this Fraction.
        largest = max(abs(explainer.xs[n, c, r, col]) for _, r, col in real)
        symbols = [f"({s}/m)" for s in symbols]
        values = [Fraction(v) / largest for v in values]
    terms = " + ".join(f"{s}^{pw}" for s in symbols)
    m = "" if largest is None else "m·"
    symbolic = f"{target} = {m}({scale_text}{opening}{terms}{more}{closing})^{root}"
    numeric: list[Any] = (
        [f"({scale_text}{opening}"] if largest is None else [largest, f"·({scale_text}{opening}"]
    )
    for k, v in enumerate(values):
        numeric.append(" + " if k else "")
        numeric.extend((*power_base(v), f"^{pw}"))
    total = (
        sum((Fraction(v) ** int(p) for v in values), Fraction(0))
        if p.denominator == 1
        else sum(float(v) ** float(p) for v in values)
    )
    if largest is None:
        numeric.extend([f"{more}{closing})^{root} = ({scale_text}", total, f")^{root}"])
    else:
        numeric.extend(
            [f"{more}{closing})^{root} = ", largest, f"·({scale_text}", total, f")^{root}"]
        )
    return symbolic, numeric


def scaled_windows(explainer: Explainer) -> bool:
    """Whether the LP computation scaled any window by its largest |x|."""
    return explainer.c.units is not None and bool((explainer.c.units != 1).any())


def add_relations(explainer: Explainer, section: Section) -> None:
    """The relations section's items for mode lp: the window at p = 1 (average times the
    window size) and (Σ x^p)^(1/p) approaching the max as p grows (seed 002)."""
    p = explainer.p
    values = [
        explainer.xs[0, 0, r, col] for _, r, col, code in explainer._taps(0, 0) if code == REAL
    ]
    window = explainer.sym_y(0, 0, 0, 0).text
    count = len(values)
    total = sum(values, Fraction(0))
    section.add(
        Formula(
            label=f"{window} at p = 1",
            symbolic=f"p = 1, window of {window}: (Σ x^1)^(1/1) = Σ x = average·window size "
            "(seed 002: AvgPool = (1/|S|)·LP with p = 1)",
            numeric=(*explainer._sum_tokens(values), " = ", total / count, "·", count),
            value=total,
        )
    )
    largest = max(values)
    largest_abs = max(abs(v) for v in values)
    table = []
    for power in sorted(set(RELATION_PS) | ({int(p.p)} if p.p.denominator == 1 else set())):
        if any(v < 0 for v in values) and power % 2 and power != 1:
            continue
        if power == 1 or not largest_abs:
            norm = float(total)
        else:  # scaled by the largest |x| so that x^p cannot overflow
            scaled = sum((float(v) / float(largest_abs)) ** power for v in values)
            norm = float(largest_abs) * scaled ** (1 / power)
        table.append((str(power), norm, norm - float(largest)))
    table.append(("∞", largest, 0))
    section.add(
        SymbolTable(
            f"(Σ x^p)^(1/p) over the window of {window} as p grows",
            ("(Σ x^p)^(1/p)", "minus the max"),
            tuple(row[0] for row in table),
            tuple(row[1:] for row in table),
            caption=f"growing p approaches the max {plain(largest)} (seed 002: MaxPool = lim p→∞ of LP)"
            + (
                "; with negative entries, even p approach the largest |x| instead"
                if any(v < 0 for v in values)
                else ""
            ),
        )
    )
