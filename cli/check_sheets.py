"""The class-grading reports of ``gradcalc check``: ``--grades`` (a CSV sheet, a row per
student and a column per problem), ``--gradescope`` (Gradescope's autograder
``results.json``) and ``--classroom`` (a GitHub Classroom autograding result), and
``--student-from``, which tells the student from each file's path.

Each renderer takes the file reports and --hide-answers, as every renderer in
cli/check_render.py does, and says of a result only its points, right or wrong and the
lines the table prints for it (hidden answers stay hidden).  docs/check.md describes the
formats.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import click

from gradcalc.cli.check_render import (
    CHECK_RENDERERS,
    csv_cell,
    json_number,
    number,
    result_lines,
)
from gradcalc.cli.check_report import FileReport
from gradcalc.cli.safe_text import json_visible, one_line
from gradcalc.core.grading import exact_total
from gradcalc.core.records import record

# -- --student-from: a glob-like pattern with one {student} ------------------------------------

STUDENT = "{student}"
PATTERN_EXAMPLES = "such as '{student}_*.yaml' or '{student}/*.yaml'"


@record(frozen=True)
class StudentPattern:
    """A ``--student-from`` pattern: ``text`` as given, matched against the end of a file's
    path (``/``-separated, one component of the pattern per folder or file name)."""

    text: str
    regex: re.Pattern[str]

    def student(self, path: str) -> str | None:
        """The student a file's path names, or None when the path does not fit."""
        plain = os.path.normpath(path).replace(os.sep, "/")
        match = self.regex.search(plain)
        return None if match is None else match["student"]


def _pattern_problem(text: str) -> str | None:
    """What is wrong with a --student-from pattern, in words; None when it is fine."""
    if not text.strip():
        return f"give a pattern with {STUDENT} in it, {PATTERN_EXAMPLES}"
    count = text.count(STUDENT)
    if count == 0:
        return f"{text!r} has no {STUDENT}; write where the name is, {PATTERN_EXAMPLES}"
    if count > 1:
        return f"{text!r} has {STUDENT} {count} times; a file names one student"
    rest = text.replace(STUDENT, "")
    if "{" in rest or "}" in rest:
        return f"{text!r}: only {STUDENT} may stand in braces"
    if "[" in rest or "]" in rest:
        return f"{text!r}: character classes ([…]) are not supported; use * and ?"
    if "**" in rest:
        return f"{text!r}: ** is not supported (a * stays within one name); name each folder: */{STUDENT}/*.yaml"
    if "\\" in text:
        return f"{text!r}: write / between folders"
    if text.startswith("/"):
        return f"{text!r}: the pattern is matched against the end of each path; leave out the leading /"
    parts = text.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return f"{text!r}: every part between / must be a name (no empty part, . or ..)"
    return None


def compile_student_pattern(text: str) -> StudentPattern:
    """The pattern as a regular expression: ``*`` any run of characters but /, ``?`` one
    character but /, ``{student}`` the shortest non-empty name (no /) that lets the rest
    fit.  Raises ValueError with the words of what is wrong."""
    problem = _pattern_problem(text)
    if problem is not None:
        raise ValueError(problem)
    pieces = []
    for token in re.split(r"(\{student\}|\*|\?)", text):
        if token == STUDENT:
            pieces.append(r"(?P<student>[^/]+?)")
        elif token == "*":
            pieces.append(r"[^/]*")
        elif token == "?":
            pieces.append(r"[^/]")
        else:
            pieces.append(re.escape(token))
    return StudentPattern(text, re.compile(r"(?:\A|/)" + "".join(pieces) + r"\Z", re.DOTALL))


class StudentPatternType(click.ParamType):
    """``--student-from PATTERN``: a :class:`StudentPattern`."""

    name = "PATTERN"

    def convert(self, value: Any, param, ctx) -> StudentPattern:
        if isinstance(value, StudentPattern):
            return value
        try:
            return compile_student_pattern(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


def name_students(reports: list[FileReport], pattern: StudentPattern) -> list[str]:
    """Set each report's student from its file's path (the name the instructor or the
    platform gave the file wins over a ``student:`` the student wrote); a file whose path
    does not fit has no student (its row is named by its path).  The warning lines."""
    warnings = []
    for report in reports:
        report.student = pattern.student(report.source)
        if report.student is None:
            warnings.append(  # one line: a file name is the student's
                one_line(
                    f"gradcalc check: --student-from: {report.source!r} does not fit "
                    f"{pattern.text!r}; its row in --grades is named by its path"
                )
            )
    return warnings


# -- problems and students ---------------------------------------------------------------------


def _problem_of(report: FileReport) -> str | None:
    """The problem file a report is about: a submission's problem, a spec itself (when it was
    graded), or None (a file that could not be read far enough to tell)."""
    if report.problem is not None:
        return report.problem
    return report.source if report.grade is not None else None


def problem_labels(reports: Iterable[FileReport]) -> dict[str, str]:
    """Each problem file, as a report spells it -> its column name: the file name without
    .yaml/.yml, or the path as first written when two problems share that name (files are
    told apart with symbolic links resolved, so two spellings of one problem share a
    column)."""
    real: dict[str, str] = {}  # spelling -> resolved path (one realpath per spelling)
    first_spelling: dict[str, str] = {}  # resolved path -> first spelling
    for report in reports:
        for problem in (_problem_of(report), report.refused_problem):
            if problem is not None and problem not in real:
                real[problem] = os.path.realpath(problem)
                first_spelling.setdefault(real[problem], problem)
    stems: dict[str, int] = {}
    for spelling in first_spelling.values():
        stem = os.path.splitext(os.path.basename(spelling))[0]
        stems[stem] = stems.get(stem, 0) + 1
    by_real = {}
    for key, spelling in first_spelling.items():
        stem = os.path.splitext(os.path.basename(spelling))[0]
        by_real[key] = stem if stems[stem] == 1 else spelling
    return {spelling: by_real[key] for spelling, key in real.items()}


def label_of(report: FileReport, labels: dict[str, str]) -> str | None:
    problem = _problem_of(report)
    return None if problem is None else labels[problem]


# -- --grades: the class's grade sheet ---------------------------------------------------------

# The columns before the problems' (an earlier sheet is told by them: a header with a thousand
# problems is longer than the bytes read to tell it), and the last.
GRADES_HEAD = ["student", "total", "out_of"]
GRADES_LAST = "notes"


def grade_sheet(
    reports: list[FileReport],
) -> tuple[list[str], list[tuple[str, str, str, dict[str, str], str]]]:
    """The problems' columns and the rows of the grade sheet: a row per student (by name; a
    file with no student is a row named by its path) with the total, the points of every
    problem, the points scored on each problem (by column name), and notes.  A problem a student has no
    submission for is an empty cell (0 in the total); so is one that could not be graded (an
    error, or two submissions for one problem: which counts is the instructor's call), with
    a note saying why."""
    labels = problem_labels(reports)
    columns = list(dict.fromkeys(labels.values()))
    points: dict[str, Fraction] = {}
    by_student: dict[str, dict[str | None, list[FileReport]]] = {}
    for report in reports:
        label = label_of(report, labels)
        if report.grade is not None and label is not None:
            points.setdefault(label, report.grade.points)
        elif report.refused_problem is not None and report.refused_points is not None:
            points.setdefault(labels[report.refused_problem], report.refused_points)
        student = report.student if report.student is not None else report.source
        by_student.setdefault(student, {}).setdefault(label, []).append(report)
    out_of = number(exact_total(points.values()))
    rows = []
    for student in sorted(by_student):
        cells: dict[str, str] = {}
        scores: list[Fraction] = []
        notes: list[str] = []
        for label, files in by_student[student].items():
            sources = ", ".join(report.source for report in files)
            if label is None:
                notes += [f"{report.source}: not graded (an error)" for report in files]
            elif len(files) > 1:
                notes.append(f"{label}: {len(files)} submissions ({sources}), none counted")
            elif files[0].grade is None:
                why = "an error" if files[0].error is not None else "nothing to grade"
                notes.append(f"{label}: not graded ({why} in {sources})")
            else:
                cells[label] = number(files[0].grade.score)
                scores.append(files[0].grade.score)
        rows.append((student, number(exact_total(scores)), out_of, cells, "; ".join(notes)))
    return columns, rows


def render_grades(reports: list[FileReport], hide: bool = False) -> str:
    """The grade sheet as CSV (cells as in --csv: no formulas, no control characters; quoted
    as Python's csv module quotes).  ``hide`` changes nothing: a grade sheet holds points
    only."""
    columns, rows = grade_sheet(reports)
    position = {label: index for index, label in enumerate(columns, len(GRADES_HEAD))}
    lines = [",".join(_csv_field(csv_cell(cell)) for cell in [*GRADES_HEAD, *columns, GRADES_LAST])]
    for student, total, out_of, cells, notes in rows:
        # Built by position: a sheet of a thousand students and problems has a million cells,
        # nearly all empty, which need no look.
        fields = [""] * (len(position) + len(GRADES_HEAD) + 1)
        fields[: len(GRADES_HEAD)] = [_csv_field(csv_cell(student)), total, out_of]
        for label, cell in cells.items():
            fields[position[label]] = _csv_field(csv_cell(cell))
        fields[-1] = _csv_field(csv_cell(notes)) if notes else ""
        lines.append(",".join(fields))
    return "\n".join(lines) + "\n"


def _csv_field(text: str) -> str:
    """A CSV field as csv.writer writes it (QUOTE_MINIMAL): quoted when it holds a comma, a
    quote or a line break, its quotes doubled."""
    if any(special in text for special in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def looks_like_grades(head: bytes) -> bool:
    import csv

    first = head.decode("utf-8", "replace").split("\n", 1)[0]
    header = next(csv.reader([first]), [])
    return header[:3] == GRADES_HEAD


# -- --gradescope and --classroom: one submission's results for a platform ----------------------

GENERATOR = "gradcalc check"


def _tests(reports: list[FileReport], hide: bool) -> list[dict[str, Any]]:
    """A test per graded result (named problem: result) and per file that could not be
    graded (named by its problem, else its path): name, score, points, ok and the lines the
    table prints.  Files with nothing to grade are left out."""
    labels = problem_labels(reports)
    # A file that could not be graded is worth its problem's points, when another file has
    # told them; else 0 (unknown).
    points = {
        label_of(report, labels): report.grade.points
        for report in reports
        if report.grade is not None
    }
    tests = []
    for report in reports:
        label = label_of(report, labels)
        if report.grade is None:
            if report.error is not None:
                tests.append(
                    {
                        "name": label or report.source,
                        "score": Fraction(0),
                        "points": points.get(label, Fraction(0)),
                        "status": "error",
                        "lines": [report.error],
                        "file": report.source,
                    }
                )
            continue
        for result in report.grade.results:
            tests.append(
                {
                    "name": f"{label}: {result.name}",
                    "score": result.score,
                    "points": result.points,
                    "status": "pass" if result.ok else "fail",
                    "lines": result_lines(result, hide),
                    "file": report.source,
                }
            )
    return tests


def _json(document: dict[str, Any]) -> str:
    import json

    return json_visible(json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False)) + "\n"


def _summary(tests: list[dict[str, Any]]) -> str:
    right = sum(test["status"] == "pass" for test in tests)
    errors = sum(test["status"] == "error" for test in tests)
    score = exact_total(test["score"] for test in tests)
    points = exact_total(test["points"] for test in tests)
    line = f"gradcalc check: {right} of {len(tests)} results right; points {number(score)}/{number(points)}"
    return line + (
        f"; {errors} file{'s' if errors != 1 else ''} not graded (errors)" if errors else ""
    )


def render_gradescope(reports: list[FileReport], hide: bool) -> str:
    """Gradescope's autograder results.json: the total ``score``, an ``output`` line, and a
    test per result with its ``score``, ``max_score``, ``status`` and ``output`` (the table's
    lines).  Every text is plain (``text``, never HTML: names and messages come from students'
    files); everything is ``visible``, as the report is what --hide-answers lets be seen."""
    tests = _tests(reports, hide)
    document = {
        "extra_data": {"generator": GENERATOR},
        "score": json_number(exact_total(test["score"] for test in tests)),
        "output": _summary(tests),
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": one_line(test["name"]),
                "score": json_number(test["score"]),
                "max_score": json_number(test["points"]),
                "status": "passed" if test["status"] == "pass" else "failed",
                "output": "\n".join(one_line(line) for line in test["lines"]),
                "visibility": "visible",
            }
            for test in tests
        ],
    }
    return _json(document)


def render_classroom(reports: list[FileReport], hide: bool) -> str:
    """A GitHub Classroom autograding result, as the classroom-resources graders write it
    base64-encoded for autograding-grading-reporter: ``version`` 1, ``status`` (pass, fail or
    error), ``max_score`` and ``tests`` each with ``name``, ``status``, ``score`` and
    ``message``.  The reporter sends Classroom the sum of the tests' scores out of
    ``max_score``."""
    tests = _tests(reports, hide)
    statuses = {test["status"] for test in tests}
    status = next((s for s in ("error", "fail") if s in statuses), "pass")
    document = {
        "version": 1,
        "generator": GENERATOR,
        "status": status,
        "max_score": json_number(exact_total(test["points"] for test in tests)),
        "tests": [
            {
                "name": one_line(test["name"]),
                "status": test["status"],
                "score": json_number(test["score"]),
                "message": "\n".join(one_line(line) for line in test["lines"]),
                "test_code": "",
                "filename": one_line(test["file"]),
                "line_no": 0,
                "duration": 0,
            }
            for test in tests
        ],
    }
    return _json(document)


_GRADESCOPE_START = re.compile(rb'\A\s*\{\s*"extra_data":\s*\{\s*"generator":\s*"gradcalc check"')
_CLASSROOM_START = re.compile(rb'\A\s*\{\s*"version":\s*1,\s*"generator":\s*"gradcalc check"')


def looks_like_gradescope(head: bytes) -> bool:
    return bool(_GRADESCOPE_START.match(head))


def looks_like_classroom(head: bytes) -> bool:
    return bool(_CLASSROOM_START.match(head))


# Each format to its renderer, in the one table of them (cli/check_render.py).
SHEET_RENDERERS = {
    "grades": render_grades,
    "gradescope": render_gradescope,
    "classroom": render_classroom,
}
CHECK_RENDERERS.update(SHEET_RENDERERS)
