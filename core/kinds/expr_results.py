"""The results of an ``expr`` run, written out: each result as text (SymPy's notation, which
``gradcalc expr`` reads back) and LaTeX, the point and the values there, and each identity's
verdict.  Printing a large expression can take long: core/kinds/expr.py runs this within its
writing time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core.expr_parse import parse
from gradcalc.core.kinds.expr_derive import ResultNames
from gradcalc.core.kinds.expr_engine import as_fraction, real_number

if TYPE_CHECKING:
    from gradcalc.core.kinds.expr import ExprTrace
    from gradcalc.core.kinds.expr_checks import Claim


def results_document(trace: ExprTrace) -> dict[str, Any]:
    """Result name -> text (nested lists of it), numbers at the point, identity verdicts,
    and the LaTeX of each symbolic result under ``latex``."""
    engine = trace.engine
    p, text, latex = engine.p, engine.notation.text, engine.notation.latex
    as_text = np.vectorize(
        lambda e: text(e.shown if e.shown is not None else e.raw), otypes=[object]
    )
    as_latex = np.vectorize(
        lambda e: latex(e.shown if e.shown is not None else e.raw), otypes=[object]
    )
    functions = [text(c) for c in p.components]
    results: dict[str, Any] = {
        "function": functions if p.vector else functions[0],
        "variables": list(p.variables),
    }
    if p.substitution:
        results["new_variables"] = list(p.new_variables)
    for name, table in trace.entries.items():
        results[name] = as_text(table).tolist()
    if p.point is not None:
        results["point"] = {
            str(symbol): as_fraction(value)
            if getattr(value, "is_Rational", False)
            else real_number(value.evalf(30))
            for symbol, value in (trace.points[p.point_space] or {}).items()
        }
    for name, table in trace.at_entries.items():
        results[name] = np.vectorize(lambda e: e.number_at, otypes=[object])(table)
    if trace.claims:
        claims = [claim_document(trace, c) for c in trace.claims]
        results["identity"] = claims[0] if len(claims) == 1 else claims
    latex_all = {"function": [latex(c) for c in p.components]}
    if not p.vector:
        latex_all["function"] = latex_all["function"][0]
    for name, table in trace.entries.items():
        latex_all[name] = as_latex(table).tolist()
    results["latex"] = latex_all
    late = [e.label for e in trace.derived.entries() if not e.simplified]
    if late:
        results["not_simplified"] = late
    return results


def claim_latex(trace: ExprTrace, claim: Claim) -> str:
    """The claim as the spec wrote it (f_x stays f_{x}), in LaTeX."""
    names = ResultNames(trace.engine, trace.derived, mode="written")
    written = parse(claim.raw, claim.path, names, trace.engine.p.generic, allow_equation=True)
    latex = trace.engine.notation.latex
    if written.sides is not None:
        return f"{latex(written.sides[0])} = {latex(written.sides[1])}"
    return f"{latex(written.value)} = 0"


def claim_document(trace: ExprTrace, claim: Claim) -> dict[str, Any]:
    """One identity's verdict: its status, the simplified difference, a counterexample."""
    verdict = claim.verdict
    text = trace.engine.notation.text
    return {
        "claim": claim.text,
        "status": verdict.status,
        "simplified": None if verdict.simplified is None else text(verdict.simplified),
        "counterexample": {k: v for k, v in verdict.witness.items()} or None,
        "difference": None
        if verdict.status != "refuted"
        else (verdict.left or 0.0) - (verdict.right or 0.0),
        "points_tested": verdict.points,
        "latex": claim_latex(trace, claim),
    }
