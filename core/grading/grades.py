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
    # How an answer not in the result's own shape was read ("read the 1×4 row in row-major
    # order as 2×2"); "" when it was in its own shape.
    reading: str = ""
    # The accepted alternative convention the answer matches ("ties: all").
    accepted: str = ""
    # The usual mistakes that reproduce a wrong answer, in words (core/grading/diagnoses.py).
    diagnosis: str = ""
    # A diagnosis gives the correct values away (a transpose, a sign): hidden with the answers.
    diagnosis_reveals: bool = False
    # Why the answer could not be read (an entry that is not a number), when it could not: it
    # scores 0 and the others are graded.
    error: str = ""
    # The diagnosis under --hide-answers: only the slips that reveal nothing ("" for none).
    diagnosis_hidden: str = ""

    def diagnosis_shown(self, hide: bool) -> str:
        """The diagnosis a report shows, with or without --hide-answers."""
        return self.diagnosis_hidden if hide else self.diagnosis


@record
class GroupScore:
    """One part of a grade (a net's layer): its results, their points, score and how many
    are right."""

    name: str
    results: tuple[str, ...]
    points: Fraction
    score: Fraction
    right: int


@record
class Grade:
    """Every result of one spec or submission."""

    kind: str
    title: str | None
    results: list[ResultGrade]
    # Answered results the problem does not ask for (not in its expected or points): not graded.
    ignored: tuple[str, ...] = ()
    # Why each answered name that is no result of this kind was not graded (a did-you-mean).
    unknown: tuple[str, ...] = ()
    # The results by part, in order, each (the part's name, its results' names): a net's
    # layers (core/kinds/net.py result_groups); () for a kind with one part.
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def group_scores(self) -> list[GroupScore]:
        """Each part's score: its results' points and scores added up (partial credit)."""
        by_name = {result.name: result for result in self.results}
        scores = []
        for name, names in self.groups:
            results = [by_name[result] for result in names if result in by_name]
            scores.append(
                GroupScore(
                    name,
                    tuple(result.name for result in results),
                    exact_total(result.points for result in results),
                    exact_total(result.score for result in results),
                    sum(result.ok for result in results),
                )
            )
        return scores

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
