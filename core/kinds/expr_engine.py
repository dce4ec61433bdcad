"""The symbolic engine of kind ``expr``: how SymPy values are written (:class:`Notation`),
one result entry (:class:`Entry`), whether two expressions are equal (:class:`Verdict`),
and :class:`Engine`, which does every step that may run long under one time
:class:`~gradcalc.core.deadline.Budget`: differentiating, simplifying, deciding equality,
evaluating at a point.

SymPy is imported inside the functions that need it, never at module import: importing the
kind (the registry does, to check its sections) and every other command stay fast.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from gradcalc.core import spec as common
from gradcalc.core.deadline import Budget, TimeUp
from gradcalc.core.errors import FieldPath, LimitError
from gradcalc.core.exact import DIGIT_BITS
from gradcalc.core.records import record

if TYPE_CHECKING:
    from gradcalc.core.kinds.expr import ExprProblem

# A derivative larger than this many expression nodes is neither simplified nor differentiated again.
MAX_NODES = 20_000
PROBE_POINTS = 12  # points an unproved identity or answer is tested at

# Values tried for variables when looking for a counterexample: small, exact, mostly positive
# first (log and sqrt need positive arguments), then of both signs.
_POSITIVE_VALUES = tuple(
    Fraction(n, d) for n, d in ((1, 2), (3, 4), (1, 1), (5, 4), (3, 2), (2, 1), (1, 3), (5, 2))
)
_SIGNED_VALUES = _POSITIVE_VALUES + tuple(-v for v in _POSITIVE_VALUES)


@record(frozen=True)
class Seconds:
    """The time limits of one run, in seconds (core/kinds/expr.py's TOTAL_SECONDS, …, read
    when the run starts)."""

    total: float  # all symbolic work of one run
    simplify: float  # simplifying one shown result
    check: float  # simplifying one identity or one expected-answer difference
    probe: float  # evaluating one expression at one point


def sympy_module():
    import sympy

    return sympy


# ---------------------------------------------------------------------------
# Notation: how symbolic values are written


class Notation:
    """Writes SymPy values in the spec's own notation.

    A derivative of a generic function applied to plain variables,
    ``Derivative(f(x, y), x)``, is written ``f_x`` (the name a spec uses for
    it) and, in LaTeX, ``f_{x}``.  It is replaced by a *placeholder* symbol of
    that name before printing, and before a change of variables, where it
    stands for ∂f/∂x at the substituted point.
    """

    def __init__(self) -> None:
        self.sp = sympy_module()
        self.latex_names: dict[Any, str] = {}

    def placeholder(self, name: str, latex: str) -> Any:
        symbol = self.sp.Symbol(name, real=True)
        self.latex_names[symbol] = latex
        return symbol

    def placeholders(self, expr: Any) -> Any:
        """``expr`` with each generic derivative of plain variables replaced by its placeholder."""
        sp = self.sp
        from sympy.core.function import AppliedUndef

        mapping = {}
        for derivative in expr.atoms(sp.Derivative):
            inner = derivative.expr
            args = inner.args if isinstance(inner, AppliedUndef) else ()
            plain = all(a.is_Symbol and not a.is_Dummy for a in args) and len(set(args)) == len(
                args
            )
            if not args or not plain:  # g(x*y): its derivative stays a Subs, printed g′(x*y)
                continue
            order = [v for v, count in derivative.variable_count for _ in range(int(count))]
            function = inner.func.__name__
            name = function + "_" + "_".join(v.name for v in order)
            latex = f"{function}_{{{' '.join(sp.latex(v) for v in order)}}}"
            mapping[derivative] = self.placeholder(name, latex)
        return expr.xreplace(mapping) if mapping else expr

    def text(self, expr: Any) -> str:
        return _printer().doprint(self.placeholders(expr))

    def latex(self, expr: Any) -> str:
        return self.sp.latex(self.placeholders(expr), symbol_names=self.latex_names)

    def factor(self, expr: Any) -> str:
        """A factor of a product: parenthesized unless it is a power, a function or a symbol."""
        from sympy.printing.precedence import PRECEDENCE, precedence

        text = self.text(expr)
        if precedence(expr) < PRECEDENCE["Pow"] or text.startswith("-"):
            return f"({text})"
        return text


@functools.cache
def _printer() -> Any:
    """SymPy's str printer, writing the derivative of a one-argument generic function at a
    point, Subs(Derivative(g(ξ), ξ), ξ, x*y), as g′(x*y)."""
    from sympy import Derivative
    from sympy.core.function import AppliedUndef
    from sympy.printing.str import StrPrinter

    class Printer(StrPrinter):
        def _print_Subs(self, expr: Any) -> str:
            inner, variables, point = expr.args
            if (
                isinstance(inner, Derivative)
                and isinstance(inner.expr, AppliedUndef)
                and tuple(inner.expr.args) == tuple(variables)
                and len(variables) == 1
            ):
                order = sum(int(count) for _, count in inner.variable_count)
                marks = "′" * order if order <= 3 else f"^({order})"
                return f"{inner.expr.func.__name__}{marks}({self._print(point[0])})"
            return super()._print_Subs(expr)

    return Printer()


# ---------------------------------------------------------------------------
# Entries, verdicts and the engine


@dataclass(eq=False)
class Entry:
    """One symbolic result entry: its label (∂f/∂x), its raw and shown forms."""

    label: str
    raw: Any
    shown: Any = None
    simplified: bool = True  # False: the time limit (or size) left it as differentiated
    exact_at: Any = None  # exact value at the point (SymPy), if computed
    number_at: Any = None  # Fraction or float at the point; None when not a real number
    note_at: str = ""  # why there is no number at the point


@dataclass(eq=False)
class Verdict:
    """Whether ``lhs = rhs`` holds: proved, numerical (holds at test points), refuted or undecided."""

    status: str
    simplified: Any = None  # lhs − rhs simplified (None: not within the time limit)
    witness: dict[str, Any] = field(default_factory=dict)  # name -> value where it fails
    left: float | None = None
    right: float | None = None
    points: int = 0

    @property
    def ok(self) -> bool:
        return self.status in ("proved", "numerical")

    @property
    def error(self) -> float:
        if self.left is None or self.right is None:
            return 0.0
        return abs(self.left - self.right)


class Engine:
    """The symbolic work of one run, all of it under one time budget."""

    def __init__(self, problem: ExprProblem, budget: Budget, seconds: Seconds):
        self.sp = sympy_module()
        self.p = problem
        self.budget = budget
        self.seconds = seconds
        self.notation = Notation()
        self.rng = random.Random(20240607)

    # required steps ----------------------------------------------------------
    def required(self, work: Callable[[], Any], path: FieldPath, what: str) -> Any:
        try:
            return self.budget.run(work)
        except TimeUp:
            raise LimitError(
                path,
                f"{what} took longer than the time limit of {self.seconds.total:g} s; "
                "this expression is too large for a symbolic answer",
            ) from None
        except RecursionError:
            raise LimitError(path, f"{what}: the expression is nested too deeply") from None

    def diff(self, expr: Any, symbol: Any, path: FieldPath) -> Any:
        return self.required(lambda: self.sp.diff(expr, symbol), path, "differentiating")

    def canonical(self, expr: Any) -> Any:
        """Placeholders for generic derivatives; under a substitution, in the new variables."""
        expr = self.notation.placeholders(expr)
        if self.p.substitution:
            mapping = {self.p.symbols[v]: e for v, e in self.p.substitution.items()}
            expr = expr.xreplace(mapping)
        return expr

    # simplification ----------------------------------------------------------
    def tidy(self, entry: Entry) -> None:
        """Simplify an entry for display: the shortest of the raw form, the form over a
        common denominator (cheap) and SymPy's simplify (within seconds.simplify).  A simplify
        result that brings in functions the raw form does not use (exp rewritten as cosh,
        say) is not taken: it would not read as the student's own derivation."""
        sp = self.sp
        raw = entry.raw
        if raw.is_Atom or raw.is_number:
            entry.shown = raw
            return
        if too_large(raw):
            entry.shown, entry.simplified = raw, False
            return
        candidates = [raw]
        combined = self.budget.attempt(lambda: sp.together(raw), None, cap=self.seconds.probe)
        if combined is not None:
            candidates.append(combined)
        start = combined if combined is not None else raw
        result = self.budget.attempt(lambda: sp.simplify(start), None, cap=self.seconds.simplify)
        if result is None:
            entry.simplified = False
        elif {type(f) for f in result.atoms(sp.Function)} <= {
            type(f) for f in raw.atoms(sp.Function)
        }:
            candidates.append(result)
        # The shortest; on a tie the later (more worked) form.
        entry.shown = min(reversed(candidates), key=sp.count_ops)

    # deciding equality -------------------------------------------------------
    def decide(
        self, lhs: Any, rhs: Any, tolerance: common.Tolerance, *, point: dict[Any, Any] | None
    ) -> Verdict:
        """Is lhs = rhs?  Proved when the difference simplifies to 0; otherwise tested at
        ``point`` (if given) and at up to PROBE_POINTS points, where a difference beyond
        atol + rtol·|rhs| refutes it."""
        sp = self.sp
        difference = lhs - rhs
        if difference == 0:
            return Verdict("proved", simplified=sp.Integer(0))
        simplified = None
        if not too_large(difference):
            # Cheap rewrites settle most homework differences; simplify is tried after them.
            for rewrite in (sp.together, sp.expand, sp.simplify):
                cap = self.seconds.check if rewrite is sp.simplify else self.seconds.probe
                simplified = self.budget.attempt(lambda r=rewrite: r(difference), None, cap=cap)
                if simplified == 0:
                    return Verdict("proved", simplified=simplified)
        usable = 0
        for values in self.points(difference, point):
            left, right = self.evaluate(lhs, values), self.evaluate(rhs, values)
            if left is None or right is None:
                continue
            usable += 1
            if abs(left - right) > float(tolerance.atol) + float(tolerance.rtol) * abs(right):
                witness = {self._point_name(k): as_fraction(v) for k, v in values.items()}
                return Verdict("refuted", simplified, witness, left, right, usable)
            if not values:
                break  # a constant: one evaluation decides
        if usable >= 3 or (usable and not self._unknowns(difference)):
            return Verdict("numerical", simplified, points=usable)
        return Verdict("undecided", simplified, points=usable)

    def _unknowns(self, expr: Any) -> list[Any]:
        """What a test point must give values to: the variables (in the spec's order), other
        symbols (placeholders such as f_x), then opaque values such as f(r*cos(theta), …)."""
        sp = self.sp
        from sympy.core.function import AppliedUndef

        opaque = set(expr.atoms(sp.Derivative, sp.Subs))
        opaque |= {
            a for a in expr.atoms(AppliedUndef) if not any(a.has(o) or o.has(a) for o in opaque)
        }
        inside = {s for o in opaque for s in o.free_symbols}
        free = expr.free_symbols
        variables = [s for s in self.p.all_symbols.values() if s in free]
        others = sorted((s for s in free if s not in variables and s not in inside), key=str)
        return [*variables, *others, *sorted(opaque, key=str)]

    def _point_name(self, key: Any) -> str:
        return self.notation.text(key)

    def points(self, expr: Any, point: dict[Any, Any] | None):
        """The spec's point first (when it gives every variable), then small exact values."""
        unknowns = self._unknowns(expr)
        variables = set(self.p.all_symbols.values())
        if point is not None and all(u in point for u in unknowns if u in variables):
            yield {u: point[u] if u in point else self.rng.choice(_SIGNED_VALUES) for u in unknowns}
        for attempt in range(PROBE_POINTS):
            pool = _POSITIVE_VALUES if attempt < PROBE_POINTS // 2 else _SIGNED_VALUES
            yield {
                u: self.sp.Rational(
                    *_pair(self.rng.choice(pool if u in variables else _SIGNED_VALUES))
                )
                for u in unknowns
            }
            if not unknowns:
                return

    def evaluate(self, expr: Any, values: dict[Any, Any]) -> float | None:
        """A real float of ``expr`` at ``values`` (30 digits inside), or None where it is
        undefined, complex, or too slow to evaluate."""
        sp = self.sp
        opaque = {k: sp.sympify(v) for k, v in values.items() if not k.is_Symbol}
        symbols = {k: sp.sympify(v) for k, v in values.items() if k.is_Symbol}

        def work() -> Any:
            target = expr.xreplace(opaque) if opaque else expr
            return target.evalf(30, subs=symbols) if symbols else target.evalf(30)

        try:
            value = self.budget.run(work, cap=self.seconds.probe)
        except TimeUp:
            return None
        except (TypeError, ValueError, ZeroDivisionError, ArithmeticError, RecursionError):
            return None
        return real_number(value)

    def magnitude_words(self, exact: Any) -> str:
        """``≈ 5.19702E-896`` for a value beyond float64; ``≈ 10^(4.34294E+999)`` when its
        exponent is too long to write out (exp(x**1000) at 10, whose formatting raised
        InvalidOperation after seconds).  The exponent comes first, from the log (cheap: no
        digits of the value), each step within seconds.probe."""
        sp = self.sp

        def exponent() -> Any:
            return sp.N(sp.expand_log(sp.log(abs(exact)), force=True) / sp.log(10), 6)

        def digits() -> str:
            return f"≈ {sp.N(exact, 6)}"

        failures = (TimeUp, ArithmeticError, TypeError, ValueError, RecursionError)
        try:
            power = self.budget.run(exponent, cap=self.seconds.probe)
            if abs(power) < 10**5:
                return self.budget.run(digits, cap=self.seconds.probe)
            return f"≈ {'−' if exact.is_negative else ''}10^({power})"
        except failures:
            return "too costly to evaluate within the time limit"

    # values at the point -----------------------------------------------------
    def at_point(self, entry: Entry, point: dict[Any, Any]) -> None:
        """Exact value and number of ``entry`` at ``point`` (symbol -> exact value), or a
        note saying why there is no number."""
        sp = self.sp
        expr = self.notation.placeholders(entry.raw)
        if has_opaque(expr) or any(s not in point for s in expr.free_symbols):
            entry.note_at = "not a number: it involves a generic function"
            return
        exact = None
        if exact_is_cheap(expr, point):
            exact = self.budget.attempt(lambda: expr.xreplace(point), None, cap=self.seconds.probe)
        if exact is not None and exact.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            entry.note_at = "undefined at this point"
            return
        if exact is not None and too_many_digits(exact):
            # Beyond the exact limit (and Python's 4,300-digit printing limit): a float64
            # number, or where float64 under- or overflows, the value in words.
            number = self.evaluate(expr, point)
            if number is not None and number != 0 and math.isfinite(number):
                entry.number_at = number
            else:
                entry.note_at = (
                    f"{self.magnitude_words(exact)}, beyond float64 (exactly, more than "
                    f"{common.EXACT_DIGITS:,} digits)"
                )
            return
        entry.exact_at = exact
        if exact is not None and exact.is_Rational:
            entry.number_at = Fraction(int(exact.p), int(exact.q))
            return
        number = self.evaluate(expr, point)
        entry.number_at = number if number is None or math.isfinite(number) else None
        if entry.number_at is None and exact is not None and exact.is_extended_real:
            # A real value that float64 did not give (exp(x**1000) at 10): not "undefined".
            entry.note_at = (
                f"{self.magnitude_words(exact)}, no float64 value (beyond its range, or too "
                "costly to evaluate)"
            )
        elif entry.number_at is None:
            entry.note_at = "undefined (or not real) at this point"


def _pair(value: Fraction) -> tuple[int, int]:
    return value.numerator, value.denominator


def as_fraction(value: Any) -> Fraction | float:
    if isinstance(value, Fraction):
        return value
    if getattr(value, "is_Rational", False):
        return Fraction(int(value.p), int(value.q))
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def real_number(value: Any) -> float | None:
    if not getattr(value, "is_number", False):
        return None
    try:
        number = complex(value)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(number.real) and math.isfinite(number.imag)):
        return None
    if abs(number.imag) > 1e-12 * (1 + abs(number.real)):
        return None
    return number.real


def too_large(expr: Any) -> bool:
    from sympy import preorder_traversal

    for count, _ in enumerate(preorder_traversal(expr)):
        if count >= MAX_NODES:
            return True
    return False


def has_opaque(expr: Any) -> bool:
    sp = sympy_module()
    from sympy.core.function import AppliedUndef

    return bool(expr.atoms(sp.Derivative, sp.Subs, AppliedUndef))


def too_many_digits(value: Any) -> bool:
    """True when an exact value holds a rational with more than EXACT_DIGITS digits
    (x**1000 at 123456789/987654321 has 9,000): it is shown as a float64 number instead."""
    sp = sympy_module()
    return any(
        abs(int(r.p)).bit_length() > DIGIT_BITS or int(r.q).bit_length() > DIGIT_BITS
        for r in value.atoms(sp.Rational)
    )


def exact_is_cheap(expr: Any, point: dict[Any, Any]) -> bool:
    """Exact substitution could build huge integers (x**1000 at a 300-bit x); allow it when
    the largest power times the largest value's bit length stays modest."""
    sp = sympy_module()
    exponent = max((abs(int(p.exp)) for p in expr.atoms(sp.Pow) if p.exp.is_Integer), default=1)
    bits = 1
    for value in point.values():
        for number in value.atoms(sp.Rational):
            bits = max(bits, abs(int(number.p)).bit_length(), int(number.q).bit_length())
    return exponent * bits <= 200_000
