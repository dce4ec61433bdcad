"""The explanation of an ``expr`` run, read from its trace (core/kinds/expr.py): the problem,
each partial derivative as differentiated and simplified, the chain rule through a change of
variables, the Hessian, the values at the point, each identity and expected answer with its
verdict, and the LaTeX of every result; and the results section's summary (result_items).
Every derivative and verdict shown is the run's: nothing is differentiated or decided here
(the exact values at the point are its values put into the simplified forms shown).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from gradcalc.core import spec as common
from gradcalc.core.explain import Formula, Item, Math, Note, Section, SymbolTable, sentence
from gradcalc.core.expr_parse import parse
from gradcalc.core.kinds.expr import ExprProblem, ExprTrace
from gradcalc.core.kinds.expr_checks import Claim
from gradcalc.core.kinds.expr_derive import ResultNames
from gradcalc.core.kinds.expr_engine import (
    PROBE_POINTS,
    Entry,
    Verdict,
    exact_is_cheap,
    sympy_module,
    too_many_digits,
)
from gradcalc.core.kinds.expr_results import claim_latex
from gradcalc.core.outcome import Run

# A grid of results is drawn only when every cell is at most this wide.
MAX_CELL_CHARS = 32
# A derivative as differentiated is shown before its simplified form only up to this length.
MAX_RAW_CHARS = 160


class Explainer:
    """Builds the sections and the results summary of an expr run, from its trace."""

    def __init__(self, problem: ExprProblem, run: Run, options: common.SolveOptions):
        trace: ExprTrace = run.trace
        self.trace = trace
        self.engine = trace.engine
        self.p = problem
        self.d = trace.derived
        self.claims = trace.claims
        self.comparisons = trace.comparisons
        self.points = trace.points
        self.options = options
        self.text = trace.engine.notation.text

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
    def conventions(self) -> list[str]:
        p, seconds = self.p, self.engine.seconds
        f = p.name
        lines = [
            f"symbolic, with SymPy {sympy_module().__version__}; variables are real; log is the natural logarithm; ^ and ** are powers",
            f"each result is simplified within {seconds.simplify:g} s, all symbolic work within {seconds.total:g} s; "
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
        if exact_is_cheap(expr, point):
            exact = self.engine.budget.attempt(
                lambda: expr.xreplace(point), None, cap=self.engine.seconds.probe
            )
        if exact is None:
            return "—"
        if too_many_digits(exact):
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
        lines += [(f"identity: {c.text}", claim_latex(self.trace, c)) for c in self.claims]
        return lines

    def result_items(self) -> list[Item]:
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
        if self.trace.at_entries and p.point is not None:
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
