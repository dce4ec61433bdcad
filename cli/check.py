"""``gradcalc check PATH...``: grade many specs and submissions, and report.

This module finds the files, reads them (keeping YAML positions for error
lines), hands plain data to :mod:`gradcalc.core.grading`, and renders the
grades as a summary table, JSON, a CSV grade sheet and JUnit XML.  A broken
file becomes one error line in the report; it never stops the others.
"""

from __future__ import annotations

import copyreg
import glob
import io
import json
import math
import os
import pickle
import re
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import field
from fractions import Fraction
from pathlib import Path
from typing import Any

import click

from gradcalc.cli.errors import error_line
from gradcalc.cli.files import earlier_report, file_key, write_atomically
from gradcalc.cli.safe_text import json_visible, one_line, visible
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


# Each file's budget (docs/check.md: "Budgets").  Time is processor time, counted by a SIGPROF
# timer: it does not depend on how many other jobs share the machine, and it leaves SIGALRM to
# the solvers' own limits (expr's 20 s).  Memory is address space the file may add to the
# process's (RLIMIT_AS), so a runaway file gets a MemoryError instead of the OOM killer.
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 24 * 3600.0
MEMORY_BUDGET = 2 * 1024**3


@record
class Settings:
    problem: str | None = None
    limits: Limits = field(default_factory=Limits)
    traceback: bool = False
    timeout: float | None = DEFAULT_TIMEOUT  # processor seconds per file; None: no limit
    memory: int | None = MEMORY_BUDGET  # bytes of address space per file; None: no limit


class OverBudget(BaseException):
    """A file used up its processor time.  A BaseException, like KeyboardInterrupt, so that
    ``except Exception`` in a solver cannot swallow it (and the timer fires again shortly
    in case a bare ``except:`` did)."""


def _address_space() -> int | None:
    """The process's address space in bytes (Linux), or None where it cannot be read."""
    try:
        statm = os.open("/proc/self/statm", os.O_RDONLY)  # os.read: a third of open()'s time
        try:
            return int(os.read(statm, 64).split()[0]) * os.sysconf("SC_PAGE_SIZE")
        finally:
            os.close(statm)
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def file_budget(seconds: float | None, memory: int | None) -> Iterator[None]:
    """Raise :class:`OverBudget` once the body has used ``seconds`` of processor time
    (core.deadline.processor_limit: the mechanism of expr's time limits, on the processor
    clock), and MemoryError when it asks for ``memory`` bytes more address space than it
    started with.  Where a limit cannot be set (not the main thread, no setitimer, no /proc)
    it is not set."""
    from gradcalc.core.deadline import processor_limit

    old_limit = None
    if memory is not None:
        import resource

        used = _address_space()
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if used is not None:
            limit = used + memory
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            if soft == resource.RLIM_INFINITY or limit < soft:
                resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
                old_limit = (soft, hard)
    try:
        if seconds is None:
            yield
        else:
            with processor_limit(seconds, OverBudget):
                yield
    finally:
        if old_limit is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, old_limit)


def _budget_words(settings: Settings) -> str:
    return f"the time budget of {settings.timeout:g} s of processor time (--timeout)"


def _memory_words(settings: Settings) -> str:
    if settings.memory is None:
        return "more memory than this machine has"
    return f"more than the memory budget of {settings.memory // 2**20:,} MiB"


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
            _PROBLEMS[key] = (Problem(loaded.data, limits=settings.limits), None, loaded)
        except GradcalcError as error:
            _PROBLEMS[key] = (None, error, loaded)
        # Kept, so that the next submissions do not spend their budget on it again.
        except OverBudget:
            _PROBLEMS[key] = (
                None,
                f"{path}: solving it took more than {_budget_words(settings)}",
                loaded,
            )
            raise
        except MemoryError:
            _PROBLEMS[key] = (None, f"{path}: solving it needs {_memory_words(settings)}", loaded)
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


def prepare_kinds() -> None:
    """Import every kind's modules, SymPy with expr's, before any file's budget starts (and,
    with --jobs, once before the fork instead of once in every worker).  An import cut short
    by a file's budget would leave a half-initialised module behind (``module 'sympy' has no
    attribute 'polys'``) and break every later file in the process."""
    from gradcalc.core import registry

    for kind in registry.OPS:
        registry.op_module(kind)
        if registry.OPS[kind].explain is not None:  # a kind on core/solve.py's pipeline
            registry.explain_module(kind)
        if kind in SYMBOLIC_KINDS:
            import sympy  # noqa: F401 - imported by core.kinds.expr lazily, on first use
            import sympy.core.function  # noqa: F401
            import sympy.printing.precedence  # noqa: F401
            import sympy.printing.str  # noqa: F401


def check_file(path: str, settings: Settings) -> FileReport:
    """Grade one spec (its ``expected``) or submission (its ``answers``); never raises
    for a bad file: the report carries the error line instead."""
    report = FileReport(source=path)
    try:
        with file_budget(settings.timeout, settings.memory):
            _check_file(report, settings)
    except OverBudget:
        report.grade, report.skipped = None, False
        report.error = _problem_failure(report, settings) or (
            f"{path}: checking it took more than {_budget_words(settings)}; not graded"
        )
    except RecursionError:
        report.grade, report.skipped = None, False
        report.error = f"{path}: the spec is nested too deeply to read"
    except MemoryError:
        report.grade, report.skipped = None, False
        report.error = _problem_failure(report, settings) or (
            f"{path}: checking it needs {_memory_words(settings)}; not graded"
        )
    return report


def _problem_failure(report: FileReport, settings: Settings) -> str | None:
    """The error of a submission whose problem ran out of budget while it was solved."""
    if report.problem is None:
        return None
    cached = _PROBLEMS.get(os.path.realpath(report.problem))
    if cached is None or not isinstance(cached[1], str):
        return None
    return f"{report.source}: problem {cached[1]}"


def _check_file(report: FileReport, settings: Settings) -> None:
    """Fill in ``report``: a grade, nothing to check, or the error line."""
    loaded = None
    try:
        loaded = _load(report.source, settings.limits)
        data = loaded.data
        if settings.problem is not None or "answers" in data or "problem" in data:
            _check_submission(report, loaded, settings)
            return
        # Read and solved with or without answers: a broken problem is an error, never
        # skipped (a problem bank handed out with only points is checked too).
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
    # A problem named by the submission may be any file: its errors show none of its content.
    public = settings.problem is None
    problem, problem_error, problem_loaded = _problem(problem_path, settings)
    if problem is None:
        assert problem_error is not None
        line = problem_error_line(problem_path, problem_error, problem_loaded, public=public)
        report.error = f"{loaded.source}: problem {line}"
        return report
    try:
        report.grade = problem.grade(data["answers"], "answers")
    except SpecError as error:
        if error.path[:1] == ("answers",):
            raise
        # About the problem (its points or accept keys): located in the problem file.
        line = problem_error_line(problem_path, error, problem_loaded, public=public)
        report.error = f"{loaded.source}: problem {line}"
    return report


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


class SecondsType(click.ParamType):
    """``--timeout``: seconds, a positive number up to a day, read as every number option is
    (core/values.py parse_number: "1_0", "１０" and "010" are refused with their fix)."""

    name = "SECONDS"

    def convert(self, value: Any, param, ctx) -> float:
        if isinstance(value, float):
            return value
        from gradcalc.core.values import parse_number

        allowed = f"seconds above 0 and up to {MAX_TIMEOUT:g}, for example 10 or 2.5"
        try:
            seconds = parse_number(value, (), what="a number of seconds")
        except SpecError as error:
            self.fail(f"{value!r} is not a number of {allowed} ({error.message})", param, ctx)
        if not 0 < seconds <= MAX_TIMEOUT:
            self.fail(f"{value!r} is not a number of {allowed}", param, ctx)
        return float(seconds)


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
    checks the first while ``jobs`` − 1 forked workers check the others.  A worker that dies
    (killed, out of memory, a crash in C) takes no other grade with it: its part is checked
    again one file at a time, and the file whose worker dies again is that file's error.
    """
    prepare_kinds()
    if jobs <= 1 or len(files) < 2 * jobs:
        return [check_file(file, settings) for file in files]
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
            done.append([check_file(file, settings) for file in parts[0]])
            for part, future in zip(parts[1:], futures, strict=True):
                try:
                    done.append(_unpack(future.result(), part))
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


# -- rendering ---------------------------------------------------------------------------------


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
    rows = [tuple(one_line(cell) for cell in row) for row in rows]
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
    return "\n".join(one_line(line) for line in lines)  # each a line of its own


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
                    failure.text = "\n".join(one_line(line) for line in lines)
                    suite_counts["failures"] += 1
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


# -- writing the reports ----------------------------------------------------------------------


# What an earlier report of each option looks like: the start of gradcalc's CSV header, and the
# XML declaration and root element of gradcalc's JUnit file.
_CSV_HEADER = ["file", "student", "problem", "status"]
_JUNIT_START = re.compile(r'\A\s*(?:<\?xml[^>]*\?>\s*)?<testsuites name="gradcalc check"[ >]')
REPORT_KINDS = {"--csv": "CSV grade sheet", "--junit": "JUnit report"}


def is_earlier_report(path: str, option: str) -> bool:
    """True when the file at ``path`` is empty or holds an earlier report of the same kind as
    ``option`` writes (by its first bytes: gradcalc's CSV header, gradcalc's JUnit root), so
    that writing over it loses nothing else (cli/files.earlier_report: --export's rule too)."""
    return earlier_report(path, _REPORT_LOOKS[option])


def _earlier_csv(head: bytes) -> bool:
    import csv

    first = head.decode("utf-8", "replace").split("\n", 1)[0]
    header = next(csv.reader([first]), [])
    return header[:4] == _CSV_HEADER and header[-2:] == ["score", "points"]


def _earlier_junit(head: bytes) -> bool:
    return bool(_JUNIT_START.match(head.decode("utf-8", "replace")))


_REPORT_LOOKS = {"--csv": _earlier_csv, "--junit": _earlier_junit}


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
                f"{path!r} exists and is not an earlier gradcalc {REPORT_KINDS[option]}; the "
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


# --format's choices: the check report as text, from the reports and --hide-answers.
CHECK_RENDERERS = {"table": render_table, "json": render_json}


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
    type=click.Choice(list(CHECK_RENDERERS)),
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
@click.option(
    "--timeout",
    type=SecondsType(),
    default=f"{DEFAULT_TIMEOUT:g}",
    show_default=True,
    help="Processor time each file may take, in seconds (its problem's first solve "
    f"included; memory: {MEMORY_BUDGET // 2**30} GiB a file); a file over it is that file's "
    "error.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Let --csv/--junit replace an existing file that is not an earlier report of the "
    "same kind (never a file being checked, a problem or a .yaml/.yml file).",
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
    timeout: float,
    force: bool,
    traceback: bool,
) -> ExitStatus:
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
    check_report_paths({"--csv": csv_path, "--junit": junit_path}, files, problem_path, force=force)
    shard_files = take_shard(files, shard)
    if shard is not None and files and not shard_files:
        click.echo(
            f"gradcalc check: shard {shard[0]}/{shard[1]} has no files: "
            f"{len(files)} file{'s' if len(files) != 1 else ''} over {shard[1]} shards",
            err=True,
        )
    settings = Settings(
        problem=problem_path,
        limits=Limits(max_elements=max_elements),
        traceback=traceback,
        timeout=timeout,
        memory=MEMORY_BUDGET,
    )
    _PROBLEMS.clear()  # a problem file may have changed since an earlier run in this process
    reports = [FileReport(source=path, error=line) for path, line in empty]
    reports += check_files(
        shard_files, settings, auto_jobs(len(shard_files)) if jobs is None else jobs
    )
    if not reports and not files:
        click.echo("gradcalc check: no spec files to check", err=True)
        return ExitStatus.ERROR
    outputs = {}
    if csv_path is not None:
        outputs["--csv"] = (csv_path, render_csv(reports))
    if junit_path is not None:
        outputs["--junit"] = (junit_path, render_junit(reports, hide_answers))
    # The report files first: `gradcalc check … --junit r.xml | head` still writes them.
    conflicts = problem_conflicts(outputs, reports)
    write_errors = list(conflicts.values())
    write_errors += write_reports({k: v for k, v in outputs.items() if k not in conflicts})
    click.echo(CHECK_RENDERERS[output_format](reports, hide_answers))
    for line in write_errors:
        click.echo(line, err=True)
    return ExitStatus.ERROR if write_errors else exit_status(reports)
