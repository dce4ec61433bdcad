"""A problem solved once, and answer sets graded against it (diagnosing wrong answers)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core.answers import fit, read_answer, reading_note, shape_mistake, shape_words
from gradcalc.core.errors import FieldPath, LimitError, ShapeError, SpecError
from gradcalc.core.grading.compare import (
    abs_rel_errors,
    as_array,
    compare_cells,
    numbers_only,
    size_of,
    written_shape,
)
from gradcalc.core.grading.diagnoses import diagnosis_words, hidden_diagnosis
from gradcalc.core.grading.grades import CellError, Grade, ResultGrade
from gradcalc.core.grading.keys import (
    GRADING_KEYS,
    read_accept,
    read_points,
    text_or_none,
    unknown_result,
)
from gradcalc.core.kinds.mistakes import Variant
from gradcalc.core.outcome import Solution
from gradcalc.core.spec import Limits, ResultHints, SolveOptions, Tolerance, read_tolerance
from gradcalc.core.values import describe, holds_formulas

# Kinds whose results are symbolic: their own solver compares the answers.
SYMBOLIC_KINDS = ("expr",)


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
        self.alternatives, self.result_tolerances = read_accept(self.spec)
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
        self.title = (
            self.solution.title if self.solution is not None else text_or_none(spec.get("title"))
        )
        self._points = read_points(self.spec)
        self._mistakes: list[Variant] | None = None
        if self.solution is not None:
            self._check_accept(self.solution.results)
        else:  # symbolic: its solver checks expected; points and accept.tolerance are ours
            self._check_symbolic_names()

    def _not_asked(
        self, names: list[str], answers: Mapping[str, Any], answers_key: str, partial: bool
    ) -> tuple[tuple[str, ...], list[SpecError]]:
        """Answered results the problem does not ask for: not graded (nor computed: an unasked
        Jacobian may be above the limit); and the errors of the names no problem of this
        kind has (raised, unless ``partial``)."""
        known = list(registry.result_names(self.kind))
        if self.solution is not None:  # a net's results are also named after its layers
            known += [name for name in self.solution.results if name not in known]
        extra, unknown = [], []
        for name in answers:
            if name in names:
                continue
            if name in known:
                extra.append(name)
                continue
            error = unknown_result(
                (answers_key, name), known, f"A {self.kind} problem's", self._result_hints()
            )
            if not partial:
                raise error
            unknown.append(error)
        return tuple(extra), unknown

    def _result_hints(self) -> ResultHints | None:
        """The kind's own hints for a result name it does not have (its entry's part
        ``result_hint(solution, name, known)``: a net's relu1.output is activation1.output),
        imported on this error path alone; None for a kind without (a close match only)."""
        hint = None if self.solution is None else registry.kind_part(self.kind, "result_hint")
        return None if hint is None else functools.partial(hint, self.solution)

    def _check_symbolic_names(self) -> None:
        known = list(registry.result_names(self.kind))
        named = [(("points", n), n) for n in self._points] if isinstance(self._points, dict) else []
        named += [(("accept", "tolerance", n), n) for n in self.result_tolerances]
        for path, name in named:
            if name not in known:
                raise unknown_result(path, known, f"A {self.kind} problem's")
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
                raise unknown_result(
                    ("accept", "tolerance", name), list(results), hints=self._result_hints()
                )
        for name in self._points if isinstance(self._points, Mapping) else ():
            if name not in results and not name.startswith("jacobian"):
                raise unknown_result(("points", name), list(results), hints=self._result_hints())

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

    def grade(
        self,
        answers: Any,
        answers_key: str = "expected",
        *,
        partial: bool = False,
        reason: Callable[[SpecError], str] = str,
    ) -> Grade:
        """Grade ``answers`` (result name -> answer as written) against this problem.

        An answer that cannot be read, or a name that is no result, raises its SpecError;
        with ``partial`` (a submission graded by ``gradcalc check``) the first scores 0 with
        its reason and the second is listed with its reason (``reason`` words each error: the
        CLI adds the file and position), and the rest is graded.  Answers none of which can be
        read still raise the first error: nothing of them could be graded.
        """
        partial = partial and answers_key != "expected"  # a problem's own key is never partial
        if not isinstance(answers, Mapping):
            raise SpecError(
                (answers_key,),
                f"{answers_key} must be a mapping of result names to answers, got {describe(answers)}",
            )
        # YAML keys may be numbers (1: 5); result names are text.
        answers = {str(name): value for name, value in answers.items()}
        if self.symbolic:
            return self._grade_symbolic(answers, answers_key, partial, reason)
        names = self.graded_names(answers, answers_key)
        extra, unknown = self._not_asked(names, answers, answers_key, partial)
        results = self.results_for(names)
        self._check_names(names, results, answers, answers_key)
        grades = []
        unread: list[SpecError] = []
        for name in names:
            points = self.points_for(name)
            tolerance = self.result_tolerances.get(name, self.tolerance)
            unscored = ResultGrade(
                name, False, points, Fraction(0), size_of(results[name]), (), tolerance
            )
            if name not in answers:
                unscored.missing = True
                grades.append(unscored)
                continue
            path: FieldPath = (answers_key, name)
            try:
                answer = read_answer(
                    answers[name],
                    path,
                    self.limits.max_elements,
                    symbols=_formula_names(results, name),
                )
            except SpecError as error:
                if not partial:
                    raise
                unread.append(error)
                unscored.error = reason(error)
                grades.append(unscored)
                continue
            grades.append(self._grade_one(path, answer, results[name], points, tolerance))
        _raise_when_nothing_read(grades, unknown + unread)
        groups = result_groups(self.kind, self.base, [grade.name for grade in grades])
        return Grade(
            self.kind, self.title, grades, extra, unknown=tuple(map(reason, unknown)), groups=groups
        )

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
        correct = as_array(result)
        if name == "argmax" and any(isinstance(v, tuple) for v in correct.ravel()):
            raise SpecError(
                path,
                f"{name} has several values in a cell here (tied maxima); check grad_input instead",
            )
        fitted, how = fit(answer, correct.shape)
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
                flat_as=shape_words(correct.shape) if how else "",
                reading=reading_note(how, correct.shape),
            )
        if grade.ok:
            return grade
        for variant in self.alternatives:
            if self._matches(variant, name, answer, tolerance):
                grade.ok, grade.score, grade.wrong, grade.wrong_shape = True, points, (), ""
                grade.accepted = variant.label
                return grade
        self._diagnose(grade, answer, correct, tolerance)
        return grade

    def _diagnose(
        self, grade: ResultGrade, answer: np.ndarray, correct: np.ndarray, tolerance: Tolerance
    ) -> None:
        """Name every slip that reproduces the wrong ``answer`` (not only the first); else,
        for an answer of the wrong shape, what its shape is (a transpose, say)."""
        name = grade.name
        found = [
            variant
            for variant in self.mistakes()
            if variant.explains(name) and self._matches(variant, name, answer, tolerance)
        ]
        grade.diagnosis = diagnosis_words(name, found, answer)
        grade.diagnosis_hidden = hidden_diagnosis(name, found, answer)
        grade.diagnosis_reveals = any(variant.gives_away(name) for variant in found)
        if not found and grade.wrong_shape:
            grade.diagnosis = _shape_diagnosis(name, answer, correct, tolerance)
            # It names the result's shape (and, for a transpose, its values).
            grade.diagnosis_reveals = True

    def _matches(
        self, variant: Variant, name: str, answer: np.ndarray, tolerance: Tolerance
    ) -> bool:
        other = self._variant_result(variant, name)
        if other is None or not numbers_only(other):
            return False  # e.g. argmax under ties: all has several indices in a cell
        fitted, _ = fit(answer, other.shape)
        return fitted is not None and not compare_cells(fitted, other, tolerance, first_only=True)

    def _variant_result(self, variant: Variant, name: str) -> np.ndarray | None:
        jacobian = name.startswith("jacobian")
        if variant.rerun is not None:
            results = variant.rerun(self.limits)
            return None if results is None or name not in results else as_array(results[name])
        if variant.transform is not None:
            base = self._solve("", (), jacobian=jacobian, strict=False)
            if base is None or name not in base.results:
                return None
            mistaken = variant.transform(as_array(base.results[name]), name)
            # −x of a 0-d object array is its scalar: an array again for the comparison.
            return None if mistaken is None else as_array(mistaken)
        solution = self._solve(variant.label, variant.changes, jacobian=jacobian, strict=False)
        if solution is None or name not in solution.results:
            return None
        return as_array(solution.results[name])

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
            raise unknown_result((source, name), list(results), hints=self._result_hints())

    def _grade_symbolic(
        self,
        answers: Mapping[str, Any],
        answers_key: str,
        partial: bool,
        reason: Callable[[SpecError], str],
    ) -> Grade:
        """Symbolic kinds compare their own answers; each check becomes a result grade.

        A submission is graded on the results the problem asks for; the problem's own
        identities are proved by the solver, not answered, so they count only when checking
        the problem itself.  An answer of the wrong shape, or one that cannot be read, scores
        0 and the rest are compared.
        """
        names = self.graded_names(answers, answers_key)
        asked = {name: answers[name] for name in names if name in answers}
        ignored, unknown = self._not_asked(names, answers, answers_key, partial)
        solution, wrong_shapes, unread = self._solve_answered(asked, answers_key, partial)
        self.title = solution.title
        grades = [
            self._check_grade(check)
            for check in solution.checks
            # else an identity the problem states and the solver proves
            if answers_key == "expected" or check.name.split("[")[0] in names
        ]
        answered = {grade.name.split("[")[0] for grade in grades}
        for name in names:
            unscored = ResultGrade(name, False, self.points_for(name), Fraction(0), 0)
            if name in wrong_shapes:
                unscored.wrong_shape = wrong_shapes[name]
            elif name in unread:
                unscored.error = reason(unread[name])
            elif name not in answered and name not in asked:
                unscored.missing = True
            else:
                continue
            grades.append(unscored)
        order = {name: i for i, name in enumerate(names)}  # the problem's order, as elsewhere
        grades.sort(key=lambda grade: order.get(grade.name.split("[")[0], len(order)))
        _raise_when_nothing_read(grades, unknown + list(unread.values()))
        return Grade(self.kind, solution.title, grades, ignored, tuple(map(reason, unknown)))

    def _solve_answered(
        self, asked: dict[str, Any], answers_key: str, partial: bool
    ) -> tuple[Solution, dict[str, str], dict[str, SpecError]]:
        """Solve with the answers ``asked`` (popping each that cannot be compared): the
        solution, the answers of the wrong shape (how each was written) and, with ``partial``,
        the answers that cannot be read (their errors)."""
        wrong_shapes: dict[str, str] = {}
        unread: dict[str, SpecError] = {}
        while True:
            try:
                return self._solve_symbolic(asked, answers_key), wrong_shapes, unread
            except SpecError as error:
                name = str(error.path[1]) if len(error.path) > 1 else ""
                if answers_key == "expected" or error.path[:1] != (answers_key,):
                    raise
                if name not in asked or not (partial or isinstance(error, ShapeError)):
                    raise
                if isinstance(error, ShapeError):
                    wrong_shapes[name] = written_shape(asked.pop(name))
                else:
                    unread[name] = error
                    asked.pop(name)

    def _check_grade(self, check: Any) -> ResultGrade:
        """A symbolic solver's check (an answer or an identity) as a result grade."""
        points = self.points_for(check.name)
        wrong = tuple(
            CellError(
                cell.index, cell.given, cell.correct, *abs_rel_errors(cell.given, cell.correct)
            )
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
            flat_as=shape_words(check.expected.shape) if check.reading else "",
            reading=check.reading,
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


def _raise_when_nothing_read(grades: list[ResultGrade], errors: list[SpecError]) -> None:
    """Raise the first error of a submission none of whose answers could be read: nothing of
    it was graded (most likely not a submission of this problem), so it stays that file's
    error rather than a grade of 0."""
    if errors and all(grade.missing or grade.error for grade in grades):
        raise errors[0]


def _shape_diagnosis(
    name: str, answer: np.ndarray, correct: np.ndarray, tolerance: Tolerance
) -> str:
    """The named mistake of an answer whose shape :func:`fit` cannot read: a transpose (its
    values the result's, rows and columns swapped), or the shapes that differ."""
    if numbers_only(correct) and correct.ndim >= 2:
        swapped = np.swapaxes(answer, -1, -2) if answer.ndim >= 2 else None
        if (
            swapped is not None
            and swapped.shape == correct.shape
            and not compare_cells(swapped, correct, tolerance, first_only=True)
        ):
            return f"{name} is the transpose of the result: rows and columns swapped"
    return f"{name} is {shape_mistake(answer.shape, correct.shape)}"


def usual_mistakes(kind: str, spec: Mapping[str, Any]) -> list[Variant]:
    """The mistakes worth trying for this problem, most telling first: the kind's
    ``usual_mistakes`` (core/kinds/<kind>.py, or the module its catalog entry's ``parts``
    names); none for a kind without one."""
    mistakes = registry.kind_part(kind, "usual_mistakes")
    return mistakes(spec) if mistakes is not None else []


def result_groups(
    kind: str, spec: Mapping[str, Any], names: list[str]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The graded results by part (a net's layers: core/kinds/net.py ``result_groups``);
    () for a kind whose problems have one part."""
    groups = registry.kind_part(kind, "result_groups")
    return groups(spec, names) if groups is not None else ()


def _formula_names(results: Mapping[str, Any], name: str) -> frozenset[str] | bool:
    """The names an answer to ``name`` may use: False (numbers only) when the result holds
    no formula, else every symbol of the problem's results, so that a name the problem
    lacks (a typo, a Cyrillic Х for X) is an unknown name with a did-you-mean, not an answer
    that shows the same as the right one and is graded wrong."""
    if not holds_formulas(as_array(results[name])):
        return False
    from gradcalc.core import symbolic

    arrays = [as_array(v) for v in results.values() if isinstance(v, np.ndarray)]
    return frozenset(s.name for s in symbolic.symbols_of(*arrays))
