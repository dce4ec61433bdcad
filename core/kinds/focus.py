"""Reading ``--focus``: which element of which array (output or input) the text names.

The element's window and the cells it reads are core/ops/windows.py; its picture is
core/explain/focus.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from gradcalc.core.errors import FocusError
from gradcalc.core.patterns import LazyPattern
from gradcalc.core.records import record


@record(frozen=True)
class Focusable:
    """An array ``--focus`` may name: its role (output or input), symbol, shape and axis names
    (a suffix of n, c or o, row, col)."""

    role: str
    symbol: str
    shape: tuple[int, ...]
    axes: tuple[str, ...]


@record(frozen=True)
class FocusTarget:
    """One element ``--focus`` names: ``index`` is 0-based in the array's own axes."""

    array: Focusable
    index: tuple[int, ...]

    def at(self, axis: str) -> int:
        """The 0-based index along ``axis`` (0 for an axis the array does not have)."""
        axes = self.array.axes
        return self.index[axes.index(axis)] if axis in axes else 0


AXIS_WORDS = {
    "n": "batch",
    "c": "channel",
    "o": "channel",
    "depth": "depth slice",
    "row": "row",
    "col": "column",
}
_TARGET = LazyPattern(r"^\s*([^\s\[\]]+)\s*\[([^\[\]]*)\]\s*$")
_INDEX = LazyPattern(r"^[+-]?[0-9]+$")


def read_focus(text: str, arrays: Sequence[Focusable], index_base: int) -> FocusTarget:
    """``output[1,0]``, ``input[0,2,1]`` or a symbol (``H[1,0]``): the element it names.

    The indices count from ``index_base``.  All of the array's indices may be given, or only the
    spatial ones (row, column; in 1-D the position, in 3-D depth, row, column), the leading
    ones (batch, channel) then being the first.
    """
    words = [a.role for a in arrays] + [
        a.symbol for a in arrays if a.symbol not in ("output", "input")
    ]
    # The short form names the spatial indices only: (position) in 1-D, (row, col), or
    # (depth, row, col) in 3-D.
    spatial = tuple(a for a in ("depth", "row", "col") if a in arrays[0].axes)
    short = {1: "[i]", 2: "[i,j]", 3: "[t,i,j]"}[len(spatial)]
    forms = " or ".join(f"{word}{short}" for word in words)
    allowed = f"allowed: {forms}, indices from {index_base}"
    match = _TARGET.match(text)
    if not match:
        raise FocusError(f"cannot read {text.strip()!r} as an element; {allowed}")
    name, inside = match.group(1), match.group(2)
    chosen = [a for a in arrays if name.lower() == a.role or name == a.symbol]
    if not chosen:
        raise FocusError(f"unknown array {name!r}; {allowed}")
    array = chosen[0]
    pieces = [piece.strip() for piece in inside.replace(";", ",").split(",")]
    if not all(_INDEX.match(piece) for piece in pieces):
        raise FocusError(f"{name}[{inside}]: indices must be whole numbers; {allowed}")
    from gradcalc.core.values import number_form_problem

    for piece in pieces:  # "010" is refused as in a spec, not read as 10 here and 8 there
        problem = number_form_problem(piece)
        if problem is not None:
            raise FocusError(f"{name}[{inside}]: {problem}")
    given = [int(piece) - index_base for piece in pieces]
    ndim = len(array.shape)
    shape_text = "×".join(map(str, array.shape))
    axes_text = ", ".join(array.axes)
    if len(given) not in (ndim, len(spatial)):
        counts = f"{ndim} ({axes_text})" + (
            f" or the last {len(spatial)} ({', '.join(spatial)})" if ndim > len(spatial) else ""
        )
        raise FocusError(
            f"{name}[{inside}] has {len(given)} ind{'ex' if len(given) == 1 else 'ices'}; "
            f"allowed: {counts}, since {array.role} {array.symbol} is {shape_text}"
        )
    index = (0,) * (ndim - len(given)) + tuple(given)
    for axis, value, size in zip(array.axes, index, array.shape, strict=True):
        if not 0 <= value < size:
            ranges = ", ".join(
                f"{AXIS_WORDS[a]} {index_base}–{s - 1 + index_base}"
                for a, s in zip(array.axes, array.shape, strict=True)
            )
            raise FocusError(
                f"{name}[{inside}]: {AXIS_WORDS[axis]} {value + index_base} is out of range; "
                f"allowed: {ranges} ({array.role} {array.symbol} is {shape_text}, "
                f"index_base {index_base})"
            )
    return FocusTarget(array, index)
