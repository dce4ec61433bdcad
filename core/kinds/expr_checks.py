"""What decides an ``expr`` run's exit status: its identities and expected answers, each
decided by the engine (proved, numerical, refuted, undecided) and turned into
:class:`~gradcalc.core.outcome.Check` records; and finite differences of its partials at the
point.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core.answers import how_read, nested_shape, reading_note
from gradcalc.core.errors import FieldPath, ShapeError, SpecError
from gradcalc.core.expr_parse import Parsed, parse
from gradcalc.core.gradcheck import check_gradients
from gradcalc.core.kinds.expr_derive import Derivatives, ResultNames
from gradcalc.core.kinds.expr_engine import Engine, Entry, Verdict, has_opaque
from gradcalc.core.outcome import Check, GradientCheck, WrongCell
from gradcalc.core.values import describe, parse_number
from gradcalc.core.words import entries

if TYPE_CHECKING:
    from gradcalc.core.kinds.expr import ExprProblem

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
    # How the answer was read when not written in its result's shape (core/answers.py).
    reading: str = ""


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


def result_entries(derived: Derivatives, problem: ExprProblem) -> dict[str, np.ndarray]:
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


def at_results(
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
            path, f"expected.{key} must be a list of {entries(shape[0])}, got {describe(value)}"
        )
    if len(value) != shape[0]:
        raise ShapeError(
            path, f"expected.{key} has {entries(len(value))} here but {key} has {shape[0]}"
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
            close = difflib.get_close_matches(str(key), list(available), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SpecError(
                path,
                f"unknown result {key!r}{hint or '.'} This problem's results: {', '.join(available)}",
                at_key=True,
            )
        table = available[key]
        space = "new" if key.removesuffix("_at") in NEW_SPACE_RESULTS else "old"
        entries_read, reading = _read_in_shape(raw, path, table.shape, key)
        results[key] = [
            _compare(engine, derived, key, index, table[index], value, entry_path, points, space)
            for index, value, entry_path in entries_read
        ]
        for comparison in results[key]:
            comparison.reading = reading
    return results


def _read_in_shape(
    value: Any, path: FieldPath, shape: tuple[int, ...], key: str
) -> tuple[list[tuple[tuple[int, ...], Any, FieldPath]], str]:
    """The entries of ``key``'s answer by the rule every answer follows (core/answers.py): in
    the result's shape, or its entries in row-major order written flat, as one row or as one
    column (with the note naming that reading)."""
    written = nested_shape(value)
    how = how_read(written, shape) if written is not None and written != shape else None
    if not how:
        return _expected_values(value, path, shape, key), ""
    leaves = _expected_values(value, path, written, key)
    return [
        (tuple(int(i) for i in np.unravel_index(position, shape)), leaf, leaf_path)
        for position, (_, leaf, leaf_path) in enumerate(leaves)
    ], reading_note(how, shape)


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
    constant = not given.free_symbols and not has_opaque(given)
    at_point = key.endswith("_at") or (
        constant
        and bool(engine.notation.placeholders(entry.raw).free_symbols or has_opaque(entry.raw))
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


def to_checks(
    problem: ExprProblem,
    claims: list[Claim],
    comparisons: dict[str, list[Comparison]],
    engine: Engine,
) -> list[Check]:
    """One Check per identity, then one per expected result (its entries as cells)."""
    checks = [_claim_check(problem, claims, i) for i in range(len(claims))]
    for key, rows in comparisons.items():
        checks.append(_comparison_check(problem, key, rows, engine))
    return checks


def _claim_check(problem: ExprProblem, claims: list[Claim], i: int) -> Check:
    claim = claims[i]
    name = "identity" if len(claims) == 1 else f"identity[{i}]"
    verdict = claim.verdict
    wrong = ()
    if not verdict.ok:
        wrong = (
            WrongCell(
                (), Fraction(0), verdict.error if verdict.status == "refuted" else "undecided"
            ),
        )
    return Check(
        name=name,
        ok=verdict.ok,
        cells=1,
        wrong=wrong,
        max_abs_error=verdict.error,
        tolerance=problem.tolerance,
        expected=np.array(claim.text, dtype=object),
    )


def _comparison_check(
    problem: ExprProblem, key: str, rows: list[Comparison], engine: Engine
) -> Check:
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
                WrongCell(row.index, row.given, computed if computed is not None else "undefined")
            )
    return Check(
        name=key,
        ok=not wrong_cells,
        cells=len(rows),
        wrong=tuple(wrong_cells),
        max_abs_error=max((r.verdict.error for r in rows), default=0.0),
        tolerance=problem.tolerance,
        expected=expected,
        reading=rows[0].reading if rows else "",
    )


def _shape_of(rows: list[Comparison]) -> tuple[int, ...]:
    if not rows or not rows[0].index:
        return ()
    return tuple(max(r.index[d] for r in rows) + 1 for d in range(len(rows[0].index)))


# ---------------------------------------------------------------------------
# Finite differences


class _Undefined(Exception):
    pass


def partials_against_differences(
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
