"""``gradcalc check PATH...``: grade many specs and submissions, and report.

This module finds the files, reads them (keeping YAML positions for error
lines), hands plain data to :mod:`gradcalc.core.grading`, and renders the
grades as a summary table, JSON, a CSV grade sheet and JUnit XML.  A broken
file becomes one error line in the report; it never stops the others.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
from collections import Counter
from dataclasses import field
from fractions import Fraction
from pathlib import Path
from typing import Any

import click

from gradcalc.cli.files import write_atomically
from gradcalc.core.errors import GradcalcError, SpecError
from gradcalc.core.grading import (
    SUBMISSION_KEYS,
    SYMBOLIC_KINDS,
    Grade,
    Problem,
    ResultGrade,
    exact_total,
)
from gradcalc.core.outcome import ExitStatus
from gradcalc.core.records import record
from gradcalc.core.spec import Limits, did_you_mean
from gradcalc.core.values import describe

SPEC_SUFFIXES = (".yaml", ".yml")


@record
class FileReport:
    """What checking one file gave: a grade, an error line, or nothing to check."""

    source: str
    problem: str | None = None  # the problem file of a submission
    student: str | None = None
    grade: Grade | None = None
    error: str | None = None
    skipped: bool = False  # a spec without expected answers

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        if self.grade is None:
            return "skipped"
        return "pass" if self.grade.ok else "fail"


@record
class Settings:
    problem: str | None = None
    limits: Limits = field(default_factory=Limits)
    traceback: bool = False


# -- finding files -----------------------------------------------------------------------------


def expand_paths(paths: tuple[str, ...]) -> tuple[list[str], list[tuple[str, str]]]:
    """Files to check and the arguments that gave none, each with its error line.

    Folders are searched recursively for *.yaml and *.yml, leaving out names that start
    with "." (.git, .github/workflows/*.yml); globs are expanded; each group is sorted.  A
    file named twice, in any spelling, is kept once, under its first spelling."""
    files: list[str] = []
    empty: list[tuple[str, str]] = []
    for path in paths:
        found: list[str]
        if os.path.isdir(path):
            found = _spec_files_under(path)
            if not found:
                empty.append((path, f"{path}: folder has no .yaml or .yml files"))
            files += found
            continue
        if os.path.exists(path):
            found = [path]
        elif glob.has_magic(path):
            found = []
            for match in sorted(glob.glob(path, recursive=True)):
                found += _spec_files_under(match) if os.path.isdir(match) else [match]
        else:
            found = []
        if not found:
            empty.append((path, f"{path}: no such file, folder or match"))
        files += found
    seen: set[str] = set()
    unique = []
    for file in files:
        key = os.path.realpath(file)
        if key not in seen:
            seen.add(key)
            unique.append(file)
    return unique, empty


def _spec_files_under(folder: str) -> list[str]:
    """The *.yaml and *.yml files below ``folder``, sorted, hidden files and folders left out
    (symbolic links to folders are not followed)."""
    found = []
    for parent, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [
            path
            for name in names
            if not name.startswith(".") and name.lower().endswith(SPEC_SUFFIXES)
            for path in [str(Path(parent) / name)]  # "./a.yaml" and "a//b.yaml" read as given
            if os.path.isfile(path)
        ]
    return sorted(found)


class ShardType(click.ParamType):
    """``--shard i/n``: the i-th of n parts, as (i, n)."""

    name = "i/n"

    def convert(self, value: Any, param, ctx) -> tuple[int, int] | None:
        if value is None or isinstance(value, tuple):
            return value
        # ASCII digits only (int() would also take "１", "1_0" and " 1"), as every count is read.
        match = re.fullmatch(r"([0-9]{1,9})/([0-9]{1,9})", str(value).strip())
        if match is None:
            self.fail(
                f"{value!r} is not i/n (for example 1/4; ASCII digits, at most 9 each)", param, ctx
            )
        if any(part[0] == "0" and len(part) > 1 for part in match.groups()):
            self.fail(f"{value!r}: write i/n without leading zeros (for example 1/4)", param, ctx)
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 1 <= index <= count:
            self.fail(f"{value!r}: need 1 ≤ i ≤ n (for example 1/4 … 4/4)", param, ctx)
        return index, count


def shard_key(path: str) -> str:
    """The path a file is sorted by for sharding: absolute, normalized, "/"-separated and in
    Unicode NFC, so that the split does not depend on how or in which order files were named."""
    import unicodedata

    return unicodedata.normalize("NFC", os.path.abspath(path).replace(os.sep, "/"))


def take_shard(files: list[str], shard: tuple[int, int] | None) -> list[str]:
    """Shard i of n: every n-th file from the i-th, of the files sorted by code point of
    :func:`shard_key`; the same split on every machine and for any argument order.  The files
    keep their order in ``files``."""
    if shard is None:
        return files
    index, count = shard
    chosen = set(sorted(files, key=shard_key)[index - 1 :: count])
    return [file for file in files if file in chosen]


# -- checking one file -------------------------------------------------------------------------

# Problems read and solved in this process, by resolved path: a folder of submissions
# against one problem solves it (and each diagnosis variant) once.
_PROBLEMS: dict[str, tuple[Problem | None, str | None, Any]] = {}


def _error_line(error: GradcalcError, loaded: Any) -> str:
    from gradcalc.cli.main import _error_line as line

    return line(error, loaded)


def _load(path: str, limits: Limits):
    from gradcalc.cli.spec_loader import load_file

    # No streams: a FIFO or device found in a folder or named by `problem:` (or `problem: -`)
    # could block the run (in every worker); only regular files are read.
    return load_file(path, max_values=max(limits.max_elements * 2, 1000), streams=False)


def _problem(path: str, settings: Settings) -> tuple[Problem | None, str | None, Any]:
    """The problem at ``path`` (solved once per process), or the error line that it gave."""
    key = os.path.realpath(path)
    if key not in _PROBLEMS:
        loaded = None
        try:
            loaded = _load(path, settings.limits)
            _PROBLEMS[key] = (Problem(loaded.data, limits=settings.limits), None, loaded)
        except GradcalcError as error:
            _PROBLEMS[key] = (None, _error_line(error, loaded), loaded)
    return _PROBLEMS[key]


def check_file(path: str, settings: Settings) -> FileReport:
    """Grade one spec (its ``expected``) or submission (its ``answers``); never raises
    for a bad file: the report carries the error line instead."""
    report = FileReport(source=path)
    loaded = None
    try:
        try:
            loaded = _load(path, settings.limits)
            data = loaded.data
            if settings.problem is not None or "answers" in data or "problem" in data:
                return _check_submission(report, loaded, settings)
            if data.get("expected") in (None, {}):  # nothing to check (`gradcalc new` writes {})
                report.skipped = True
                return report
            report.grade = Problem(data, limits=settings.limits).grade(data["expected"])
        except GradcalcError as error:
            report.error = _error_line(error, loaded)
    except RecursionError:
        report.error = f"{path}: the spec is nested too deeply to read"
    except MemoryError:
        report.error = f"{path}: the problem needs more memory than this machine has"
    except Exception as error:  # a bug: report it on this file and go on with the others
        if settings.traceback:
            raise
        report.error = (
            f"{path}: internal error: {type(error).__name__}: {error} "
            "(this is a bug; rerun with --traceback and report it)"
        )
    return report


def _check_submission(report: FileReport, loaded: Any, settings: Settings) -> FileReport:
    data = loaded.data
    for key in data:
        if key not in SUBMISSION_KEYS:
            raise SpecError(
                (key,),
                f"unknown key {key!r} in a submission{did_you_mean(str(key), SUBMISSION_KEYS) or '.'} "
                f"Allowed keys: {', '.join(SUBMISSION_KEYS)}",
                at_key=True,
            )
    if settings.problem is not None:
        problem_path = settings.problem
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
    problem, problem_error, problem_loaded = _problem(problem_path, settings)
    if problem is None:
        report.error = f"{loaded.source}: problem {problem_error}"
        return report
    try:
        report.grade = problem.grade(data["answers"], "answers")
    except SpecError as error:
        if error.path[:1] == ("answers",):
            raise
        # About the problem (its points or accept keys): located in the problem file.
        report.error = f"{loaded.source}: problem {_error_line(error, problem_loaded)}"
    return report


# Forking a worker and sending its reports back costs ~20 ms: worth it from about this many.
AUTO_JOBS_MIN_FILES = 100


class JobsType(click.ParamType):
    """``--jobs``: a number of processes (1–64), or ``auto`` (None here)."""

    name = "N|auto"

    def convert(self, value: Any, param, ctx) -> int | None:
        if value is None:
            return None
        if str(value).strip().lower() == "auto":
            return None
        try:
            jobs = int(value)
        except ValueError:
            jobs = 0
        if not 1 <= jobs <= 64:
            self.fail(f"{value!r} is not a number from 1 to 64, or auto", param, ctx)
        return jobs


def auto_jobs(file_count: int) -> int:
    """Processes for ``--jobs auto``: the CPUs this process may run on, for a large folder."""
    if file_count < AUTO_JOBS_MIN_FILES:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, _cpu_quota(), 64, file_count // (AUTO_JOBS_MIN_FILES // 2)))


def _cpu_quota() -> int:
    """CPUs a container's cgroup (v2) quota allows, e.g. 2 for ``200000 100000``; 64 if none.

    The affinity mask lists every CPU of the host inside a CPU-limited container: more
    processes than the quota only take turns."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return max(1, -(-int(quota) // int(period)))
    except (OSError, ValueError):  # no cgroup v2 file, or "max": no quota
        return 64


def check_files(files: list[str], settings: Settings, jobs: int) -> list[FileReport]:
    """Every file's report, in the order of ``files`` (also with several processes).

    With ``jobs`` > 1 the files are dealt round-robin into ``jobs`` parts; this process
    checks the first while ``jobs`` − 1 forked workers check the others.
    """
    if jobs <= 1 or len(files) < 2 * jobs:
        return [check_file(file, settings) for file in files]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from gradcalc.core import registry

    # Imported once here, before the fork, instead of once in every worker (expr: SymPy, lazily).
    for kind in registry.OPS:
        if kind not in SYMBOLIC_KINDS:
            registry.op_module(kind)
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    parts = [files[part::jobs] for part in range(jobs)]
    with ProcessPoolExecutor(max_workers=jobs - 1, mp_context=context) as pool:
        futures = [pool.submit(_check_part, part, settings) for part in parts[1:]]
        done = [_check_part(parts[0], settings)] + [future.result() for future in futures]
    reports: list[FileReport] = [None] * len(files)  # type: ignore[list-item]
    for part, part_reports in enumerate(done):
        reports[part::jobs] = part_reports
    return reports


def _check_part(files: list[str], settings: Settings) -> list[FileReport]:
    return [check_file(file, settings) for file in files]


# -- rendering ---------------------------------------------------------------------------------

# What a report must not pass on raw: control characters but the newline (a student's ESC
# sequence would reach the terminal; XML 1.0 forbids most of C0), DEL and C1, lone
# surrogates (undecodable bytes of a file name) and the non-characters U+FFFE and U+FFFF.
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _escape_unsafe(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a file name that is not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with each unsafe character written out as ``\\x01`` (or ``\\uXXXX``): safe for
    a terminal and for XML 1.0, and still telling which character it was."""
    return _UNSAFE.sub(_escape_unsafe, text)


def number(value: Fraction | float | int) -> str:
    """3, 1.5, 0.333 — points and values for people."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return str(value.numerator)
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, (Fraction, float)):
        return str(value)  # a symbolic answer
    return f"{float(value):.6g}"


def percent(value: float | None) -> str:
    return "∞" if value is None else f"{100 * value:.3g}%"


def cell_line(cell, hide: bool) -> str:
    where = "[" + ", ".join(map(str, cell.index)) + "]"
    if hide:
        if cell.abs_error is None:  # a symbolic answer: no error to measure
            return f"{where}: given {number(cell.given)}, wrong"
        return f"{where}: given {number(cell.given)}, relative error {percent(cell.rel_error)}"
    error = "" if cell.abs_error is None else f" (off by {number(cell.abs_error)})"
    return f"{where}: given {number(cell.given)}, correct {number(cell.correct)}{error}"


def result_lines(result: ResultGrade, hide: bool, max_cells: int = 12) -> list[str]:
    """A result's verdict, its wrong cells and its diagnosis, one line each."""
    credit = f"{number(result.score)}/{number(result.points)} points"
    notes = []
    if result.flat_as:
        notes.append(f"read flat in row-major order as {result.flat_as}")
    if result.accepted:
        notes.append(f"matches the accepted convention {result.accepted}")
    suffix = f" ({'; '.join(notes)})" if notes else ""
    if result.ok:
        verb = "value matches" if result.cells == 1 else "values match"
        return [f"✓ {result.name}: {result.cells} {verb}, {credit}{suffix}"]
    if result.missing:
        return [f"✗ {result.name}: no answer, {credit}"]
    if result.wrong_shape:
        lines = [
            f"✗ {result.name}: the answer is {result.wrong_shape}, not the result's shape, {credit}"
        ]
    else:
        lines = [
            f"✗ {result.name}: {len(result.wrong)} of {result.cells} values wrong, {credit}{suffix}"
        ]
        lines += [f"    {cell_line(cell, hide)}" for cell in result.wrong[:max_cells]]
        if len(result.wrong) > max_cells:
            lines.append(f"    … {len(result.wrong) - max_cells} more wrong values")
    if result.diagnosis and not (hide and result.diagnosis_reveals):
        lines.append(f"    likely mistake: {result.diagnosis}")
    return lines


def ignored_line(names: tuple[str, ...]) -> str:
    return f"· not graded (the problem does not ask for it): {', '.join(names)}"


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


def exit_status(reports: list[FileReport]) -> ExitStatus:
    if any(r.status == "error" for r in reports):
        return ExitStatus.ERROR
    if any(r.status == "fail" for r in reports):
        return ExitStatus.MISMATCH
    return ExitStatus.OK


def render_table(reports: list[FileReport], hide: bool) -> str:
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
    rows = [tuple(visible(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"gradcalc check — {len(reports)} file{'s' if len(reports) != 1 else ''}", ""]
    for row in rows:
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    total = totals(reports)
    lines.append("")
    lines.append(
        f"{total['passed']} passed, {total['failed']} failed, {total['errors']} errors"
        + (f", {total['skipped']} skipped (no expected answers)" if total["skipped"] else "")
        + f"; points {number(total['score'])}/{number(total['points'])}"
    )
    failures = [r for r in reports if r.status in ("fail", "error")]
    if failures:
        lines += ["", "Failures"]
    for report in failures:
        heading = report.source + (f" (problem: {report.problem})" if report.problem else "")
        lines += ["", f"── {heading}"]
        if report.error is not None:
            lines.append(report.error)
            continue
        assert report.grade is not None
        for result in report.grade.results:
            lines += result_lines(result, hide)
        if report.grade.ignored:
            lines.append(ignored_line(report.grade.ignored))
    noted = [
        (report, result_lines(result, hide)[0])
        for report in reports
        if report.status == "pass"
        for result in report.grade.results
        if result.flat_as or result.accepted
    ]
    noted += [
        (report, ignored_line(report.grade.ignored))
        for report in reports
        if report.status == "pass" and report.grade.ignored
    ]
    if noted:
        lines += ["", "Notes (answers that pass)"]
    for report, line in noted:
        lines.append(f"{report.source}: {line}")
    return visible("\n".join(lines))


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
        if not hide:
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
        "accepted": result.accepted or None,
        "diagnosis": (result.diagnosis if not (hide and result.diagnosis_reveals) else None)
        or None,
        "tolerance": {"atol": float(result.tolerance.atol), "rtol": float(result.tolerance.rtol)},
    }


def render_json(reports: list[FileReport], hide: bool) -> str:
    files = []
    for report in reports:
        grade = report.grade
        files.append(
            {
                "file": report.source,
                "problem": report.problem,
                "student": report.student,
                "status": report.status,
                "kind": grade.kind if grade else None,
                "title": grade.title if grade else None,
                "score": json_number(grade.score) if grade else None,
                "points": json_number(grade.points) if grade else None,
                "results": [result_document(r, hide) for r in grade.results] if grade else [],
                "not_graded": list(grade.ignored) if grade else [],
                "error": report.error,
            }
        )
    total = totals(reports)
    total["score"] = json_number(total["score"])
    total["points"] = json_number(total["points"])
    document = {"files": files, "totals": total, "ok": exit_status(reports) == ExitStatus.OK}
    text = json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False)
    # json leaves DEL, C1 and lone surrogates raw; only strings can hold them: escape them there.
    return re.sub("[\x7f-\x9f\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)


# A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """``text`` for a grade sheet: a text that a spreadsheet would run as a formula gets a
    leading single quote (the OWASP rule); numbers (-3, -1/2, -1e-6) stay numbers.  Bytes of a
    file name that are not UTF-8 become U+FFFD."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if text.startswith(_FORMULA_STARTS):
        try:
            Fraction(text)
        except (ValueError, ZeroDivisionError):
            return "'" + text
    return text


def render_csv(reports: list[FileReport]) -> str:
    """One row per file, one column per result (its score), then the totals."""
    import csv
    import io

    names: list[str] = []
    for report in reports:
        for result in report.grade.results if report.grade else ():
            if result.name not in names:
                names.append(result.name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["file", "student", "problem", "status", *names, "score", "points"]
    writer.writerow([csv_cell(name) for name in header])
    for report in reports:
        scores = {r.name: number(r.score) for r in report.grade.results} if report.grade else {}
        row = [
            report.source,
            report.student or "",
            report.problem or "",
            report.status,
            *(scores.get(name, "") for name in names),
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
            for result in report.grade.results:
                case = ET.SubElement(
                    suite, "testcase", classname=classname, name=result.name, time="0"
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
                    failure.text = "\n".join(lines)
                    suite_counts["failures"] += 1
        for key, value in suite_counts.items():
            suite.set(key, str(value))
            counts[key] += value
    for key, value in counts.items():
        root.set(key, str(value))
    for element in root.iter():  # file names and messages come from students' files
        element.attrib = {key: visible(value) for key, value in element.attrib.items()}
        if element.text:
            element.text = visible(element.text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# -- writing the reports ----------------------------------------------------------------------


def check_report_paths(
    targets: dict[str, str | None], inputs: list[str], problem: str | None
) -> None:
    """Refuse, before anything is graded, a report path that cannot be written or that would
    overwrite a spec or submission: a usage error (exit 2) naming the option.

    ``targets`` maps an option (``--csv``) to its path; ``inputs`` are the files to check."""
    checked = {os.path.realpath(file): "one of the files being checked" for file in inputs}
    if problem is not None:
        checked[os.path.realpath(problem)] = "the --problem file"
    claimed: dict[str, str] = {}
    for option, path in targets.items():
        if path is None:
            continue

        def refuse(message: str, option: str = option) -> None:
            raise click.BadParameter(message, param_hint=f"'{option}'")

        if not path:
            refuse("give a file name")
        real = os.path.realpath(path)
        if os.path.isdir(real):
            refuse(f"{path!r} is a folder; give a file name in it")
        if not os.path.isdir(os.path.dirname(real)):
            refuse(f"{path!r}: no folder {os.path.dirname(path) or '.'!r} to write into")
        if real in checked:
            refuse(f"{path!r} is {checked[real]}; the report would overwrite it")
        if os.path.exists(real) and real.lower().endswith(SPEC_SUFFIXES):
            refuse(
                f"{path!r} is an existing .yaml/.yml file; the report would overwrite it "
                "(give a new file name, e.g. grades.csv or report.xml)"
            )
        if real in claimed:
            refuse(f"{path!r} is also the {claimed[real]} file; give each report its own file")
        claimed[real] = option


def write_reports(reports: dict[str, tuple[str, str]]) -> list[str]:
    """Write each report (option: (path, text)); the error line of each file that cannot be
    written (printed after the summary, where it is seen)."""
    errors = []
    for option, (path, text) in reports.items():
        try:
            write_atomically(path, text)
        except OSError as error:
            errors.append(
                f"gradcalc check: {option}: cannot write {path!r}: {error.strerror or error}"
            )
    return errors


# -- the command -------------------------------------------------------------------------------

EPILOG = """\b
Examples:
  gradcalc check problems/
  gradcalc check --problem task3.yaml submissions/ --csv grades.csv
  gradcalc check 'homework/**/*.yaml' --hide-answers
  gradcalc check submissions/ --junit report.xml --shard 1/4 --jobs 2

\b
Exit codes: 0 every answer matches; 1 an answer does not match; 2 a spec or
submission has an error (the others are still checked and reported)."""


@click.command("check", epilog=EPILOG, short_help="Grade specs and submissions; CI reports.")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--problem",
    "problem_path",
    metavar="FILE",
    default=None,
    help="Grade every file as a submission (answers:) against this problem spec.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: summary and failures; json: one object per file plus totals.",
)
@click.option(
    "--hide-answers",
    is_flag=True,
    help="Say which cells are wrong and by how much, never the correct values.",
)
@click.option(
    "--csv",
    "csv_path",
    metavar="FILE",
    help="Write a grade sheet: a row per file, a column per result.",
)
@click.option(
    "--junit",
    "junit_path",
    metavar="FILE",
    help="Write JUnit XML: a testsuite per file, a testcase per result.",
)
@click.option(
    "--jobs",
    type=JobsType(),
    default="auto",
    show_default=True,
    help="Processes to use: a number, or auto (every CPU this process may use, "
    f"once there are {AUTO_JOBS_MIN_FILES} files or more; one process below that).",
)
@click.option(
    "--shard",
    type=ShardType(),
    default=None,
    help="Check only the i-th of n parts (files sorted by path, dealt round-robin).",
)
@click.option(
    "--max-elements",
    type=click.IntRange(1),
    default=Limits.max_elements,
    show_default=True,
    help="Largest number of entries in any one array of a spec.",
)
@click.option("--traceback", is_flag=True, help="On an internal error, show the Python traceback.")
def check(
    paths: tuple[str, ...],
    problem_path: str | None,
    output_format: str,
    hide_answers: bool,
    csv_path: str | None,
    junit_path: str | None,
    jobs: int | None,
    shard: tuple[int, int] | None,
    max_elements: int,
    traceback: bool,
) -> None:
    """Check every spec's expected answers, or grade submissions against a problem.

    PATHS are files, folders (searched recursively for *.yaml and *.yml, names
    starting with "." left out) and globs.  A spec with `expected` is solved
    and its answers compared; a submission (`problem: FILE` plus `answers:`) is
    graded against its problem.
    Points, partial credit, accepted conventions and a diagnosis of the usual
    mistakes are reported for every answer.
    """
    files, empty = expand_paths(paths)
    if problem_path is not None:
        problem_real = os.path.realpath(problem_path)
        files = [f for f in files if os.path.realpath(f) != problem_real]
    check_report_paths({"--csv": csv_path, "--junit": junit_path}, files, problem_path)
    shard_files = take_shard(files, shard)
    if shard is not None and files and not shard_files:
        click.echo(
            f"gradcalc check: shard {shard[0]}/{shard[1]} has no files: "
            f"{len(files)} file{'s' if len(files) != 1 else ''} over {shard[1]} shards",
            err=True,
        )
    settings = Settings(
        problem=problem_path, limits=Limits(max_elements=max_elements), traceback=traceback
    )
    _PROBLEMS.clear()  # a problem file may have changed since an earlier run in this process
    reports = [FileReport(source=path, error=line) for path, line in empty]
    reports += check_files(
        shard_files, settings, auto_jobs(len(shard_files)) if jobs is None else jobs
    )
    if not reports and not files:
        click.echo("gradcalc check: no spec files to check", err=True)
        sys.exit(int(ExitStatus.ERROR))
    outputs = {}
    if csv_path is not None:
        outputs["--csv"] = (csv_path, render_csv(reports))
    if junit_path is not None:
        outputs["--junit"] = (junit_path, render_junit(reports, hide_answers))
    # The report files first: `gradcalc check … --junit r.xml | head` still writes them.
    write_errors = write_reports(outputs)
    if output_format == "json":
        click.echo(render_json(reports, hide_answers))
    else:
        click.echo(render_table(reports, hide_answers))
    for line in write_errors:
        click.echo(line, err=True)
    sys.exit(int(ExitStatus.ERROR if write_errors else exit_status(reports)))
