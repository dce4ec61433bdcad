"""Naming every usual mistake that reproduces a wrong answer (issue 18: one slip, one name
everywhere).

When several slips give the same answer (a 6×6 input, a 3×3 kernel, stride 2, padding 1:
the size formula without its "+1" and the padding ignored both give 2×2), the report names
them all: "output_shape: either the “+1” of the output size was dropped or the padding (1)
was ignored: both give [2, 2]".  One slip keeps its own full message.  Under --hide-answers
only the slips that reveal nothing are named (each :class:`Variant` declares the results on
which it gives the key away).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gradcalc.core.kinds.mistakes import Variant


def diagnosis_words(name: str, found: Sequence[Variant], answer: np.ndarray) -> str:
    """The diagnosis of ``name``'s answer when every variant in ``found`` reproduces it
    ("" for none): one variant's message, or each slip named with what they give."""
    unique: list[Variant] = []
    for variant in found:  # two variants may name one slip in the same words
        if all(_words(variant, name) != _words(seen, name) for seen in unique):
            unique.append(variant)
    if not unique:
        return ""
    if len(unique) == 1:
        return unique[0].message.format(name=name)
    slips = [_words(variant, name) for variant in unique]
    gives = _answer_words(name, answer)
    if len(slips) == 2:
        return f"{name}: either {slips[0]} or {slips[1]}: both give {gives}"
    listed = ", ".join(slips[:-1]) + f" or {slips[-1]}"
    return f"{name}: any of these slips: {listed}: each gives {gives}"


def hidden_diagnosis(name: str, found: Sequence[Variant], answer: np.ndarray) -> str:
    """:func:`diagnosis_words` of the variants that reveal nothing about ``name``."""
    return diagnosis_words(name, [v for v in found if not v.gives_away(name)], answer)


def _words(variant: Variant, name: str) -> str:
    """The slip in a few words: its own, or its message without the result's name that the
    sentence already starts with ("hidden.grad_output matches the net with …")."""
    if variant.slip:
        return variant.slip
    message = variant.message.format(name=name)
    return message[len(name) + 1 :] if message.startswith(f"{name} ") else message


def _answer_words(name: str, answer: np.ndarray) -> str:
    """What the slips give: an output shape as the student wrote it ([2, 2]), else "this
    answer" (the student's own values, which the report lists)."""
    if name == "output_shape" and answer.ndim == 1 and answer.size <= 8:
        try:
            return "[" + ", ".join(str(int(v)) for v in answer) + "]"
        except (TypeError, ValueError):
            pass
    return "this answer"
