"""Symbolic derivatives (kind ``expr``): partials, gradient, Jacobian, Hessian,
a change of variables by the chain rule, values at a point, and identities: how a spec is
read (``read(spec, limits) -> ExprProblem``) and run (``run(problem, options) -> Run``,
``checks``, ``finite_differences``, ``within_time_limit``) for core/solve.py, its
usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``) and its practice profile
(``PRACTICE``, for ``gradcalc random``).

SymPy is the engine (core/kinds/expr_engine.py).  It is imported inside the functions that
need it, so that importing this module (the registry does, to check its sections) and every
other command stay as fast as before.  Expressions are read by
:mod:`gradcalc.core.expr_parse`, never by Python's eval.

Names in ``identity`` and ``expected`` (the spec's function is ``f`` unless
``names: {function: L}`` says otherwise, or the function is a bare generic
call such as ``g(x, y)``):

- ``f``: the function's value; ``f_x``: ∂f/∂x; ``f_x_y``: ∂²f/∂x∂y (variable
  names joined by ``_``); under ``substitute`` also ``f_r`` for a new variable.
- for a vector function, ``f_0``, ``f_1``, … (from ``index_base``) are its
  components and ``f_0_x`` their partial derivatives.
- for a generic function ``g(x, y)`` inside the function, ``g_x`` is ∂g/∂x.

Time: every step that may run long runs under a :class:`~gradcalc.core.deadline.Budget` of
TOTAL_SECONDS, from reading the spec on.  Checks (identities, expected answers) run before
the cosmetic simplification of the results, so the time goes to what decides the exit status
first.  Writing out the results, the checks and the explanation (printing and evaluating
large expressions) runs on what is left, or EXPLAIN_SECONDS when less is left.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.deadline import Budget, TimeUp
from gradcalc.core.errors import FieldPath, LimitError, SpecError
from gradcalc.core.expr_parse import RESERVED_NAMES, GenericFunctions, Names, parse, valid_name
from gradcalc.core.kinds.expr_checks import (
    EXPECTABLE,
    Claim,
    Comparison,
    at_results,
    check_expected,
    check_identities,
    partials_against_differences,
    result_entries,
    to_checks,
)
from gradcalc.core.kinds.expr_derive import Derivatives, derive, tidy_all
from gradcalc.core.kinds.expr_engine import Engine, Seconds, sympy_module
from gradcalc.core.kinds.expr_read import (
    MAX_COMPONENTS,
    MAX_VARIABLES,
    check_free_name,
    check_names_are_not_partials,
    read_definitions,
    read_expected_keys,
    read_identities,
    read_point,
    read_substitution,
)
from gradcalc.core.kinds.expr_results import results_document
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.profile import Draw, Knob, Profile, Variant
from gradcalc.core.outcome import Check, GradientCheck, Run
from gradcalc.core.records import record
from gradcalc.core.values import describe

KIND = "expr"
KEYS = registry.field_names(KIND)
SECTIONS = registry.sections(KIND)

# Time limits (seconds), read when a spec is read and run.  Documented in docs/expr.md.
TOTAL_SECONDS = 20.0  # all symbolic work of one run
SIMPLIFY_SECONDS = 1.0  # simplifying one shown result
CHECK_SECONDS = 5.0  # simplifying one identity or one expected-answer difference
PROBE_SECONDS = 1.0  # evaluating one expression at one point
EXPLAIN_SECONDS = 5.0  # writing out the results, when less of TOTAL_SECONDS is left

RESULTS = EXPECTABLE  # every result an expr problem can have, as for the other kinds
# The function is written f, or g for a spec whose function is the bare call g(x, y).
NAME_DEFAULTS = {"function": "f"}

T = TypeVar("T")


# ---------------------------------------------------------------------------
# Reading


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
    # The time allowed for the whole run, which began when the spec was read (set by read()).
    budget: Budget | None = None

    @property
    def all_symbols(self) -> dict[str, Any]:
        return {**self.symbols, **self.new_symbols}

    def component_name(self, i: int) -> str:
        return f"{self.name}_{i + self.index_base}" if self.vector else self.name


def read(spec: Mapping[str, Any], limits: common.Limits) -> ExprProblem:
    """Read an expr spec within TOTAL_SECONDS; the run gets what is left of them (its budget)."""
    # SymPy is imported before the time starts: its import is no part of the work, and an
    # import cut short would leave a half-initialised module behind.
    sympy_module()
    budget = Budget(TOTAL_SECONDS)
    try:
        problem = budget.run(lambda: read_problem(spec))
    except TimeUp:
        raise LimitError(
            ("function",), f"reading the expressions took longer than {TOTAL_SECONDS:g} s"
        ) from None
    problem.budget = budget
    return problem


def read_problem(spec: Mapping[str, Any]) -> ExprProblem:
    """Validate an expr spec (plain data) and parse its expressions, or raise SpecError."""
    sp = sympy_module()
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
    definitions, definition_texts = read_definitions(spec, symbols, generic)
    vector, components, component_texts = _read_function(spec, symbols, definitions, generic)
    name = _function_name(spec, components, symbols, vector, generic)
    for other in (*variables, *definitions):
        if other == name:
            raise SpecError(
                ("names", "function"),
                f"the function's name {name!r} is already a variable or definition",
            )

    substitution, substitution_texts, new_variables, new_symbols = read_substitution(
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
        identity_raw=read_identities(spec),
        expected_raw=read_expected_keys(spec),
    )
    check_names_are_not_partials(problem)
    problem.point, problem.point_space = read_point(spec, problem)
    return problem


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
        check_free_name(name, path, "a variable")
        if name in names:
            raise SpecError(path, f"variable {name!r} is listed twice")
        names.append(name)
    return names


def _read_function(
    spec: Mapping[str, Any],
    symbols: dict[str, Any],
    definitions: dict[str, Any],
    generic: GenericFunctions,
) -> tuple[bool, list[Any], list[str]]:
    """(vector?, the function's components parsed, their texts): one expression or a list."""
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
    names = Names({**symbols, **definitions}, describe=f"the variables are {', '.join(symbols)}")
    components, component_texts = [], []
    for i, item in enumerate(items):
        path: FieldPath = ("function", i) if vector else ("function",)
        parsed = parse(item, path, names, generic, what="the function")
        components.append(parsed.value)
        component_texts.append(parsed.text)
    return vector, components, component_texts


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


# ---------------------------------------------------------------------------
# Running


@record
class ExprTrace:
    """What a run derived and decided, for its checks, its results and its explanation."""

    engine: Engine  # the symbolic work of the run, and its notation
    derived: Derivatives
    # "old"/"new" -> symbol -> exact value: the point in the spec's variables and in the
    # new ones of a substitution (None where there is no point).
    points: dict[str, dict[Any, Any] | None]
    claims: list[Claim]
    comparisons: dict[str, list[Comparison]]  # expected result name -> one per entry
    entries: dict[str, np.ndarray]  # result name -> object array of its Entry records
    at_entries: dict[str, np.ndarray]  # <name>_at -> the same, where each has a number
    # The time for writing out the results, the checks and the explanation.
    writing: Budget


def run(problem: ExprProblem, options: common.SolveOptions) -> Run:
    """Differentiate, evaluate at the point, decide the identities and expected answers, then
    simplify what is shown; the results are written out within the writing time."""
    seconds = Seconds(
        total=TOTAL_SECONDS, simplify=SIMPLIFY_SECONDS, check=CHECK_SECONDS, probe=PROBE_SECONDS
    )
    assert problem.budget is not None  # set by read()
    engine = Engine(problem, problem.budget, seconds)
    derived = derive(engine)
    problem.generic.allow_new = False  # identities and answers use the spec's functions only
    points = _points(problem)
    _evaluate_at_points(engine, derived, points)
    claims = check_identities(
        engine, derived, points["new"] if problem.substitution else points["old"]
    )
    entries = result_entries(derived, problem)
    at_entries = at_results(entries, derived, problem) if problem.point is not None else {}
    comparisons = check_expected(engine, derived, entries, at_entries, points)

    tidy_all(engine, derived)
    # Printing a large expression (text, LaTeX) and evaluating it numerically can take as
    # long as the symbolic work: the writing runs on what is left of the budget, or
    # EXPLAIN_SECONDS when less is left.  (A step inside it that has a cap of its own is
    # then bounded by that time only.)
    writing = Budget(max(engine.budget.remaining(), EXPLAIN_SECONDS))
    trace = ExprTrace(engine, derived, points, claims, comparisons, entries, at_entries, writing)
    results = _written(writing, lambda: results_document(trace))
    return Run(results=results, trace=trace, exact=False)


def within_time_limit(problem: ExprProblem, run: Run, work: Callable[[], T]) -> T:
    """The pipeline's checks, finite differences and explanation, within the writing time
    the run's results began."""
    return _written(run.trace.writing, work)


def checks(problem: ExprProblem, run: Run, options: common.SolveOptions) -> list[Check]:
    """The identities' and expected answers' verdicts, as checks."""
    trace: ExprTrace = run.trace
    return to_checks(problem, trace.claims, trace.comparisons, trace.engine)


def finite_differences(problem: ExprProblem, run: Run) -> GradientCheck | None:
    """The first partials at the point against float64 central differences; None without a
    point (or where the function has no float64 value near it)."""
    trace: ExprTrace = run.trace
    if trace.points["old"] is None:
        return None
    return partials_against_differences(trace.engine, trace.derived, trace.points["old"])


def _written(budget: Budget, work: Callable[[], T]) -> T:
    """``work()`` (writing out), within ``budget``; a LimitError when it runs out."""
    try:
        return budget.run(work)
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


def _points(problem: ExprProblem) -> dict[str, dict[Any, Any] | None]:
    """The point as symbol -> exact value, in the spec's variables ("old") and, under a
    substitution whose new variables it gives, in those ("new")."""
    points: dict[str, dict[Any, Any] | None] = {"old": None, "new": None}
    if problem.point is None:
        return points
    given = {problem.all_symbols[name]: value for name, value in problem.point.items()}
    if problem.point_space == "new":
        assert problem.substitution is not None
        points["new"] = given
        points["old"] = {
            problem.symbols[v]: e.xreplace(given) for v, e in problem.substitution.items()
        }
    else:
        points["old"] = given
    return points


def _evaluate_at_points(
    engine: Engine, derived: Derivatives, points: dict[str, dict[Any, Any] | None]
) -> None:
    """Each result's value at the point, in the space its entries are written in."""
    for space, entries in (
        ("old", [*derived.functions, *(e for row in derived.first for e in row)]),
        ("old", [e for row in derived.hessian or () for e in row]),
        ("new", [e for row in derived.new or () for e in row]),
    ):
        point = points[space]
        if point is not None:
            for entry in entries:
                engine.at_point(entry, point)


# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """None: a symbolic answer is compared by the solver, not re-solved under a mistake."""
    return []


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

# Each template is a function with drawn integer coefficients and a point at which
# every value and derivative is rational (exp, log, sin and cos are taken where they are).
TEMPLATES: dict[str, dict[str, Any]] = {
    "polynomial": {
        "function": "{a}*x**2*y + {b}*x*y**2 + {c}*y",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": "{y0}"},
    },
    "quadratic": {
        "function": "{a}*x**2 + {b}*x*y + {c}*y**2 + {d}*x",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": "{y0}"},
    },
    "rational": {
        "function": "({a}*x + {b})/(y**2 + 1)",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": "{y0}"},
    },
    "exponential": {
        "function": "{a}*x*exp({b}*y)",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": 0},
    },
    "logarithm": {
        "function": "{a}*x**2*log(y) + {b}*x*y",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": 1},
    },
    "trigonometric": {
        "function": "{a}*sin(x)*y**2 + {b}*cos(x)*y",
        "variables": ["x", "y"],
        "at": {"x": 0, "y": "{y0}"},
    },
    "sigmoid": {
        "function": "y/(1 + exp({a}*x))",
        "variables": ["x", "y"],
        "at": {"x": 0, "y": "{y0}"},
    },
    "three_variables": {
        "function": "{a}*x*y*z + {b}*x**2*z + {c}*y",
        "variables": ["x", "y", "z"],
        "at": {"x": "{x0}", "y": "{y0}", "z": "{z0}"},
    },
}
TEMPLATE = Knob(
    "template",
    "choice",
    "the function's form (default: one of them, by the seed)",
    choices=tuple(TEMPLATES),
    menu=tuple(TEMPLATES),
    label="{} template",
)
COEFFICIENT = Draw(-3, 3, nonzero=True)
_DRAWS = {
    **{name: COEFFICIENT for name in "abcd"},
    **{name: Draw(-2, 2) for name in ("x0", "y0", "z0")},
}


PRACTICE = Profile(
    {
        name: Variant(
            (),
            fixed=template,
            draws=_DRAWS,
            require=("function_at", "gradient_at", "hessian_at"),
        )
        for name, template in TEMPLATES.items()
    },
    by=TEMPLATE,
)
