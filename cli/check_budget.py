"""Each file's budget in ``gradcalc check``: processor time and address space.

A file over its budget is that file's error (docs/check.md: "Budgets"); :class:`OverBudget`
and MemoryError carry that to cli/check_jobs.py, which writes the error line with
:func:`budget_words` and :func:`memory_words`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from gradcalc.core.errors import SpecError

# Each file's budget (docs/check.md: "Budgets").  Time is processor time, counted by a SIGPROF
# timer: it does not depend on how many other jobs share the machine, and it leaves SIGALRM to
# the solvers' own limits (expr's 20 s).  Memory is address space the file may add to the
# process's (RLIMIT_AS), so a runaway file gets a MemoryError instead of the OOM killer.
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 24 * 3600.0
MEMORY_BUDGET = 2 * 1024**3


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


def budget_words(timeout: float) -> str:
    return f"the time budget of {timeout:g} s of processor time (--timeout)"


def memory_words(memory: int | None) -> str:
    if memory is None:
        return "more memory than this machine has"
    return f"more than the memory budget of {memory // 2**20:,} MiB"


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
