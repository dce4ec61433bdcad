"""The readers of spec fields that several kinds share, each written once.

A field's form decides how it is read, whatever kind it belongs to: a word out of a list
(``mode``, ``layout``), an exact number in a range (``alpha``), a whole number
(``ignore_index``, ``divisor_override``), a tensor (``input``), a pair
of whole numbers (``stride``, ``dilation``, a pool's ``size``: 2 or [rows, cols]) and
conv's padding forms (2, [rows, cols], [top, bottom, left, right], "valid", "same").  The
inline options (cli/inline.py) and ``gradcalc random``'s size knobs (core/practice/sizes.py)
read a pair written as text, ``2x1``, with :data:`PAIR_TEXT` and :data:`PAIR_SEPARATOR`.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.errors import FieldPath, SpecError
from gradcalc.core.patterns import LazyPattern
from gradcalc.core.spec import Limits
from gradcalc.core.values import (
    MAX_INDEX,
    describe,
    looks_numeric,
    parse_array,
    parse_int,
    parse_number,
)

# Two whole numbers as `gradcalc random` and inline options write a pair: "2x1", "2×1", "2 x 1".
# A spec file writes [2, 1]; there "2x1" is an error that shows the way (refuse_pair_text).
_PAIR_SEPARATOR_TEXT = r"\s*[x×X*]\s*"
PAIR_SEPARATOR = LazyPattern(_PAIR_SEPARATOR_TEXT)
PAIR_TEXT = LazyPattern(rf"\s*([0-9]+){_PAIR_SEPARATOR_TEXT}([0-9]+)\s*")
# A 3-D convolution's triple, "1x2x2", as its inline options take it (a spec file: [1, 2, 2]).
TRIPLE_TEXT = LazyPattern(
    rf"\s*([0-9]+){_PAIR_SEPARATOR_TEXT}([0-9]+){_PAIR_SEPARATOR_TEXT}([0-9]+)\s*"
)


# ---------------------------------------------------------------------------
# Words, numbers and tensors


def shape_text(shape: tuple[int, ...]) -> str:
    """(2, 3) -> "2×3", (3,) -> "a list of 3", () -> "a single number"."""
    if not shape:
        return "a single number"
    if len(shape) == 1:
        return f"a list of {shape[0]}"
    return "×".join(map(str, shape))


def read_choice(
    spec: Mapping[str, Any], key: str, allowed: tuple[str, ...], *, default: str | None = None
) -> str:
    """One word out of ``allowed``; a missing key takes ``default`` (None: required).  A key
    written as null is refused at its own line, as stride: null and padding: null are."""
    if key in spec and spec[key] is None:
        raise SpecError((key,), f"expected one of {', '.join(allowed)}, got null")
    value = spec.get(key, default)
    if value is None:
        raise SpecError((), f"missing required key {key!r}; allowed values: {', '.join(allowed)}")
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        shown = repr(value.strip()) if isinstance(value, str) else describe(value)
        raise SpecError((key,), f"unknown {key} {shown}; allowed: {', '.join(allowed)}")
    return value.strip().lower()


def read_scalar(
    spec: Mapping[str, Any],
    key: str,
    default: Fraction,
    *,
    low: Fraction | None = None,
    high: Fraction | None = None,
    low_open: bool = False,
) -> Fraction:
    """An exact number with an optional allowed range [low, high] ((low, high] if ``low_open``)."""
    if spec.get(key) is None:
        return default
    value = parse_number(spec[key], (key,), what=f"{key} (a number)")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        from gradcalc.core.words import plain

        left = "(" if low_open else "["
        low_text = "−∞" if low is None else plain(low)
        high_text = "∞" if high is None else plain(high)
        raise SpecError(
            (key,),
            f"{key} must be in {left}{low_text}, {high_text}{']' if high is not None else ')'}, got {plain(value)}",
        )
    return value


def read_int(
    spec: Mapping[str, Any],
    key: str,
    default: int | None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    what: str | None = None,
) -> int | None:
    """A whole number (2, 2.0, "2" and 1e3 are fine; 2.5 is not) in [minimum, maximum];
    ``default`` when the key is missing or null.  ``what`` names it in errors (the key)."""
    if spec.get(key) is None:
        return default
    return parse_int(spec[key], (key,), minimum=minimum, maximum=maximum, what=what or key)


def read_array(
    raw: Any, path: FieldPath, *, ndims: tuple[int, ...], what: str, limits: Limits
) -> np.ndarray:
    """parse_array with the run's element limit."""
    return parse_array(raw, path, ndims=ndims, what=what, max_elements=limits.max_elements)


GROUPS_ALLOWED = "allowed: a positive integer dividing both in_channels and out_channels"


def read_groups(spec: Mapping[str, Any]) -> int:
    """conv's and conv_transpose's ``groups``: 1 when the key is missing; null, 3/2 or 0 are
    refused at the key with what is allowed (null is refused as stride: null is)."""
    if "groups" not in spec:
        return 1
    value = spec["groups"]
    if value is None:
        raise SpecError(("groups",), f"expected a whole number, got null; {GROUPS_ALLOWED}")
    try:
        groups = parse_int(value, ("groups",), what="a whole number")
    except SpecError as error:
        raise SpecError(error.path, f"{error.message}; {GROUPS_ALLOWED}") from None
    if not 1 <= groups <= MAX_INDEX:
        raise SpecError(("groups",), f"expected a whole number, got {groups}; {GROUPS_ALLOWED}")
    return groups


# ---------------------------------------------------------------------------
# Pairs of whole numbers and padding forms


def read_pair(value: Any, path: tuple, what: str, minimum: int) -> tuple[int, int]:
    """An int, or [rows, cols], each at least ``minimum``: stride, dilation, pool size/padding."""
    allowed = f"allowed: a whole number or [rows, cols], each at least {minimum}"
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise SpecError(path, f"{what} is a list of {len(value)}; {allowed}")
        return (
            _pair_int(value[0], (*path, 0), f"{what} (rows)", minimum, allowed),
            _pair_int(value[1], (*path, 1), f"{what} (cols)", minimum, allowed),
        )
    refuse_pair_text(value, path, what, allowed)
    number = _pair_int(value, path, what, minimum, allowed)
    return number, number


def refuse_pair_text(
    value: Any, path: tuple, what: str, allowed: str, *, triple: bool = False
) -> None:
    """A spec file writes a pair as [2, 1]: "2x1" there is an error that shows the way
    (``triple``: a 3-D one's "1x2x2" too, as [1, 2, 2])."""
    if not isinstance(value, str):
        return
    pair = pair_from_text(value, path, as_list=True)
    if pair is None and triple:
        pair = pair_from_text(value, path, as_list=True, triple=True)
    if pair is not None:
        raise SpecError(
            path, f"{what} {value!r}: write [{', '.join(map(str, pair))}] here; {allowed}"
        )


def _pair_int(value: Any, path: tuple, what: str, minimum: int, allowed: str) -> int:
    try:
        return parse_int(value, path, minimum=minimum, maximum=MAX_INDEX, what=what)
    except SpecError as error:
        if not error.message.startswith("expected"):
            raise  # "must be at least 1", "use ASCII digits 0-9": these say what is allowed
        raise SpecError(error.path, f"{error.message}; {allowed}") from None


def read_padding(
    value: Any,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    kernel_hw: tuple[int, int],
    *,
    words: bool = True,
) -> tuple[tuple[int, int, int, int], str]:
    """Padding as (top, bottom, left, right) and a short text of what the spec said.
    ``words``: whether "valid", "same" and "full" (core/kinds/conv_padding.py reads full) are
    offered in the messages (a transposed convolution refuses them before it calls this)."""
    path = ("padding",)
    allowed = "allowed: an integer, [rows, cols], [top, bottom, left, right]"
    allowed += ', "valid", "same" or "full"' if words else ""
    if isinstance(value, str) and value.strip().lower() in ("valid", "same"):
        word = value.strip().lower()
        if word == "valid":
            return (0, 0, 0, 0), '"valid" (no padding)'
        if stride != (1, 1):
            raise SpecError(
                path,
                f'padding "same" needs stride 1 (as in PyTorch), but stride is {list(stride)}; give the padding as numbers',
            )
        total_h = dilation[0] * (kernel_hw[0] - 1)
        total_w = dilation[1] * (kernel_hw[1] - 1)
        # PyTorch puts the odd extra row/column on the bottom/right.
        pads = (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
        return (
            pads,
            '"same" (output as large as the input; an odd extra row/column goes bottom/right)',
        )
    if isinstance(value, (list, tuple)):
        if len(value) == 2:
            ph = _pair_int(value[0], (*path, 0), "padding (rows)", 0, allowed)
            pw = _pair_int(value[1], (*path, 1), "padding (cols)", 0, allowed)
            return (ph, ph, pw, pw), f"[{ph}, {pw}]"
        if len(value) == 4:
            sides = ("top", "bottom", "left", "right")
            pads = tuple(
                _pair_int(v, (*path, i), f"padding ({sides[i]})", 0, allowed)
                for i, v in enumerate(value)
            )
            return pads, f"[{', '.join(map(str, pads))}]"  # type: ignore[return-value]
        raise SpecError(path, f"padding is a list of {len(value)}; {allowed}")
    if isinstance(value, str):
        refuse_pair_text(value, path, "padding", allowed)
        if not looks_numeric(value):  # "1e3" is read below, as in every integer field
            raise SpecError(path, f"unknown padding {value!r}; {allowed}")
    if isinstance(value, bool) or value is None:
        raise SpecError(path, f"padding must not be {describe(value)}; {allowed}")
    p = _pair_int(value, path, "padding", 0, allowed)
    return (p, p, p, p), str(p)


def pair_from_text(
    text: str, path: FieldPath = (), *, as_list: bool = False, triple: bool = False
) -> list[int] | None:
    """``"2x1"`` (or ``2×1``, ``2 x 1``) -> [2, 1]; with ``triple``, ``"1x2x2"`` -> [1, 2, 2]
    instead; None for any other text.

    Each part is a whole number as any other is read: ``"1x010"`` is refused as a lone
    ``"010"`` is (SpecError at ``path`` naming the pair to write: ``1x10``, or ``[1, 10]``
    with ``as_list``, a spec file's form), never read as 1×10 or as octal."""
    pair = (TRIPLE_TEXT if triple else PAIR_TEXT).fullmatch(text)
    if pair is None:
        return None
    parts = pair.groups()
    if any(len(part) > 1 and part[0] == "0" for part in parts):
        raise SpecError(path, _zero_led_pair(text.strip(), parts, as_list))
    return [parse_int(part, path, what="a whole number") for part in parts]


def _zero_led_pair(text: str, parts: tuple[str, ...], as_list: bool) -> str:
    """Why ``"1x010"`` is refused, with the pair to write (and its octal reading if it differs)."""

    def written(values: list[int]) -> str:
        return f"[{', '.join(map(str, values))}]" if as_list else "x".join(map(str, values))

    shown = repr(text) if len(text) <= 60 else repr(text[:60] + "…")
    if len(text) > 60:
        return f"{shown}: a whole number may not start with 0 (nor is it read as octal)"
    decimal = [int(part) for part in parts]
    fix = f"write {written(decimal)}"
    if all(set(part) <= set("01234567") for part in parts):
        octal = [int(part, 8) for part in parts]
        if octal != decimal:
            fix += f", or {written(octal)} if octal was meant"
    return f"{shown}: {fix}; leading zeros are not read as octal (numbers are decimal)"


def read_single(value: Any, path: tuple, what: str, minimum: int) -> int:
    """A 1-D convolution's stride or dilation: an int or [n] (one entry per spatial axis)."""
    allowed = f"allowed: a whole number or [n] (one axis), at least {minimum}"
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise SpecError(
                path, f"{what} is a list of {len(value)} in a 1-D convolution; {allowed}"
            )
        return _pair_int(value[0], (*path, 0), what, minimum, allowed)
    if isinstance(value, bool) or value is None:
        raise SpecError(path, f"{what} must not be {describe(value)}; {allowed}")
    return _pair_int(value, path, what, minimum, allowed)


def read_padding_1d(
    value: Any, stride: int, dilation: int, kernel: int, *, words: bool = True
) -> tuple[tuple[int, int], str]:
    """A 1-D convolution's padding as (left, right) and a short text of what the spec said:
    an int or [p] (both sides), [left, right] (a causal convolution is [d·(k−1), 0]),
    "valid" or "same" (stride 1; an odd extra cell goes right, as in PyTorch).  ``words``:
    whether the words are allowed (a transposed convolution refuses them before this)."""
    path = ("padding",)
    allowed = (
        "allowed: an integer, [p] (both sides), [left, right] (causal: [k−1, 0]), "
        '"valid", "same" or "full"'
        if words
        else "allowed: an integer, [p] (both sides) or [left, right]"
    )
    if isinstance(value, str) and value.strip().lower() == "full":
        # d·(k−1) on each side: every window that overlaps the input at all.
        pad = dilation * (kernel - 1)
        return (pad, pad), f'"full" (d·(k − 1) = {pad} on each side)'
    if isinstance(value, str) and value.strip().lower() in ("valid", "same"):
        if value.strip().lower() == "valid":
            return (0, 0), '"valid" (no padding)'
        if stride != 1:
            raise SpecError(
                path,
                f'padding "same" needs stride 1 (as in PyTorch), but stride is {stride}; give the padding as numbers',
            )
        total = dilation * (kernel - 1)
        return (
            (total // 2, total - total // 2),
            '"same" (output as long as the input; an odd extra cell goes right)',
        )
    if isinstance(value, (list, tuple)):
        if len(value) not in (1, 2):
            raise SpecError(
                path, f"padding is a list of {len(value)} in a 1-D convolution; {allowed}"
            )
        sides = ("left", "right") if len(value) == 2 else ("both sides",)
        pads = tuple(
            _pair_int(v, (*path, i), f"padding ({sides[i]})", 0, allowed)
            for i, v in enumerate(value)
        )
        return (pads[0], pads[-1]), f"[{', '.join(map(str, pads))}]"
    if isinstance(value, str) and not looks_numeric(value):
        raise SpecError(path, f"unknown padding {value!r}; {allowed}")
    if isinstance(value, bool) or value is None:
        raise SpecError(path, f"padding must not be {describe(value)}; {allowed}")
    p = _pair_int(value, path, "padding", 0, allowed)
    return (p, p), str(p)


def pair_as_written(value: Any) -> tuple[int, int] | None:
    """The pair a validated spec wrote plainly, 2 or [2, 1], without reading it again; None
    for any other spelling ("2", 2.0) or a missing value: grading looks at the spec's own
    words to name a slip (core/kinds/conv.py, pool.py), and an unusual spelling names none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value, value
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[0], value[1]
    return None


def focus_target(focus: str | None, problem: Any) -> Any:
    """What ``--focus output[1,0]`` names among a sliding-window problem's ``focusable()``
    arrays (a core/kinds/focus.py FocusTarget); None without ``--focus``."""
    if focus is None:
        return None
    from gradcalc.core.kinds.focus import (
        read_focus,  # imported when --focus is used (start-up cost)
    )

    return read_focus(focus, problem.focusable(), problem.index_base)
