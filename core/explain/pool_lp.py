"""The LP parts of a pool explanation: a window's formula (y = (Σ x^p)^(1/p), or
y = m·(Σ (x/m)^p)^(1/p) where the computation scaled the window by its largest |x|, m)
and the relations section (LP against average and max pooling, seed 002).

A mixin of core/explain/pool.py's Explainer: it uses the explainer's problem ``p``,
geometry ``g``, trace ``c``, input ``xs`` and ``sym_y``, ``_taps`` and ``_sum_tokens``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from gradcalc.core.explain import Formula, Note, Section, SymbolTable
from gradcalc.core.kinds.pool_checks import power_text
from gradcalc.core.ops.windows import REAL
from gradcalc.core.words import plain

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


class LpSections:
    """``_lp_formula`` and ``_lp_scaled_formula`` (a window's formula and its numbers),
    ``_scaled_windows`` and ``section_relations``."""

    def _lp_formula(
        self, target: str, symbols: list[str], values: list[Any], i: int, j: int, more: str
    ) -> tuple[str, list[Any]]:
        p = self.p.p
        pw, root = power_text(p), root_text(p)
        scale = self.c.scales[i, j]
        scale_text = "" if scale == 1 else f"{self.g.taps}/{int(round(self.g.taps / scale))}·"
        opening, closing = ("(", ")") if scale_text else ("", "")
        terms = " + ".join(f"{s}^{pw}" for s in symbols)
        symbolic = f"{target} = ({scale_text}{opening}{terms}{more}{closing})^{root}"
        numeric: list[Any] = [f"({scale_text}{opening}"]
        for k, v in enumerate(values):
            numeric.append(" + " if k else "")
            numeric.extend((*power_base(v), f"^{pw}"))
        total = (
            sum((Fraction(v) ** int(p) for v in values), Fraction(0))
            if p.denominator == 1
            else sum(float(v) ** float(p) for v in values)
        )
        numeric.extend([f"{more}{closing})^{root} = ({scale_text}", total, f")^{root}"])
        return symbolic, numeric

    def _lp_scaled_formula(
        self,
        target: str,
        symbols: list[str],
        values: list[Any],
        largest: Fraction,
        window: tuple[int, int],
        more: str,
    ) -> tuple[str, list[Any]]:
        """y = m·((x/m)^p + …)^(1/p), m = ``largest``, the window's largest |x|, each x/m
        written as its exact value: the form the float64 computation used for this window."""
        p = self.p.p
        pw, root = power_text(p), root_text(p)
        scale = self.c.scales[window]
        scale_text = "" if scale == 1 else f"{self.g.taps}/{int(round(self.g.taps / scale))}·"
        opening, closing = ("(", ")") if scale_text else ("", "")
        terms = " + ".join(f"({s}/m)^{pw}" for s in symbols)
        symbolic = f"{target} = m·({scale_text}{opening}{terms}{more}{closing})^{root}"
        ratios = [Fraction(v) / largest for v in values]
        numeric: list[Any] = [largest, f"·({scale_text}{opening}"]
        for k, r in enumerate(ratios):
            numeric.append(" + " if k else "")
            numeric.extend((*power_base(r), f"^{pw}"))
        total = (
            sum((r ** int(p) for r in ratios), Fraction(0))
            if p.denominator == 1
            else sum(float(r) ** float(p) for r in ratios)
        )
        numeric.extend(
            [f"{more}{closing})^{root} = ", largest, f"·({scale_text}", total, f")^{root}"]
        )
        return symbolic, numeric

    def _scaled_windows(self) -> bool:
        """Whether the LP computation scaled any window by its largest |x|."""
        return self.c.units is not None and bool((self.c.units != 1).any())

    def section_relations(self) -> Section:
        p = self.p
        section = Section("relations", "LP pooling, average and max (seed 002)")
        if p.mode != "lp":
            section.add(Note(f"mode {p.mode}: these relations are shown for mode lp"))
            return section
        values = [self.xs[0, 0, r, col] for _, r, col, code in self._taps(0, 0) if code == REAL]
        window = self.sym_y(0, 0, 0, 0).text
        count = len(values)
        total = sum(values, Fraction(0))
        section.add(
            Formula(
                label=f"{window} at p = 1",
                symbolic=f"p = 1, window of {window}: (Σ x^1)^(1/1) = Σ x = average·window size "
                "(seed 002: AvgPool = (1/|S|)·LP with p = 1)",
                numeric=(*self._sum_tokens(values), " = ", total / count, "·", count),
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
        return section
