"""What a kind's usual mistakes are made of (``gradcalc check`` diagnoses them).

A kind lists its mistakes in ``usual_mistakes(spec)`` as :class:`Variant` objects, in its
module (core/kinds/<kind>.py) or the one its catalog entry's ``parts`` names
(core/registry.py ``kind_part``); core/grading solves the problem again under each one and
names every one whose result the wrong answer matches.  The mistakes several kinds make
(the stride or padding ignored, the upstream forgotten or transposed, a gradient transposed
or negated) are built here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradcalc.core.records import record


@record(frozen=True)
class Variant:
    """The problem solved another way: a mistake to diagnose or an accepted convention.

    ``changes`` are spec keys to replace (None removes the key); ``transform``
    maps the correct result to the mistaken one instead (a transpose, a sign);
    ``results`` limits the result names it can explain (empty: all); ``slip`` says the
    slip in a few words, for when several explain one answer.  ``reveals``
    names the results for which the diagnosis gives correct values away: the key follows
    from the answer and the slip named (the answer transposed, rotated, scaled, re-sized
    or with its ties resolved otherwise is the key).  Left out under --hide-answers; a
    diagnosis that only says some of the answer's own entries are right reveals no more
    than the cell-by-cell verdict.  ``rerun`` gives the mistaken results itself, for a slip
    no spec key states (a net with one layer's backward rule skipped): (the limits) -> the
    results by name, or None when the slip cannot be run.
    """

    label: str
    message: str
    changes: tuple[tuple[str, Any], ...] = ()
    # (the correct result, its name) -> the mistaken result, or None when it cannot apply.
    transform: Callable[[np.ndarray, str], np.ndarray | None] | None = None
    results: tuple[str, ...] = ()
    reveals: tuple[str, ...] = ()
    rerun: Callable[[Any], Mapping[str, Any] | None] | None = None
    # The slip in a few words ("the padding (1) was ignored"), for naming it beside the
    # others that give the same answer (core/grading/diagnoses.py).
    slip: str = ""

    def explains(self, name: str) -> bool:
        return not self.results or name in self.results

    def gives_away(self, name: str) -> bool:
        return name in self.reveals


def spec_text(value: Any) -> str:
    """A spec value as a message writes it, as YAML's flow style would: true, null, [1, 2],
    {all: 1}, 3."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(spec_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {spec_text(v)}" for key, v in value.items()) + "}"
    return str(value)


def is_zero(value: Any) -> bool:
    """True for a padding (or any size) that adds nothing: None, 0, "valid", [0, 0]."""
    if value is None or value == "valid":
        return True
    if isinstance(value, list):
        return all(is_zero(v) for v in value)
    return value == 0


def upstream_given(spec: Mapping[str, Any]) -> bool:
    value = spec.get("upstream")
    return value is not None and not (isinstance(value, str) and value.strip() == "ones")


def _without_last_row_and_column(array: np.ndarray, name: str) -> np.ndarray | None:
    """What the size formula without its "+1" gives: one output row and column fewer, the
    others as they are (the same windows, the last ones never reached).  ``output_shape``
    loses 1 from its last two entries; None when nothing would be left."""
    if name == "output_shape":
        if array.ndim != 1 or array.size < 2 or any(int(v) < 2 for v in array[-2:]):
            return None
        shape = array.copy()
        shape[-2:] = [v - 1 for v in array[-2:]]
        return shape
    if array.ndim < 2 or array.shape[-2] < 2 or array.shape[-1] < 2:
        return None
    return array[..., :-1, :-1]


FORWARD = ("output", "output_shape")
SIZE_NOTE = (
    "{name} matches an output size computed without the “+1”: ⌊(H + 2p − k)/s⌋ "
    "instead of ⌊(H + 2p − d·(k − 1) − 1)/s⌋ + 1"
)


def size_mistakes(spec: Mapping[str, Any], stride: tuple[int, int] | None) -> list[Variant]:
    """Stride ignored, padding ignored, and the size formula without its +1 (a sliding window's
    mistakes: conv and pool).

    Each changes the output's shape, so a written-out upstream no longer fits:
    then only the forward results can be explained (the upstream becomes ones).
    Each gives ``output_shape`` away: the key is the answer's sizes put through the formula
    the slip skipped.
    """
    forward_only = upstream_given(spec)
    results = FORWARD if forward_only else ()
    upstream = (("upstream", None),) if forward_only else ()

    def ignored(key: str, plain_value: int, words: str, shown: Any, reveals=()) -> Variant:
        return Variant(
            f"{key} ignored",
            f"{{name}} matches the result {words}: the {key} ({spec_text(shown)}) was ignored",
            ((key, plain_value), *upstream),
            results=results,
            reveals=reveals,
            slip=f"the {key} ({spec_text(shown)}) was ignored",
        )

    # A padding word as the reader takes it (any case, spaces around): "SAME" is "same".
    padding = spec.get("padding")
    padding = padding.strip().lower() if isinstance(padding, str) else padding
    variants = []
    if stride is not None and stride != (1, 1):
        default = stride[0] if stride[0] == stride[1] else list(stride)  # pool: the window
        # The strided output is every s-th entry of the answer: naming the slip gives it away.
        shown = spec.get("stride", default)
        variants.append(
            ignored("stride", 1, "with stride 1", shown, reveals=("output", "output_shape"))
        )
    if not is_zero(padding) and padding != "same":
        # On output the answer is the key's inner block (stride 1) or windows the key does
        # not have: the student's own entries, no more.
        variants.append(
            ignored("padding", 0, "without padding", spec["padding"], ("output_shape",))
        )
    if stride is not None and padding != "same" and spec.get("ceil_mode") is not True:
        variants.append(
            Variant(
                "size without +1",
                SIZE_NOTE,
                transform=_without_last_row_and_column,
                results=FORWARD,
                # output: the cells kept are the student's own; output_shape: the key is
                # the answer plus one.
                reveals=("output_shape",),
                slip="the “+1” of the output size was dropped",
            )
        )
    return variants


def forgot_upstream(
    spec: Mapping[str, Any], gradients: tuple[str, ...], reveals: tuple[str, ...] = ()
) -> list[Variant]:
    """``reveals``: where the key follows from the answer (an activation's ∂L/∂x is the
    upstream times the answer, entry by entry).  An upstream with every entry c reveals
    every gradient: a gradient is linear in the upstream, so the key is c times the answer."""
    if not upstream_given(spec):
        return []
    if _constant(spec["upstream"]):
        reveals = gradients
    return [
        Variant(
            "upstream forgotten",
            "{name} matches the result with an upstream of ones: the upstream gradient "
            "∂L/∂output was forgotten (the chain rule's last factor)",
            (("upstream", None),),
            results=gradients,
            reveals=reveals,
            slip="the upstream gradient was forgotten (ones used)",
        )
    ]


def _constant(value: Any) -> bool:
    """True for a written-out upstream whose entries are all one number (1, "1/2", 0.5)."""
    from fractions import Fraction

    entries = np.array(value, dtype=object).ravel() if isinstance(value, list) else [value]
    try:
        return len({Fraction(str(entry)) for entry in entries}) <= 1
    except (ValueError, ZeroDivisionError, TypeError):
        return False  # not plain numbers: the problem reads them, or reports its error


def transposed(name: str, symbol: str) -> Variant:
    """``name`` (a matrix gradient) answered with rows and columns swapped."""
    return Variant(
        "transposed",
        f"{{name}} is the transpose of {symbol}: rows and columns swapped",
        transform=lambda array, _name: np.swapaxes(array, -1, -2) if array.ndim >= 2 else None,
        results=(name,),
        reveals=(name,),
        slip=f"{symbol} was transposed",
    )


def negated(gradients: tuple[str, ...]) -> Variant:
    """A gradient answered with its sign flipped (a descent step's −∂L/∂x, or a difference
    taken the wrong way round): the key is the answer negated."""
    return Variant(
        "gradient negated",
        "{name} is the negative of the gradient: its sign was flipped",
        transform=lambda array, _name: -array,
        results=gradients,
        reveals=gradients,
        slip="the gradient's sign was flipped",
    )


def upstream_transposed(spec: Mapping[str, Any], gradients: tuple[str, ...]) -> list[Variant]:
    """The upstream gradient ∂L/∂output written out as a square matrix (its last two axes)
    used with rows and columns swapped.  Only a square one: any other would not fit the
    output.  Declared to reveal every gradient it explains (for an elementwise layer the key
    is the answer rescaled by the upstream's entries)."""
    if not upstream_given(spec) or not isinstance(spec.get("upstream"), list):
        return []
    try:
        upstream = np.array(spec["upstream"], dtype=object)
    except ValueError:  # ragged: the problem's own error
        return []
    if upstream.ndim < 2 or upstream.shape[-1] != upstream.shape[-2] or upstream.shape[-1] < 2:
        return []
    swapped = np.swapaxes(upstream, -1, -2)
    if (swapped == upstream).all():  # symmetric: the slip changes nothing
        return []
    return [
        Variant(
            "upstream transposed",
            "{name} matches the result with the upstream gradient ∂L/∂output transposed "
            "(rows and columns swapped)",
            (("upstream", swapped.tolist()),),
            results=gradients,
            reveals=gradients,
            slip="the upstream gradient was transposed",
        )
    ]
