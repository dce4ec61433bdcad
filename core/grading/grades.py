"""What a grade holds: each result's points, score and wrong cells, and their totals."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import field
from fractions import Fraction

from gradcalc.core.outcome import ExitStatus
from gradcalc.core.records import record
from gradcalc.core.spec import Tolerance


@record
class CellError:
    """One wrong cell of an answer (``index`` is 0-based in the result's shape)."""

    index: tuple[int, ...]
    given: Fraction | float
    correct: Fraction | float
    # None when the values are not numbers (a symbolic answer).
    abs_error: float | None
    # |given − correct| / |correct|; None when the correct value is 0 (or not a number).
    rel_error: float | None


@record
class ResultGrade:
    """One answered (or unanswered) result.

    ``score`` is ``points`` times the share of right cells (partial credit);
    an answer of the wrong shape, or a missing one, scores 0.
    """

    name: str
    ok: bool
    points: Fraction
    score: Fraction
    cells: int
    wrong: tuple[CellError, ...] = ()
    tolerance: Tolerance = field(default_factory=Tolerance)
    # The answer's shape when it cannot be compared cell by cell ("3×3"); "" otherwise.
    wrong_shape: str = ""
    missing: bool = False
    # The answer was written flat in row-major order; the result's shape it was read as.
    flat_as: str = ""
    # The accepted alternative convention the answer matches ("ties: all").
    accepted: str = ""
    # The usual mistakes that reproduce a wrong answer, in words (core/grading/diagnoses.py).
    diagnosis: str = ""
    # A diagnosis gives the correct values away (a transpose, a sign): hidden with the answers.
    diagnosis_reveals: bool = False
    # The diagnosis under --hide-answers: only the slips that reveal nothing ("" for none).
    diagnosis_hidden: str = ""

    def diagnosis_shown(self, hide: bool) -> str:
        """The diagnosis a report shows, with or without --hide-answers."""
        return self.diagnosis_hidden if hide else self.diagnosis


@record
class Grade:
    """Every result of one spec or submission."""

    kind: str
    title: str | None
    results: list[ResultGrade]
    # Answered results the problem does not ask for (not in its expected or points): not graded.
    ignored: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(result.ok for result in self.results)

    @property
    def points(self) -> Fraction:
        return exact_total(result.points for result in self.results)

    @property
    def score(self) -> Fraction:
        return exact_total(result.score for result in self.results)

    @property
    def exit_status(self) -> ExitStatus:
        return ExitStatus.OK if self.ok else ExitStatus.MISMATCH


def exact_total(values: Iterable[Fraction]) -> Fraction:
    """The exact sum of Fractions, over one common denominator (adding Fractions one by
    one reduces at every step; a folder's totals add thousands of them)."""
    values = list(values)
    denominator = math.lcm(*(value.denominator for value in values)) if values else 1
    return Fraction(
        sum(value.numerator * (denominator // value.denominator) for value in values),
        denominator,
    )


def shape_words(shape: tuple[int, ...]) -> str:
    """(2, 3) -> "2×3", (3,) -> "a list of 3", () -> "a single number"."""
    if not shape:
        return "a single number"
    return f"a list of {shape[0]}" if len(shape) == 1 else "×".join(map(str, shape))
