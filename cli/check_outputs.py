"""The report files of ``gradcalc check`` (--csv, --junit, and --grades, --gradescope and
--classroom from cli/check_sheets.py): which paths may be written, and which may not once
the submissions have named their problems.

A report never overwrites a file being checked, a problem, a .yaml/.yml file, or a file that
is not an earlier report of its kind (unless --force).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import NamedTuple

import click

from gradcalc.cli.check_paths import SPEC_SUFFIXES
from gradcalc.cli.check_report import FileReport
from gradcalc.cli.check_sheets import (
    looks_like_classroom,
    looks_like_grades,
    looks_like_gradescope,
)
from gradcalc.cli.files import earlier_report, file_key
from gradcalc.cli.safe_text import one_line

# What an earlier report of each option looks like: the start of gradcalc's CSV header, and the
# XML declaration and root element of gradcalc's JUnit file.
_CSV_HEADER = ["file", "student", "problem", "status"]
_JUNIT_START = re.compile(r'\A\s*(?:<\?xml[^>]*\?>\s*)?<testsuites name="gradcalc check"[ >]')


def _earlier_csv(head: bytes) -> bool:
    import csv

    first = head.decode("utf-8", "replace").split("\n", 1)[0]
    header = next(csv.reader([first]), [])
    return header[:4] == _CSV_HEADER and header[-2:] == ["score", "points"]


def _earlier_junit(head: bytes) -> bool:
    return bool(_JUNIT_START.match(head.decode("utf-8", "replace")))


class ReportFile(NamedTuple):
    """What a report option writes."""

    format: str  # its renderer in cli/check_render.py CHECK_RENDERERS
    called: str  # its name in messages
    looks_earlier: Callable[[bytes], bool]  # whether a file's first bytes are an earlier one


REPORT_FILES = {
    "--csv": ReportFile("csv", "CSV grade sheet", _earlier_csv),
    "--junit": ReportFile("junit", "JUnit report", _earlier_junit),
    "--grades": ReportFile("grades", "grade sheet", looks_like_grades),
    "--gradescope": ReportFile("gradescope", "Gradescope results file", looks_like_gradescope),
    "--classroom": ReportFile("classroom", "GitHub Classroom result", looks_like_classroom),
}


def is_earlier_report(path: str, option: str) -> bool:
    """True when the file at ``path`` is empty or holds an earlier report of the same kind as
    ``option`` writes (by its first bytes: gradcalc's CSV header, gradcalc's JUnit root), so
    that writing over it loses nothing else (cli/files.earlier_report: --export's rule too)."""
    return earlier_report(path, REPORT_FILES[option].looks_earlier)


def check_report_paths(
    targets: dict[str, str | None], inputs: list[str], problem: str | None, *, force: bool = False
) -> None:
    """Refuse, before anything is graded, a report path that cannot be written or that would
    overwrite a spec, a submission or someone's file: a usage error (exit 2) naming the option.

    ``targets`` maps an option (``--csv``) to its path; ``inputs`` are the files to check.  An
    existing regular file must be an earlier report of the same kind (or empty), unless
    ``force``; an input or a .yaml/.yml file is never overwritten.  Paths are compared after
    symbolic links are resolved, and hard links told by device and inode."""
    checked = {file_key(file): "one of the files being checked" for file in inputs}
    if problem is not None:
        checked[file_key(problem)] = "the --problem file"
    claimed: dict[object, str] = {}
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
        key = file_key(real)
        if key in checked:
            refuse(f"{path!r} is {checked[key]}; the report would overwrite it")
        if os.path.exists(real) and real.lower().endswith(SPEC_SUFFIXES):
            refuse(
                f"{path!r} is an existing .yaml/.yml file; the report would overwrite it "
                "(give a new file name, e.g. grades.csv or report.xml)"
            )
        if key in claimed:
            refuse(f"{path!r} is also the {claimed[key]} file; give each report its own file")
        if not force and os.path.isfile(real) and not is_earlier_report(real, option):
            refuse(
                f"{path!r} exists and is not an earlier gradcalc {REPORT_FILES[option].called}; the "
                "report would overwrite it (give a new file name, or use --force)"
            )
        claimed[key] = option


def problem_conflicts(
    outputs: dict[str, tuple[str, str]], reports: list[FileReport]
) -> dict[str, str]:
    """The reports whose path is the problem file a submission named (known only once the
    submissions are read): option -> the error line.  They are not written.  A problem that
    does not exist, is empty or is an earlier report of that kind loses nothing (a student's
    ``problem: ../grades.csv`` must not keep the grade sheet from being written)."""
    problems: dict[object, str] = {}
    for report in reports:
        if report.problem is not None:
            problems.setdefault(file_key(report.problem), report.source)
    conflicts = {}
    for option, (path, _text) in outputs.items():
        real = os.path.realpath(path)
        source = problems.get(file_key(real))
        if source is not None and os.path.isfile(real) and not is_earlier_report(real, option):
            conflicts[option] = one_line(
                f"gradcalc check: {option}: {path!r} is the problem file of {source}; "
                "not written (the report would overwrite it)"
            )
    return conflicts
