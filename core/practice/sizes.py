"""Reading a kind's sizes: ``--size 4x4`` and the other knobs of ``gradcalc random KIND``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gradcalc.core.errors import GradcalcError, SpecError
from gradcalc.core.kinds.fields import PAIR_SEPARATOR
from gradcalc.core.kinds.profile import Knob


class PracticeError(GradcalcError):
    """Sizes that make no problem, or no clean problem; ``knob`` names the size at fault."""

    def __init__(self, message: str, knob: str | None = None):
        super().__init__(message)
        self.message = message
        self.knob = knob


def parse_knob(knob: Knob, value: Any) -> Any:
    """A knob's value from text or plain data, checked: ints, tuples of ints, text or Fraction."""
    if knob.type == "choice":
        text = str(value).strip()
        if text not in knob.choices:
            raise PracticeError(
                f"{text!r} is not one of {', '.join(map(str, knob.choices))}", knob.name
            )
        return text
    if knob.type == "number":
        from gradcalc.core.values import parse_number

        try:
            number = parse_number(value, (knob.name,))
        except SpecError as error:
            raise PracticeError(error.message, knob.name) from None
        if not 0 < number <= 1:
            raise PracticeError(f"must be in (0, 1], got {number}", knob.name)
        return number
    dims = _dims(value, knob)
    allowed = {"int": (1,), "pair": (1, 2), "shape": (1, 2, 3)}[knob.type]
    if len(dims) not in allowed:
        form = {"int": "a whole number", "pair": "N or HxW", "shape": "N, AxB or AxBxC"}
        raise PracticeError(f"expected {form[knob.type]}, got {_text(value)!r}", knob.name)
    for dim in dims:
        if not knob.minimum <= dim <= knob.maximum:
            raise PracticeError(
                f"each size must be from {knob.minimum} to {knob.maximum}, got {dim}", knob.name
            )
    if knob.type == "int":
        return dims[0]
    if knob.type == "pair" and len(dims) == 1:
        return (dims[0], dims[0])
    return dims


def _dims(value: Any, knob: Knob) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise PracticeError(f"expected a size, got {value}", knob.name)
    if isinstance(value, int):
        return (value,)
    if isinstance(value, (tuple, list)) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return tuple(value)
    from gradcalc.core.values import looks_numeric, parse_int

    text = _text(value)
    parts = PAIR_SEPARATOR.split(text.strip())
    if not all(looks_numeric(part) for part in parts):
        raise PracticeError(f"expected a size such as 3 or 2x3, got {text!r}", knob.name)
    try:  # each size is read as every integer field reads it: 3, 3.0 and 3e0 are 3; 03 is refused
        return tuple(parse_int(part, (knob.name,), what="a size") for part in parts)
    except SpecError as error:
        raise PracticeError(error.message, knob.name) from None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def knob_text(knob: Knob, value: Any) -> str:
    """How the value is written on a command line (and in the seed text): 4x4, 1, 1/10.

    A square pair that sets a spec key (stride 1) is written as the spec writes it."""
    if isinstance(value, tuple):
        if knob.field is not None and len(set(value)) == 1:
            return str(value[0])
        return "x".join(map(str, value))
    return str(value)


def title_words(knob: Knob, value: Any) -> str:
    """The title's words for a value: "4×4 input", "stride 2" (a square pair named after its
    value reads as one number; one named before it, "2×2 window", keeps both)."""
    shown = "×".join(map(str, value)) if isinstance(value, tuple) else str(value)
    if isinstance(value, tuple) and len(set(value)) == 1 and not knob.label.startswith("{}"):
        shown = str(value[0])
    return knob.label.format(shown)


@dataclass(frozen=True)
class Sizes:
    """The resolved sizes of one problem: the variant and every one of its knobs' values."""

    kind: str
    variant: str
    values: Mapping[str, Any]
    knobs: tuple[Knob, ...]

    def arguments(self) -> list[str]:
        """The options that reproduce these sizes, e.g. ["--size", "4x4", "--stride", "1"]."""
        found: list[str] = []
        for knob in self.said():
            found += [knob.option, knob_text(knob, self.values[knob.name])]
        return found

    def text(self) -> str:
        return ";".join(
            f"{knob.name}={knob_text(knob, self.values[knob.name])}" for knob in self.said()
        )

    def said(self) -> tuple[Knob, ...]:
        """The knobs the command line and the seed text name (not one at its unsaid default)."""
        return tuple(knob for knob in self.knobs if not knob.unsaid(self.values[knob.name]))
