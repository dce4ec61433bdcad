"""Reading and grading one file for ``gradcalc check``: a spec against its ``expected``
answers, a submission's ``answers`` against its problem (solved once per process).

Plain data goes to :mod:`gradcalc.core.grading`; this module keeps the YAML positions for the
error lines, and keeps a problem named by a submission from showing any of its content.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gradcalc.cli import check_bank
from gradcalc.cli.check_budget import OverBudget, budget_words, memory_words
from gradcalc.cli.check_report import FileReport, Settings
from gradcalc.cli.errors import error_line
from gradcalc.core.errors import GradcalcError, SpecError
from gradcalc.core.grading import SUBMISSION_KEYS, SYMBOLIC_KINDS, Problem, exact_total
from gradcalc.core.spec import Limits, did_you_mean
from gradcalc.core.values import describe

# Problems read and solved in this process, by resolved path: a folder of submissions
# against one problem solves it (and each diagnosis variant) once.  A problem that could not be
# loaded keeps its error: an exception, or a line that holds nothing from the file.
_PROBLEMS: dict[str, tuple[Problem | None, Exception | str | None, Any]] = {}


def _load(path: str, limits: Limits):
    from gradcalc.cli.spec_loader import load_file

    # No streams: a FIFO or device found in a folder or named by `problem:` (or `problem: -`)
    # could block the run (in every worker); only regular files are read.
    return load_file(path, max_values=max(limits.max_elements * 2, 1000), streams=False)


def _problem(path: str, settings: Settings) -> tuple[Problem | None, Exception | str | None, Any]:
    """The problem at ``path`` (solved once per process), or what went wrong with it."""
    key = os.path.realpath(path)
    if key not in _PROBLEMS:
        loaded = None
        try:
            loaded = _load(path, settings.limits)
            _sympy_ready(loaded.data)
            _PROBLEMS[key] = (Problem(loaded.data, limits=settings.limits), None, loaded)
        except GradcalcError as error:
            _PROBLEMS[key] = (None, error, loaded)
        # Kept, so that the next submissions do not spend their budget on it again.
        except OverBudget:
            _PROBLEMS[key] = (
                None,
                f"{path}: solving it took more than {budget_words(settings.timeout)}",
                loaded,
            )
            raise
        except MemoryError:
            _PROBLEMS[key] = (
                None,
                f"{path}: solving it needs {memory_words(settings.memory)}",
                loaded,
            )
            raise
        except RecursionError:
            raise
        except Exception as error:  # a bug
            if settings.traceback:
                raise
            _PROBLEMS[key] = (None, error, loaded)
    return _PROBLEMS[key]


def problem_error_line(path: str, error: Exception | str, loaded: Any, *, public: bool) -> str:
    """The error line of a problem file.  ``public``: the file was named by a submission's
    ``problem:``, which may point at any file (a secret, /proc/self/status): the line names
    the file, where and what kind of thing is wrong, never a value or key from it."""
    if isinstance(error, str):
        return error  # a budget ran out: nothing from the file
    if not isinstance(error, GradcalcError):
        if public:
            return (
                f"{path}: internal error while solving it: {type(error).__name__} (this is a "
                f"bug; run `gradcalc check {path} --traceback` and report it)"
            )
        return (
            f"{path}: internal error: {type(error).__name__}: {error} "
            "(this is a bug; rerun with --traceback and report it)"
        )
    if not public:
        return error_line(error, loaded)
    from gradcalc.cli.spec_loader import FileReadError, SpecFileError

    if isinstance(error, FileReadError):
        return str(error)  # why the file was not read: nothing that is in it
    if isinstance(error, SpecFileError):
        where = f":{error.line}:{error.column}" if error.line is not None else ""
        what = "cannot be read as a YAML spec"
    else:
        position = None
        if loaded is not None and isinstance(error, SpecError):
            position = loaded.position(error.path, at_key=error.at_key)
        where = f":{position[0]}:{position[1]}" if position else ""
        what = "is not a valid problem spec"
    return (
        f"{path}{where}: {what}; its content is not shown here: "
        f"run `gradcalc check {path}` to see the error"
    )


def prepare_kinds(files: Sequence[str] = ()) -> None:
    """Import every kind's modules before any file's budget starts (and, with --jobs, once
    before the fork instead of once in every worker).  An import cut short by a file's
    budget would leave a half-initialised module behind (``module 'sympy' has no attribute
    'polys'``) and break every later file in the process.  SymPy (a quarter of a second) only
    when one of ``files`` may be symbolic (:func:`may_be_symbolic`); a symbolic problem found
    later (named by a submission) raises SymPyFirst in its budget instead."""
    from gradcalc.core import registry

    for kind in registry.OPS:
        registry.op_module(kind)
        if registry.OPS[kind].explain is not None:  # a kind on core/solve.py's pipeline
            registry.explain_module(kind)
    if any(may_be_symbolic(file) for file in files):
        import_sympy()


# Files larger than this are not read ahead of their budget (SymPyFirst catches them).
_SCANNED_BYTES = 1 << 20


def may_be_symbolic(path: str) -> bool:
    """True when the file at ``path`` may be a symbolic problem: a regular file of at most
    _SCANNED_BYTES whose text holds ``expr`` (the kind's name).  Never opens a FIFO or device."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode) or os.path.getsize(path) > _SCANNED_BYTES:
            return False
        with open(path, "rb") as file:
            return b"expr" in file.read()
    except OSError:
        return False


class SymPyFirst(BaseException):
    """A file's problem is symbolic and SymPy is not imported yet: raised inside the file's
    budget before anything is solved, so that check_file imports SymPy outside it
    (:func:`import_sympy`) and grades the file again.  A BaseException, so that no
    ``except Exception`` on the way takes it for the file's error."""


def import_sympy() -> None:
    """What core.kinds.expr imports lazily, on first use, imported at once."""
    import sympy  # noqa: F401
    import sympy.core.function  # noqa: F401
    import sympy.printing.precedence  # noqa: F401
    import sympy.printing.str  # noqa: F401


def _sympy_ready(spec: Any) -> None:
    """Raise SymPyFirst when ``spec`` (a problem's data) is symbolic and SymPy is not imported."""
    if (
        isinstance(spec, Mapping)
        and spec.get("kind") in SYMBOLIC_KINDS
        and "sympy.printing.str" not in sys.modules
    ):
        raise SymPyFirst


def forget_problems() -> None:
    """Forget the problems solved so far: a problem file may have changed since an earlier
    run in this process."""
    _PROBLEMS.clear()


def problem_budget_error(path: str) -> str | None:
    """The error line of the problem at ``path`` when solving it ran out of budget, else None."""
    cached = _PROBLEMS.get(os.path.realpath(path))
    if cached is None or not isinstance(cached[1], str):
        return None
    return cached[1]


def grade_file(report: FileReport, settings: Settings) -> None:
    """Fill in ``report``: a grade, nothing to check, or the error line."""
    loaded = None
    try:
        loaded = _load(report.source, settings.limits)
        data = loaded.data
        if settings.instructor_problems or "answers" in data or "problem" in data:
            _grade_submission(report, loaded, settings)
            return
        # Read and solved with or without answers: a broken problem is an error, never
        # skipped (a problem bank handed out with only points is checked too).
        _sympy_ready(data)
        problem = Problem(data, limits=settings.limits)
        expected = data.get("expected")
        if expected is None or expected == {}:  # `gradcalc new` writes {}
            report.grade = problem.check_unanswered()
            report.skipped = report.grade is None
            return
        report.grade = problem.grade(expected)
    except GradcalcError as error:
        report.error = error_line(error, loaded)
    except (RecursionError, MemoryError):
        raise
    except Exception as error:  # a bug: report it on this file and go on with the others
        if settings.traceback:
            raise
        report.error = (
            f"{report.source}: internal error: {type(error).__name__}: {error} "
            "(this is a bug; rerun with --traceback and report it)"
        )


def _grade_submission(report: FileReport, loaded: Any, settings: Settings) -> None:
    """Fill in ``report`` for a submission: its answers' grade, or its problem's error line."""
    data = loaded.data
    problem_path = _read_submission(report, loaded, settings)
    # A problem named by the submission may be any file: its errors show none of its content.
    public = not settings.instructor_problems
    problem, problem_error, problem_loaded = _problem(problem_path, settings)
    if problem is None:
        assert problem_error is not None
        line = problem_error_line(problem_path, problem_error, problem_loaded, public=public)
        report.error = f"{loaded.source}: problem {line}"
        report.instructor_error = not public
        return
    try:
        # An answer that cannot be read scores 0 with its error line; the others are graded.
        report.grade = problem.grade(
            data["answers"], "answers", partial=True, reason=lambda error: error_line(error, loaded)
        )
    except SpecError as error:
        if error.path[:1] == ("answers",):
            raise
        # About the problem (its points or accept keys): located in the problem file.
        line = problem_error_line(problem_path, error, problem_loaded, public=public)
        report.error = f"{loaded.source}: problem {line}"
        report.instructor_error = not public


def _note_refused_problem(report: FileReport, data: Any, settings: Settings) -> None:
    """A submission refused for keys of its own names ``data["problem"]``: when that is a
    problem of the bank, note it and its points on ``report`` (its column on the grade sheet).
    The bank's problem is the instructor's: it is solved as for any submission (once)."""
    try:
        path = check_bank.resolve(settings.bank, data.get("problem"))
    except SpecError:
        return  # no problem of the bank: no column to give it
    report.refused_problem = path
    problem = _problem(path, settings)[0]
    if problem is not None:
        report.refused_points = exact_total(problem.points_for(name) for name in problem.asked())


def _read_submission(report: FileReport, loaded: Any, settings: Settings) -> str:
    """Check a submission's keys and fill in its problem and student; the problem's path."""
    data = loaded.data
    try:
        if settings.bank is not None:
            check_bank.answers_only(data)
        for key in data:
            if key not in SUBMISSION_KEYS:
                raise SpecError(
                    (key,),
                    f"unknown key {key!r} in a submission{did_you_mean(str(key), SUBMISSION_KEYS) or '.'} "
                    f"Allowed keys: {', '.join(SUBMISSION_KEYS)}",
                    at_key=True,
                )
    except SpecError:
        if settings.bank is not None:
            _note_refused_problem(report, data, settings)
        raise
    if settings.problem is not None:
        problem_path = settings.problem
    elif settings.bank is not None:  # a name in the instructor's bank, never a path
        problem_path = check_bank.resolve(settings.bank, data.get("problem"))
    elif isinstance(data.get("problem"), str) and data["problem"].strip():
        problem_path = os.path.normpath(Path(loaded.source).parent / data["problem"].strip())
    else:
        raise SpecError(
            ("problem",),
            "a submission names its problem file (problem: task3.yaml, relative to the "
            "submission's folder), or run with --problem FILE",
        )
    if "answers" not in data:
        raise SpecError(
            (), "missing key 'answers' (result names and answers, like a spec's expected)"
        )
    report.problem = problem_path
    student = data.get("student")
    if student is not None and (isinstance(student, bool) or not isinstance(student, (str, int))):
        raise SpecError(
            ("student",),
            f"student must be a name or a number (student: alice), got {describe(student)}",
        )
    report.student = None if student is None else str(student)
    return problem_path
