"""The derivatives of kind ``expr`` (:func:`derive`: first partials, the Hessian, the chain
rule through a change of variables), their simplified forms for display (:func:`tidy_all`),
and the names identities and expected answers use for them (:class:`ResultNames`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradcalc.core.expr_parse import NameProblem, Names
from gradcalc.core.kinds.expr_engine import MAX_NODES, Engine, Entry, too_large


@dataclass(eq=False)
class Derivatives:
    """Every symbolic result, as entries.  ``first[i][j]`` is ∂f_i/∂x_j;
    ``hessian[a][b]`` is ∂²f/∂x_a∂x_b (scalar functions); ``change[v][u]`` is
    ∂v/∂u for old variable v and new variable u; ``new[i][u]`` is ∂f_i/∂u by
    the chain rule, in the new variables.  ``named[(i, a, b)]`` is ∂²f_i/∂x_a∂x_b as
    differentiated, for a second partial an identity or answer names that the Hessian does
    not hold (a vector function's): kept so that the explanation shows the one checked."""

    functions: list[Entry]
    first: list[list[Entry]]
    hessian: list[list[Entry]] | None = None
    hessian_note: str = ""
    change: list[list[Any]] | None = None
    new: list[list[Entry]] | None = None
    substituted: list[Entry] | None = None
    named: dict[tuple[int, int, int], Any] = field(default_factory=dict)

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
            if first.simplified and first.shown is not first.raw and not too_large(first.shown):
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
    if any(too_large(entry.raw) for entry in first):
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
        if (component, a, b) not in derived.named:
            derived.named[component, a, b] = self.engine.diff(
                derived.first[component][a].raw, p.symbols[order[1]], ("identity",)
            )
        return derived.named[component, a, b]

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
