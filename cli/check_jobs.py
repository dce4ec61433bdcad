"""Running ``gradcalc check`` over many files: each under its budget, in one process or in
``--jobs`` forked workers whose reports travel back pickled.  A file that breaks its worker
is only that file's error."""

from __future__ import annotations

import copyreg
import io
import math
import os
import pickle
import signal
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import click

from gradcalc.cli.check_budget import OverBudget, budget_words, file_budget, memory_words
from gradcalc.cli.check_grade import (
    SymPyFirst,
    grade_file,
    import_sympy,
    prepare_kinds,
    problem_budget_error,
)
from gradcalc.cli.check_progress import CheckProgress
from gradcalc.cli.check_report import FileReport, Settings
from gradcalc.core.errors import SpecError


def check_file(path: str, settings: Settings) -> FileReport:
    """Grade one spec (its ``expected``) or submission (its ``answers``); never raises
    for a bad file: the report carries the error line instead."""
    report = FileReport(source=path)
    try:
        try:
            with file_budget(settings.timeout, settings.memory):
                grade_file(report, settings)
        except SymPyFirst:  # outside the budget, once per process; then the file again
            import_sympy()
            report = FileReport(source=path)
            with file_budget(settings.timeout, settings.memory):
                grade_file(report, settings)
    except OverBudget:
        report.grade, report.skipped = None, False
        report.error = _problem_failure(report, settings) or (
            f"{path}: checking it took more than {budget_words(settings.timeout)}; not graded"
        )
    except RecursionError:
        report.grade, report.skipped = None, False
        report.error = f"{path}: the spec is nested too deeply to read"
    except MemoryError:
        report.grade, report.skipped = None, False
        report.error = _problem_failure(report, settings) or (
            f"{path}: checking it needs {memory_words(settings.memory)}; not graded"
        )
    return report


def _problem_failure(report: FileReport, settings: Settings) -> str | None:
    """The error of a submission whose problem ran out of budget while it was solved."""
    if report.problem is None:
        return None
    line = problem_budget_error(report.problem)
    if line is None:
        return None
    report.instructor_error = settings.instructor_problems
    return f"{report.source}: problem {line}"


# Forking a worker and sending its reports back costs ~20 ms: worth it from about this many.
AUTO_JOBS_MIN_FILES = 100


class JobsType(click.ParamType):
    """``--jobs``: a number of processes (1–64), or ``auto`` (None here).  The number is read
    as every whole-number option is (core/values.py parse_int: "1_0", "０１" and "02" are
    refused with their fix)."""

    name = "N|auto"

    def convert(self, value: Any, param, ctx) -> int | None:
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lower() == "auto":
            return None
        from gradcalc.core.values import parse_int

        try:
            jobs = parse_int(value, (), what="a whole number")
        except SpecError as error:
            self.fail(
                f"{value!r} is not a number from 1 to 64, or auto ({error.message})", param, ctx
            )
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


def check_files(
    files: list[str], settings: Settings, jobs: int, progress: CheckProgress | None = None
) -> list[FileReport]:
    """Every file's report, in the order of ``files`` (also with several processes).

    With ``jobs`` > 1 the files are dealt round-robin into ``jobs`` parts; this process
    checks the first while ``jobs`` − 1 forked workers check the others.  A worker that dies
    (killed, out of memory, a crash in C) takes no other grade with it: its part is checked
    again one file at a time, and the file whose worker dies again is that file's error.
    ``progress`` (if any) hears of each file this process checks and of each worker's part.
    """
    prepare_kinds(files)
    if progress is None:
        progress = CheckProgress(0)  # counts, never draws
    if jobs <= 1 or len(files) < 2 * jobs:
        return [_checked(file, settings, progress) for file in files]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    parts = [files[part::jobs] for part in range(jobs)]
    done: list[list[FileReport] | None] = []
    # A task sent to a worker that has died is a write to a pipe nobody reads: with SIGPIPE's
    # default action (main() sets it, for `| head`) that would end gradcalc with no report.
    pipe = signal.signal(signal.SIGPIPE, signal.SIG_IGN) if hasattr(signal, "SIGPIPE") else None
    try:
        with ProcessPoolExecutor(max_workers=jobs - 1, mp_context=context) as pool:
            futures = [pool.submit(_check_part, part, settings) for part in parts[1:]]
            # This process checks the first part meanwhile, under the same budgets (a fork
            # more would cost more than the part: the workers' copy-on-write page faults), but
            # without _cpu_backstop: RLIMIT_CPU would end the run (docs/check.md, Budgets).
            done.append([_checked(file, settings, progress) for file in parts[0]])
            for part, future in zip(parts[1:], futures, strict=True):
                try:
                    done.append(_unpack(future.result(), part))
                    progress.advance(len(part))
                except BrokenProcessPool:  # one worker died: every unfinished part is lost
                    done.append(None)
        reports: list[FileReport] = [None] * len(files)  # type: ignore[list-item]
        for index, part_reports in enumerate(done):
            reports[index::jobs] = part_reports or _check_one_by_one(
                parts[index], settings, context
            )
    finally:
        if pipe is not None:
            signal.signal(signal.SIGPIPE, pipe)
    return reports


def _checked(file: str, settings: Settings, progress: CheckProgress) -> FileReport:
    report = check_file(file, settings)
    progress.advance()
    return report


def _check_one_by_one(files: list[str], settings: Settings, context: Any) -> list[FileReport]:
    """The files in a worker of their own, one at a time: the file whose worker dies is that
    file's error, and a fresh worker goes on with the next."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    reports: list[FileReport] = []
    while len(reports) < len(files):
        remaining = files[len(reports) :]
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            futures = [pool.submit(_check_part, [file], settings) for file in remaining]
            for file, future in zip(remaining, futures, strict=True):
                try:
                    reports += _unpack(future.result(), [file])
                except BrokenProcessPool:
                    reports.append(
                        FileReport(
                            source=file,
                            error=f"{file}: the process checking it died (killed, out of "
                            "memory or crashed); not graded",
                        )
                    )
                    break
    return reports


# Fractions pickle as their text by default, which Python refuses above 4,300 digits: as
# (numerator, denominator) they travel back from a worker whatever their size.
_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH[Fraction] = lambda value: (Fraction, (value.numerator, value.denominator))


def _check_part(files: list[str], settings: Settings) -> bytes | list[bytes]:
    """In a worker: the part's reports pickled in one piece; should that fail, each on its own,
    so that a report that cannot be sent back is only its file's error."""
    prepare_kinds()  # already done before a fork; not with spawn
    reports = []
    for file in files:
        _cpu_backstop(settings.timeout)
        reports.append(check_file(file, settings))
    try:
        return _pack(reports)
    except Exception:
        pass
    packed = []
    for report in reports:
        try:
            packed.append(_pack(report))
        except Exception as error:
            packed.append(
                _pack(
                    FileReport(
                        source=report.source,
                        error=f"{report.source}: internal error: its report cannot be sent back "
                        f"from a worker: {type(error).__name__} (rerun with --jobs 1)",
                    )
                )
            )
    return packed


def _cpu_backstop(seconds: float | None) -> None:
    """In a worker, before each file: let the kernel end the worker (SIGXCPU) should the file
    run past twice its time budget and a second more, which happens only when the budget's
    signal cannot be handled (a long computation inside C).  The worker's death is then that
    file's error, as any other."""
    if seconds is None:
        return
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    limit = math.ceil(usage.ru_utime + usage.ru_stime + 2 * seconds + 1)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard == resource.RLIM_INFINITY or limit <= hard:
        resource.setrlimit(resource.RLIMIT_CPU, (limit, hard))


def _pack(value: Any) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(value)
    return buffer.getvalue()


def _unpack(packed: bytes | list[bytes], files: list[str]) -> list[FileReport]:
    """The reports of ``files`` from :func:`_check_part`; one that cannot be read is its file's
    error (every file of the part, when it came in one piece)."""
    if isinstance(packed, bytes):
        try:
            reports = pickle.loads(packed)
            if len(reports) == len(files):
                return reports
        except Exception:
            pass
        packed = [b""] * len(files)
    reports = []
    for file, data in zip(files, packed, strict=True):
        try:
            reports.append(pickle.loads(data))
        except Exception as error:
            reports.append(
                FileReport(
                    source=file,
                    error=f"{file}: internal error: its report from a worker cannot be read: "
                    f"{type(error).__name__} (rerun with --jobs 1)",
                )
            )
    return reports
