"""A small arithmetic language for ``gradcalc expr``, read without Python's eval.

The text is cut into tokens (core/expr_tokens.py) and parsed here by recursive descent
straight into SymPy objects, so nothing in a spec is ever executed: there is no namespace to
escape from.  The grammar (Python's precedence; ``^`` is a power, as in maths)::

    equation   := expression [ ("=" | "==") expression ]      (identity only)
    expression := term { ("+" | "-") term }
    term       := unary { ("*" | "/") unary }
    unary      := ("+" | "-") unary | power
    power      := primary [ ("**" | "^") unary ]
    primary    := number | name | name "(" expression { "," expression } ")"
                | "(" expression ")"

A name is a variable, a constant (``pi``, ``e``), one of :data:`FUNCTION_NAMES`,
or whatever the caller's :class:`Names` says it is (definitions, partial
derivatives such as ``f_x``).  A name called like a function that is none of
these is a *generic function* (``f(x, y)``): SymPy keeps its derivatives
symbolic.  Everything else is refused with the reason: names starting with
``_``, Python keywords, attribute access (``.``), brackets, strings, any other
character.

Sizes are bounded so that no text can make building the expression expensive:
:data:`MAX_EXPRESSION_CHARS`, :data:`MAX_NESTING`, :data:`MAX_NUMBER_DIGITS`,
:data:`MAX_EXPONENT` and :data:`MAX_NUMBER_BITS`.

SymPy is imported inside the functions that need it, never at module import.
"""

from __future__ import annotations

import builtins
import difflib
import functools
import keyword
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from gradcalc.core.errors import FieldPath, LimitError, SpecError
from gradcalc.core.expr_tokens import NUMBER, ExpressionError, Token, tokenize
from gradcalc.core.values import describe

MAX_EXPRESSION_CHARS = 2000
MAX_NESTING = 64  # parentheses, unary signs and powers inside one another
MAX_NUMBER_DIGITS = 100
MAX_EXPONENT = 1000  # |n| in x**n for a numeric n
MAX_NUMBER_BITS = 10_000  # a number computed from numbers, such as 7**1000

CONSTANT_NAMES = ("pi", "e")
# name -> allowed argument counts
FUNCTION_ARITY: dict[str, tuple[int, ...]] = {
    "sin": (1,),
    "cos": (1,),
    "tan": (1,),
    "cot": (1,),
    "sec": (1,),
    "csc": (1,),
    "asin": (1,),
    "acos": (1,),
    "atan": (1,),
    "atan2": (2,),
    "sinh": (1,),
    "cosh": (1,),
    "tanh": (1,),
    "asinh": (1,),
    "acosh": (1,),
    "atanh": (1,),
    "exp": (1,),
    "log": (1, 2),
    "ln": (1,),
    "sqrt": (1,),
    "abs": (1,),
    "erf": (1,),
    "sigmoid": (1,),
    "softplus": (1,),
}
FUNCTION_NAMES = tuple(FUNCTION_ARITY)
RESERVED_NAMES = frozenset((*CONSTANT_NAMES, *FUNCTION_NAMES))

# Never used as generic function names, so that a spec such as eval(x) or max(x, 0) reads as
# the mistake it is (it would be a harmless undefined function, but not what was meant).
_PYTHON_BUILTINS = frozenset(dir(builtins))


def valid_name(name: str) -> bool:
    """A name a spec may declare (variable, definition, function name)."""
    return name.isidentifier() and not name.startswith("_") and not keyword.iskeyword(name)


class Names:
    """What the names of one expression mean.  Subclass or fill ``symbols``.

    ``lookup`` returns the SymPy value of a bare name (None: not known here);
    ``call_error`` may forbid calling a name (e.g. the spec's own function);
    ``unknown`` explains a name that means nothing, or returns None to make it
    a new symbol via ``new_symbol`` (the new variables of a substitution).
    """

    def __init__(self, symbols: dict[str, Any] | None = None, *, describe: str = ""):
        self.symbols: dict[str, Any] = dict(symbols or {})
        self.describe = describe  # e.g. "the variables are x, y"

    def lookup(self, name: str) -> Any | None:
        return self.symbols.get(name)

    def call_error(self, name: str) -> str | None:
        if name in self.symbols:
            return f"{name!r} is not a function; write {name}*(…) to multiply"
        return None

    def new_symbol(self, name: str) -> Any | None:
        return None

    def known(self) -> list[str]:
        return list(self.symbols)


@dataclass(eq=False)
class GenericFunctions:
    """Generic (undefined) functions met so far, with their argument counts.

    One instance is shared by every expression of a spec, so ``f`` means the
    same function everywhere and is always called with the same number of
    arguments.
    """

    allow_new: bool = True
    arity: dict[str, int] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)

    def apply(self, name: str, args: list[Any]) -> Any:
        import sympy

        if name not in self.objects:
            self.objects[name] = sympy.Function(name)
            self.arity[name] = len(args)
        return self.objects[name](*args)


class NameProblem(Exception):
    """Raised by :meth:`Names.lookup` for a name that is wrong in a known way."""


class _Parser:
    """Recursive descent over the tokens, building SymPy objects."""

    def __init__(
        self,
        tokens: list[Token],
        names: Names,
        generic: GenericFunctions,
        *,
        allow_equation: bool,
    ):
        import sympy

        self.sp = sympy
        self.tokens = tokens
        self.position = 0
        self.names = names
        self.generic = generic
        self.allow_equation = allow_equation
        self.depth = 0
        self.equation_sides: tuple[Any, Any] | None = None

    # tokens ------------------------------------------------------------------
    @property
    def token(self) -> Token:
        return self.tokens[self.position]

    def advance(self) -> Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def at_op(self, *texts: str) -> bool:
        return self.token.kind == "op" and self.token.text in texts

    def expect(self, text: str, why: str) -> None:
        if not self.at_op(text):
            raise ExpressionError(
                f"expected {text!r} {why}, got {self.describe(self.token)}", self.token.start
            )
        self.advance()

    @staticmethod
    def describe(token: Token) -> str:
        return "the end of the expression" if token.kind == "end" else repr(token.text)

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError(
                f"nested more than {MAX_NESTING} levels deep", self.token.start, limit=True
            )

    # grammar -----------------------------------------------------------------
    def parse(self) -> Any:
        if self.token.kind == "end":
            raise ExpressionError("the expression is empty", 0)
        value = self.expression()
        if self.at_op("=", "=="):
            if not self.allow_equation:
                raise ExpressionError(
                    "'=' is only allowed in an identity; give one expression", self.token.start
                )
            self.advance()
            right = self.expression()
            self.equation_sides = (value, right)
            value = value - right
        if self.token.kind != "end":
            raise self.unexpected()
        return value

    def unexpected(self) -> ExpressionError:
        token = self.token
        if token.text == ")":
            return ExpressionError("')' without a matching '('", token.start)
        if token.text in ("=", "=="):
            return ExpressionError("only one '=' is allowed", token.start)
        previous = self.tokens[self.position - 1] if self.position else None
        if previous is not None and token.kind in ("name", "number"):
            return ExpressionError(
                f"missing operator between {previous.text!r} and {token.text!r}; "
                f"write {previous.text}*{token.text} to multiply",
                token.start,
            )
        if token.text == "(":
            return ExpressionError("missing operator before '(' (write * to multiply)", token.start)
        return ExpressionError(f"unexpected {self.describe(token)}", token.start)

    def expression(self) -> Any:
        value = self.term()
        while self.at_op("+", "-"):
            operator = self.advance().text
            right = self.term()
            value = value + right if operator == "+" else value - right
        return value

    def term(self) -> Any:
        value = self.unary()
        while self.at_op("*", "/"):
            token = self.advance()
            right = self.unary()
            if token.text == "*":
                value = value * right
            else:
                if right == 0:
                    raise ExpressionError("division by zero", token.start)
                value = value / right
        return value

    def unary(self) -> Any:
        if self.at_op("+", "-"):
            sign = self.advance().text
            self.nest()
            operand = self.unary()
            self.depth -= 1
            return -operand if sign == "-" else operand
        return self.power()

    def power(self) -> Any:
        base = self.primary()
        if not self.at_op("**", "^"):
            return base
        token = self.advance()
        self.nest()
        exponent = self.unary()
        self.depth -= 1
        return self.make_power(base, exponent, token.start)

    def make_power(self, base: Any, exponent: Any, start: int) -> Any:
        sp = self.sp
        if exponent.is_Number and abs(exponent) > MAX_EXPONENT:
            raise ExpressionError(
                f"exponents beyond ±{MAX_EXPONENT} are not supported", start, limit=True
            )
        if base.is_Rational and exponent.is_Integer:
            bits = max(abs(base.p).bit_length(), base.q.bit_length())
            if bits * abs(int(exponent)) > MAX_NUMBER_BITS:
                raise ExpressionError(
                    f"this power is a number of more than {MAX_NUMBER_BITS:,} bits",
                    start,
                    limit=True,
                )
            if base == 0 and exponent < 0:
                raise ExpressionError("0 to a negative power divides by zero", start)
        value = base**exponent
        if value.is_Pow and value.exp.is_Number and abs(value.exp) > MAX_EXPONENT:
            raise ExpressionError(
                f"exponents beyond ±{MAX_EXPONENT} are not supported", start, limit=True
            )
        if value.has(sp.zoo, sp.nan):
            raise ExpressionError("this power is undefined", start)
        return value

    def primary(self) -> Any:
        token = self.token
        if token.kind == "number":
            self.advance()
            return self.number(token)
        if token.kind == "name":
            self.advance()
            if self.at_op("("):
                return self.call(token)
            return self.name(token)
        if self.at_op("("):
            self.advance()
            self.nest()
            value = self.expression()
            self.depth -= 1
            self.expect(")", "to close '('")
            return value
        if token.kind == "end":
            raise ExpressionError("the expression ends too early", token.start)
        if token.text == ")":
            raise ExpressionError("')' without a value before it", token.start)
        raise ExpressionError(f"unexpected {self.describe(token)}", token.start)

    def number(self, token: Token) -> Any:
        match = NUMBER.fullmatch(token.text)
        assert match is not None
        mantissa, exponent = match.group(1), match.group(2)
        if len(mantissa.replace(".", "").lstrip("0")) > MAX_NUMBER_DIGITS:
            raise ExpressionError(
                f"numbers have at most {MAX_NUMBER_DIGITS} digits", token.start, limit=True
            )
        if exponent and abs(int(exponent[1:])) > 300:
            raise ExpressionError(
                "a number's exponent must be within ±300", token.start, limit=True
            )
        value = Fraction(token.text)
        return self.sp.Rational(value.numerator, value.denominator)

    def name(self, token: Token) -> Any:
        name = token.text
        try:
            value = self.names.lookup(name)
        except NameProblem as problem:
            raise ExpressionError(str(problem), token.start) from None
        if value is not None:
            return value
        if name == "pi":
            return self.sp.pi
        if name == "e":
            return self.sp.E
        if name in FUNCTION_ARITY:
            return self.fail(f"{name} is a function: write {name}(…)", token)
        if name in self.generic.objects:
            arguments = ", ".join("…" for _ in range(self.generic.arity[name]))
            return self.fail(f"{name} is a generic function: write {name}({arguments})", token)
        fresh = self.names.new_symbol(name)
        if fresh is not None:
            return fresh
        known = self.names.known()
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        where = f" ({self.names.describe})" if self.names.describe else ""
        return self.fail(f"unknown name {name!r}{hint}{where}", token)

    def fail(self, message: str, token: Token) -> Any:
        raise ExpressionError(message, token.start)

    def call(self, token: Token) -> Any:
        name = token.text
        self.advance()  # "("
        self.nest()
        args = []
        if self.at_op(")"):
            raise ExpressionError(f"{name}() needs an argument", self.token.start)
        args.append(self.expression())
        while self.at_op(","):
            self.advance()
            args.append(self.expression())
        self.depth -= 1
        self.expect(")", f"to close {name}(")
        if name in FUNCTION_ARITY:
            return self.known_function(name, args, token)
        if name in CONSTANT_NAMES:
            return self.fail(
                f"{name} is a constant, not a function; write {name}*(…) to multiply", token
            )
        problem = self.names.call_error(name)
        if problem:
            return self.fail(problem, token)
        if name in self.generic.objects:
            if len(args) != self.generic.arity[name]:
                count = self.generic.arity[name]
                return self.fail(
                    f"{name} was first called with {count} argument{'s' if count != 1 else ''}, "
                    f"here with {len(args)}; a generic function keeps its arguments",
                    token,
                )
            return self.generic.apply(name, args)
        if name in _PYTHON_BUILTINS:
            return self.fail(
                f"{name!r} is not a function of this language (known functions: {', '.join(FUNCTION_NAMES)}); "
                "a generic function needs a name that is not a Python built-in",
                token,
            )
        close = difflib.get_close_matches(name.lower(), FUNCTION_NAMES, n=1, cutoff=0.75)
        if close:
            return self.fail(
                f"unknown function {name!r}; did you mean {close[0]!r}? "
                f"(known functions: {', '.join(FUNCTION_NAMES)})",
                token,
            )
        if not self.generic.allow_new:
            return self.fail(
                f"unknown function {name!r}; generic functions are introduced in `function` "
                f"(known functions: {', '.join(FUNCTION_NAMES)})",
                token,
            )
        return self.generic.apply(name, args)

    def known_function(self, name: str, args: list[Any], token: Token) -> Any:
        sp = self.sp
        counts = FUNCTION_ARITY[name]
        if len(args) not in counts:
            wanted = " or ".join(str(c) for c in counts)
            return self.fail(
                f"{name} takes {wanted} argument{'s' if counts != (1,) else ''}, got {len(args)}",
                token,
            )
        if name == "log" and len(args) == 2 and (args[1] == 0 or args[1] == 1):
            return self.fail("log(x, b) needs a base b other than 0 and 1", token)
        value = _function_builders()[name](*args)
        if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            return self.fail(f"{name}(…) is undefined here", token)
        return value


@functools.cache
def _function_builders() -> dict[str, Any]:
    """Each known function name -> the SymPy callable that builds it."""
    import sympy as sp

    return {
        "sin": sp.sin,
        "cos": sp.cos,
        "tan": sp.tan,
        "cot": sp.cot,
        "sec": sp.sec,
        "csc": sp.csc,
        "asin": sp.asin,
        "acos": sp.acos,
        "atan": sp.atan,
        "atan2": sp.atan2,
        "sinh": sp.sinh,
        "cosh": sp.cosh,
        "tanh": sp.tanh,
        "asinh": sp.asinh,
        "acosh": sp.acosh,
        "atanh": sp.atanh,
        "exp": sp.exp,
        "log": sp.log,
        "ln": sp.log,
        "sqrt": sp.sqrt,
        "abs": sp.Abs,
        "erf": sp.erf,
        "sigmoid": lambda x: 1 / (1 + sp.exp(-x)),
        "softplus": lambda x: sp.log(1 + sp.exp(x)),
    }


@dataclass(eq=False)
class Parsed:
    """A parsed expression: its SymPy value, and both sides when it was an equation."""

    value: Any
    text: str
    sides: tuple[Any, Any] | None = None


def parse(
    text: Any,
    path: FieldPath,
    names: Names,
    generic: GenericFunctions,
    *,
    allow_equation: bool = False,
    what: str = "an expression",
) -> Parsed:
    """Parse one expression from a spec (text, or a plain number) into SymPy.

    Every problem is a :class:`SpecError` (a size limit: :class:`LimitError`)
    at ``path``, naming the character where it was found.
    """
    import sympy

    if isinstance(text, bool) or text is None:
        raise SpecError(
            path, f'expected {what} as text such as "x**2*y + sin(x)", got {describe(text)}'
        )
    if isinstance(text, int):
        text = str(text)
    elif isinstance(text, Fraction):
        text = f"({text.numerator})/({text.denominator})"
    elif isinstance(text, float):
        text = repr(text)
    if not isinstance(text, str):
        raise SpecError(
            path, f'expected {what} as text such as "x**2*y + sin(x)", got {describe(text)}'
        )
    if len(text) > MAX_EXPRESSION_CHARS:
        raise LimitError(
            path,
            f"the expression has {len(text):,} characters, above the limit of {MAX_EXPRESSION_CHARS:,}",
        )
    try:
        parser = _Parser(tokenize(text), names, generic, allow_equation=allow_equation)
        value = parser.parse()
    except ExpressionError as error:
        error_class = LimitError if error.limit else SpecError
        raise error_class(path, f"{error.message} {_where(text, error.start)}") from None
    if value.has(sympy.I):
        raise SpecError(path, f"complex numbers are not supported: {_excerpt(text)}")
    if value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise SpecError(
            path, f"the expression is undefined (a division by zero?): {_excerpt(text)}"
        )
    return Parsed(value=value, text=text.strip(), sides=parser.equation_sides)


def _excerpt(text: str, start: int = 0, width: int = 40) -> str:
    flat = re.sub(r"\s", " ", text)  # one line, same offsets
    if len(flat) <= width:
        return repr(flat)
    begin = max(0, min(start - width // 2, len(flat) - width))
    shown = flat[begin : begin + width]
    return repr(("…" if begin else "") + shown + ("…" if begin + width < len(flat) else ""))


def _where(text: str, start: int) -> str:
    """(at character 12 of '…')"""
    return f"(at character {start + 1} of {_excerpt(text, start)})"
