"""Grading answers against a problem: points, partial credit, accepted conventions, diagnosis.

``gradcalc check`` reads files; this module only sees plain data.  A
:class:`Problem` is a spec (its ``expected`` answers, ``points`` and ``accept``
set aside) solved once without any explanation; :meth:`Problem.grade` compares
a mapping of answers with its results and returns a :class:`Grade`.

When an answer is wrong, the problem is solved again under the usual mistakes
(the kernel flipped, the stride ignored, the upstream forgotten, …) by changing
the spec and re-solving through the registry; the first mistake whose result
the answer matches is named.  Every re-solve is cached on the problem, so a
folder of submissions against one problem solves each variant once.

Errors are :class:`SpecError` with field paths, as everywhere in the core:
answers sit under ``answers_key`` (``expected`` in a problem spec, ``answers``
in a submission), points under ``points`` and accepted conventions under
``accept``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core.errors import FieldPath, LimitError, ShapeError, SpecError, format_path
from gradcalc.core.kinds.fields import pair_as_written
from gradcalc.core.outcome import ExitStatus, Solution
from gradcalc.core.records import record
from gradcalc.core.spec import Limits, SolveOptions, Tolerance, did_you_mean, read_tolerance
from gradcalc.core.values import MAX_MAGNITUDE, describe, parse_array, parse_number

# Keys that say how to grade, not what the problem is: the solver never sees them.
GRADING_KEYS = ("expected", "points", "accept")
# The keys of a submission file.
SUBMISSION_KEYS = ("problem", "answers", "student", "title")
# Kinds whose results are symbolic: their own solver compares the answers.
SYMBOLIC_KINDS = ("expr",)


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
    # The usual mistake that reproduces a wrong answer, in words.
    diagnosis: str = ""
    # The diagnosis gives the correct values away (a transpose, a sign): hidden with the answers.
    diagnosis_reveals: bool = False


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


@dataclass(frozen=True)
class Variant:
    """The problem solved another way: a mistake to diagnose or an accepted convention.

    ``changes`` are spec keys to replace (None removes the key); ``transform``
    maps the correct result to the mistaken one instead (a transpose, a sign);
    ``results`` limits the result names it can explain (empty: all).  ``reveals``
    names the results for which the diagnosis gives the correct values away (the
    answer transposed, rotated or scaled is the key): left out under --hide-answers.
    """

    label: str
    message: str
    changes: tuple[tuple[str, Any], ...] = ()
    # (the correct result, its name) -> the mistaken result, or None when it cannot apply.
    transform: Callable[[np.ndarray, str], np.ndarray | None] | None = None
    results: tuple[str, ...] = ()
    reveals: tuple[str, ...] = ()

    def explains(self, name: str) -> bool:
        return not self.results or name in self.results

    def gives_away(self, name: str) -> bool:
        return name in self.reveals


class Problem:
    """A problem spec solved once, ready to grade any number of answer sets.

    ``spec`` is the problem's plain data, ``expected`` and all.  Raises
    SpecError when the problem itself is broken.
    """

    def __init__(self, spec: Mapping[str, Any], *, limits: Limits | None = None):
        if not isinstance(spec, Mapping):
            raise SpecError((), f"a spec must be a mapping of keys to values, got {describe(spec)}")
        self.spec = dict(spec)
        self.limits = limits or Limits()
        self.kind = registry.spec_kind(self.spec, None)
        self.symbolic = self.kind in SYMBOLIC_KINDS
        self.base = {k: v for k, v in self.spec.items() if k not in GRADING_KEYS}
        self.tolerance = read_tolerance(self.spec)
        self.alternatives, self.result_tolerances = _read_accept(self.spec)
        # Solutions by (variant label, with Jacobians); a label always names the same changes.
        self._solved: dict[tuple[str, bool], Solution | None] = {}
        self._failures: dict[str, str] = {}  # why a variant could not be solved, by label
        # Solved once with the Jacobians when the key has one, so grading it needs no second solve.
        expected = self.spec.get("expected")
        jacobian = isinstance(expected, Mapping) and any(
            str(name).startswith("jacobian") for name in expected
        )
        self.solution = (
            None if self.symbolic else self._solve("", (), jacobian=jacobian, strict=True)
        )
        self.title = self.solution.title if self.solution is not None else _text(spec.get("title"))
        self._points = _read_points(self.spec)
        self._mistakes: list[Variant] | None = None
        if self.solution is not None:
            self._check_accept(self.solution.results)
        else:  # symbolic: its solver checks expected; points and accept.tolerance are ours
            self._check_symbolic_names()

    def _not_asked(
        self, names: list[str], answers: Mapping[str, Any], answers_key: str
    ) -> tuple[str, ...]:
        """Answered results the problem does not ask for: not graded (nor computed: an unasked
        Jacobian may be above the limit).  A name no problem of this kind has is an error."""
        extra = tuple(name for name in answers if name not in names)
        known = list(registry.result_names(self.kind))
        for name in extra:
            if name not in known:
                raise _unknown_result((answers_key, name), known, f"A {self.kind} problem's")
        return extra

    def _check_symbolic_names(self) -> None:
        known = list(registry.result_names(self.kind))
        named = [(("points", n), n) for n in self._points] if isinstance(self._points, dict) else []
        named += [(("accept", "tolerance", n), n) for n in self.result_tolerances]
        for path, name in named:
            if name not in known:
                raise _unknown_result(path, known, f"A {self.kind} problem's")
            if name.endswith("_at") and self.spec.get("at") is None:
                # Else every submission answering it would get the problem's error.
                raise SpecError(path, f"{name} needs a point: add at: to the problem", at_key=True)

    def _check_accept(self, results: Mapping[str, Any]) -> None:
        """Every accepted convention solves and every accept.tolerance and points key names a
        result: a mistake there is the problem's, found when it is loaded (a handout with
        only points included), not when a wrong answer first needs the alternative."""
        for variant in self.alternatives:
            if self._solve(variant.label, variant.changes, jacobian=False, strict=False) is None:
                key = variant.changes[0][0]
                raise SpecError(
                    ("accept", key),
                    f"with {variant.label} the problem is invalid: {self._failures[variant.label]}",
                )
        for name in self.result_tolerances:
            if name not in results and not name.startswith("jacobian"):
                raise _unknown_result(("accept", "tolerance", name), list(results))
        for name in self._points if isinstance(self._points, Mapping) else ():
            if name not in results and not name.startswith("jacobian"):
                raise _unknown_result(("points", name), list(results))

    def asked(self) -> list[str]:
        """The results the problem asks for: its expected answers' names, then its points'."""
        names: list[str] = []
        for source in (self.spec.get("expected"), self._points):
            if isinstance(source, Mapping):
                names += [str(n) for n in source if str(n) not in names]
        return names

    def results_for(self, names: list[str]) -> dict[str, Any]:
        """The results, with the Jacobians built when an answer needs one."""
        assert self.solution is not None
        if any(name.startswith("jacobian") and name not in self.solution.results for name in names):
            return self._solve("", (), jacobian=True, strict=True).results
        return self.solution.results

    def graded_names(self, answers: Mapping[str, Any], answers_key: str) -> list[str]:
        """The results a set of answers is graded on.

        The problem's own ``expected``: its names and the ones its points list.  A
        submission: the results the problem asks for (a submission against a problem that
        asks for nothing could pass by answering nothing, so that is the problem's error).
        """
        if answers_key == "expected":
            names = list(answers)
            if isinstance(self._points, Mapping):
                names += [name for name in self._points if name not in names]
            if not names:
                raise SpecError(("expected",), "expected is empty: give the answers to check")
            return names
        names = self.asked()
        if not names:
            raise SpecError(
                ("expected",),
                "this problem asks for no results, so a submission cannot be graded against "
                "it: list them in expected (with the answers) or in points (such as "
                "points: {output: 1, grad_input: 1}, without giving the answers away)",
                at_key=True,
            )
        return names

    def points_for(self, name: str) -> Fraction:
        if isinstance(self._points, Mapping):
            return self._points.get(name, Fraction(1))
        return self._points

    def grade(self, answers: Any, answers_key: str = "expected") -> Grade:
        """Grade ``answers`` (result name -> answer as written) against this problem."""
        if not isinstance(answers, Mapping):
            raise SpecError(
                (answers_key,),
                f"{answers_key} must be a mapping of result names to answers, got {describe(answers)}",
            )
        # YAML keys may be numbers (1: 5); result names are text.
        answers = {str(name): value for name, value in answers.items()}
        if self.symbolic:
            return self._grade_symbolic(answers, answers_key)
        names = self.graded_names(answers, answers_key)
        extra = self._not_asked(names, answers, answers_key)
        results = self.results_for(names)
        self._check_names(names, results, answers, answers_key)
        grades = []
        for name in names:
            points = self.points_for(name)
            tolerance = self.result_tolerances.get(name, self.tolerance)
            if name not in answers:
                grades.append(
                    ResultGrade(
                        name,
                        False,
                        points,
                        Fraction(0),
                        _size(results[name]),
                        (),
                        tolerance,
                        missing=True,
                    )
                )
                continue
            path: FieldPath = (answers_key, name)
            answer = read_answer(answers[name], path, self.limits)
            grades.append(self._grade_one(path, answer, results[name], points, tolerance))
        return Grade(self.kind, self.title, grades, extra)

    # -- one result -------------------------------------------------------------------------

    def _grade_one(
        self,
        path: FieldPath,
        answer: np.ndarray,
        result: Any,
        points: Fraction,
        tolerance: Tolerance,
    ) -> ResultGrade:
        """Grade the answer at ``path`` (answers key, result name) against ``result``."""
        name = str(path[-1])
        correct = _as_array(result)
        if name == "argmax" and any(isinstance(v, tuple) for v in correct.ravel()):
            raise SpecError(
                path,
                f"{name} has several values in a cell here (tied maxima); check grad_input instead",
            )
        fitted, flat_as = fit(answer, correct.shape)
        if fitted is None:
            grade = ResultGrade(
                name,
                False,
                points,
                Fraction(0),
                int(correct.size),
                (),
                tolerance,
                wrong_shape=shape_words(answer.shape),
            )
        else:
            wrong = compare_cells(fitted, correct, tolerance)
            right = correct.size - len(wrong)
            grade = ResultGrade(
                name,
                not wrong,
                points,
                points * Fraction(right, int(correct.size)),
                int(correct.size),
                tuple(wrong),
                tolerance,
                flat_as=flat_as,
            )
        if grade.ok:
            return grade
        for variant in self.alternatives:
            if self._matches(variant, name, answer, tolerance):
                grade.ok, grade.score, grade.wrong, grade.wrong_shape = True, points, (), ""
                grade.accepted = variant.label
                return grade
        for variant in self.mistakes():
            if variant.explains(name) and self._matches(variant, name, answer, tolerance):
                grade.diagnosis = variant.message.format(name=name)
                grade.diagnosis_reveals = variant.gives_away(name)
                break
        return grade

    def _matches(
        self, variant: Variant, name: str, answer: np.ndarray, tolerance: Tolerance
    ) -> bool:
        other = self._variant_result(variant, name)
        if other is None or not _numbers_only(other):
            return False  # e.g. argmax under ties: all has several indices in a cell
        fitted, _ = fit(answer, other.shape)
        return fitted is not None and not compare_cells(fitted, other, tolerance, first_only=True)

    def _variant_result(self, variant: Variant, name: str) -> np.ndarray | None:
        jacobian = name.startswith("jacobian")
        if variant.transform is not None:
            base = self._solve("", (), jacobian=jacobian, strict=False)
            if base is None or name not in base.results:
                return None
            return variant.transform(_as_array(base.results[name]), name)
        solution = self._solve(variant.label, variant.changes, jacobian=jacobian, strict=False)
        if solution is None or name not in solution.results:
            return None
        return _as_array(solution.results[name])

    def _solve(
        self, label: str, changes: tuple, *, jacobian: bool, strict: bool
    ) -> Solution | None:
        """The problem solved with ``changes`` applied (cached under ``label``, "" for the
        problem as given); None when that variant is invalid, unless ``strict``."""
        key = (label, jacobian)
        if key in self._solved:
            return self._solved[key]
        spec = dict(self.base)
        for spec_key, value in changes:
            if value is None:
                spec.pop(spec_key, None)
            else:
                spec[spec_key] = value
        options = SolveOptions(
            steps=0,
            sections=frozenset({"jacobian"}) if jacobian else frozenset(),
            gradient_check=False,
            limits=self.limits,
            explain=False,
        )
        try:
            solution: Solution | None = registry.solve(spec, options)
        except SpecError as error:
            if strict:
                raise
            solution = None
            self._failures[label] = error.message
        self._solved[key] = solution
        return solution

    def mistakes(self) -> list[Variant]:
        if self._mistakes is None:
            self._mistakes = usual_mistakes(self.kind, self.base)
        return self._mistakes

    def _check_names(
        self,
        names: list[str],
        results: Mapping[str, Any],
        answers: Mapping[str, Any],
        answers_key: str,
    ) -> None:
        for name in names:
            if name in results:
                continue
            expected = self.spec.get("expected")
            source = (  # names are text (grade made the answers' keys text; `1: 5`)
                answers_key
                if name in answers
                else "expected"
                if isinstance(expected, Mapping) and name in map(str, expected)
                else "points"
            )
            if name.startswith("jacobian"):
                raise LimitError(
                    (source, name),
                    f"{name} is above the Jacobian limit of {self.limits.max_jacobian:,} entries "
                    "(raise it with --max-jacobian)",
                )
            raise _unknown_result((source, name), list(results))

    def _grade_symbolic(self, answers: Mapping[str, Any], answers_key: str) -> Grade:
        """Symbolic kinds compare their own answers; each check becomes a result grade.

        A submission is graded on the results the problem asks for; the problem's own
        identities are proved by the solver, not answered, so they count only when checking
        the problem itself.  An answer of the wrong shape scores 0 and the rest are compared.
        """
        names = self.graded_names(answers, answers_key)
        asked = {name: answers[name] for name in names if name in answers}
        ignored = self._not_asked(names, answers, answers_key)
        wrong_shapes: dict[str, str] = {}
        while True:
            try:
                solution = self._solve_symbolic(asked, answers_key)
                break
            except ShapeError as error:
                name = str(error.path[1]) if len(error.path) > 1 else ""
                if answers_key == "expected" or name not in asked:
                    raise
                wrong_shapes[name] = _written_shape(asked.pop(name))
        self.title = solution.title
        grades = [
            self._check_grade(check)
            for check in solution.checks
            # else an identity the problem states and the solver proves
            if answers_key == "expected" or check.name.split("[")[0] in names
        ]
        answered = {grade.name.split("[")[0] for grade in grades}
        for name in names:
            if name in wrong_shapes:
                grades.append(
                    ResultGrade(
                        name,
                        False,
                        self.points_for(name),
                        Fraction(0),
                        0,
                        wrong_shape=wrong_shapes[name],
                    )
                )
            elif name not in answered and name not in asked:
                grades.append(
                    ResultGrade(name, False, self.points_for(name), Fraction(0), 0, missing=True)
                )
        order = {name: i for i, name in enumerate(names)}  # the problem's order, as elsewhere
        grades.sort(key=lambda grade: order.get(grade.name.split("[")[0], len(order)))
        return Grade(self.kind, solution.title, grades, ignored)

    def _check_grade(self, check: Any) -> ResultGrade:
        """A symbolic solver's check (an answer or an identity) as a result grade."""
        points = self.points_for(check.name)
        wrong = tuple(
            CellError(cell.index, cell.given, cell.correct, *_errors(cell.given, cell.correct))
            for cell in check.wrong
        )
        right = max(check.cells - len(wrong), 0)
        return ResultGrade(
            check.name,
            check.ok,
            points,
            points * Fraction(right, max(check.cells, 1)),
            check.cells,
            wrong,
            check.tolerance,
        )

    def check_unanswered(self) -> Grade | None:
        """Check a problem that gives no answers (no ``expected``, ``expected: {}``, or only
        ``points``, as handed out): it has been read and solved by now (a symbolic one is
        solved here), so a broken problem has raised.  The identities a symbolic problem
        states are its checks (a Grade); None when there is nothing to compare."""
        if not self.symbolic:
            return None
        solution = self._solve_symbolic({}, "expected")
        self.title = solution.title
        if not solution.checks:
            return None
        return Grade(self.kind, solution.title, [self._check_grade(c) for c in solution.checks])

    def _solve_symbolic(self, answers: Mapping[str, Any], answers_key: str) -> Solution:
        spec = dict(self.base)
        spec["expected"] = dict(answers)
        options = SolveOptions(
            steps=0, sections=frozenset(), gradient_check=False, limits=self.limits
        )
        try:
            return registry.solve(spec, options)
        except SpecError as error:
            if answers_key != "expected" and error.path[:1] == ("expected",):
                raise type(error)(
                    (answers_key, *error.path[1:]),
                    error.message.replace("expected.", f"{answers_key}.", 1),
                    at_key=error.at_key,
                ) from None
            raise


def _unknown_result(path: FieldPath, known: list[str], whose: str = "This problem's") -> SpecError:
    """The error for a result name (the path's last part) that is not among ``known``."""
    name = str(path[-1])
    return SpecError(
        path,
        f"unknown result {name!r}{did_you_mean(name, known) or '.'} "
        f"{whose} results: {', '.join(known)}.",
        at_key=True,
    )


# -- reading the grading keys ------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _read_points(spec: Mapping[str, Any]) -> Fraction | dict[str, Fraction]:
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


def _read_accept(spec: Mapping[str, Any]) -> tuple[list[Variant], dict[str, Tolerance]]:
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
            if choice == current or isinstance(choice, (Mapping,)):
                continue
            variants.append(
                Variant(
                    label=f"{key}: {_plain(choice)}",
                    message=f"accepted: {key}: {_plain(choice)}",
                    changes=((str(key), choice),),
                )
            )
    return variants, tolerances


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return str(value)


# -- comparing ---------------------------------------------------------------------------------


def read_answer(raw: Any, path: FieldPath, limits: Limits) -> np.ndarray:
    """An answer as an object array of exact numbers (ints and Fractions).

    Regular nested lists of ints, Fractions (the YAML reader's numbers) and numeric
    text ("1/4") are read in one pass; anything else (floats, ragged rows, bad
    entries) goes through parse_array, which also reports the error's position.
    """
    if isinstance(raw, list):
        array = np.array(raw, dtype=object)
        if 0 < array.size <= limits.max_elements and array.ndim <= 6 and _plain_numbers(array):
            return array
    elif type(raw) in (int, Fraction) and abs(raw) <= MAX_MAGNITUDE:
        return np.array(raw, dtype=object)
    return parse_array(
        raw,
        path,
        ndims=tuple(range(0, 7)),
        what=format_path(path),
        max_elements=limits.max_elements,
    )


def _plain_numbers(array: np.ndarray) -> bool:
    """True when every entry is an exact number (numeric text is read in place)."""
    flat = array.reshape(-1)  # a view: np.array made the array contiguous
    for position, value in enumerate(flat):
        kind = type(value)
        if kind is int or kind is Fraction:
            if abs(value) > MAX_MAGNITUDE:
                return False
        elif kind is str:
            try:
                flat[position] = parse_number(value, ())
            except SpecError:
                return False
        else:
            return False
    return True


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        array = np.empty(len(value), dtype=object)
        array[:] = [Fraction(v) for v in value]
        return array
    return np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value


def _written_shape(value: Any) -> str:
    """How an answer was written, in shape words: "a single number", "a list of 2", "2×3"."""
    if not isinstance(value, list):
        return "a single value"
    rows = {len(row) if isinstance(row, list) else -1 for row in value}
    if len(rows) == 1 and (width := rows.pop()) > 0:
        return f"{len(value)}×{width}"
    return f"a list of {len(value)}"


def _numbers_only(array: np.ndarray) -> bool:
    """False when a cell holds something other than one number (a tuple of tied indices)."""
    return array.dtype != object or not any(isinstance(v, tuple) for v in array.flat)


def _size(value: Any) -> int:
    return int(_as_array(value).size)


def fit(answer: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray | None, str]:
    """The answer in ``shape``: as written, or read flat in row-major order.

    Returns (array, "") when the shapes agree, (array, "2×2") when a flat list
    was read as a matrix of that shape, and (None, "") when neither fits.
    """
    if answer.shape == shape:
        return answer, ""
    size = int(np.prod(shape)) if shape else 1
    if answer.ndim == 1 and len(shape) > 1 and answer.size == size:
        return answer.reshape(shape), shape_words(shape)
    return None, ""


def _errors(given: Any, correct: Any) -> tuple[float | None, float | None]:
    try:
        difference = abs(float(given) - float(correct))
        magnitude = abs(float(correct))
    except (TypeError, ValueError):
        return None, None
    return difference, (difference / magnitude if magnitude else None)


def compare_cells(
    answer: np.ndarray, correct: np.ndarray, tolerance: Tolerance, *, first_only: bool = False
) -> list[CellError]:
    """The wrong cells: right when |given − correct| ≤ atol + rtol·|correct|.

    The relative part never forgives a sign: an answer of another sign (0 for a
    nonzero value included) is right only within atol, as in the float path.  Exact
    results are compared in Fractions; float results in float64.  ``first_only`` stops
    at the first wrong cell.
    """
    correct = np.asarray(correct)
    if correct.dtype != object:
        return _compare_floats(answer, correct, tolerance, first_only)
    equal = answer == correct  # elementwise, exact; the common case needs nothing more
    if bool(np.all(equal)):
        return []
    if any(isinstance(v, float) for v in correct.ravel()):
        return _compare_floats(answer, correct.astype(float), tolerance, first_only)
    wrong = []
    for index in map(tuple, np.argwhere(~np.asarray(equal, dtype=bool))):
        given, right = Fraction(answer[index]), Fraction(correct[index])
        error = abs(given - right)
        same_sign = (given > 0) == (right > 0) and (given < 0) == (right < 0)
        ok = error <= tolerance.atol or (
            error <= tolerance.atol + tolerance.rtol * abs(right) and same_sign
        )
        if not ok:
            relative = None if right == 0 else float(error / abs(right))
            wrong.append(
                CellError(tuple(int(i) for i in index), given, right, float(error), relative)
            )
            if first_only:
                break
    return wrong


def _compare_floats(
    answer: np.ndarray, correct: np.ndarray, tolerance: Tolerance, first_only: bool
) -> list[CellError]:
    given = answer.astype(float)
    error = np.abs(given - correct)
    atol, rtol = float(tolerance.atol), float(tolerance.rtol)
    same_sign = np.sign(given) == np.sign(correct)
    ok = (error <= atol) | ((error <= atol + rtol * np.abs(correct)) & same_sign)
    wrong = []
    for index in map(tuple, np.argwhere(~ok)):
        right = float(correct[index])
        relative = None if right == 0 else float(error[index] / abs(right))
        wrong.append(
            CellError(
                tuple(int(i) for i in index), answer[index], right, float(error[index]), relative
            )
        )
        if first_only:
            break
    return wrong


# -- the usual mistakes ------------------------------------------------------------------------


def _is_zero(value: Any) -> bool:
    if value is None or value == "valid":
        return True
    if isinstance(value, list):
        return all(_is_zero(v) for v in value)
    return value == 0


def _upstream_given(spec: Mapping[str, Any]) -> bool:
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


def _size_mistakes(spec: Mapping[str, Any], stride: tuple[int, int] | None) -> list[Variant]:
    """Stride ignored, padding ignored, and the size formula without its +1.

    Each changes the output's shape, so a written-out upstream no longer fits:
    then only the forward results can be explained (the upstream becomes ones).
    """
    forward_only = _upstream_given(spec)
    results = FORWARD if forward_only else ()
    upstream = (("upstream", None),) if forward_only else ()

    def ignored(key: str, plain_value: int, words: str, shown: Any, reveals=()) -> Variant:
        return Variant(
            f"{key} ignored",
            f"{{name}} matches the result {words}: the {key} ({_plain(shown)}) was ignored",
            ((key, plain_value), *upstream),
            results=results,
            reveals=reveals,
        )

    variants = []
    if stride is not None and stride != (1, 1):
        default = stride[0] if stride[0] == stride[1] else list(stride)  # pool: the window
        # The strided output is every s-th entry of the answer: naming the slip gives it away.
        shown = spec.get("stride", default)
        variants.append(ignored("stride", 1, "with stride 1", shown, reveals=("output",)))
    if not _is_zero(spec.get("padding")) and spec.get("padding") != "same":
        variants.append(ignored("padding", 0, "without padding", spec["padding"]))
    if stride is not None and spec.get("padding") != "same" and spec.get("ceil_mode") is not True:
        variants.append(
            Variant(
                "size without +1",
                SIZE_NOTE,
                transform=_without_last_row_and_column,
                results=FORWARD,  # reveals nothing: the cells kept are the student's own
            )
        )
    return variants


def _forgot_upstream(
    spec: Mapping[str, Any], gradients: tuple[str, ...], reveals: tuple[str, ...] = ()
) -> list[Variant]:
    """``reveals``: where the key follows from the answer (an activation's ∂L/∂x is the
    upstream times the answer, entry by entry)."""
    if not _upstream_given(spec):
        return []
    return [
        Variant(
            "upstream forgotten",
            "{name} matches the result with an upstream of ones: the upstream gradient "
            "∂L/∂output was forgotten (the chain rule's last factor)",
            (("upstream", None),),
            results=gradients,
            reveals=reveals,
        )
    ]


def _transposed(name: str, symbol: str) -> Variant:
    return Variant(
        "transposed",
        f"{{name}} is the transpose of {symbol}: rows and columns swapped",
        transform=lambda array, _name: np.swapaxes(array, -1, -2) if array.ndim >= 2 else None,
        results=(name,),
        reveals=(name,),
    )


def usual_mistakes(kind: str, spec: Mapping[str, Any]) -> list[Variant]:
    """The mistakes worth trying for this problem, most telling first."""
    if kind == "conv":
        flipped = spec.get("flip_kernel") is True
        variants = [
            Variant(
                "kernel flip",
                "{name} matches the result for cross-correlation (flip_kernel: false, the kernel "
                "not flipped); this problem uses true convolution (the kernel flipped by 180°)"
                if flipped
                else "{name} matches the result for true convolution (flip_kernel: true); "
                "this problem uses cross-correlation",
                (("flip_kernel", not flipped),),
                # ∂L/∂K under the other convention is the key rotated by 180°.
                reveals=("grad_kernel", "jacobian_kernel"),
            ),
            _transposed("grad_kernel", "∂L/∂kernel"),
        ]
        stride = pair_as_written(spec.get("stride", 1))
        return (
            variants
            + _size_mistakes(spec, stride)
            + _forgot_upstream(spec, ("grad_input", "grad_kernel", "grad_bias"))
        )
    if kind == "pool":
        variants = []
        mode = spec.get("mode")
        if mode == "max":
            current = spec.get("ties", "first")
            for ties, words in (
                ("first", "the whole upstream value to the first maximum, PyTorch's rule"),
                ("all", "the upstream value to every tied maximum"),
                ("split", "1/k of the upstream value to each of k tied maxima"),
            ):
                if ties != current:
                    variants.append(
                        Variant(
                            f"ties: {ties}",
                            f"{{name}} matches the result under ties: {ties} ({words}); "
                            f"this problem uses ties: {current}",
                            (("ties", ties),),
                            results=("grad_input", "jacobian_input", "argmax"),
                        )
                    )
        if mode == "avg" and not _is_zero(spec.get("padding")):
            include = spec.get("count_include_pad", True) is not False
            variants.append(
                Variant(
                    "count_include_pad",
                    f"{{name}} matches the result with count_include_pad: {_plain(not include)}; "
                    f"this problem uses count_include_pad: {_plain(include)} (padding cells "
                    f"{'count' if include else 'do not count'} in the divisor)",
                    (("count_include_pad", not include),),
                )
            )
        stride = (
            pair_as_written(spec["stride"])
            if spec.get("stride") is not None
            else pair_as_written(spec.get("size"))
        )
        return variants + _size_mistakes(spec, stride) + _forgot_upstream(spec, ("grad_input",))
    if kind == "dense":
        return [_transposed("grad_weight", "∂L/∂W")] + _forgot_upstream(
            spec, ("grad_input", "grad_weight", "grad_bias")
        )
    if kind == "activation":
        return _forgot_upstream(spec, ("grad_input",), reveals=("grad_input",))
    if kind == "softmax":
        return _forgot_upstream(spec, ("grad_input",))
    if kind == "loss":
        variants = []
        reduction = spec.get("reduction", "mean")
        if reduction in ("mean", "sum"):
            other = "sum" if reduction == "mean" else "mean"
            variants.append(
                Variant(
                    f"reduction: {other}",
                    f"{{name}} matches the result with reduction: {other}; this problem uses "
                    f"reduction: {reduction}",
                    (("reduction", other),),
                    results=("loss", "grad_input"),
                    reveals=("loss", "grad_input"),  # the key times or over the batch size
                )
            )
        if spec.get("loss") == "cross_entropy":
            variants.append(
                Variant(
                    "sign flipped",
                    "{name} has its sign flipped: 1[i = gt] − p_i (1 − p at the true class) "
                    "instead of p_i − 1[i = gt]",
                    transform=lambda array, _name: -array,
                    results=("grad_input",),
                    reveals=("grad_input",),
                )
            )
        return variants
    return []
