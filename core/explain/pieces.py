"""Pieces the explanations are made of: a symbol at an index, a matrix (or a sentence when
it is too large to print), the signs and brackets of numbers in a formula, the arithmetic
convention line, and the check an identity's recomputed value gets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core.explain import Matrix, Note, Symbol
from gradcalc.core.kinds.fields import shape_text
from gradcalc.core.values import to_float

# A matrix with more entries than this is summarized in a sentence, not printed.
MAX_MATRIX_SHOWN = 400


def arithmetic_words(
    *, exact: bool, irrational: str = "", forced: bool, size: str, limit: int
) -> str:
    """The convention line saying how the numbers were computed, and why.

    ``irrational`` names what forces floats ("sigmoid uses exp"); ``size`` is
    the problem's size in the unit the exact limit counts ("2,000 entries").
    """
    if exact:
        return "exact rational arithmetic (fractions print as p/q unless --decimal)"
    if irrational:
        return f"float64 arithmetic: {irrational}, whose values are irrational"
    if forced:
        return "float64 arithmetic (--float)"
    return f"float64 arithmetic: {size}, above the exact limit of {limit:,}"


def plus(value: Any) -> tuple[str | Any, ...]:
    """A term added after another, as formula tokens: " + 2", or " − 2" for −2."""
    return (" − ", -value) if value < 0 else (" + ", value)


def factor(value: Any) -> tuple[str | Any, ...]:
    """A number as formula tokens, parenthesized when negative: (−1)."""
    return ("(", value, ")") if value < 0 else (value,)


def element_symbol(name: str, index: tuple[int, ...], base: int, separator: str) -> Symbol:
    """``name`` at a 0-based ``index``, printed from ``base``."""
    return Symbol(name, tuple(int(i) + base for i in index), separator)


def show_matrix(
    label: str,
    values: np.ndarray,
    base: int,
    *,
    axes: tuple[str, ...] = (),
    caption: str = "",
    role: str = "",
) -> Matrix | Note:
    """A Matrix (``role`` as in :class:`Matrix`), or a one-line summary when it is too large
    to print usefully."""
    values = np.asarray(values, dtype=object)
    if values.size > MAX_MATRIX_SHOWN:
        return Note(
            f"{label}: {shape_text(values.shape)} ({values.size:,} entries, not printed; "
            "the results hold every value)"
        )
    # The results name unnamed axes axis0, axis1, …: the inputs' slices are named alike.
    names = axes or tuple(f"axis{i}" for i in range(values.ndim))
    return Matrix(
        label=label, values=values, axis_names=names, index_base=base, caption=caption, role=role
    )


def same(a: np.ndarray, b: np.ndarray, exact: bool) -> bool:
    """Two results agree: equal when exact, else within 1e-9 (an identity's check)."""
    if exact:
        return bool(np.all(a == b))
    return bool(np.allclose(to_float(a), to_float(b), rtol=1e-9, atol=1e-9))


def underflow_words(scores: Any) -> list[str]:
    """A convention line when float64 rounds a softmax probability to 0 (scores: …×C, softmax
    over the last axis): the steps then show `= 0` for a value that is positive."""
    shifted = np.asarray(scores, dtype=float)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    count = int(np.count_nonzero(np.exp(shifted) == 0))
    if not count:
        return []
    return [
        f"exp(s_j − m) is below the smallest float64 (about 4.9e-324) for {count} "
        f"{'entry' if count == 1 else 'entries'} (s_j − m < −745.1): float64 rounds those "
        "probabilities, and what they multiply, to 0 — their true values are positive but "
        "under e^−745"
    ]
