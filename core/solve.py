"""One solve pipeline for every kind: read → run → check answers → finite differences → explain.

A kind takes part through two modules the registry names (OpEntry.module, OpEntry.explain):

- its kinds module (core/kinds/KIND.py): ``read(spec, limits) -> Problem``,
  ``run(problem, options) -> Run`` (core/outcome.py) (forward and backward through core/ops, exactly or in
  float64 as the op adapter decides) and ``finite_differences(problem, run) ->
  GradientCheck | None``; optionally ``focus_target(focus, problem)`` for ``--focus`` and
  ``COUNT_ENTRIES`` (check_answers' message counts entries);
- its explain module (core/explain/KIND.py): ``Explainer(problem, run, options)`` with
  ``conventions() -> list[str]``, ``sections() -> list[Section]`` (the ones ``--show``
  asks for) and, with ``--focus``, ``section_focus(target) -> (Section, Focus)``.

The problem must carry ``title`` and ``index_base``, and ``expected`` and ``tolerance`` for
check_answers.

Optional hooks, for a kind that works otherwise (kind expr: symbolic, under a time limit):

- kinds module ``checks(problem, run, options) -> list[Check]``: the checks, in place of
  check_answers on ``problem.expected`` (expr decides identities and expected expressions
  while it runs, and turns the verdicts into checks);
- kinds module ``within_time_limit(problem, run, work) -> work()``: runs ``work`` (the checks,
  finite differences and explanation after ``run``) and returns what it returns, within the
  kind's time limit (expr: printing and evaluating large expressions gets what is left of its
  budget, and a LimitError when that runs out);
- explain module ``Explainer.result_items() -> list[Item]``: what the results section shows
  before the result arrays (expr: each symbolic result in the spec's notation);
- ``Run.solution``: extra Solution fields the run fills (``axes``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from gradcalc.core import registry
from gradcalc.core.checking import check_answers
from gradcalc.core.errors import SpecError
from gradcalc.core.outcome import Run, Solution
from gradcalc.core.spec import SolveOptions
from gradcalc.core.values import holds_formulas

# The problem fields that may hold symbols (core/symbolic.py), in the kinds that take them.
SYMBOLIC_FIELDS = ("input", "kernel", "weight", "bias", "upstream")


def solve(
    kind: str, spec: Mapping[str, Any], options: SolveOptions, focus: str | None = None
) -> Solution:
    """Read, run, check and explain one spec of ``kind`` (already checked against the command)."""
    kind_module = registry.op_module(kind)
    problem = kind_module.read(spec, options.limits)
    target = (
        None if focus is None else getattr(kind_module, registry.OPS[kind].focus)(focus, problem)
    )
    if options.force_float and _holds_symbols(problem):
        raise SpecError(
            (),
            "--float computes with numbers, and this spec holds symbols: drop --float "
            "(a run with symbols is exact: docs/symbolic.md)",
        )
    run = kind_module.run(problem, options)
    finish = functools.partial(_finish, kind, kind_module, problem, run, options, target)
    within_time_limit = getattr(kind_module, "within_time_limit", None)
    return finish() if within_time_limit is None else within_time_limit(problem, run, finish)


def _finish(
    kind: str,
    kind_module: ModuleType,
    problem: Any,
    run: Run,
    options: SolveOptions,
    target: Any,
) -> Solution:
    """Check, run finite differences and explain a run, into its Solution."""
    own_checks = getattr(kind_module, "checks", None)
    if own_checks is not None:
        checks = own_checks(problem, run, options)
    else:
        checks = check_answers(
            problem.expected,
            run.results,
            problem.tolerance,
            options.limits.max_jacobian,
            count_entries=getattr(kind_module, "COUNT_ENTRIES", False),
        )
    # Finite differences need numbers: a symbolic run (core/symbolic.py) has none to probe.
    numeric = not holds_formulas(*run.results.values()) and not _holds_symbols(problem)
    gradient_check = (
        kind_module.finite_differences(problem, run) if options.gradient_check and numeric else None
    )
    explainer = registry.explain_module(kind).Explainer(problem, run, options)
    sections = explainer.sections()
    found = None
    if target is not None:
        focus_section, found = explainer.section_focus(target)
        sections.insert(0, focus_section)
    result_items = getattr(explainer, "result_items", None)
    return Solution(
        kind=kind,
        title=problem.title,
        results=run.results,
        exact=run.exact,
        conventions=explainer.conventions() if options.explain else [],
        sections=sections,
        checks=checks,
        gradient_check=gradient_check,
        index_base=problem.index_base,
        focus=found,
        result_items=[] if result_items is None else result_items(),
        **run.solution,
    )


def _holds_symbols(problem: Any) -> bool:
    """Whether a problem's tensors hold symbols (core/symbolic.py); a net says so itself
    (its layers' parameters are its layers' problems')."""
    if getattr(problem, "holds_symbols", False):
        return True
    return holds_formulas(*(getattr(problem, field, None) for field in SYMBOLIC_FIELDS))
