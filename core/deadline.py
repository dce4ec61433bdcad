"""Wall-clock limits for work that may run long (symbolic simplification).

A ``SIGALRM`` timer interrupts the work by raising :class:`TimeUp` in the
main thread.  ``TimeUp`` is a ``BaseException``, like ``KeyboardInterrupt``,
so that library code which catches ``Exception`` cannot swallow it; and the
timer fires again a moment later in case a bare ``except:`` did.  Where no
such timer exists (another thread, or a platform without ``setitimer``) the
work runs unbounded: the ``gradcalc`` command always runs on the main thread
of a POSIX process.

A timer that someone else had set (pytest-timeout, say) is put back when the
limit ends, with the time it had left.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

# After a first TimeUp, the timer fires again this often until the limit ends.
_REFIRE_SECONDS = 0.25


class TimeUp(BaseException):
    """The time allowed for a piece of work ran out."""


class _Alarm:
    armed = False


def timers_available() -> bool:
    """True when :func:`time_limit` can interrupt work here."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _on_alarm(signum: int, frame: object) -> None:
    if _Alarm.armed:
        signal.setitimer(signal.ITIMER_REAL, _REFIRE_SECONDS)
        raise TimeUp()


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`TimeUp` in the body once ``seconds`` have passed.

    Limits do not nest: inside another limit the outer one stays in force.
    """
    if seconds <= 0:
        raise TimeUp()
    if not timers_available() or _Alarm.armed:
        yield
        return
    previous_handler = signal.signal(signal.SIGALRM, _on_alarm)
    started = time.monotonic()
    _Alarm.armed = True  # before the timer starts, so that even a tiny limit is kept
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        _Alarm.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(
            signal.SIGALRM, previous_handler if previous_handler is not None else signal.SIG_DFL
        )
        if previous_delay > 0:
            left = previous_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), previous_interval)


class Budget:
    """A total time allowance shared by many steps, each with its own cap.

    ``run`` raises :class:`TimeUp` when the step's time (its cap, or what is
    left of the total, whichever is less) runs out; ``attempt`` returns a
    fallback instead.
    """

    def __init__(self, total_seconds: float):
        self.total_seconds = total_seconds
        self.end = time.monotonic() + total_seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def run(self, work: Callable[[], T], *, cap: float | None = None) -> T:
        seconds = self.remaining() if cap is None else min(cap, self.remaining())
        with time_limit(seconds):
            return work()

    def attempt(self, work: Callable[[], T], fallback: T, *, cap: float | None = None) -> T:
        """``work()``, or ``fallback`` when its time runs out."""
        try:
            return self.run(work, cap=cap)
        except TimeUp:
            return fallback
