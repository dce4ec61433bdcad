"""Drawing a problem's entries: deterministic integers from SHA-256, and shape templates."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from gradcalc.core.kinds.profile import Draw


class Draws:
    """Deterministic integers from SHA-256 of ``key`` and a counter: the same everywhere."""

    def __init__(self, key: str):
        self.key = key
        self.count = 0

    def below(self, n: int) -> int:
        """An integer in 0..n−1 (the modulo bias of a 64-bit draw is negligible for small n)."""
        digest = hashlib.sha256(f"{self.key}#{self.count}".encode()).digest()
        self.count += 1
        return int.from_bytes(digest[:8], "big") % n

    def entry(self, draw: Draw, values: Mapping[str, Any]) -> int | Fraction:
        high = values[draw.high] - 1 if isinstance(draw.high, str) else draw.high
        pool = [v for v in range(draw.low, high + 1) if not (draw.nonzero and v == 0)]
        chosen = pool[self.below(len(pool))]
        return Fraction(chosen, draw.denominator) if draw.denominator != 1 else chosen

    def tensor(self, draw: Draw, shape: tuple[int, ...], values: Mapping[str, Any]) -> Any:
        if not shape:
            return self.entry(draw, values)
        return [self.tensor(draw, shape[1:], values) for _ in range(shape[0])]


def shape_of(template: tuple[str | int, ...], values: Mapping[str, Any]) -> tuple[int, ...]:
    """A shape template filled in: leading ``name?`` dimensions of 1 are left out."""
    dims: list[int] = []
    for part in template:
        if isinstance(part, int):
            dims.append(part)
            continue
        optional = part.endswith("?")
        value = values[part.rstrip("?")]
        if optional and value == 1 and not dims:
            continue
        dims += list(value) if isinstance(value, tuple) else [value]
    return tuple(dims)


def spec_value(value: Any) -> Any:
    """Sizes as a spec writes them: (2, 2) -> 2, (2, 3) -> [2, 3]."""
    if isinstance(value, tuple):
        return value[0] if len(set(value)) == 1 else list(value)
    return value


def fill_template(value: Any, coefficients: Mapping[str, Any]) -> Any:
    """``"{a}"`` -> the drawn number; ``"{a}*x + {b}"`` -> the text with them, tidied
    (``+ -3`` as ``- 3``, ``1*x`` as ``x``)."""
    if isinstance(value, Mapping):
        return {k: fill_template(v, coefficients) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_template(v, coefficients) for v in value]
    if not isinstance(value, str) or "{" not in value:
        return value
    whole = re.fullmatch(r"\{(\w+)\}", value)
    if whole:
        return coefficients[whole.group(1)]
    text = value.format(**coefficients).replace("+ -", "- ")
    # 1*x reads as x (but 11*x and 0.1*x stay).
    return re.sub(r"(?<![\w.*/])1\*", "", text)
