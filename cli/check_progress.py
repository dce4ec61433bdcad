"""``gradcalc check``'s progress bar: on standard error, only when it is an interactive
terminal and the run has taken a second already (a quick run, a pipe or a CI log never shows
one, and standard output is never touched).

Rich is imported only when the bar is about to be drawn, so a run that shows none pays a
clock read per file (and, past a second, one ``isatty`` call).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

# The bar appears once the run has taken this long (seconds): a quick run stays silent.
SHOW_AFTER_SECONDS = 1.0


def stderr_console() -> Any:
    """A Rich console on standard error when it is an interactive terminal (not under CI,
    not ``TERM=dumb``), else None.  Tests replace it with a console that pretends to be one."""
    if os.environ.get("CI") or sys.stderr is None or not sys.stderr.isatty():
        return None
    from rich.console import Console

    console = Console(stderr=True)
    return console if console.is_terminal and not console.is_dumb_terminal else None


class CheckProgress:
    """Counts the files checked out of ``total``; draws the bar once a second has passed.

    Use as a context manager, calling :meth:`advance` as files finish; the bar is transient
    (gone when the run ends), so the report that follows reads as without it.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.bar: Any = None
        self.task: Any = None
        # False once the terminal test has failed: it is asked once, a second into the run.
        self.possible = total > 0

    def __enter__(self) -> CheckProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def advance(self, files: int = 1) -> None:
        """``files`` more are checked."""
        self.done += files
        if not self.possible:
            return
        if self.bar is None:
            if time.monotonic() - self.started < SHOW_AFTER_SECONDS:
                return
            if not self._start():
                return
        self.bar.update(self.task, completed=self.done)

    def _start(self) -> bool:
        console = stderr_console()
        if console is None:
            self.possible = False
            return False
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("checking"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.bar.add_task("check", total=self.total, completed=self.done)
        self.bar.start()
        return True
