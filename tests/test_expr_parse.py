"""The safe expression reader of `gradcalc expr` and the time limits it runs under."""

from __future__ import annotations

import gc
import signal
import sys
import time

import pytest

from gradcalc.core import deadline
from gradcalc.core.deadline import Budget, TimeUp, time_limit, timers_available
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.expr_parse import GenericFunctions, Names, parse, tokenize

sympy = pytest.importorskip("sympy")

X, Y = sympy.symbols("x y", real=True)


def read(text: str, *, generic: GenericFunctions | None = None, equation: bool = False):
    names = Names({"x": X, "y": Y}, describe="the variables are x, y")
    return parse(text, ("function",), names, generic or GenericFunctions(), allow_equation=equation)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("x**2*y + sin(x)", X**2 * Y + sympy.sin(X)),
        ("x^2 - 3*y", X**2 - 3 * Y),
        ("2^3^2", sympy.Integer(512)),  # right-associative, as in maths and Python
        ("-x**2", -(X**2)),  # the power binds tighter than the sign
        ("2**-1", sympy.Rational(1, 2)),
        ("0.1 + 1e-3 + .5", sympy.Rational(601, 1000)),  # decimals are exact
        ("x·y − 1", X * Y - 1),  # typeset operators read as * and -
        ("log(x, 2)", sympy.log(X) / sympy.log(2)),
        ("ln(x) + exp(1)", sympy.log(X) + sympy.E),
        ("sigmoid(x)", 1 / (1 + sympy.exp(-X))),
        ("softplus(y)", sympy.log(1 + sympy.exp(Y))),
        ("atan2(y, x) + pi + e", sympy.atan2(Y, X) + sympy.pi + sympy.E),
        ("abs(x) + sqrt(y)", sympy.Abs(X) + sympy.sqrt(Y)),
        ("(((x)))", X),
    ],
)
def test_grammar(text: str, value) -> None:
    assert read(text).value == value


def test_an_unknown_function_called_is_generic_and_keeps_its_arguments() -> None:
    generic = GenericFunctions()
    value = read("f(x, y) + g(x*y)", generic=generic).value
    assert set(generic.arity) == {"f", "g"} and generic.arity == {"f": 2, "g": 1}
    assert value.diff(X) != 0
    with pytest.raises(SpecError, match="first called with 2 arguments, here with 1"):
        read("f(x)", generic=generic)


def test_an_equation_only_where_allowed() -> None:
    parsed = read("x**2 = y", equation=True)
    assert parsed.sides == (X**2, Y) and parsed.value == X**2 - Y
    with pytest.raises(SpecError, match="'=' is only allowed in an identity"):
        read("x = y")
    with pytest.raises(SpecError, match="only one '='"):
        read("x = y = 1", equation=True)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("__import__('os').system('true')", "names starting with '_'"),
        ("x.__class__", "attribute access"),
        ("(x).real", "attribute access"),
        ("sin.__call__(x)", "attribute access"),
        ("__builtins__", "names starting with '_'"),
        ("lambda: 0", "Python keyword"),
        ("x if y else 0", "Python keyword"),
        ("[c for c in x]", "brackets"),
        ("x[0]", "brackets"),
        ("{x}", "braces"),
        ("'x'", "quotes"),
        ('"x"', "quotes"),
        ("eval(x)", "not a function of this language"),
        ("open(x)", "not a function of this language"),
        ("getattr(x, y)", "not a function of this language"),
        ("globals()", "needs an argument"),
        ("x; y", "';' is not allowed"),
        ("x @ y", "not an operator"),
        ("x % y", "not an operator"),
        ("x\\\ny", "not an operator"),
        ("1.2.3", "at most one decimal point"),
        ("x + .", "only allowed inside a number"),
        ("x\x00", "not allowed"),
        ("2x", "missing operator between '2' and 'x'"),
        ("x y", "missing operator"),
        ("sin x", "sin is a function"),
        ("sinn(x)", "did you mean 'sin'"),
        ("x(1)", "not a function"),
        ("pi(1)", "constant, not a function"),
        ("z", "unknown name 'z'"),
        ("(x", "expected ')'"),
        ("x)", "without a matching '('"),
        ("", "empty"),
        ("x +", "ends too early"),
        ("1/0", "division by zero"),
        ("1/(x - x)", "division by zero"),
        ("log(0)", "undefined"),
        ("sqrt(-1)", "complex numbers"),
        ("0**-1", "divides by zero"),
    ],
)
def test_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(SpecError, match=None) as caught:
        read(text)
    message = str(caught.value)
    assert reason in message, message
    assert message.startswith("function: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("10**10**10", "exponents beyond"),
        ("123456789**900", "more than 10,000 bits"),
        ("x**2000", "exponents beyond"),
        ("(x**1000)**1000", "exponents beyond"),
        ("1" * 101, "at most 100 digits"),
        ("1e400", "within ±300"),
        ("(" * 70 + "x" + ")" * 70, "nested more than"),
        ("-" * 70 + "x", "nested more than"),
        ("x+" * 1000 + "x", "characters, above the limit"),
    ],
)
def test_size_limits(text: str, reason: str) -> None:
    with pytest.raises(LimitError) as caught:
        read(text)
    assert reason in str(caught.value)


def test_the_error_names_the_character() -> None:
    with pytest.raises(SpecError) as caught:
        read("x + y.real")
    assert "(at character 6 of 'x + y.real')" in str(caught.value)


def test_tokens_never_include_unknown_characters() -> None:
    kinds = [token.kind for token in tokenize("sin(x)**2 + 3.5e-1")]
    assert kinds == ["name", "op", "name", "op", "op", "number", "op", "number", "end"]


# ---------------------------------------------------------------------------
# Time limits


needs_timers = pytest.mark.skipif(not timers_available(), reason="needs SIGALRM timers")


@needs_timers
def test_time_limit_interrupts_a_busy_loop_promptly() -> None:
    started = time.monotonic()
    with pytest.raises(TimeUp), time_limit(0.2):
        while True:
            pass
    assert time.monotonic() - started < 1.0
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@needs_timers
def test_time_limit_is_not_swallowed_by_except_exception() -> None:
    started = time.monotonic()
    with pytest.raises(TimeUp), time_limit(0.1):
        while True:
            try:
                sum(range(1000))
            except Exception:  # noqa: BLE001 - library code that catches everything
                pass
    assert time.monotonic() - started < 1.0


@needs_timers
def test_time_limit_puts_back_an_earlier_timer() -> None:
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.6)
        with time_limit(5):
            pass
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < left <= 0.6
        time.sleep(0.8)
        assert fired == [True]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def busy_until_time_up(seconds: float = 5.0) -> None:
    """Spin until TimeUp arrives; fail (rather than hang) if it never does."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        pass
    pytest.fail("the time limit never fired")


def assert_no_limit_left(handler: object) -> None:
    """No timer left running, the earlier handler back, and a new limit works again."""
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is handler
    with pytest.raises(TimeUp), time_limit(0.05):
        busy_until_time_up()


@needs_timers
def test_an_alarm_arriving_as_the_limit_ends_does_not_outlive_it() -> None:
    """The alarm is raised at the first Python call after the body: the limit's own exit.
    It must not escape from there, and neither the timer nor its re-firing may stay armed."""
    handler = signal.getsignal(signal.SIGALRM)

    def alarm_at_next_call(frame, event: str, arg) -> None:
        if event == "call":
            sys.setprofile(None)
            signal.raise_signal(signal.SIGALRM)

    with time_limit(5):
        sys.setprofile(alarm_at_next_call)
    sys.setprofile(None)
    assert_no_limit_left(handler)


@needs_timers
def test_an_alarm_arriving_before_the_body_does_not_outlive_the_limit() -> None:
    """The alarm is raised inside the limit's own __enter__, just after the timer starts: the
    with statement has no __exit__ to run yet, so TimeUp there would leave the limit armed."""
    handler = signal.getsignal(signal.SIGALRM)

    def alarm_after_setitimer(frame, event: str, arg) -> None:
        if event == "c_return" and arg is signal.setitimer:
            sys.setprofile(None)
            signal.raise_signal(signal.SIGALRM)

    sys.setprofile(alarm_after_setitimer)
    try:
        with time_limit(5):
            sys.setprofile(None)
    except TimeUp:
        pass
    finally:
        sys.setprofile(None)
    assert_no_limit_left(handler)


@needs_timers
def test_tiny_limits_in_a_loop_leave_nothing_behind() -> None:
    handler = signal.getsignal(signal.SIGALRM)
    for _ in range(300):
        try:
            with time_limit(1e-6):
                pass
        except TimeUp:
            pass
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        assert not deadline._Alarm.armed
    assert_no_limit_left(handler)


@needs_timers
def test_a_limit_that_ran_out_leaves_nothing_behind() -> None:
    handler = signal.getsignal(signal.SIGALRM)
    for seconds in (0.01, 0.02):
        with pytest.raises(TimeUp), time_limit(seconds):
            busy_until_time_up()
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    try:
        time.sleep(2 * deadline._REFIRE_SECONDS)  # a re-fire would land here
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert fired == []
    assert_no_limit_left(handler)


@needs_timers
def test_an_alarm_inside_a_gc_callback_is_put_off_to_the_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Raised inside a garbage-collection callback (hypothesis registers one), TimeUp would be
    swallowed and printed as 'Exception ignored'; it arrives in the work a moment later."""
    lost: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", lost.append)
    calls = []

    def callback(phase: str, info: dict) -> None:
        if phase == "start" and not calls:
            calls.append(phase)
            signal.raise_signal(signal.SIGALRM)

    gc.callbacks.append(callback)
    try:
        with pytest.raises(TimeUp), time_limit(5):
            gc.collect()
            busy_until_time_up()
    finally:
        gc.callbacks.remove(callback)
    assert calls and lost == []


@needs_timers
def test_budget_gives_the_fallback_when_time_runs_out() -> None:
    budget = Budget(10)

    def forever() -> str:
        while True:
            pass

    started = time.monotonic()
    assert budget.attempt(forever, "fallback", cap=0.1) == "fallback"
    assert time.monotonic() - started < 1.0
    assert budget.attempt(lambda: "done", "fallback", cap=1) == "done"


def test_an_exhausted_budget_refuses_at_once() -> None:
    budget = Budget(0)
    with pytest.raises(TimeUp):
        budget.run(lambda: "never")


class _Spent(BaseException):
    pass


@needs_timers
def test_processor_limit_is_the_same_mechanism_on_the_processor_clock() -> None:
    """check's per-file budget: its own exception, the same guarantees as time_limit (a tiny
    limit leaves nothing behind), and a real-time limit inside it works on its own clock."""
    handler = signal.getsignal(signal.SIGPROF)
    with pytest.raises(_Spent), deadline.processor_limit(0.05, _Spent):
        busy_until_time_up()
    for _ in range(300):
        try:
            with deadline.processor_limit(1e-6, _Spent):
                pass
        except _Spent:
            pass
        assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
    with deadline.processor_limit(30, _Spent):
        with pytest.raises(TimeUp), time_limit(0.05):
            busy_until_time_up()
        assert deadline._Profile.armed and not deadline._Alarm.armed
    assert not deadline._Profile.armed
    assert signal.getsignal(signal.SIGPROF) is handler
