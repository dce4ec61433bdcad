"""What ``gradcalc check`` takes (:class:`Settings`) and gives (a :class:`FileReport` per file),
and what a list of reports adds up to: totals and an exit status.  The renderers
(cli/check_render.py) read these and nothing else."""

from __future__ import annotations

from collections import Counter
from dataclasses import field
from typing import Any

from gradcalc.cli.check_budget import DEFAULT_TIMEOUT, MEMORY_BUDGET
from gradcalc.core.grading import Grade, exact_total
from gradcalc.core.outcome import ExitStatus
from gradcalc.core.records import record
from gradcalc.core.spec import Limits


@record
class FileReport:
    """What checking one file gave: a grade, an error line, or nothing to check."""

    source: str
    problem: str | None = None  # the problem file of a submission
    student: str | None = None
    grade: Grade | None = None
    error: str | None = None
    skipped: bool = False  # a spec without expected answers
    # The error is the instructor's, not a submission's (a path that gives no file, a broken
    # --problem file or bank problem): --exit-zero does not excuse it.
    instructor_error: bool = False
    # Said of a submission that names its own problem file in a folder run without a bank.
    warning: str | None = None
    # A submission refused for keys of its own (a kind, input, expected or unknown key, with
    # --problems) that names a problem of the bank: that problem and its points, so that the
    # grade sheet has its column (the cell empty, 0 in the total) even when no other
    # submission names it.  The submission is still its error, never graded.
    refused_problem: str | None = None
    refused_points: Any = None  # a Fraction, or None when the problem could not be solved

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        if self.grade is None:
            return "skipped"
        return "pass" if self.grade.ok else "fail"


@record
class Settings:
    """How every file of one run is checked: --problem or --problems, the spec limits,
    --traceback and the budgets (cli/check_budget.py)."""

    problem: str | None = None
    bank: str | None = None  # --problems: the instructor's folder of problems
    limits: Limits = field(default_factory=Limits)
    traceback: bool = False
    timeout: float | None = DEFAULT_TIMEOUT  # processor seconds per file; None: no limit
    memory: int | None = MEMORY_BUDGET  # bytes of address space per file; None: no limit

    @property
    def instructor_problems(self) -> bool:
        """True when the problems come from the instructor (--problem, --problems), not from
        what each submission names: their errors are shown in full, and are the run's."""
        return self.problem is not None or self.bank is not None


def totals(reports: list[FileReport]) -> dict[str, Any]:
    results = [result for r in reports if r.grade is not None for result in r.grade.results]
    statuses = Counter(r.status for r in reports)
    return {
        "files": len(reports),
        "passed": statuses["pass"],
        "failed": statuses["fail"],
        "errors": statuses["error"],
        "skipped": statuses["skipped"],
        "score": exact_total(result.score for result in results),
        "points": exact_total(result.points for result in results),
    }


def exit_status(reports: list[FileReport], *, exit_zero: bool = False) -> ExitStatus:
    """2 when a file has an error, 1 when an answer is wrong, else 0.  ``exit_zero``
    (--exit-zero: a grading job that reports rather than fails): 0 for wrong answers and
    broken submissions alike, which are in the reports; still 2 for an error of a problem a
    submission is graded against named by the instructor (--problem, or the bank's) and for a
    path that gives no file."""
    if exit_zero:
        broken = any(r.instructor_error and r.status == "error" for r in reports)
        return ExitStatus.ERROR if broken else ExitStatus.OK
    if any(r.status == "error" for r in reports):
        return ExitStatus.ERROR
    if any(r.status == "fail" for r in reports):
        return ExitStatus.MISMATCH
    return ExitStatus.OK
