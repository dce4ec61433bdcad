"""The parts of an ``expr`` spec read around its function: definitions, a change of
variables (``substitute``), the point (``at``), identities and expected answers, and the
checks that keep their names apart.  core/kinds/expr.py reads the rest and builds the problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gradcalc.core.errors import FieldPath, LimitError, SpecError
from gradcalc.core.expr_parse import (
    RESERVED_NAMES,
    GenericFunctions,
    NameProblem,
    Names,
    parse,
    valid_name,
)
from gradcalc.core.kinds.expr_engine import sympy_module
from gradcalc.core.values import describe

if TYPE_CHECKING:
    from gradcalc.core.kinds.expr import ExprProblem

MAX_VARIABLES = 10
MAX_COMPONENTS = 10
MAX_DEFINITIONS = 30
MAX_IDENTITIES = 10


def check_free_name(name: str, path: FieldPath, role: str) -> None:
    if name in RESERVED_NAMES:
        raise SpecError(path, f"{name!r} is a built-in function or constant and cannot be {role}")
    if len(name) > 32:
        raise SpecError(path, f"{role} name has at most 32 characters, got {len(name)}")


def read_definitions(
    spec: Mapping[str, Any], symbols: dict[str, Any], generic: GenericFunctions
) -> tuple[dict[str, Any], dict[str, str]]:
    """``define``: name -> expression in the variables (each may use those before it), and
    name -> its text."""
    variable_list = ", ".join(symbols)
    definitions: dict[str, Any] = {}
    definition_texts: dict[str, str] = {}
    raw_definitions = spec.get("define")
    if raw_definitions is None:
        return definitions, definition_texts
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
        check_free_name(name, path, "a definition")
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
    return definitions, definition_texts


def read_substitution(
    spec: Mapping[str, Any],
    symbols: dict[str, Any],
    definitions: dict[str, Any],
    generic: GenericFunctions,
    function_name: str,
) -> tuple[dict[str, Any] | None, dict[str, str], list[str], dict[str, Any]]:
    """``substitute``: (old variable -> expression in the new ones, old variable -> its text,
    the new variables in order of appearance, their symbols); Nones without one."""
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

    new_symbols: dict[str, Any] = {}  # filled as the substitution's expressions are read
    substitution, texts = {}, {}
    for variable in symbols:
        parsed = parse(
            raw[variable],
            ("substitute", variable),
            _NewNames(symbols, definitions, function_name, new_symbols),
            generic,
            what="a substitution",
        )
        substitution[variable] = parsed.value
        texts[variable] = parsed.text
    if not new_symbols:
        raise SpecError(
            ("substitute",),
            "the substitution introduces no new variable; write each variable in terms of new ones, e.g. x: r*cos(theta)",
        )
    return substitution, texts, list(new_symbols), new_symbols


class _NewNames(Names):
    """The names of a substitution's expressions: new variables only, each a new real symbol
    (added to ``new_symbols``) when first met."""

    def __init__(
        self,
        symbols: dict[str, Any],
        definitions: dict[str, Any],
        function_name: str,
        new_symbols: dict[str, Any],
    ):
        super().__init__()
        self.old_symbols = symbols
        self.definitions = definitions
        self.function_name = function_name
        self.new_symbols = new_symbols

    def lookup(self, name: str) -> Any | None:
        if name in self.old_symbols:
            raise NameProblem(
                f"{name!r} is an old variable; write the old variables in terms of new ones only"
            )
        if name in self.definitions:
            raise NameProblem(
                f"{name!r} is a definition in the old variables; it cannot appear in a substitution"
            )
        if name == self.function_name:
            raise NameProblem(
                f"{name!r} is the function itself; it cannot appear in a substitution"
            )
        return self.new_symbols.get(name)

    def new_symbol(self, name: str) -> Any | None:
        if len(self.new_symbols) >= MAX_VARIABLES:
            raise NameProblem(f"more than {MAX_VARIABLES} new variables")
        if len(name) > 32:
            raise NameProblem("a variable name has at most 32 characters")
        self.new_symbols[name] = sympy_module().Symbol(name, real=True)
        return self.new_symbols[name]


def read_identities(spec: Mapping[str, Any]) -> list[tuple[Any, FieldPath]]:
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


def read_expected_keys(spec: Mapping[str, Any]) -> dict[str, Any]:
    raw = spec.get("expected")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SpecError(
            ("expected",),
            f"expected must be a mapping of result names to answers, got {describe(raw)}",
        )
    return dict(raw)


def check_names_are_not_partials(problem: ExprProblem) -> None:
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


def read_point(spec: Mapping[str, Any], problem: ExprProblem) -> tuple[dict[str, Any] | None, str]:
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
