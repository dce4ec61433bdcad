"""Limits for work that may run long: wall-clock time (symbolic simplification) and processor
time (each file of ``gradcalc check``), on one mechanism.

An interval timer interrupts the work by raising an exception in the main thread:
:class:`time_limit` counts real time (``SIGALRM``) and raises :class:`TimeUp`;
:class:`processor_limit` counts processor time (``SIGPROF``, which does not depend on how
many other jobs share the machine) and raises the exception it is given.  Both are
``BaseException``, like ``KeyboardInterrupt``, so that library code which catches
``Exception`` cannot swallow them; and the timer fires again a moment later in case a bare
``except:`` did.  Where no such timer exists (another thread, or a platform without
``setitimer``) the work runs unbounded: the ``gradcalc`` command always runs on the main
thread of a POSIX process.

A timer that someone else had set (pytest-timeout, say) is put back when the limit ends,
with the time it had left.
"""

from __future__ import annotations

import gc
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

T = TypeVar("T")

# After a first interruption, the timer fires again this often until the limit ends.
_REFIRE_SECONDS = 0.25
# An alarm that arrives inside the limit's own __enter__ (before the body, and so before the
# with statement would run __exit__), a garbage-collection callback or a __del__ method (where
# an exception is swallowed and only printed) is put off by this much, to land in the work.
_DEFER_SECONDS = 0.005


class TimeUp(BaseException):
    """The time allowed for a piece of work ran out."""


class _Clock:
    """One interval timer, its signal, how its time is read, and the limit in force on it."""

    def __init__(self, signal_name: str, timer_name: str, elapsed: Callable[[], float]) -> None:
        self.signum = getattr(signal, signal_name, None)
        self.which = getattr(signal, timer_name, None)
        self.elapsed = elapsed
        self.armed = False
        self.owner: _Limit | None = None

    def disarm(self) -> None:
        """Stop the timer and its re-firing (first the flag: an alarm already on its way then
        does nothing)."""
        self.armed = False
        signal.setitimer(self.which, 0)
        self.owner = None

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        owner = self.owner
        if not self.armed or owner is None:
            return
        where = _where(frame, owner)
        if where == "ending":
            self.disarm()
        elif where in ("starting", "callback"):
            signal.setitimer(self.which, _DEFER_SECONDS)
        else:
            signal.setitimer(self.which, _REFIRE_SECONDS)
            raise owner.error()


_Alarm = _Clock("SIGALRM", "ITIMER_REAL", time.monotonic)
_Profile = _Clock("SIGPROF", "ITIMER_PROF", time.process_time)


def timers_available() -> bool:
    """True when :func:`time_limit` can interrupt work here."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _where(frame: FrameType | None, owner: _Limit) -> str:
    """Where an alarm arrived: ``"ending"`` in the limit's own exit (the work is over),
    ``"starting"`` in its own entry (the work has not begun: an exception there would leave
    the limit armed with no exit to end it), ``"callback"`` in a gc callback or ``__del__``
    (an exception there is lost), else ``"work"``."""
    callbacks = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    inside_callback = False
    while frame is not None:
        code = frame.f_code
        if code is _EXIT_CODE and frame.f_locals.get("self") is owner:
            return "ending"
        if code is _ENTER_CODE and frame.f_locals.get("self") is owner:
            return "starting"
        if code in callbacks or code.co_name == "__del__":
            inside_callback = True
        frame = frame.f_back
    return "callback" if inside_callback else "work"


class _Limit:
    """Raise ``error`` in the body once ``seconds`` have passed on ``clock``.

    The timer, and its re-firing, end with the body: however the body ends, and even when
    the alarm arrives just as it ends, nothing fires after the ``with`` statement; an alarm
    that arrives before the body has begun (a tiny limit) is put off into the body.  (A class
    and not a generator: the alarm handler recognises this ``__enter__`` and ``__exit__`` on
    the stack, and no other code runs between them and the body.)  Limits on one clock do not
    nest: inside another limit the outer one stays in force.
    """

    clock: _Clock

    def __init__(self, seconds: float, error: type[BaseException] = TimeUp) -> None:
        self.seconds = seconds
        self.error = error
        self.active = False

    def __enter__(self) -> None:
        if self.seconds <= 0:
            raise self.error()
        clock = self.clock
        if not timers_available() or clock.which is None or clock.armed:
            return
        self.active = True
        clock.owner = self
        self.previous_handler = signal.signal(clock.signum, clock.on_signal)
        self.started = clock.elapsed()
        clock.armed = True  # before the timer starts, so that even a tiny limit is kept
        self.previous = signal.setitimer(clock.which, self.seconds)

    def __exit__(self, *exc_info: object) -> None:
        if not self.active:
            return
        self.active = False
        clock = self.clock
        clock.disarm()
        previous_handler = self.previous_handler
        signal.signal(
            clock.signum, previous_handler if previous_handler is not None else signal.SIG_DFL
        )
        previous_delay, previous_interval = self.previous
        if previous_delay > 0:
            left = previous_delay - (clock.elapsed() - self.started)
            signal.setitimer(clock.which, max(left, 0.001), previous_interval)


_ENTER_CODE = _Limit.__enter__.__code__
_EXIT_CODE = _Limit.__exit__.__code__


class time_limit(_Limit):  # noqa: N801 - used like a function: ``with time_limit(5): ...``
    """Raise :class:`TimeUp` in the body once ``seconds`` of real time have passed."""

    clock = _Alarm


class processor_limit(_Limit):  # noqa: N801 - used like a function
    """Raise ``error`` in the body once it has used ``seconds`` of processor time."""

    clock = _Profile


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
