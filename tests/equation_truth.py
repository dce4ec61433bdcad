"""Is every equation gradcalc displays true?  A checker for the Markdown output.

Each worked step is laid out in a ``text`` block as ``lhs = … = numbers = value``, its parts
on continuation lines that start with ``=``.  Every part written only with numbers (integers,
fractions, decimals), + − · × / ^ ², parentheses, ⌈ ⌉ ⌊ ⌋, |…| and the functions exp, log,
sqrt, tanh, max and min is evaluated, and all such parts of one equation must agree:

- exactly, when every number in them is exact (an integer or p/q);
- within the stated precision otherwise: a decimal such as 0.844085 stands for every number
  that rounds to it (± half a unit of its last digit), so each part is an interval and the
  intervals of one equation must meet.  A number without a point or exponent is exact (a
  rounded one reads ``≈12``).

A sum cut short must say so where it cuts (``+ …``); an empty part (``=  =``) and a part
undefined as written (``log 0``, ``1/(0·1)``) are false; the symbolic and numeric lines of a
sum of products have the same number of terms, and each symbol a table of the report shows
(``x_01`` from **x**) stands over its own value.  A left side naming a result entry (``y_01``,
``∂L/∂x_10``) must equal that entry of the JSON results, an output-size line (``H_out``) the
JSON output_shape; tie statements name entries that hold the tied value; expr's values
tables agree with their exact column.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from formula_truth import (
    DECIMAL_PREFIX,
    difference_coefficients,
    entry_formula,
    formula,
    formula_symbols,
    same,
)

# -- intervals -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    low: Fraction
    high: Fraction

    @staticmethod
    def point(value: Fraction) -> Interval:
        return Interval(value, value)

    @property
    def exact(self) -> bool:
        return self.low == self.high

    def __add__(self, other: Interval) -> Interval:
        return Interval(self.low + other.low, self.high + other.high)

    def __neg__(self) -> Interval:
        return Interval(-self.high, -self.low)

    def __sub__(self, other: Interval) -> Interval:
        return self + (-other)

    def __mul__(self, other: Interval) -> Interval:
        corners = [a * b for a in (self.low, self.high) for b in (other.low, other.high)]
        return Interval(min(corners), max(corners))

    def __truediv__(self, other: Interval) -> Interval:
        if other.exact and other.low == 0:
            raise Undefined("division by 0")
        if other.low <= 0 <= other.high:
            raise Unevaluable("division by an interval holding 0")
        return self * Interval(1 / other.high, 1 / other.low)

    def meets(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high

    def widened(self) -> Interval:
        """Wider by FLOAT_SLACK of its size: a part with exp or log (not exact) stands for a
        float64 result too (123 + log(1 + exp(−123)) is 123 in float64), within that slack."""
        if self.exact:
            return self
        slack = max(abs(self.low), abs(self.high)) * FLOAT_SLACK
        return Interval(self.low - slack, self.high + slack)

    def text(self) -> str:
        if self.exact:
            return str(self.low)
        return f"[{float(self.low):.12g}, {float(self.high):.12g}]"


class Unevaluable(Exception):
    """A part that is not written with numbers only (symbols, words, an ellipsis)."""


class Undefined(Exception):
    """A part written with numbers only that has no value: log 0, 1/0."""


# Float results of exp, log, … are widened by this much (relative) to stand for exact values.
FLOAT_SLACK = Fraction(1, 10**12)


def _monotone(function: Callable[[float], float]):
    """An increasing function on intervals, through float and widened by FLOAT_SLACK
    (exact where its value is rational: exp 0, log 1, …)."""

    def apply(x: Interval) -> Interval:
        if x.exact and (function, x.low) in EXACT_AT:
            return Interval.point(EXACT_AT[function, x.low])
        if function is _log and x.high <= 0 or function is _sqrt and x.high < 0:
            raise Undefined(f"{function.__name__.strip('_')} of {x.text()}")
        try:
            low, high = (Fraction(_at(function, end)) for end in (x.low, x.high))
        except (ValueError, OverflowError) as error:
            raise Unevaluable(str(error)) from None
        slack = max(abs(low), abs(high), Fraction(1, 10**300)) * FLOAT_SLACK
        return Interval(low - slack, high + slack)

    return apply


def _at(function: Callable[[float], float], x: Fraction) -> float:
    """function(x) through float; log near 1 through log1p of the exact x − 1, which float
    would round away (log(1 − 1e-100) is −1e-100, not 0)."""
    if function is _log and abs(x - 1) < Fraction(1, 2):
        return math.log1p(float(x - 1))
    return function(float(x))


def _log(x: float) -> float:
    if x <= 0:
        raise ValueError("log of a number ≤ 0")
    return math.log(x)


def _sqrt(x: float) -> float:
    if x < 0:
        raise ValueError("sqrt of a negative number")
    return math.sqrt(x)


FUNCTIONS: dict[str, Callable[[Interval], Interval]] = {
    "exp": _monotone(math.exp),
    "log": _monotone(_log),
    "ln": _monotone(_log),
    "sqrt": _monotone(_sqrt),
    "tanh": _monotone(math.tanh),
}
EXACT_AT: dict[tuple[Callable, Fraction], Fraction] = {
    (math.exp, Fraction(0)): Fraction(1),
    (_log, Fraction(1)): Fraction(0),
    (math.tanh, Fraction(0)): Fraction(0),
    (_sqrt, Fraction(0)): Fraction(0),
    (_sqrt, Fraction(1)): Fraction(1),
}


CONSTANTS = {"pi": math.pi, "E": math.e}

# -- numbers and tokens --------------------------------------------------------------------------

NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[−-]?\d+)?")
TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?(?:e[−-]?\d+)?)|(?P<word>[A-Za-z]+)|(?P<op>\*\*|.))"
)


def number_interval(text: str, *, approximate: bool = False, precision: int = 6) -> Interval:
    """The numbers a displayed number stands for: an integer or p/q exactly, a decimal
    ± half a unit of its last digit, ``≈12`` (``approximate``) ± half a unit of its
    ``precision``-th significant digit."""
    text = text.replace("−", "-")
    mantissa, _, exponent = text.partition("e")
    power = int(exponent) if exponent else 0
    value = Fraction(mantissa) * Fraction(10) ** power
    if "." in mantissa:
        places = len(mantissa.split(".")[1])
        half = Fraction(1, 2 * 10**places) * Fraction(10) ** power
        return Interval(value - half, value + half)
    if exponent:  # 1e12: one significant digit
        half = Fraction(1, 2) * Fraction(10) ** power
        return Interval(value - half, value + half)
    if approximate:
        digits = len(mantissa.lstrip("0")) or 1
        half = Fraction(1, 2) * Fraction(10) ** (digits - precision)
        return Interval(value - half, value + half)
    return Interval.point(value)


class Parser:
    """Recursive descent over one part: sum → product → power → unary → atom."""

    def __init__(self, text: str, *, precision: int):
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = TOKEN.match(text, position)
            if match is None:  # pragma: no cover - TOKEN matches any character
                raise Unevaluable(text[position:])
            kind = match.lastgroup or "op"
            value = match.group(kind)
            if kind == "op" and value.isspace():
                position = match.end()
                continue
            self.tokens.append((kind, value))
            position = match.end()
        self.position = 0
        self.precision = precision
        self.decimal = False

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise Unevaluable("ends early")
        token = self.tokens[self.position]
        if expected is not None and token[1] != expected:
            raise Unevaluable(f"expected {expected}, got {token[1]}")
        self.position += 1
        return token

    def parse(self) -> Interval:
        if not self.tokens:
            raise EmptyPart()
        value = self.sum()
        if self.position != len(self.tokens):
            raise Unevaluable(f"left over: {self.tokens[self.position :]}")
        return value

    def sum(self) -> Interval:
        value = self.product()
        while self.peek() in ("+", "−", "-"):
            operator = self.take()[1]
            right = self.product()
            value = value + right if operator == "+" else value - right
        return value

    def product(self) -> Interval:
        value = self.unary()
        while self.peek() in ("·", "×", "*", "/"):
            operator = self.take()[1]
            right = self.unary()
            value = value / right if operator == "/" else value * right
        return value

    def unary(self) -> Interval:
        if self.peek() in ("−", "-"):
            self.take()
            return -self.unary()
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Interval:
        base = self.atom()
        if self.peek() == "²":  # 0.462117²: the square, as tanh′ shows tanh²
            self.take()
            return _power(base, Interval.point(Fraction(2)))
        if self.peek() in ("^", "**"):
            self.take()
            exponent = self.unary()
            return _power(base, exponent)
        return base

    def atom(self) -> Interval:
        kind, value = self.take()
        if kind == "number":
            if "." in value or "e" in value:
                self.decimal = True
            return number_interval(value, precision=self.precision)
        if kind == "word":
            if value in FUNCTIONS:
                if self.peek() == "(":
                    self.take("(")
                    inner = self.sum()
                    self.take(")")
                else:  # log 0.5: applied to the next atom
                    inner = self.power()
                return FUNCTIONS[value](inner)
            if value in ("max", "min"):
                self.take("(")
                items = [self.sum()]
                while self.peek() == ",":
                    self.take()
                    items.append(self.sum())
                self.take(")")
                pick = max if value == "max" else min
                return Interval(pick(i.low for i in items), pick(i.high for i in items))
            if value in CONSTANTS:
                exact = Fraction(CONSTANTS[value])
                return Interval(exact * (1 - FLOAT_SLACK), exact * (1 + FLOAT_SLACK))
            raise Unevaluable(value)
        if value == "≈":  # a rounded value that reads as a whole number
            negative = self.peek() in ("−", "-")
            if negative:
                self.take()
            kind, value = self.take()
            if kind != "number":
                raise Unevaluable("≈ without a number")
            found = number_interval(value, approximate=True, precision=self.precision)
            return -found if negative else found
        closing = {"(": ")", "[": "]", "⌈": "⌉", "⌊": "⌋", "|": "|"}.get(value)
        if closing is None:
            raise Unevaluable(value)
        inner = self.sum()
        self.take(closing)
        if value == "⌈":
            return Interval(Fraction(math.ceil(inner.low)), Fraction(math.ceil(inner.high)))
        if value == "⌊":
            return Interval(Fraction(math.floor(inner.low)), Fraction(math.floor(inner.high)))
        if value == "|":
            ends = sorted(abs(e) for e in (inner.low, inner.high))
            low = Fraction(0) if inner.low <= 0 <= inner.high else ends[0]
            return Interval(low, ends[1])
        return inner


def _power(base: Interval, exponent: Interval) -> Interval:
    if exponent.exact and exponent.low.denominator == 1:
        n = int(exponent.low)
        if abs(n) > 64:
            raise Unevaluable("large power")
        corners = [b**n for b in (base.low, base.high) if b != 0 or n >= 0]
        if not corners:
            raise Unevaluable("0 to a negative power")
        low, high = min(corners), max(corners)
        if n % 2 == 0 and base.low <= 0 <= base.high:
            low = Fraction(0)
        return Interval(low, high)
    if base.low <= 0:
        raise Unevaluable("a real power of a number ≤ 0")
    corners = [
        float(b) ** float(e) for b in (base.low, base.high) for e in (exponent.low, exponent.high)
    ]
    low, high = Fraction(min(corners)), Fraction(max(corners))
    slack = max(abs(low), abs(high)) * FLOAT_SLACK
    return Interval(low - slack, high + slack)


class EmptyPart(Exception):
    """``=  =``: a part with nothing in it."""


def evaluate(text: str, *, precision: int = 6) -> Interval:
    """The value of one part written with numbers only; Unevaluable otherwise."""
    if "…" in text:
        raise Unevaluable("an ellipsis")
    return Parser(text, precision=precision).parse()


# -- equations in Markdown -----------------------------------------------------------------------

TRAILING_NOTE = re.compile(r"\s{2,}\((?:[^()]|\([^()]*\))*\)\s*$")


@dataclass
class Equation:
    """One worked step: its lines as printed and its parts (split at `` = ``)."""

    lines: list[str]

    @property
    def parts(self) -> list[str]:
        text = " ".join(self.stripped_lines())
        # A continuation line starts with "= ": join it as " = ".
        return [part.strip() for part in re.split(r"(?:^|\s)=(?:\s|$)", text)]

    def stripped_lines(self) -> list[str]:
        """The lines without their trailing notes ("   (2 terms read zero padding (0))")."""
        return [TRAILING_NOTE.sub("", line).strip() for line in self.lines]

    @property
    def notes(self) -> list[str]:
        return [
            match.group(0).strip() for line in self.lines if (match := TRAILING_NOTE.search(line))
        ]

    @property
    def lhs(self) -> str:
        return self.parts[0]

    def text(self) -> str:
        return "\n".join(self.lines)


def equations(markdown: str) -> Iterator[Equation]:
    """Every equation in the ``text`` blocks of a Markdown report."""
    inside = False
    current: Equation | None = None
    for line in markdown.splitlines():
        if line.startswith("```"):
            if current is not None:
                yield current
                current = None
            inside = line.strip() == "```text"
            continue
        if not inside:
            continue
        if re.match(r"^\s+=", line) and current is not None:
            current.lines.append(line)
            continue
        if current is not None:
            yield current
        current = Equation([line])
    if current is not None:
        yield current


def top_level_terms(text: str) -> list[tuple[int, str]]:
    """A sum split at its top-level + and − (not inside parentheses, not a leading sign),
    each term with its sign (+1, or −1 after a −)."""
    terms, depth, start, sign = [], 0, 0, 1
    for i, char in enumerate(text):
        if char in "(⌈⌊[":
            depth += 1
        elif char in ")⌉⌋]":
            depth -= 1
        elif (
            depth == 0
            and char in "+−"
            and 0 < i < len(text) - 1
            and text[i - 1] == " "
            and text[i + 1] == " "
        ):
            terms.append((sign, text[start:i].strip()))
            start, sign = i + 1, (1 if char == "+" else -1)
    terms.append((sign, text[start:].strip()))
    return terms


def top_level_factors(term: str) -> list[str]:
    """A product split at its top-level · (not inside parentheses)."""
    factors, depth, start = [], 0, 0
    for i, char in enumerate(term):
        if char in "(⌈⌊[":
            depth += 1
        elif char in ")⌉⌋]":
            depth -= 1
        elif depth == 0 and char == "·":
            factors.append(term[start:i])
            start = i + 1
    factors.append(term[start:])
    return factors


def symbol_values(markdown: str, *, precision: int = 6) -> dict[str, Interval]:
    """The value of each symbol the report's tables show: ``x_01`` from the table **x**
    (row 0, column 1); slices ``**x [axis0=1]**`` lead the index; ``**∂L/∂y (upstream)**``
    names ∂L/∂y.  Each index is stored with commas (x_0,1,2), and written plainly (x_012)
    while every index of the array has one digit, as gradcalc writes them (x_11 of a 12×1
    table is row 11, never row 1, column 1); a one-column table's entries (a column vector)
    are also named by their row alone (x_11)."""
    shown: list[tuple[str, list[str], Interval, bool]] = []
    name: str | None = None
    lead: list[str] = []
    columns: list[str] = []
    for line in markdown.splitlines():
        title = re.fullmatch(r"\*\*(.+)\*\*", line)
        if title:
            text = re.sub(r"\\(.)", r"\1", title.group(1))
            sliced = re.fullmatch(r"(.+?) \[(.+)\]", text)
            lead = re.findall(r"=(\d+)", sliced.group(2)) if sliced else []
            text = sliced.group(1) if sliced else text
            name = re.sub(r" \(.*\)$", "", text)
            columns = []
            continue
        if name is None:
            continue
        if not line.startswith("|"):
            if line.strip():
                name = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not columns:
            columns = cells[1:]
            continue
        if set(line) <= set("|- "):
            continue
        row = cells[0]
        for column, cell in zip(columns, cells[1:], strict=False):
            try:
                value = evaluate(cell, precision=precision)
            except (Unevaluable, Undefined, EmptyPart, ZeroDivisionError):
                continue
            index = [*lead, *([row] if row else []), column]
            shown.append((name, index, value, bool(row) and len(columns) == 1))
    long_indices = {name for name, index, _, _ in shown if any(len(i) > 1 for i in index)}
    found: dict[str, Interval] = {}
    for name, index, value, column_vector in shown:
        found[f"{name}_{','.join(index)}"] = value
        if name not in long_indices:
            found[f"{name}_{''.join(index)}"] = value
        if column_vector:
            found.setdefault(f"{name}_{','.join(index[:-1])}", value)
    return found


# -- the whole report ----------------------------------------------------------------------------

SYMBOL = re.compile(r"^(?P<grad>∂L/∂)?(?P<name>[^\s_=∂/]+)_(?P<index>[0-9,]+)$")


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    equations: int = 0
    compared: int = 0
    matched_results: int = 0
    symbols_matched: int = 0

    def fail(self, equation: Equation, why: str) -> None:
        self.problems.append(f"{why}:\n{equation.text()}")


def check_report(
    markdown: str,
    *,
    results: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
    index_base: int = 0,
    precision: int = 6,
) -> Report:
    """Check every equation of ``markdown`` (see the module docstring).

    ``results`` (the JSON results) and ``names`` (role → symbol name) let the left sides be
    matched to result entries; ``precision`` is the significant digits of decimals (what a
    ``≈12`` stands for).
    """
    report = Report()
    symbols = symbol_values(markdown, precision=precision)
    symbolic = formula_symbols(results)  # a run with symbols (tests/formula_truth.py)
    for equation in equations(markdown):
        parts = equation.parts
        if len(parts) < 2:
            continue
        report.equations += 1
        values: list[tuple[str, Interval]] = []
        for part in parts[1:]:
            try:
                values.append((part, evaluate(part, precision=precision)))
            except EmptyPart:
                report.fail(equation, "an empty step")
            except Undefined as error:
                report.fail(equation, f"undefined as written ({error}): {part}")
            except (Unevaluable, ZeroDivisionError):
                continue
        for (left_text, left), (right_text, right) in itertools.pairwise(values):
            report.compared += 1
            if not left.widened().meets(right.widened()):
                report.fail(
                    equation,
                    f"false: {left_text} is {left.text()}, not {right_text} ({right.text()})",
                )
        if symbolic:
            _check_formulas(equation, symbolic, results, names, index_base, report, precision)
        _check_cut(equation, report)
        _check_terms(equation, symbols, report)
        if results is not None and names is not None and values:
            _check_result(equation, values[-1][1], results, names, index_base, report)
        if results is not None and values and equation.lhs in SIZE_AXES:
            shape = results.get("output_shape")
            if shape and not values[-1][1].meets(
                Interval.point(Fraction(shape[SIZE_AXES[equation.lhs]]))
            ):
                report.fail(equation, f"the output size is {shape}")
    _check_value_tables(markdown, report, precision)
    _check_ties(markdown, symbols, precision, report)
    _check_self_checks(markdown, report)
    return report


def _check_self_checks(markdown: str, report: Report) -> None:
    """A step that checks itself (an identity, an adjoint sum) and says it failed is a false
    step, or a bug behind one: gradcalc words those failures "(please report)"."""
    for line in markdown.splitlines():
        if "please report" in line:
            report.problems.append(f"a self-check failed: {line.strip()}")


TIE = re.compile(
    r"^(?P<y>\S+): (?P<names>.+?) = (?P<value>[^=]+) \((?P<k>\d+)-way tie; upstream (?P<up>.+)\)$"
)


def _check_ties(
    markdown: str, symbols: Mapping[str, Interval], precision: int, report: Report
) -> None:
    """Tie statements ``y_00: x_00 = x_11 = 1 (2-way tie; upstream 9/5)``: each tied entry
    holds the value, k of them are named, and the upstream is ∂L/∂y's entry."""
    for line in markdown.splitlines():
        match = TIE.match(re.sub(r"\\(.)", r"\1", line))
        if match is None:
            continue
        names = match.group("names").split(" = ")
        try:
            value = evaluate(match.group("value"), precision=precision)
            # a symbolic upstream (max pooling's g_00) is a formula, checked with the results
            upstream = None
            if formula(match.group("up"), formula_symbols({"up": match.group("up")})) is None:
                upstream = evaluate(match.group("up"), precision=precision)
        except (Unevaluable, Undefined, EmptyPart):
            report.problems.append(f"a tie statement's numbers do not read as numbers: {line}")
            continue
        report.compared += 1
        if len(names) != int(match.group("k")):
            report.problems.append(f"{match.group('k')}-way tie naming {len(names)}: {line}")
        for name in names:
            if name in symbols and not symbols[name].meets(value):
                report.problems.append(f"{name} is {symbols[name].text()}, not tied at: {line}")
        grad = "∂L/∂" + match.group("y")
        if upstream is not None and grad in symbols and not symbols[grad].meets(upstream):
            report.problems.append(f"{grad} is {symbols[grad].text()}: {line}")


# The output-size lines (conv, pool) and the axis of output_shape each states.
SIZE_AXES = {"H_out": -2, "W_out": -1, "L_out": -1}  # L_out: a 1-D signal's length


def _check_value_tables(markdown: str, report: Report, precision: int = 6) -> None:
    """expr's "Values at the point" tables: the exact column equals the decimal beside it
    (a ``≈2`` at the report's ``precision``: 3/2 is ≈2 at one significant digit)."""
    columns: list[str] | None = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = [re.sub(r"\\(.)", r"\1", c).strip() for c in line.strip("|").split(" | ")]
        if "exact" in cells and "value" in cells:
            columns = cells
            continue
        if columns is None or set(line) <= set("|-"):
            continue
        row = dict(zip(columns, cells, strict=False))
        try:
            exact = evaluate(row["exact"], precision=precision)
            value = evaluate(row["value"], precision=precision)
        except (Unevaluable, Undefined, EmptyPart, ZeroDivisionError, KeyError):
            continue
        report.compared += 1
        if not exact.meets(value):
            report.problems.append(f"false: {line}: {row['exact']} is {exact.text()}")


def _check_cut(equation: Equation, report: Report) -> None:
    notes = " ".join(equation.notes)
    text = equation.text()
    if re.search(r"more terms?\b", notes) and "+ …" not in text:
        report.fail(equation, "a sum cut short without '+ …' where it is cut")


def _check_terms(equation: Equation, symbols: Mapping[str, Interval], report: Report) -> None:
    """The line of symbols and the line of numbers under it have as many terms, and each
    symbol a table shows stands over its own value."""
    lines = equation.stripped_lines()
    for symbolic, numeric in itertools.pairwise(lines):
        if not (symbolic.startswith("= ") and numeric.startswith("= ")):
            continue
        numeric_sum = numeric[2:].split(" = ")[0]
        if not re.search(r"[A-Za-z∂]", symbolic) or re.search(r"[A-Za-zΣ∂]", numeric_sum):
            continue
        symbolic_sum = symbolic[2:]
        if "Σ" in symbolic_sum or "·" not in symbolic_sum:
            continue
        s_terms = top_level_terms(symbolic_sum)
        n_terms = top_level_terms(numeric_sum)
        if len(s_terms) != len(n_terms):
            report.fail(equation, f"{len(s_terms)} terms in symbols but {len(n_terms)} in numbers")
            continue
        for (_, s_term), (sign, n_term) in zip(s_terms, n_terms, strict=True):
            s_factors, n_factors = top_level_factors(s_term), top_level_factors(n_term)
            if len(s_factors) != len(n_factors):
                continue
            for position, (name, number) in enumerate(zip(s_factors, n_factors, strict=True)):
                if name not in symbols or number == "…":
                    continue
                try:
                    value = evaluate(number)
                except (Unevaluable, Undefined, EmptyPart, ZeroDivisionError):
                    continue
                if sign < 0 and position == 0:
                    value = -value
                report.symbols_matched += 1
                if not value.meets(symbols[name]):
                    report.fail(
                        equation,
                        f"{name} is {symbols[name].text()} in its table, but {number} stands under it",
                    )


def _check_result(
    equation: Equation,
    value: Interval,
    results: Mapping[str, Any],
    names: Mapping[str, str],
    index_base: int,
    report: Report,
) -> None:
    entry = _result_entry(equation, results, names, index_base)
    if isinstance(entry, list) or isinstance(entry, str) or entry is None:
        return
    expected = Fraction(entry)
    slack = abs(expected) * FLOAT_SLACK * 1000
    report.matched_results += 1
    if not value.meets(Interval(expected - slack, expected + slack)):
        report.fail(equation, f"{equation.lhs} is {entry} in the results, not {value.text()}")


def _result_entry(
    equation: Equation, results: Mapping[str, Any], names: Mapping[str, str], index_base: int
) -> Any:
    """The JSON result entry the equation's left side names (y_01, ∂L/∂x_10), or None."""
    match = SYMBOL.match(equation.lhs)
    if match is None:
        return None
    roles = [role for role, name in names.items() if name == match.group("name")]
    layer = f"{match.group('name')}.{'grad_output' if match.group('grad') else 'output'}"
    if len(roles) != 1 and layer in results:  # a net's layer: its output, ∂L/∂(its output)
        key = layer
    elif len(roles) != 1:
        return None
    else:
        role = roles[0]
        key = f"grad_{role}" if match.group("grad") else role
        if key not in results or (not match.group("grad") and role != "output"):
            return None
    text = match.group("index")
    digits = text.split(",") if "," in text else list(text)
    entry = results[key]
    try:
        for i in (int(d) - index_base for d in digits):
            if not isinstance(entry, list) or not 0 <= i < len(entry):
                return None
            entry = entry[i]
    except TypeError:
        return None
    return entry


def _check_formulas(
    equation: Equation,
    symbolic: set[Any],
    results: Mapping[str, Any] | None,
    names: Mapping[str, str] | None,
    index_base: int,
    report: Report,
    precision: int = 6,
) -> None:
    """The formula parts of one equation are one polynomial, the result entry its left side
    names (tests/formula_truth.py); rounded decimals in them within their rounding."""
    decimals: dict[str, str] = {}
    found = [(part, formula(part, symbolic, decimals)) for part in equation.parts[1:]]
    values = [(part, value) for part, value in found if value is not None]
    agree = lambda left, right: _formulas_meet(left, right, decimals, precision)  # noqa: E731
    for (left_text, left), (right_text, right) in itertools.pairwise(values):
        report.compared += 1
        if not agree(left, right):
            report.fail(equation, f"false: {left_text} is not {right_text}")
    if not values or results is None or names is None:
        return
    entry = entry_formula(_result_entry(equation, results, names, index_base))
    if entry is None:
        return
    report.matched_results += 1
    if not agree(values[-1][1], entry):
        report.fail(equation, f"{equation.lhs} is {entry} in the results, not {values[-1][0]}")


def _formulas_meet(left: Any, right: Any, decimals: Mapping[str, str], precision: int) -> bool:
    """``left`` and ``right`` are one polynomial, their decimal placeholders standing for
    every number that rounds to them: each coefficient of the difference, bounded over
    those numbers, holds 0."""
    placeholders = {s for s in (left - right).free_symbols if s.name.startswith(DECIMAL_PREFIX)}
    if not placeholders:
        return same(left, right)
    import sympy

    order = sorted(placeholders, key=str)
    ranges = [number_interval(decimals[s.name], precision=precision) for s in order]
    for coefficient in difference_coefficients(left, right):
        bound = Interval.point(Fraction(0))
        for powers, factor in sympy.Poly(coefficient, *order).terms():
            term = Interval.point(Fraction(int(factor.p), int(factor.q)))
            for power, interval in zip(powers, ranges, strict=True):
                for _ in range(power):
                    term = term * interval
            bound = bound + term
        if not bound.widened().meets(Interval.point(Fraction(0))):
            return False
    return True


def summary(problems: Sequence[str], limit: int = 5) -> str:
    shown = "\n\n".join(problems[:limit])
    more = f"\n… {len(problems) - limit} more" if len(problems) > limit else ""
    return shown + more


def unwrapped(report: str) -> str:
    """A table report's lines joined back into one: a line wrapped to fit the terminal
    (cli/fit.py) continues on the next line after a space, or right before a ``·``; so
    every equation as written on one line is a part of the result (spaces squeezed)."""
    return " ".join(re.sub(r"\n\s*(?=·)", "", report).split())


def logical_lines(report: str) -> list[str]:
    """A table report's lines, each sentence wrapped with a hanging indent (cli/fit.py) joined
    back into one: a line indented more than the line it follows continues it."""
    lines: list[str] = []
    lead = 0
    for line in report.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if lines and line.strip() and indent > lead:
            lines[-1] += " " + line.strip()
            continue
        lines.append(line)
        lead = indent
    return lines
