"""A ``gradcalc check`` report in each of its formats: the summary table and JSON (printed),
the CSV grade sheet and JUnit XML (written to files).  :data:`CHECK_RENDERERS` is the one
table from a format to its renderer.

Every renderer takes the file reports and --hide-answers and returns the text; what a student
wrote (file names, names, messages) reaches it only through cli/safe_text.py.  Under
--hide-answers a report says of each result and cell only right, wrong or missing, and names
only the diagnoses that reveal nothing: it is the same for every key with the same pattern of
right and wrong (tests/test_hidden_answers.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from gradcalc.cli.check_report import FileReport, exit_status, totals
from gradcalc.cli.safe_text import json_visible, one_line, visible
from gradcalc.core.grading import Grade, ResultGrade
from gradcalc.core.outcome import ExitStatus
from gradcalc.core.words import count_words

# -- text for people: the table, and JUnit's messages ----------------------------------------


def number(value: Fraction | float | int) -> str:
    """3, 1.5, 0.333 — points and values for people."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return str(value.numerator)
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, (Fraction, float)):
        return str(value)  # a symbolic answer
    return f"{float(value):.6g}"


def cell_line(cell, hide: bool) -> str:
    # A single number's cell has no index: "given 0", not "[]: given 0".
    where = ("[" + ", ".join(map(str, cell.index)) + "]: ") if cell.index else ""
    if hide:
        # No error size: with the answer, a relative error gives the key away (|key| =
        # |given|/(r ± 1); 200% on every cell is a sign flipped).
        return f"{where}given {number(cell.given)}, wrong"
    error = "" if cell.abs_error is None else f" (off by {number(cell.abs_error)})"
    return f"{where}given {number(cell.given)}, correct {number(cell.correct)}{error}"


def result_lines(result: ResultGrade, hide: bool, max_cells: int = 12) -> list[str]:
    """A result's verdict, its wrong cells and its diagnosis, one line each."""
    credit = f"{number(result.score)}/{number(result.points)} points"
    notes = []
    if result.reading:
        notes.append(result.reading)
    if result.accepted and not hide:  # that the key's own convention gives something else
        notes.append(f"matches the accepted convention {result.accepted}")
    suffix = f" ({'; '.join(notes)})" if notes else ""
    if result.ok:
        verb = "value matches" if result.cells == 1 else "values match"
        return [f"✓ {result.name}: {result.cells} {verb}, {credit}{suffix}"]
    if result.missing:
        return [f"✗ {result.name}: no answer, {credit}"]
    if result.error:
        return [f"✗ {result.name}: the answer cannot be read, {credit}", f"    {result.error}"]
    if result.wrong_shape:
        lines = [
            f"✗ {result.name}: the answer is {result.wrong_shape}, not the result's shape, {credit}"
        ]
    else:
        lines = [
            f"✗ {result.name}: {len(result.wrong)} of {count_words(result.cells, 'value')} wrong, {credit}{suffix}"
        ]
        lines += [f"    {cell_line(cell, hide)}" for cell in result.wrong[:max_cells]]
        if len(result.wrong) > max_cells:
            lines.append(f"    … {len(result.wrong) - max_cells} more wrong values")
    if result.diagnosis_shown(hide):
        lines.append(f"    likely mistake: {result.diagnosis_shown(hide)}")
    return lines


def ignored_line(names: tuple[str, ...]) -> str:
    return f"· not graded (the problem does not ask for it): {', '.join(names)}"


def unknown_lines(reasons: tuple[str, ...]) -> list[str]:
    """An answered name that is no result: not graded, with its error line (a did-you-mean)."""
    return [f"· not graded (no such result): {reason}" for reason in reasons]


def render_table(reports: list[FileReport], hide: bool) -> str:
    """The summary table, the totals, then each failure in full and the notes on answers
    that pass."""
    lines = [f"gradcalc check — {len(reports)} file{'s' if len(reports) != 1 else ''}", ""]
    lines += _summary_rows(reports)
    total = totals(reports)
    lines.append("")
    lines.append(
        f"{total['passed']} passed, {total['failed']} failed, {count_words(total['errors'], 'error')}"
        + (f", {total['skipped']} skipped (no expected answers)" if total["skipped"] else "")
        + f"; points {number(total['score'])}/{number(total['points'])}"
    )
    lines += _failure_lines(reports, hide)
    lines += _pass_notes(reports, hide)
    return "\n".join(one_line(line) for line in lines)  # each a line of its own


def _summary_rows(reports: list[FileReport]) -> list[str]:
    """The table of files, its header first, columns padded to their widest cell."""
    rows = [("file", "kind", "right", "status", "points")]
    for report in reports:
        grade = report.grade
        if grade is None:
            rows.append((report.source, "—", "—", report.status.upper(), "—"))
            continue
        right = sum(result.ok for result in grade.results)
        rows.append(
            (
                report.source,
                grade.kind,
                f"{right}/{len(grade.results)}",
                "pass" if grade.ok else "FAIL",
                f"{number(grade.score)}/{number(grade.points)}",
            )
        )
    rows = [tuple(one_line(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _failure_lines(reports: list[FileReport], hide: bool) -> list[str]:
    """ "Failures": each failed or broken file, with its error line or every result's lines."""
    failures = [r for r in reports if r.status in ("fail", "error")]
    lines = ["", "Failures"] if failures else []
    for report in failures:
        heading = report.source + (f" (problem: {report.problem})" if report.problem else "")
        lines += ["", f"── {heading}"]
        if report.error is not None:
            lines.append(report.error)
            continue
        assert report.grade is not None
        lines += _grade_lines(report.grade, hide)
        if report.grade.ignored:
            lines.append(ignored_line(report.grade.ignored))
        lines += unknown_lines(report.grade.unknown)
    return lines


def _grade_lines(grade: Grade, hide: bool) -> list[str]:
    """Every result's lines; a net's under a heading per layer with the layer's score."""
    if not grade.groups:
        return [line for result in grade.results for line in result_lines(result, hide)]
    by_name = {result.name: result for result in grade.results}
    lines = []
    for group in grade.group_scores():
        lines.append(
            f"{group.name}: {group.right} of {len(group.results)} results right, "
            f"{number(group.score)}/{number(group.points)} points"
        )
        for name in group.results:
            lines += ["  " + line for line in result_lines(by_name[name], hide)]
    return lines


def group_document(grade: Grade) -> list[dict[str, Any]]:
    """A net's per-layer scores for the JSON: name, results, right, score, points."""
    return [
        {
            "name": group.name,
            "results": list(group.results),
            "right": group.right,
            "score": json_number(group.score),
            "points": json_number(group.points),
        }
        for group in grade.group_scores()
    ]


def _pass_notes(reports: list[FileReport], hide: bool) -> list[str]:
    """ "Notes": answers that pass as read flat (or as one row or column) or by an accepted convention, and answers to
    results the problem does not ask for, in files that pass."""
    noted = [
        (report, result_lines(result, hide)[0])
        for report in reports
        if report.status == "pass"
        for result in report.grade.results
        if result.reading or (result.accepted and not hide)
    ]
    noted += [
        (report, ignored_line(report.grade.ignored))
        for report in reports
        if report.status == "pass" and report.grade.ignored
    ]
    noted += [
        (report, line)
        for report in reports
        if report.status == "pass"
        for line in unknown_lines(report.grade.unknown)
    ]
    lines = ["", "Notes (answers that pass)"] if noted else []
    return lines + [f"{report.source}: {line}" for report, line in noted]


# -- data for programs: JSON, the CSV grade sheet, JUnit XML ----------------------------------


def json_number(value: Any) -> Any:
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else float(value)
    if isinstance(value, (int, float)):
        return value
    return str(value)


def result_document(result: ResultGrade, hide: bool) -> dict[str, Any]:
    wrong = []
    for cell in result.wrong:
        entry: dict[str, Any] = {"index": list(cell.index), "given": json_number(cell.given)}
        if not hide:  # the errors, like the correct value, narrow the key down
            entry["correct"] = json_number(cell.correct)
            entry["abs_error"] = cell.abs_error
            entry["rel_error"] = cell.rel_error
        wrong.append(entry)
    return {
        "name": result.name,
        "ok": result.ok,
        "points": json_number(result.points),
        "score": json_number(result.score),
        "cells": result.cells,
        "wrong": wrong,
        "missing": result.missing,
        "wrong_shape": result.wrong_shape or None,
        "flat_as": result.flat_as or None,
        "reading": result.reading or None,
        "accepted": (result.accepted if not hide else None) or None,
        "diagnosis": result.diagnosis_shown(hide) or None,
        "error": result.error or None,
        "tolerance": {"atol": float(result.tolerance.atol), "rtol": float(result.tolerance.rtol)},
    }


def render_json(reports: list[FileReport], hide: bool) -> str:
    files = []
    for report in reports:
        grade = report.grade
        document = {
            "file": report.source,
            "problem": report.problem,
            "student": report.student,
            "status": report.status,
            "kind": grade.kind if grade else None,
            "title": grade.title if grade else None,
            "score": json_number(grade.score) if grade else None,
            "points": json_number(grade.points) if grade else None,
            "results": [result_document(r, hide) for r in grade.results] if grade else [],
        }
        if grade is not None and grade.groups:  # a net: its score per layer
            document["layers"] = group_document(grade)
        document["not_graded"] = list(grade.ignored) if grade else []
        document["unknown"] = list(grade.unknown) if grade else []
        document["error"] = report.error
        document["warning"] = report.warning
        files.append(document)
    total = totals(reports)
    total["score"] = json_number(total["score"])
    total["points"] = json_number(total["points"])
    document = {"files": files, "totals": total, "ok": exit_status(reports) == ExitStatus.OK}
    text = json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False)
    return json_visible(text)  # what json leaves raw (DEL, C1, surrogates, U+FFFE/U+FFFF)


# A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """``text`` for a grade sheet: control characters (a student's ESC, a newline in a file
    name) written out as ``\\x1b``, and bytes of a file name that are not UTF-8 as ``\\xff``,
    as in the table; then a text that a spreadsheet would run as a formula gets a leading single
    quote (the OWASP rule); numbers (-3, -1/2, -1e-6) stay numbers."""
    text = one_line(text)  # one line per file
    if text.startswith(_FORMULA_STARTS):
        try:
            Fraction(text)
        except (ValueError, ZeroDivisionError):
            return "'" + text
    return text


def render_csv(reports: list[FileReport], hide: bool = False) -> str:
    """One row per file, one column per result (its score), then the totals.  ``hide`` changes
    nothing: a grade sheet shows no answers."""
    import csv
    import io

    names: list[str] = []
    layers: list[str] = []  # a net's layers: a column of each one's score after the results
    for report in reports:
        for result in report.grade.results if report.grade else ():
            if result.name not in names:
                names.append(result.name)
        for group, _ in report.grade.groups if report.grade else ():
            if group not in layers:
                layers.append(group)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    layer_columns = [f"layer {layer}" for layer in layers]
    header = ["file", "student", "problem", "status", *names, *layer_columns, "score", "points"]
    writer.writerow([csv_cell(name) for name in header])
    for report in reports:
        scores = {r.name: number(r.score) for r in report.grade.results} if report.grade else {}
        by_layer = (
            {group.name: number(group.score) for group in report.grade.group_scores()}
            if report.grade
            else {}
        )
        row = [
            report.source,
            report.student or "",
            report.problem or "",
            report.status,
            *(scores.get(name, "") for name in names),
            *(by_layer.get(layer, "") for layer in layers),
            number(report.grade.score) if report.grade else "",
            number(report.grade.points) if report.grade else "",
        ]
        writer.writerow([csv_cell(cell) for cell in row])
    return buffer.getvalue()


def render_junit(reports: list[FileReport], hide: bool) -> str:
    """A testsuite per file, a testcase per result; a broken file is one errored testcase."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="gradcalc check")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for report in reports:
        classname = os.path.splitext(report.source)[0].replace(os.sep, ".").lstrip(".")
        suite = ET.SubElement(root, "testsuite", name=report.source)
        suite_counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if report.error is not None or report.grade is None:
            case = ET.SubElement(suite, "testcase", classname=classname, name="spec", time="0")
            if report.error is not None:
                ET.SubElement(case, "error", message=report.error, type="SpecError")
                suite_counts["errors"] += 1
            else:
                ET.SubElement(case, "skipped", message="no expected answers")
                suite_counts["skipped"] += 1
            suite_counts["tests"] += 1
        else:
            layer_of = _layer_properties(suite, report.grade)
            for result in report.grade.results:
                layer = layer_of.get(result.name)
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=f"{classname}.{layer}" if layer else classname,
                    name=result.name,
                    time="0",
                )
                suite_counts["tests"] += 1
                if not result.ok:
                    lines = result_lines(result, hide)
                    wrong = ", ".join(
                        "[" + ", ".join(map(str, c.index)) + "]" for c in result.wrong[:20]
                    )
                    message = lines[0].removeprefix("✗ ") + (
                        f"; wrong cells: {wrong}" if wrong else ""
                    )
                    failure = ET.SubElement(case, "failure", message=message, type="WrongAnswer")
                    failure.text = "\n".join(one_line(line) for line in lines)
                    suite_counts["failures"] += 1
        if report.grade is not None and report.grade.unknown:
            ET.SubElement(suite, "system-out").text = "\n".join(unknown_lines(report.grade.unknown))
        for key, value in suite_counts.items():
            suite.set(key, str(value))
            counts[key] += value
    for key, value in counts.items():
        root.set(key, str(value))
    for element in root.iter():  # file names and messages come from students' files
        element.attrib = {key: one_line(value) for key, value in element.attrib.items()}
        if element.text:
            element.text = visible(element.text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _layer_properties(suite: Any, grade: Grade) -> dict[str, str]:
    """A net's per-layer scores as the suite's properties (``layer conv1``: ``1.5/3``);
    each result's layer, which its testcase's classname ends with."""
    import xml.etree.ElementTree as ET

    if not grade.groups:
        return {}
    properties = ET.SubElement(suite, "properties")
    for group in grade.group_scores():
        ET.SubElement(
            properties,
            "property",
            name=f"layer {group.name}",
            value=f"{number(group.score)}/{number(group.points)}",
        )
    return {name: group for group, names in grade.groups for name in names}


# Every format of a check report, to its renderer: (the reports, --hide-answers) -> text.
CHECK_RENDERERS: dict[str, Callable[[list[FileReport], bool], str]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
    "junit": render_junit,
    # cli/check_sheets.py adds grades, gradescope and classroom when it is imported (as
    # cli/check_outputs.py does for REPORT_FILES): those renderers use the ones above.
}
# --format's choices: the formats printed; the others are written to files (--csv, --junit,
# --grades, --gradescope, --classroom).
PRINTED_FORMATS = ("table", "json")
