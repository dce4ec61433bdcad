"""Reading the keys that say how to grade (``points``, ``accept``), and naming results."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from gradcalc.core.errors import FieldPath, SpecError
from gradcalc.core.kinds.mistakes import Variant, spec_text
from gradcalc.core.spec import ResultHints, Tolerance, read_tolerance, result_hint
from gradcalc.core.values import describe, parse_number

# Keys that say how to grade, not what the problem is: the solver never sees them.
GRADING_KEYS = ("expected", "points", "accept")
# The keys of a submission file.
SUBMISSION_KEYS = ("problem", "answers", "student", "title")


def unknown_result(
    path: FieldPath,
    known: list[str],
    whose: str = "This problem's",
    hints: ResultHints | None = None,
) -> SpecError:
    """The error for a result name (the path's last part) that is not among ``known``, with
    the kind's own hint (``hints``, core/spec.py result_hint) or a close match."""
    name = str(path[-1])
    return SpecError(
        path,
        f"unknown result {name!r}{result_hint(name, known, hints) or '.'} "
        f"{whose} results: {', '.join(known)}.",
        at_key=True,
    )


def text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def read_points(spec: Mapping[str, Any]) -> Fraction | dict[str, Fraction]:
    """``points: 2`` (each result) or ``points: {output: 1, grad_kernel: 3}`` (others: 1)."""
    value = spec.get("points")
    if value is None:
        return Fraction(1)
    if isinstance(value, Mapping):
        return {str(name): _one_points(v, ("points", name)) for name, v in value.items()}
    return _one_points(value, ("points",))


def _one_points(value: Any, path: FieldPath) -> Fraction:
    number = parse_number(
        value, path, what="points", allowed='a number ≥ 0 such as 2, 0.5 or "1/2"'
    )
    if number < 0:
        raise SpecError(path, f"points must be 0 or more, got {number}")
    return number


def read_accept(spec: Mapping[str, Any]) -> tuple[list[Variant], dict[str, Tolerance]]:
    """``accept: {ties: [first, all], tolerance: {grad_input: 1e-3}}``.

    Each key other than ``tolerance`` is a spec key with the values that also
    count as correct; ``tolerance`` gives a result its own tolerance.
    """
    value = spec.get("accept")
    if value is None:
        return [], {}
    if not isinstance(value, Mapping):
        raise SpecError(
            ("accept",),
            f"accept must be a mapping such as {{ties: [first, all]}}, got {describe(value)}",
        )
    variants: list[Variant] = []
    tolerances: dict[str, Tolerance] = {}
    for key, choices in value.items():
        if key == "tolerance":
            if not isinstance(choices, Mapping):
                raise SpecError(
                    ("accept", "tolerance"),
                    "accept.tolerance must map result names to tolerances, such as {grad_input: 1e-3}",
                )
            for name, tolerance in choices.items():
                try:
                    tolerances[str(name)] = read_tolerance({"tolerance": tolerance})
                except SpecError as error:
                    raise SpecError(
                        ("accept", "tolerance", name, *error.path[1:]), error.message
                    ) from None
            continue
        if key in GRADING_KEYS or key == "kind":
            raise SpecError(("accept", key), f"accept cannot list {key!r}", at_key=True)
        listed = choices if isinstance(choices, list) else [choices]
        current = spec.get(key)
        for choice in listed:
            if choice == current:
                continue
            changed = _changed(str(key), current, choice)
            variants.append(
                Variant(
                    label=changed,
                    message=f"accepted: {changed}",
                    changes=((str(key), choice),),
                )
            )
    return variants, tolerances


# A key that one of two mappings compared by _changed does not hold (null is a value).
_ABSENT = object()


def _changed(key: str, current: Any, choice: Any) -> str:
    """An accepted value in words: ``ties: all``; for a mapping or a list of mappings (a
    net's ``loss`` and ``layers``), only the entries it changes: ``loss.reduction: sum``,
    ``layers[2].ties: all``, ``loss.weight left out``.

    The words are also the variant's label, under which core/grading/problem.py caches its
    solution: an empty label is the problem's own, so a key written null (``: null``) reads
    apart from one left out, and a choice differing from the problem only there is solved."""
    if choice is _ABSENT:
        return f"{key} left out"
    if isinstance(current, Mapping) and isinstance(choice, Mapping):
        keys = [*current, *(name for name in choice if name not in current)]
        parts = [
            _changed(f"{key}.{name}", current.get(name, _ABSENT), choice.get(name, _ABSENT))
            for name in keys
            if current.get(name, _ABSENT) != choice.get(name, _ABSENT)
        ]
        return "; ".join(parts)
    lists = isinstance(current, list) and isinstance(choice, list)
    if (
        lists
        and len(current) == len(choice)
        and any(isinstance(entry, Mapping) for entry in [*current, *choice])
    ):
        parts = [
            _changed(f"{key}[{index}]", before, after)
            for index, (before, after) in enumerate(zip(current, choice, strict=True))
            if before != after
        ]
        return "; ".join(parts)
    return f"{key}: {spec_text(choice)}"
