"""Symbolic derivatives (kind ``expr``): partials, gradient, Jacobian, Hessian,
a change of variables by the chain rule, values at a point, and identities.

SymPy is the engine.  It is imported inside the functions that need it, so
that importing this module (the registry does, to check its sections) and
every other command stay as fast as before.  Expressions are read by
:mod:`gradcalc.core.expr_parse`, never by Python's eval.

Names in ``identity`` and ``expected`` (the spec's function is ``f`` unless
``names: {function: L}`` says otherwise, or the function is a bare generic
call such as ``g(x, y)``):

- ``f``: the function's value; ``f_x``: ∂f/∂x; ``f_x_y``: ∂²f/∂x∂y (variable
  names joined by ``_``); under ``substitute`` also ``f_r`` for a new variable.
- for a vector function, ``f_0``, ``f_1``, … (from ``index_base``) are its
  components and ``f_0_x`` their partial derivatives.
- for a generic function ``g(x, y)`` inside the function, ``g_x`` is ∂g/∂x.

Time: every step that may run long runs under a :class:`~gradcalc.core.deadline.Budget`.
Checks (identities, expected answers) run before the cosmetic simplification
of the results, so the time goes to what decides the exit status first.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.deadline import Budget, TimeUp
from gradcalc.core.errors import FieldPath, LimitError, ShapeError, SpecError
from gradcalc.core.exact import DIGIT_BITS
from gradcalc.core.explain import Formula, Item, Math, Note, Section, SymbolTable, sentence
from gradcalc.core.expr_parse import (
    RESERVED_NAMES,
    GenericFunctions,
    NameProblem,
    Names,
    Parsed,
    parse,
    valid_name,
)
from gradcalc.core.gradcheck import check_gradients
from gradcalc.core.outcome import Check, GradientCheck, Solution, WrongCell
from gradcalc.core.values import describe, parse_number

KIND = "expr"
KEYS = registry.field_names(KIND)
SECTIONS = registry.sections(KIND)

MAX_VARIABLES = 10
MAX_COMPONENTS = 10
MAX_DEFINITIONS = 30
MAX_IDENTITIES = 10
# Time limits (seconds).  Documented in docs/expr.md.
TOTAL_SECONDS = 20.0  # all symbolic work of one run
SIMPLIFY_SECONDS = 1.0  # simplifying one shown result
CHECK_SECONDS = 5.0  # simplifying one identity or one expected-answer difference
PROBE_SECONDS = 1.0  # evaluating one expression at one point
EXPLAIN_SECONDS = 5.0  # writing out the results, when less of TOTAL_SECONDS is left
# A derivative larger than this many expression nodes is neither simplified nor differentiated again.
MAX_NODES = 20_000
# A grid of results is drawn only when every cell is at most this wide.
MAX_CELL_CHARS = 32
# A derivative as differentiated is shown before its simplified form only up to this length.
MAX_RAW_CHARS = 160
PROBE_POINTS = 12  # points an unproved identity or answer is tested at

# Values tried for variables when looking for a counterexample: small, exact, mostly positive
# first (log and sqrt need positive arguments), then of both signs.
_POSITIVE_VALUES = tuple(
    Fraction(n, d) for n, d in ((1, 2), (3, 4), (1, 1), (5, 4), (3, 2), (2, 1), (1, 3), (5, 2))
)
_SIGNED_VALUES = _POSITIVE_VALUES + tuple(-v for v in _POSITIVE_VALUES)

# Results in the new variables of a substitution (the others are in the spec's variables).
NEW_SPACE_RESULTS = ("gradient_new", "jacobian_new", "substituted")
EXPECTABLE = (
    "gradient",
    "hessian",
    "jacobian",
    "substituted",
    "gradient_new",
    "jacobian_new",
    "function_at",
    "gradient_at",
    "hessian_at",
    "jacobian_at",
    "gradient_new_at",
    "jacobian_new_at",
)
RESULTS = EXPECTABLE  # every result an expr problem can have, as for the other kinds
# The function is written f, or g for a spec whose function is the bare call g(x, y).
NAME_DEFAULTS = {"function": "f"}


def _sympy():
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
        self.sp = _sympy()
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
# Reading the spec


@dataclass(eq=False)
class ExprProblem:
    """A validated ``expr`` spec, with its expressions parsed into SymPy."""

    title: str | None
    index_base: int
    tolerance: common.Tolerance
    variables: list[str]
    symbols: dict[str, Any]  # variable name -> real Symbol
    definitions: dict[str, Any]  # name -> expression in the variables
    definition_texts: dict[str, str]
    components: list[Any]  # the function (one entry) or its components
    component_texts: list[str]
    vector: bool
    name: str  # the function's name, f
    generic: GenericFunctions
    substitution: dict[str, Any] | None  # old variable -> expression in the new ones
    substitution_texts: dict[str, str]
    new_variables: list[str]
    new_symbols: dict[str, Any]
    point: dict[str, Any] | None  # variable -> exact value, in the space ``point_space``
    point_space: str  # "old" or "new"
    identity_raw: list[tuple[Any, FieldPath]]
    expected_raw: dict[str, Any]

    @property
    def all_symbols(self) -> dict[str, Any]:
        return {**self.symbols, **self.new_symbols}

    def component_name(self, i: int) -> str:
        return f"{self.name}_{i + self.index_base}" if self.vector else self.name


def _read_variables(spec: Mapping[str, Any]) -> list[str]:
    raw = common.require(spec, "variables", KIND, "the names to differentiate by, e.g. [x, y]")
    items = [part.strip() for part in raw.split(",")] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise SpecError(
            ("variables",), f"variables must be a list of names such as [x, y], got {describe(raw)}"
        )
    if len(items) > MAX_VARIABLES:
        raise LimitError(
            ("variables",), f"{len(items)} variables, above the limit of {MAX_VARIABLES}"
        )
    names: list[str] = []
    for i, item in enumerate(items):
        path = ("variables", i) if isinstance(raw, list) else ("variables",)
        name = item.strip() if isinstance(item, str) else item
        if not isinstance(name, str) or not valid_name(name):
            raise SpecError(
                path, f"a variable must be a name such as x, theta or s_1, got {describe(item)}"
            )
        _check_free_name(name, path, "a variable")
        if name in names:
            raise SpecError(path, f"variable {name!r} is listed twice")
        names.append(name)
    return names


def _check_free_name(name: str, path: FieldPath, role: str) -> None:
    if name in RESERVED_NAMES:
        raise SpecError(path, f"{name!r} is a built-in function or constant and cannot be {role}")
    if len(name) > 32:
        raise SpecError(path, f"{role} name has at most 32 characters, got {len(name)}")


def read_problem(spec: Mapping[str, Any]) -> ExprProblem:
    """Validate an expr spec (plain data) and parse its expressions, or raise SpecError."""
    sp = _sympy()
    common.check_keys(spec, KIND, KEYS)
    if "upstream" in spec:
        raise SpecError(
            ("upstream",),
            "upstream does not apply to kind 'expr' (it differentiates the function itself)",
            at_key=True,
        )
    variables = _read_variables(spec)
    symbols = {name: sp.Symbol(name, real=True) for name in variables}
    generic = GenericFunctions()
    variable_list = ", ".join(variables)

    definitions: dict[str, Any] = {}
    definition_texts: dict[str, str] = {}
    raw_definitions = spec.get("define")
    if raw_definitions is not None:
        if not isinstance(raw_definitions, Mapping):
            raise SpecError(
                ("define",),
                f'define must be a mapping such as {{Z: "exp(a) + exp(b)"}}, got {describe(raw_definitions)}',
            )
        if len(raw_definitions) > MAX_DEFINITIONS:
            raise LimitError(
                ("define",),
                f"{len(raw_definitions)} definitions, above the limit of {MAX_DEFINITIONS}",
            )
        for name, text in raw_definitions.items():
            path = ("define", name)
            if not isinstance(name, str) or not valid_name(name):
                raise SpecError(
                    path,
                    f"a definition's name must be a name such as Z or p_1, got {describe(name)}",
                    at_key=True,
                )
            _check_free_name(name, path, "a definition")
            if name in symbols:
                raise SpecError(
                    path, f"{name!r} is a variable; give the definition another name", at_key=True
                )
            names = Names(
                {**symbols, **definitions},
                describe=f"the variables are {variable_list}; definitions must come before their use",
            )
            definitions[name] = parse(text, path, names, generic, what="a definition").value
            definition_texts[name] = str(text).strip()

    raw_function = common.require(
        spec, "function", KIND, 'the expression to differentiate, e.g. "x**2*y + sin(x)"'
    )
    vector = isinstance(raw_function, list)
    items = raw_function if vector else [raw_function]
    if vector and not items:
        raise SpecError(("function",), "function is an empty list; give at least one expression")
    if len(items) > MAX_COMPONENTS:
        raise LimitError(
            ("function",), f"{len(items)} components, above the limit of {MAX_COMPONENTS}"
        )
    names = Names({**symbols, **definitions}, describe=f"the variables are {variable_list}")
    components, component_texts = [], []
    for i, item in enumerate(items):
        path: FieldPath = ("function", i) if vector else ("function",)
        parsed = parse(item, path, names, generic, what="the function")
        components.append(parsed.value)
        component_texts.append(parsed.text)

    name = _function_name(spec, components, symbols, vector, generic)
    for other in (*variables, *definitions):
        if other == name:
            raise SpecError(
                ("names", "function"),
                f"the function's name {name!r} is already a variable or definition",
            )

    substitution, substitution_texts, new_variables, new_symbols = _read_substitution(
        spec, symbols, definitions, generic, name
    )
    index_base = common.read_index_base(spec)
    problem = ExprProblem(
        title=common.read_title(spec),
        index_base=index_base,
        tolerance=common.read_tolerance(spec),
        variables=variables,
        symbols=symbols,
        definitions=definitions,
        definition_texts=definition_texts,
        components=components,
        component_texts=component_texts,
        vector=vector,
        name=name,
        generic=generic,
        substitution=substitution,
        substitution_texts=substitution_texts,
        new_variables=new_variables,
        new_symbols=new_symbols,
        point=None,
        point_space="old",
        identity_raw=_read_identities(spec),
        expected_raw=_read_expected_keys(spec),
    )
    _check_names_are_not_partials(problem)
    problem.point, problem.point_space = _read_point(spec, problem)
    return problem


def _function_name(
    spec: Mapping[str, Any],
    components: list[Any],
    symbols: dict[str, Any],
    vector: bool,
    generic: GenericFunctions,
) -> str:
    """``names.function``, else the name of a bare generic call ``g(x, y)``, else ``f``."""
    from sympy.core.function import AppliedUndef

    bare = None
    if not vector and isinstance(components[0], AppliedUndef):
        if tuple(components[0].args) == tuple(symbols.values()):
            bare = components[0].func.__name__
    defaults = {"function": bare} if bare else NAME_DEFAULTS
    name = common.read_names(spec, defaults)["function"]
    path = ("names", "function")
    if not valid_name(name) or name in RESERVED_NAMES:
        raise SpecError(path, f"the function's name must be a name such as f or L, got {name!r}")
    if name in generic.objects and name != bare:
        raise SpecError(
            path if "names" in spec else ("function",),
            f"{name!r} is a generic function inside the function, so it cannot also name the whole function; "
            "give the function another name with names: {function: F}",
        )
    return name


def _read_substitution(
    spec: Mapping[str, Any],
    symbols: dict[str, Any],
    definitions: dict[str, Any],
    generic: GenericFunctions,
    function_name: str,
) -> tuple[dict[str, Any] | None, dict[str, str], list[str], dict[str, Any]]:
    sp = _sympy()
    raw = spec.get("substitute")
    if raw is None:
        return None, {}, [], {}
    if not isinstance(raw, Mapping):
        raise SpecError(
            ("substitute",),
            f'substitute must map each variable to an expression, e.g. {{x: "r*cos(theta)"}}, got {describe(raw)}',
        )
    missing = [v for v in symbols if v not in raw]
    for key in raw:
        if key not in symbols:
            raise SpecError(
                ("substitute", key),
                f"{key!r} is not a variable; substitute maps each of {', '.join(symbols)} to an expression",
                at_key=True,
            )
    if missing:
        raise SpecError(
            ("substitute",),
            f"substitute gives no expression for {', '.join(missing)}; give one for every variable",
        )

    new_symbols: dict[str, Any] = {}

    class NewNames(Names):
        def lookup(self, name: str) -> Any | None:
            if name in symbols:
                raise NameProblem(
                    f"{name!r} is an old variable; write the old variables in terms of new ones only"
                )
            if name in definitions:
                raise NameProblem(
                    f"{name!r} is a definition in the old variables; it cannot appear in a substitution"
                )
            if name == function_name:
                raise NameProblem(
                    f"{name!r} is the function itself; it cannot appear in a substitution"
                )
            return new_symbols.get(name)

        def new_symbol(self, name: str) -> Any | None:
            if len(new_symbols) >= MAX_VARIABLES:
                raise NameProblem(f"more than {MAX_VARIABLES} new variables")
            if len(name) > 32:
                raise NameProblem("a variable name has at most 32 characters")
            new_symbols[name] = sp.Symbol(name, real=True)
            return new_symbols[name]

    substitution, texts = {}, {}
    for variable in symbols:
        parsed = parse(
            raw[variable], ("substitute", variable), NewNames(), generic, what="a substitution"
        )
        substitution[variable] = parsed.value
        texts[variable] = parsed.text
    if not new_symbols:
        raise SpecError(
            ("substitute",),
            "the substitution introduces no new variable; write each variable in terms of new ones, e.g. x: r*cos(theta)",
        )
    return substitution, texts, list(new_symbols), new_symbols


def _read_identities(spec: Mapping[str, Any]) -> list[tuple[Any, FieldPath]]:
    raw = spec.get("identity")
    if raw is None:
        return []
    if isinstance(raw, list):
        if not raw:
            raise SpecError(("identity",), "identity is an empty list")
        if len(raw) > MAX_IDENTITIES:
            raise LimitError(
                ("identity",), f"{len(raw)} identities, above the limit of {MAX_IDENTITIES}"
            )
        return [(item, ("identity", i)) for i, item in enumerate(raw)]
    return [(raw, ("identity",))]


def _read_expected_keys(spec: Mapping[str, Any]) -> dict[str, Any]:
    raw = spec.get("expected")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SpecError(
            ("expected",),
            f"expected must be a mapping of result names to answers, got {describe(raw)}",
        )
    return dict(raw)


def _check_names_are_not_partials(problem: ExprProblem) -> None:
    """A variable or definition called f_x would be ambiguous next to ∂f/∂x."""
    prefixes = [problem.name, *problem.generic.objects]
    named = [("variables", v) for v in problem.variables] + [
        ("define", d) for d in problem.definitions
    ]
    named += [("substitute", v) for v in problem.new_variables]
    for where, name in named:
        for prefix in prefixes:
            if name.startswith(prefix + "_") and name != prefix:
                raise SpecError(
                    (where,),
                    f"{name!r} reads like a partial derivative of {prefix} ({prefix}_…); rename it",
                )
        if name in problem.generic.objects:
            raise SpecError((where,), f"{name!r} is both a generic function and a {where} name")


def _read_point(spec: Mapping[str, Any], problem: ExprProblem) -> tuple[dict[str, Any] | None, str]:
    raw = spec.get("at")
    if raw is None:
        return None, "old"
    if not isinstance(raw, Mapping) or not raw:
        raise SpecError(
            ("at",), f"at must map variables to numbers, e.g. {{x: 1, y: 2}}, got {describe(raw)}"
        )
    old = [k for k in raw if k in problem.symbols]
    new = [k for k in raw if k in problem.new_symbols]
    for key in raw:
        if key not in problem.symbols and key not in problem.new_symbols:
            known = ", ".join([*problem.variables, *problem.new_variables])
            raise SpecError(
                ("at", key), f"{key!r} is not a variable; at gives values to {known}", at_key=True
            )
    if old and new:
        raise SpecError(
            ("at", new[0]),
            "give values either to the old variables or to the new ones, not both",
            at_key=True,
        )
    space, wanted = ("new", problem.new_variables) if new else ("old", problem.variables)
    missing = [v for v in wanted if v not in raw]
    if missing:
        raise SpecError(("at",), f"at gives no value for {', '.join(missing)}")
    constants = Names({}, describe="a value at the point is a number or a constant such as pi/4")
    point = {}
    for key in wanted:
        value = parse(
            raw[key], ("at", key), constants, GenericFunctions(allow_new=False), what="a number"
        ).value
        if not value.is_real:
            raise SpecError(("at", key), "a value at the point must be a real number")
        point[key] = value
    return point, space


# ---------------------------------------------------------------------------
# Computing


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

    def __init__(self, problem: ExprProblem, budget: Budget):
        self.sp = _sympy()
        self.p = problem
        self.budget = budget
        self.notation = Notation()
        self.rng = random.Random(20240607)

    # required steps ----------------------------------------------------------
    def required(self, work: Callable[[], Any], path: FieldPath, what: str) -> Any:
        try:
            return self.budget.run(work)
        except TimeUp:
            raise LimitError(
                path,
                f"{what} took longer than the time limit of {TOTAL_SECONDS:g} s; "
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
        common denominator (cheap) and SymPy's simplify (within SIMPLIFY_SECONDS).  A simplify
        result that brings in functions the raw form does not use (exp rewritten as cosh,
        say) is not taken: it would not read as the student's own derivation."""
        sp = self.sp
        raw = entry.raw
        if raw.is_Atom or raw.is_number:
            entry.shown = raw
            return
        if _too_large(raw):
            entry.shown, entry.simplified = raw, False
            return
        candidates = [raw]
        combined = self.budget.attempt(lambda: sp.together(raw), None, cap=PROBE_SECONDS)
        if combined is not None:
            candidates.append(combined)
        start = combined if combined is not None else raw
        result = self.budget.attempt(lambda: sp.simplify(start), None, cap=SIMPLIFY_SECONDS)
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
        if not _too_large(difference):
            # Cheap rewrites settle most homework differences; simplify is tried after them.
            for rewrite in (sp.together, sp.expand, sp.simplify):
                cap = CHECK_SECONDS if rewrite is sp.simplify else PROBE_SECONDS
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
                witness = {self._point_name(k): _as_fraction(v) for k, v in values.items()}
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
            value = self.budget.run(work, cap=PROBE_SECONDS)
        except TimeUp:
            return None
        except (TypeError, ValueError, ZeroDivisionError, ArithmeticError, RecursionError):
            return None
        return _real(value)

    def magnitude_words(self, exact: Any) -> str:
        """``≈ 5.19702E-896`` for a value beyond float64; ``≈ 10^(4.34294E+999)`` when its
        exponent is too long to write out (exp(x**1000) at 10, whose formatting raised
        InvalidOperation after seconds).  The exponent comes first, from the log (cheap: no
        digits of the value), each step within PROBE_SECONDS."""
        sp = self.sp

        def exponent() -> Any:
            return sp.N(sp.expand_log(sp.log(abs(exact)), force=True) / sp.log(10), 6)

        def digits() -> str:
            return f"≈ {sp.N(exact, 6)}"

        failures = (TimeUp, ArithmeticError, TypeError, ValueError, RecursionError)
        try:
            power = self.budget.run(exponent, cap=PROBE_SECONDS)
            if abs(power) < 10**5:
                return self.budget.run(digits, cap=PROBE_SECONDS)
            return f"≈ {'−' if exact.is_negative else ''}10^({power})"
        except failures:
            return "too costly to evaluate within the time limit"

    # values at the point -----------------------------------------------------
    def at_point(self, entry: Entry, point: dict[Any, Any]) -> None:
        """Exact value and number of ``entry`` at ``point`` (symbol -> exact value), or a
        note saying why there is no number."""
        sp = self.sp
        expr = self.notation.placeholders(entry.raw)
        if _has_opaque(expr) or any(s not in point for s in expr.free_symbols):
            entry.note_at = "not a number: it involves a generic function"
            return
        exact = None
        if _exact_is_cheap(expr, point):
            exact = self.budget.attempt(lambda: expr.xreplace(point), None, cap=PROBE_SECONDS)
        if exact is not None and exact.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            entry.note_at = "undefined at this point"
            return
        if exact is not None and _too_many_digits(exact):
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


def _as_fraction(value: Any) -> Fraction | float:
    if isinstance(value, Fraction):
        return value
    if getattr(value, "is_Rational", False):
        return Fraction(int(value.p), int(value.q))
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _real(value: Any) -> float | None:
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


def _too_large(expr: Any) -> bool:
    from sympy import preorder_traversal

    for count, _ in enumerate(preorder_traversal(expr)):
        if count >= MAX_NODES:
            return True
    return False


def _has_opaque(expr: Any) -> bool:
    sp = _sympy()
    from sympy.core.function import AppliedUndef

    return bool(expr.atoms(sp.Derivative, sp.Subs, AppliedUndef))


def _too_many_digits(value: Any) -> bool:
    """True when an exact value holds a rational with more than EXACT_DIGITS digits
    (x**1000 at 123456789/987654321 has 9,000): it is shown as a float64 number instead."""
    sp = _sympy()
    return any(
        abs(int(r.p)).bit_length() > DIGIT_BITS or int(r.q).bit_length() > DIGIT_BITS
        for r in value.atoms(sp.Rational)
    )


def _exact_is_cheap(expr: Any, point: dict[Any, Any]) -> bool:
    """Exact substitution could build huge integers (x**1000 at a 300-bit x); allow it when
    the largest power times the largest value's bit length stays modest."""
    sp = _sympy()
    exponent = max((abs(int(p.exp)) for p in expr.atoms(sp.Pow) if p.exp.is_Integer), default=1)
    bits = 1
    for value in point.values():
        for number in value.atoms(sp.Rational):
            bits = max(bits, abs(int(number.p)).bit_length(), int(number.q).bit_length())
    return exponent * bits <= 200_000


# ---------------------------------------------------------------------------
# Derivatives


@dataclass(eq=False)
class Derivatives:
    """Every symbolic result, as entries.  ``first[i][j]`` is ∂f_i/∂x_j;
    ``hessian[a][b]`` is ∂²f/∂x_a∂x_b (scalar functions); ``change[v][u]`` is
    ∂v/∂u for old variable v and new variable u; ``new[i][u]`` is ∂f_i/∂u by
    the chain rule, in the new variables."""

    functions: list[Entry]
    first: list[list[Entry]]
    hessian: list[list[Entry]] | None = None
    hessian_note: str = ""
    change: list[list[Any]] | None = None
    new: list[list[Entry]] | None = None
    substituted: list[Entry] | None = None

    def entries(self) -> list[Entry]:
        found = [e for row in self.first for e in row]
        for rows in (self.new, self.hessian):
            found += [e for row in rows or () for e in row]
        return found + list(self.substituted or ())


def _partial_label(function: str, variables: list[str]) -> str:
    if len(variables) == 1:
        return f"∂{function}/∂{variables[0]}"
    if variables[0] == variables[1]:
        return f"∂²{function}/∂{variables[0]}²"
    return f"∂²{function}/∂{variables[0]}∂{variables[1]}"


def derive(engine: Engine) -> Derivatives:
    """First partials, the Hessian (scalar functions) and, under a substitution, the chain rule."""
    p = engine.p
    derived = Derivatives(
        functions=[Entry(p.component_name(i), c, shown=c) for i, c in enumerate(p.components)],
        first=[
            [
                Entry(
                    _partial_label(p.component_name(i), [v]),
                    engine.diff(
                        component, p.symbols[v], ("function", i) if p.vector else ("function",)
                    ),
                )
                for v in p.variables
            ]
            for i, component in enumerate(p.components)
        ],
    )
    if not p.vector:
        derived.hessian, derived.hessian_note = _hessian(engine, derived.first[0])
    if p.substitution:
        change = [
            [
                engine.diff(p.substitution[v], p.new_symbols[u], ("substitute", v))
                for u in p.new_variables
            ]
            for v in p.variables
        ]
        derived.change = change
        derived.new = [
            [
                Entry(
                    _partial_label(p.component_name(i), [u]),
                    sum(
                        (
                            engine.canonical(row[a].raw) * change[a][k]
                            for a in range(len(p.variables))
                        ),
                        engine.sp.Integer(0),
                    ),
                )
                for k, u in enumerate(p.new_variables)
            ]
            for i, row in enumerate(derived.first)
        ]
        derived.substituted = [
            Entry(p.component_name(i), engine.canonical(c)) for i, c in enumerate(p.components)
        ]
    return derived


def tidy_all(engine: Engine, derived: Derivatives) -> None:
    """Simplify every shown result.  A second derivative is shown as the derivative of the
    simplified first one (smaller, and what the explanation writes), once per pair."""
    p = engine.p
    for row in derived.first:
        for entry in row:
            engine.tidy(entry)
    rows = derived.hessian or []
    for a, row in enumerate(rows):
        for b in range(a, len(row)):
            entry, first = row[b], derived.first[0][a]
            if first.simplified and first.shown is not first.raw and not _too_large(first.shown):
                symbol = p.symbols[p.variables[b]]
                entry.raw = engine.budget.attempt(
                    lambda f=first, s=symbol: f.shown.diff(s), entry.raw
                )
            engine.tidy(entry)
            mirror = rows[b][a]
            mirror.raw, mirror.shown, mirror.simplified = entry.raw, entry.shown, entry.simplified
    for entry in [*(e for row in derived.new or () for e in row), *(derived.substituted or ())]:
        engine.tidy(entry)


def _hessian(engine: Engine, first: list[Entry]) -> tuple[list[list[Entry]] | None, str]:
    p = engine.p
    if any(_too_large(entry.raw) for entry in first):
        return None, f"not computed: a first derivative has more than {MAX_NODES:,} nodes"
    n = len(p.variables)
    rows: list[list[Entry | None]] = [[None] * n for _ in range(n)]
    for a in range(n):
        for b in range(a, n):
            raw = engine.diff(first[a].raw, p.symbols[p.variables[b]], ("function",))
            for i, j in ((a, b), (b, a)):
                rows[i][j] = Entry(_partial_label(p.name, [p.variables[i], p.variables[j]]), raw)
    return rows, ""  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# Names in identities and expected answers


class ResultNames(Names):
    """Variables, definitions, the function (``f``), its partial derivatives (``f_x``,
    ``f_x_y``, ``f_r``, ``f_0_x``) and those of generic functions (``g_x``).

    ``mode`` says what a result name stands for: ``"raw"`` its derivative as
    computed (for checking), ``"shown"`` its simplified form (for display), or
    ``"written"`` a symbol of its own name (the claim as the spec wrote it, for LaTeX).
    """

    def __init__(self, engine: Engine, derived: Derivatives, mode: str = "raw"):
        p = engine.p
        super().__init__({**p.symbols, **p.new_symbols, **p.definitions})
        self.engine = engine
        self.derived = derived
        self.mode = mode
        self.used: dict[str, Any] = {}
        names = [*p.variables, *p.new_variables]
        self.describe = (
            f"the variables are {', '.join(names)}; {p.name}_{names[0]} is ∂{p.name}/∂{names[0]}"
        )

    def lookup(self, name: str) -> Any | None:
        p = self.engine.p
        if name in p.definitions and self.mode == "written":
            return self.written(name, name, [])
        if name in self.symbols:
            return self.symbols[name]
        if name == p.name:
            if p.vector:
                raise NameProblem(
                    f"{name} is a vector function; name a component: {p.component_name(0)}, {p.component_name(1)}, …"
                )
            if self.mode == "written":
                return self.written(name, name, [])
            return p.components[0]
        value = self.partial(name)
        if value is not None:
            self.used[name] = value
        return value

    def call_error(self, name: str) -> str | None:
        p = self.engine.p
        if name == p.name and name not in p.generic.objects:
            return f"{name} names this problem's function: write {name} (its value) or {name}_x (∂{name}/∂x), not {name}(…)"
        return super().call_error(name)

    def known(self) -> list[str]:
        p = self.engine.p
        return [*self.symbols, p.name, *(f"{p.name}_{v}" for v in (*p.variables, *p.new_variables))]

    @staticmethod
    def splits(rest: str, names: list[str]) -> list[list[str]]:
        """Every way to read ``rest`` as variable names joined by '_'."""
        found = []
        for name in names:
            if rest == name:
                found.append([name])
            elif rest.startswith(name + "_"):
                found += [
                    [name, *tail] for tail in ResultNames.splits(rest[len(name) + 1 :], names)
                ]
        return found

    def partial(self, name: str) -> Any | None:
        p = self.engine.p
        if name.startswith(p.name + "_"):
            return self.function_partial(name, name[len(p.name) + 1 :])
        for generic in p.generic.objects:
            if name.startswith(generic + "_"):
                return self.generic_partial(name, generic, name[len(generic) + 1 :])
        return None

    def read_order(self, name: str, rest: str, names: list[str]) -> list[str]:
        splits = self.splits(rest, names)
        if not splits:
            raise NameProblem(
                f"{name!r}: {rest!r} is not a variable (or variables joined by _); variables: {', '.join(names)}"
            )
        if len(splits) > 1:
            readings = " or ".join("∂/∂" + "∂".join(s) for s in splits)
            raise NameProblem(f"{name!r} is ambiguous: {readings}; rename a variable")
        if len(splits[0]) > 2:
            raise NameProblem(f"{name!r}: only first and second derivatives can be named")
        return splits[0]

    def value(self, entry: Entry) -> Any:
        if self.mode == "shown" and entry.shown is not None:
            return entry.shown
        return entry.raw

    def written(self, name: str, prefix: str, order: list[str]) -> Any:
        """A symbol standing for ``name`` as written, with LaTeX such as f_{x y}."""
        sp = self.engine.sp
        head, *index = prefix.split("_")
        subscript = " ".join([*index, *(sp.latex(sp.Symbol(v)) for v in order)])
        latex = sp.latex(sp.Symbol(head)) + (f"_{{{subscript}}}" if subscript else "")
        return self.engine.notation.placeholder(name, latex)

    def function_partial(self, name: str, rest: str) -> Any:
        p, derived = self.engine.p, self.derived
        component = 0
        prefix = p.name
        if p.vector:
            head, _, tail = rest.partition("_")
            if not head.isdigit() or not 0 <= int(head) - p.index_base < len(p.components):
                first, last = p.component_name(0), p.component_name(len(p.components) - 1)
                raise NameProblem(f"{name!r}: the components are {first} … {last}")
            component = int(head) - p.index_base
            prefix = f"{p.name}_{head}"
            if not tail:
                if self.mode == "written":
                    return self.written(name, prefix, [])
                return p.components[component]
            rest = tail
        order = self.read_order(name, rest, [*p.variables, *p.new_variables])
        if not all(v in p.symbols for v in order) and not all(v in p.new_symbols for v in order):
            raise NameProblem(f"{name!r} mixes old and new variables")
        if len(order) == 2 and order[0] in p.new_symbols:
            raise NameProblem(f"{name!r}: second derivatives in the new variables are not computed")
        if self.mode == "written":
            return self.written(name, prefix, order)
        if order[0] in p.new_symbols:
            assert derived.new is not None
            return self.value(derived.new[component][p.new_variables.index(order[0])])
        if len(order) == 1:
            return self.value(derived.first[component][p.variables.index(order[0])])
        a, b = (p.variables.index(v) for v in order)
        if derived.hessian is not None and not p.vector:
            return self.value(derived.hessian[a][b])
        return self.engine.diff(derived.first[component][a].raw, p.symbols[order[1]], ("identity",))

    def generic_partial(self, name: str, generic: str, rest: str) -> Any:
        from sympy.core.function import AppliedUndef

        p = self.engine.p
        applications = {
            a
            for e in (*p.components, *p.definitions.values())
            for a in e.atoms(AppliedUndef)
            if a.func.__name__ == generic and all(arg.is_Symbol for arg in a.args)
        }
        if len(applications) != 1:
            raise NameProblem(
                f"{name!r}: {generic} must be applied to plain variables, once, for {generic}_… to name its derivative"
            )
        application = applications.pop()
        arguments = [a.name for a in application.args]
        order = self.read_order(name, rest, arguments)
        if self.mode == "written":
            return self.written(name, generic, order)
        return self.engine.sp.Derivative(application, *(p.symbols[v] for v in order))


# ---------------------------------------------------------------------------
# Identities and expected answers


@dataclass(eq=False)
class Claim:
    """One identity: its text, its value in the problem's terms, and the verdict."""

    raw: Any  # as the spec gave it
    text: str
    path: FieldPath
    parsed: Parsed
    verdict: Verdict


@dataclass(eq=False)
class Comparison:
    """One expected entry against its result."""

    key: str
    index: tuple[int, ...]
    label: str
    given: Any  # the spec's text or number
    computed: Any  # the result's Entry (symbolic comparisons) or its number at the point
    verdict: Verdict


def _point_symbols(problem: ExprProblem, point: dict[str, Any] | None) -> dict[Any, Any] | None:
    if point is None:
        return None
    return {problem.all_symbols[name]: value for name, value in point.items()}


def check_identities(
    engine: Engine, derived: Derivatives, point: dict[Any, Any] | None
) -> list[Claim]:
    p = engine.p
    claims = []
    for raw, path in p.identity_raw:
        names = ResultNames(engine, derived)
        parsed = parse(raw, path, names, p.generic, allow_equation=True, what="an identity")
        if parsed.sides is not None:
            lhs, rhs = (engine.canonical(side) for side in parsed.sides)
        else:
            lhs, rhs = engine.canonical(parsed.value), engine.sp.Integer(0)
        verdict = engine.decide(lhs, rhs, p.tolerance, point=point)
        claims.append(Claim(raw, parsed.text, path, parsed, verdict))
    return claims


def _result_entries(derived: Derivatives, problem: ExprProblem) -> dict[str, np.ndarray]:
    """Each expectable result name -> an object array of its entries."""

    def grid(rows: list[list[Entry]]) -> np.ndarray:
        array = np.empty((len(rows), len(rows[0])), dtype=object)
        for i, row in enumerate(rows):
            for j, entry in enumerate(row):
                array[i, j] = entry
        return array

    def line(entries: list[Entry]) -> np.ndarray:
        array = np.empty(len(entries), dtype=object)
        array[:] = entries
        return array

    found: dict[str, np.ndarray] = {}
    if problem.vector:
        found["jacobian"] = grid(derived.first)
        if derived.new:
            found["jacobian_new"] = grid(derived.new)
    else:
        found["gradient"] = line(derived.first[0])
        if derived.hessian:
            found["hessian"] = grid(derived.hessian)
        if derived.new:
            found["gradient_new"] = line(derived.new[0])
    if derived.substituted:
        found["substituted"] = (
            line(derived.substituted)
            if problem.vector
            else np.array(derived.substituted[0], dtype=object)
        )
    return found


def _at_results(
    entries: dict[str, np.ndarray], derived: Derivatives, problem: ExprProblem
) -> dict[str, np.ndarray]:
    """``<name>_at`` -> entries, for every result whose entries all have a number at the point."""
    candidates = {
        "function_at": (
            np.array(derived.functions[0], dtype=object)
            if not problem.vector
            else _objects(derived.functions)
        ),
        **{f"{k}_at": v for k, v in entries.items() if k != "substituted"},
    }
    return {k: v for k, v in candidates.items() if all(e.number_at is not None for e in v.flat)}


def _objects(items: list[Any]) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _expected_values(
    value: Any, path: FieldPath, shape: tuple[int, ...], key: str
) -> list[tuple[tuple[int, ...], Any, FieldPath]]:
    """The spec's nested list for ``key``, checked against ``shape``: (index, value, path) triples."""
    if not shape:
        if isinstance(value, list):
            raise ShapeError(path, f"expected.{key} is a single value, got a list")
        return [((), value, path)]
    if not isinstance(value, list):
        raise ShapeError(
            path, f"expected.{key} must be a list of {shape[0]} entries, got {describe(value)}"
        )
    if len(value) != shape[0]:
        raise ShapeError(
            path, f"expected.{key} has {len(value)} entries here but {key} has {shape[0]}"
        )
    found = []
    for i, item in enumerate(value):
        for index, leaf, leaf_path in _expected_values(item, (*path, i), shape[1:], key):
            found.append(((i, *index), leaf, leaf_path))
    return found


def check_expected(
    engine: Engine,
    derived: Derivatives,
    entries: dict[str, np.ndarray],
    at_entries: dict[str, np.ndarray],
    points: dict[str, dict[Any, Any] | None],
) -> dict[str, list[Comparison]]:
    """Compare each expected answer: expressions symbolically, numbers at the point."""
    p = engine.p
    available = {**entries, **at_entries}
    results: dict[str, list[Comparison]] = {}
    for key, raw in p.expected_raw.items():
        path: FieldPath = ("expected", key)
        if key not in available:
            if key in EXPECTABLE and key.endswith("_at"):
                reason = (
                    "no point is given (add at:)"
                    if p.point is None
                    else "it has no number at this point"
                )
                raise SpecError(path, f"{key} cannot be checked: {reason}", at_key=True)
            import difflib

            close = difflib.get_close_matches(str(key), list(available), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SpecError(
                path,
                f"unknown result {key!r}{hint or '.'} This problem's results: {', '.join(available)}",
                at_key=True,
            )
        table = available[key]
        space = "new" if key.removesuffix("_at") in NEW_SPACE_RESULTS else "old"
        results[key] = [
            _compare(engine, derived, key, index, table[index], value, entry_path, points, space)
            for index, value, entry_path in _expected_values(raw, path, table.shape, key)
        ]
    return results


def _compare(
    engine: Engine,
    derived: Derivatives,
    key: str,
    index: tuple[int, ...],
    entry: Entry,
    value: Any,
    path: FieldPath,
    points: dict[str, dict[Any, Any] | None],
    space: str,
) -> Comparison:
    """One expected entry against its result.  A constant for a value at the point, or for a
    result that depends on the variables, is compared with the value at ``at``; an expression
    is compared symbolically (then at test points)."""
    p, sp = engine.p, engine.sp
    given = parse(
        value, path, ResultNames(engine, derived), p.generic, what="an expected answer"
    ).value
    shown_given = value if isinstance(value, str) else parse_number(value, path)
    constant = not given.free_symbols and not _has_opaque(given)
    at_point = key.endswith("_at") or (
        constant
        and bool(engine.notation.placeholders(entry.raw).free_symbols or _has_opaque(entry.raw))
    )
    if at_point:
        if not constant:
            raise SpecError(
                path, f"expected.{key} holds numbers (values at the point), got {describe(value)}"
            )
        if points[space] is None:
            raise SpecError(
                path,
                f"{describe(value)} is a number but {entry.label} depends on the variables; "
                "write the expression, or give the point with at: to compare values there",
            )
        if entry.number_at is None:
            verdict = Verdict("undecided")
        else:
            computed = (
                entry.exact_at if entry.exact_at is not None else sp.Float(entry.number_at, 30)
            )
            verdict = engine.decide(computed, given, p.tolerance, point=None)
        return Comparison(key, index, entry.label, shown_given, entry.number_at, verdict)
    new_names = set(p.new_symbols.values())
    if space == "new" or (p.substitution and engine.canonical(given).free_symbols & new_names):
        lhs, rhs, point = engine.canonical(entry.raw), engine.canonical(given), points["new"]
    else:
        placeholders = engine.notation.placeholders
        lhs, rhs, point = placeholders(entry.raw), placeholders(given), points["old"]
    verdict = engine.decide(lhs, rhs, p.tolerance, point=point)
    return Comparison(key, index, entry.label, shown_given, entry, verdict)


def _checks(
    problem: ExprProblem,
    claims: list[Claim],
    comparisons: dict[str, list[Comparison]],
    engine: Engine,
) -> list[Check]:
    checks = []
    for i, claim in enumerate(claims):
        name = "identity" if len(claims) == 1 else f"identity[{i}]"
        verdict = claim.verdict
        wrong = ()
        if not verdict.ok:
            wrong = (
                WrongCell(
                    (), Fraction(0), verdict.error if verdict.status == "refuted" else "undecided"
                ),
            )
        checks.append(
            Check(
                name=name,
                ok=verdict.ok,
                cells=1,
                wrong=wrong,
                max_abs_error=verdict.error,
                tolerance=problem.tolerance,
                expected=np.array(claim.text, dtype=object),
            )
        )
    for key, rows in comparisons.items():
        shape = _shape_of(rows)
        expected = np.empty(shape, dtype=object)
        wrong_cells = []
        for row in rows:
            expected[row.index] = row.given
            if not row.verdict.ok:
                computed = row.computed
                if isinstance(computed, Entry):
                    computed = engine.notation.text(
                        computed.shown if computed.shown is not None else computed.raw
                    )
                wrong_cells.append(
                    WrongCell(
                        row.index, row.given, computed if computed is not None else "undefined"
                    )
                )
        checks.append(
            Check(
                name=key,
                ok=not wrong_cells,
                cells=len(rows),
                wrong=tuple(wrong_cells),
                max_abs_error=max((r.verdict.error for r in rows), default=0.0),
                tolerance=problem.tolerance,
                expected=expected,
            )
        )
    return checks


def _shape_of(rows: list[Comparison]) -> tuple[int, ...]:
    if not rows or not rows[0].index:
        return ()
    return tuple(max(r.index[d] for r in rows) + 1 for d in range(len(rows[0].index)))


# ---------------------------------------------------------------------------
# Finite differences


class _Undefined(Exception):
    pass


def finite_differences(
    engine: Engine, derived: Derivatives, point: dict[Any, Any]
) -> GradientCheck | None:
    """Each first partial at the point against float64 central differences of the function."""
    p = engine.p
    if any(e.number_at is None for row in derived.first for e in row):
        return None
    floats = {name: float(engine.sp.N(point[p.symbols[name]], 30)) for name in p.variables}
    merged: GradientCheck | None = None
    for i, component in enumerate(p.components):

        def loss(params: Mapping[str, np.ndarray], component: Any = component) -> float:
            values = {
                p.symbols[name]: engine.sp.Float(float(params[name]), 30) for name in p.variables
            }
            number = engine.evaluate(component, values)
            if number is None:
                raise _Undefined()
            return number

        try:
            params = {name: np.array(floats[name]) for name in p.variables}
            analytic = {
                name: np.array(float(derived.first[i][j].number_at))
                for j, name in enumerate(p.variables)
            }
            result = check_gradients(loss, params, analytic)
        except (_Undefined, OverflowError):
            # Undefined near the point, or values beyond float64: no numeric check.
            return None
        if merged is None:
            merged = result
        else:
            merged.ok = merged.ok and result.ok
            merged.max_abs_error = max(merged.max_abs_error, result.max_abs_error)
            merged.entries_checked += result.entries_checked
            merged.entries_total += result.entries_total
            merged.unresolved += result.unresolved
    return merged


# ---------------------------------------------------------------------------
# Solving


def solve(spec: Mapping[str, Any], options: common.SolveOptions) -> Solution:
    """Read, differentiate, check and explain one expr spec."""
    sp = _sympy()
    budget = Budget(TOTAL_SECONDS)
    try:
        problem = budget.run(lambda: read_problem(spec))
    except TimeUp:
        raise LimitError(
            ("function",), f"reading the expressions took longer than {TOTAL_SECONDS:g} s"
        ) from None
    engine = Engine(problem, budget)
    derived = derive(engine)
    problem.generic.allow_new = False  # identities and answers use the spec's functions only

    points: dict[str, dict[Any, Any] | None] = {"old": None, "new": None}
    if problem.point is not None:
        given = _point_symbols(problem, problem.point)
        if problem.point_space == "new":
            points["new"] = given
            points["old"] = {
                problem.symbols[v]: e.xreplace(given) for v, e in problem.substitution.items()
            }
        else:
            points["old"] = given
    for space, entries in (
        ("old", [*derived.functions, *(e for row in derived.first for e in row)]),
        ("old", [e for row in derived.hessian or () for e in row]),
        ("new", [e for row in derived.new or () for e in row]),
    ):
        if points[space] is not None:
            for entry in entries:
                engine.at_point(entry, points[space])

    claims = check_identities(
        engine, derived, points["new"] if problem.substitution else points["old"]
    )
    entries = _result_entries(derived, problem)
    at_entries = _at_results(entries, derived, problem) if problem.point is not None else {}
    comparisons = check_expected(engine, derived, entries, at_entries, points)

    tidy_all(engine, derived)

    def explain() -> Solution:
        gradient_check = None
        if options.gradient_check and points["old"] is not None:
            gradient_check = finite_differences(engine, derived, points["old"])

        explainer = _Explainer(engine, derived, claims, comparisons, points, options)
        results = explainer.results(entries, at_entries)
        return Solution(
            kind=KIND,
            title=problem.title,
            results=results,
            exact=False,
            conventions=explainer.conventions(sp.__version__),
            sections=explainer.sections(),
            checks=_checks(problem, claims, comparisons, engine),
            gradient_check=gradient_check,
            index_base=problem.index_base,
            result_items=explainer.result_items(at_entries),
        )

    # Printing a large expression (text, LaTeX) and evaluating it numerically can take as
    # long as the symbolic work: the explanation runs on what is left of the budget, or
    # EXPLAIN_SECONDS when less is left.  (A step inside it that has a cap of its own is
    # then bounded by that time only.)
    seconds = max(engine.budget.remaining(), EXPLAIN_SECONDS)
    try:
        return Budget(seconds).run(explain)
    except TimeUp:
        raise LimitError(
            ("function",),
            f"writing out the results took longer than the time limit ({TOTAL_SECONDS:g} s for "
            f"the whole run, at least {EXPLAIN_SECONDS:g} s for the output); this expression "
            "is too large for a symbolic answer",
        ) from None
    except RecursionError:
        raise LimitError(
            ("function",), "writing out the results: the expression is nested too deeply"
        ) from None


# ---------------------------------------------------------------------------
# Explaining


class _Explainer:
    """Builds the sections, the results and the results summary of an expr run."""

    def __init__(
        self,
        engine: Engine,
        derived: Derivatives,
        claims: list[Claim],
        comparisons: dict[str, list[Comparison]],
        points: dict[str, dict[Any, Any] | None],
        options: common.SolveOptions,
    ):
        self.engine = engine
        self.p = engine.p
        self.d = derived
        self.claims = claims
        self.comparisons = comparisons
        self.points = points
        self.options = options
        self.text = engine.notation.text

    # small pieces -----------------------------------------------------------
    def shown(self, entry: Entry) -> str:
        text = self.text(entry.shown if entry.shown is not None else entry.raw)
        return text if entry.simplified else f"{text}   (not simplified: time limit)"

    def arguments(self, space: str = "old") -> str:
        return ", ".join(self.p.variables if space == "old" else self.p.new_variables)

    def point_text(self, space: str) -> str:
        point = self.points[space]
        if point is None:
            return ""
        return ", ".join(f"{symbol} = {value}" for symbol, value in point.items())

    def capped(self, section: Section, items: list[Item]) -> None:
        shown = self.options.cap(len(items))
        for item in items[:shown]:
            section.add(item)
        section.omitted += len(items) - shown

    # conventions and sections ---------------------------------------------------
    def conventions(self, version: str) -> list[str]:
        p = self.p
        f = p.name
        lines = [
            f"symbolic, with SymPy {version}; variables are real; log is the natural logarithm; ^ and ** are powers",
            f"each result is simplified within {SIMPLIFY_SECONDS:g} s, all symbolic work within {TOTAL_SECONDS:g} s; "
            "a result not simplified in time is shown as differentiated and says so",
            f"names: {f}_{p.variables[0]} = ∂{f}/∂{p.variables[0]}"
            + (
                f", {f}_{p.variables[0]}_{p.variables[-1]} = ∂²{f}/∂{p.variables[0]}∂{p.variables[-1]}"
                if len(p.variables) > 1
                else ""
            )
            + " (in identities and expected answers)",
            "an identity or expected expression is proved when the difference simplifies to 0; "
            f"otherwise it is tested at up to {PROBE_POINTS} points (|difference| ≤ atol + rtol·|expected|)",
        ]
        if p.generic.objects:
            names = ", ".join(p.generic.objects)
            g = next(iter(p.generic.objects))
            lines.append(
                f"generic functions {names}: their derivatives stay symbols ({g}_x = ∂{g}/∂x)"
            )
        if p.substitution:
            subs = ", ".join(f"{v} = {t}" for v, t in p.substitution_texts.items())
            lines.append(
                f"change of variables {subs}; new variables {self.arguments('new')}; "
                f"after it, {f}_{p.variables[0]} stands for ∂{f}/∂{p.variables[0]} at the substituted point"
            )
        if p.vector:
            lines.append(
                f"components {p.component_name(0)} … {p.component_name(len(p.components) - 1)} (index_base {p.index_base})"
            )
        return lines

    def sections(self) -> list[Section]:
        wanted = self.options.wants
        built = []
        for key, build in (
            ("problem", self.problem_section),
            ("partials", self.partials_section),
            ("chain_rule", self.chain_rule_section),
            ("hessian", self.hessian_section),
            ("point", self.point_section),
            ("identity", self.identity_section),
            ("expected", self.expected_section),
            ("latex", self.latex_section),
        ):
            if wanted(key):
                section = build()
                if section is not None:
                    built.append(section)
        return built

    def function_lines(self) -> list[str]:
        """f(x, y) = as written = expanded (definitions put in), or a generic function's note."""
        from sympy.core.function import AppliedUndef

        p = self.p
        lines = []
        for i, component in enumerate(p.components):
            head = f"{p.component_name(i)}({self.arguments()})"
            expanded, written = self.text(component), p.component_texts[i]
            bare = isinstance(component, AppliedUndef) and tuple(component.args) == tuple(
                p.symbols.values()
            )
            if bare:
                lines.append(
                    f"{head}: a generic function (no formula; its derivatives stay symbols)"
                )
            elif any(re.search(rf"\b{re.escape(name)}\b", written) for name in p.definitions):
                lines.append(f"{head} = {written} = {expanded}")
            else:
                lines.append(f"{head} = {expanded}")
        return lines

    def exact_text(self, entry: Entry, space: str) -> str:
        """The exact value at the point, from the simplified form; "…" when long."""
        point = self.points[space]
        if point is None or entry.number_at is None:
            return "—"
        expr = self.engine.notation.placeholders(
            entry.shown if entry.shown is not None else entry.raw
        )
        exact = None
        if _exact_is_cheap(expr, point):
            exact = self.engine.budget.attempt(
                lambda: expr.xreplace(point), None, cap=PROBE_SECONDS
            )
        if exact is None:
            return "—"
        if _too_many_digits(exact):
            return "…"
        text = self.text(exact)
        return text if len(text) <= MAX_CELL_CHARS else "…"

    def problem_section(self) -> Section:
        p = self.p
        section = Section("problem", "Problem")
        for line in self.function_lines():
            section.add(Note(line))
        for name, text in p.definition_texts.items():
            section.add(Note(f"where {name} = {text}"))
        if p.substitution:
            subs = ", ".join(f"{v} = {t}" for v, t in p.substitution_texts.items())
            section.add(
                Note(f"change of variables: {subs} (new variables {self.arguments('new')})")
            )
        if p.point is not None:
            section.add(Note(f"point: {self.point_text(p.point_space)}"))
        for claim in self.claims:
            section.add(Note(f"claim: {_claim_text(claim)}"))
        return section

    def derivation(self, entry: Entry, of: str, by: str) -> Item:
        raw = self.text(entry.raw)
        head = f"{entry.label} = ∂/∂{by} ({of})"
        if len(raw) > MAX_RAW_CHARS:  # the raw derivative says little at this length
            return Note(f"{head} = {self.shown(entry)}   (differentiated, then simplified)")
        if entry.simplified and entry.shown is not None and self.text(entry.shown) != raw:
            return Formula(entry.label, head, (raw,), self.text(entry.shown))
        return Note(f"{head} = {self.shown(entry)}")

    def partials_section(self) -> Section:
        p = self.p
        section = Section("partials", "Partial derivatives")
        items = [
            self.derivation(entry, self.text(p.components[i]), p.variables[j])
            for i, row in enumerate(self.d.first)
            for j, entry in enumerate(row)
        ]
        self.capped(section, items)
        return section

    def chain_rule_section(self) -> Section | None:
        p, d = self.p, self.d
        if not p.substitution or d.change is None or d.new is None:
            return None
        section = Section("chain_rule", "Chain rule through the change of variables")
        subs = ", ".join(f"{v} = {t}" for v, t in p.substitution_texts.items())
        section.add(
            Note(f"with {subs}, each old variable is a function of {self.arguments('new')}:")
        )
        section.add(
            SymbolTable(
                label=f"∂({self.arguments()})/∂({self.arguments('new')})",
                columns=tuple(f"∂/∂{u}" for u in p.new_variables),
                rows=tuple(p.variables),
                cells=tuple(tuple(self.text(c) for c in row) for row in d.change),
            )
        )
        items: list[Item] = []
        for i, row in enumerate(d.new):
            f = p.component_name(i)
            for k, u in enumerate(p.new_variables):
                symbolic = " + ".join(f"∂{f}/∂{v}·∂{v}/∂{u}" for v in p.variables)
                numeric = " + ".join(
                    f"{self.engine.notation.factor(d.first[i][a].shown if d.first[i][a].shown is not None else d.first[i][a].raw)}"
                    f"·{self.engine.notation.factor(d.change[a][k])}"
                    for a in range(len(p.variables))
                )
                items.append(
                    Formula(
                        row[k].label, f"{row[k].label} = {symbolic}", (numeric,), self.shown(row[k])
                    )
                )
        self.capped(section, items)
        section.add(
            Note(
                f"∂{p.component_name(0)}/∂{p.variables[0]} and the other old partials are taken at "
                f"{subs}, so every result is in {self.arguments('new')}"
            )
        )
        return section

    def hessian_section(self) -> Section | None:
        p, d = self.p, self.d
        if p.vector:
            return None
        section = Section("hessian", "Second derivatives (Hessian)")
        if d.hessian is None:
            section.add(Note(f"Hessian {d.hessian_note}"))
            return section
        items: list[Item] = []
        n = len(p.variables)
        for a in range(n):
            for b in range(a, n):
                first = d.first[0][a]
                of = self.text(first.shown if first.shown is not None else first.raw)
                items.append(self.derivation(d.hessian[a][b], of, p.variables[b]))
        self.capped(section, items)
        if n > 1:
            x, y, f = p.variables[0], p.variables[1], p.name
            section.add(
                Note(
                    f"mixed partials agree (∂²{f}/∂{x}∂{y} = ∂²{f}/∂{y}∂{x}), so each pair is derived once"
                )
            )
        for item in self.hessian_table():
            section.add(item)
        return section

    def table(
        self, label: str, rows: list[str], columns: list[str], entries: list[list[Entry]]
    ) -> list[Item]:
        """A grid of results when every entry is short; one line per entry otherwise."""
        cells = [
            [self.text(e.shown if e.shown is not None else e.raw) for e in row] for row in entries
        ]
        if max(len(c) for row in cells for c in row) <= MAX_CELL_CHARS:
            return [SymbolTable(label, tuple(columns), tuple(rows), tuple(tuple(r) for r in cells))]
        return [Note(f"{label}:")] + [
            Note(f"    {e.label} = {self.shown(e)}") for row in entries for e in row
        ]

    def hessian_table(self) -> list[Item]:
        p = self.p
        assert self.d.hessian is not None
        n = len(p.variables)
        if max(len(self.text(e.shown)) for row in self.d.hessian for e in row) > MAX_CELL_CHARS:
            upper = [[self.d.hessian[a][b] for b in range(a, n)] for a in range(n)]
            return [Note(f"Hessian of {p.name} (symmetric):")] + [
                Note(f"    {e.label} = {self.shown(e)}") for row in upper for e in row
            ]
        return self.table(f"Hessian of {p.name}", p.variables, p.variables, self.d.hessian)

    def point_rows(self) -> list[tuple[str, Entry, str]]:
        """(label, entry, space of the point it is evaluated at) for every result with a value."""
        d = self.d
        rows = [(e.label, e, "old") for e in [*d.functions, *(e for row in d.first for e in row)]]
        if d.hessian is not None:
            n = len(d.hessian)
            rows += [
                (d.hessian[a][b].label, d.hessian[a][b], "old")
                for a in range(n)
                for b in range(a, n)
            ]
        if self.points["new"] is not None:
            rows += [(e.label, e, "new") for row in d.new or () for e in row]
        return rows

    def point_section(self) -> Section | None:
        p = self.p
        if p.point is None:
            return None
        section = Section("point", "Values at the point")
        where = self.point_text("old")
        if p.point_space == "new":
            where = f"{self.point_text('new')}, that is {where}"
        rows = self.point_rows()
        if all(e.number_at is None for _, e, _ in rows):
            reasons = sorted(
                {e.note_at.removeprefix("not a number: ") for _, e, _ in rows if e.note_at}
            )
            section.add(Note(f"at {where}: no result is a number: {'; '.join(reasons)}"))
            return section
        shown = self.options.cap(len(rows))
        exact = [self.exact_text(e, space) for _, e, space in rows[:shown]]
        values = [e.number_at if e.number_at is not None else e.note_at for _, e, _ in rows[:shown]]
        informative = any(text not in ("…", "—") for text in exact)
        section.add(
            SymbolTable(
                label=f"at {where}",
                columns=("exact", "value") if informative else ("value",),
                rows=tuple(label for label, _, _ in rows[:shown]),
                cells=tuple(
                    (text, value) if informative else (value,)
                    for text, value in zip(exact, values, strict=True)
                ),
            )
        )
        section.omitted = len(rows) - shown
        return section

    def identity_section(self) -> Section | None:
        if not self.claims:
            return None
        section = Section("identity", "Identity")
        for claim in self.claims:
            section.add(Note(f"claim: {_claim_text(claim)}"))
            names = ResultNames(self.engine, self.d, mode="shown")
            shown = parse(claim.raw, claim.path, names, self.p.generic, allow_equation=True)
            for name, value in names.used.items():
                text = self.text(self.engine.canonical(value))
                if text != name:
                    section.add(Note(f"    {name} = {text}"))
            if shown.sides is not None:
                left, right = (self.text(self.engine.canonical(side)) for side in shown.sides)
                section.add(Note(f"put together: {left} = {right}"))
            else:
                section.add(
                    Note(f"put together: {self.text(self.engine.canonical(shown.value))} = 0")
                )
            verdict = claim.verdict
            if verdict.simplified is None:
                section.add(Note("simplified: not within the time limit"))
            else:
                section.add(Note(f"simplified: {self.text(verdict.simplified)}"))
            section.add(sentence(*_verdict_sentence(verdict)))
        return section

    def expected_section(self) -> Section | None:
        if not self.comparisons:
            return None
        section = Section("expected", "Expected answers")
        items: list[Item] = []
        for rows in self.comparisons.values():
            for row in rows:
                computed = row.computed
                if isinstance(computed, Entry):
                    computed = self.shown(computed)
                elif computed is not None:
                    computed = _number(computed)
                given = row.given if isinstance(row.given, str) else _number(row.given)
                index = "".join(f"[{i}]" for i in row.index)
                items.append(
                    sentence(
                        f"{row.key}{index} ({row.label}): expected ",
                        given,
                        ", computed ",
                        computed if computed is not None else "no number",
                        " — ",
                        *_verdict_sentence(row.verdict, expected=True),
                    )
                )
        self.capped(section, items)
        return section

    def latex_section(self) -> Section:
        section = Section("latex", "LaTeX")
        items: list[Item] = [Math(label, latex) for label, latex in self.latex_lines()]
        self.capped(section, items)
        return section

    def latex_lines(self) -> list[tuple[str, str]]:
        latex = self.engine.notation.latex
        d = self.d
        lines = [(e.label, latex(e.raw)) for e in d.functions]
        lines += [(e.label, latex(e.shown)) for row in d.first for e in row]
        if d.hessian is not None:
            n = len(d.hessian)
            lines += [
                (d.hessian[a][b].label, latex(d.hessian[a][b].shown))
                for a in range(n)
                for b in range(a, n)
            ]
        lines += [(e.label, latex(e.shown)) for row in d.new or () for e in row]
        lines += [(f"identity: {c.text}", self.claim_latex(c)) for c in self.claims]
        return lines

    # results -------------------------------------------------------------------
    def results(
        self, entries: dict[str, np.ndarray], at_entries: dict[str, np.ndarray]
    ) -> dict[str, Any]:
        p = self.p
        text = np.vectorize(
            lambda e: self.text(e.shown if e.shown is not None else e.raw), otypes=[object]
        )
        latex = np.vectorize(
            lambda e: self.engine.notation.latex(e.shown if e.shown is not None else e.raw),
            otypes=[object],
        )
        functions = [self.text(c) for c in p.components]
        results: dict[str, Any] = {
            "function": functions if p.vector else functions[0],
            "variables": list(p.variables),
        }
        if p.substitution:
            results["new_variables"] = list(p.new_variables)
        for name, table in entries.items():
            results[name] = text(table).tolist()
        if p.point is not None:
            results["point"] = {
                str(symbol): _as_fraction(value)
                if getattr(value, "is_Rational", False)
                else _real(value.evalf(30))
                for symbol, value in (self.points[p.point_space] or {}).items()
            }
        for name, table in at_entries.items():
            results[name] = np.vectorize(lambda e: e.number_at, otypes=[object])(table)
        if self.claims:
            claims = [self.claim_document(c) for c in self.claims]
            results["identity"] = claims[0] if len(claims) == 1 else claims
        latex_all = {"function": [self.engine.notation.latex(c) for c in p.components]}
        if not p.vector:
            latex_all["function"] = latex_all["function"][0]
        for name, table in entries.items():
            latex_all[name] = latex(table).tolist()
        results["latex"] = latex_all
        late = [e.label for e in self.d.entries() if not e.simplified]
        if late:
            results["not_simplified"] = late
        return results

    def claim_latex(self, claim: Claim) -> str:
        """The claim as the spec wrote it (f_x stays f_{x}), in LaTeX."""
        names = ResultNames(self.engine, self.d, mode="written")
        written = parse(claim.raw, claim.path, names, self.p.generic, allow_equation=True)
        latex = self.engine.notation.latex
        if written.sides is not None:
            return f"{latex(written.sides[0])} = {latex(written.sides[1])}"
        return f"{latex(written.value)} = 0"

    def claim_document(self, claim: Claim) -> dict[str, Any]:
        verdict = claim.verdict
        return {
            "claim": claim.text,
            "status": verdict.status,
            "simplified": None if verdict.simplified is None else self.text(verdict.simplified),
            "counterexample": {k: v for k, v in verdict.witness.items()} or None,
            "difference": None
            if verdict.status != "refuted"
            else (verdict.left or 0.0) - (verdict.right or 0.0),
            "points_tested": verdict.points,
            "latex": self.claim_latex(claim),
        }

    def result_items(self, at_entries: dict[str, np.ndarray]) -> list[Item]:
        """The results section's summary: each result in the spec's notation."""
        p, d = self.p, self.d
        items: list[Item] = [Note(line) for line in self.function_lines()]
        if p.vector:
            names = [p.component_name(i) for i in range(len(p.components))]
            label = f"Jacobian ∂({', '.join(names)})/∂({self.arguments()})"
            items += self.table(label, names, [f"∂/∂{v}" for v in p.variables], d.first)
            for row in d.new or ():
                items += [Note(f"{e.label} = {self.shown(e)}") for e in row]
        else:
            items += [Note(f"{e.label} = {self.shown(e)}") for e in d.first[0]]
        if d.hessian is not None:
            items += self.hessian_table()
        if not p.vector:
            for row in d.new or ():
                items += [Note(f"{e.label} = {self.shown(e)}") for e in row]
        if at_entries and p.point is not None:
            rows = [(label, e) for label, e, _ in self.point_rows() if e.number_at is not None]
            items.append(
                SymbolTable(
                    label=f"at {self.point_text(p.point_space)}",
                    columns=("value",),
                    rows=tuple(label for label, _ in rows),
                    cells=tuple((e.number_at,) for _, e in rows),
                )
            )
        for claim in self.claims:
            items.append(Note(f"identity {claim.text}: {claim.verdict.status}"))
        return items


def _claim_text(claim: Claim) -> str:
    return claim.text if claim.parsed.sides is not None else f"{claim.text} = 0"


def _verdict_sentence(verdict: Verdict, *, expected: bool = False) -> tuple[Any, ...]:
    """One line saying what a comparison found, as sentence pieces (its numbers are written by
    the renderer).  ``expected``: the comparison is of a computed result (the left side
    Engine.decide got) with an expected answer (the right side), and the sentence names them
    so, in the order "expected …, computed …" its line uses."""
    if verdict.status == "proved":
        return ("✓ proved: the difference simplifies to 0",)
    if verdict.status == "numerical":
        if verdict.points == 1:  # two numbers: one comparison is all there is
            return ("✓ equal within the tolerance",)
        return (
            f"✓ equal at {verdict.points} test points (SymPy did not simplify the difference "
            "to 0, so this is numerical evidence, not a proof)",
        )
    if verdict.status == "refuted":
        where: list[Any] = []
        for k, v in verdict.witness.items():
            where += [", " if where else "", f"{k} = ", _number(v)]
        place = ("at ", *where) if where else ("as numbers",)
        if expected:
            sides: tuple = (
                ": the expected side is ",
                _number(verdict.right),
                ", the computed side ",
                _number(verdict.left),
            )
        else:
            sides = (
                ": the left side is ",
                _number(verdict.left),
                ", the right side ",
                _number(verdict.right),
            )
        return ("✗ refuted ", *place, *sides)
    return (
        "✗ undecided: SymPy did not simplify the difference to 0 and no test point gave a real value to compare",
    )


def _number(value: Any) -> Any:
    """A number for a sentence piece: exact as a Fraction, else a float ("undefined" for None)."""
    if isinstance(value, Fraction) or value is None:
        return "undefined" if value is None else value
    return float(value)
