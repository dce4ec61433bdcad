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

The problem must carry ``expected``, ``tolerance``, ``title`` and ``index_base``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradcalc.core import registry
from gradcalc.core.opkit import check_answers
from gradcalc.core.outcome import Solution
from gradcalc.core.spec import SolveOptions


def solve(
    kind: str, spec: Mapping[str, Any], options: SolveOptions, focus: str | None = None
) -> Solution:
    """Read, run, check and explain one spec of ``kind`` (already checked against the command)."""
    kind_module = registry.op_module(kind)
    problem = kind_module.read(spec, options.limits)
    target = None if focus is None else kind_module.focus_target(focus, problem)
    run = kind_module.run(problem, options)
    checks = check_answers(
        problem.expected,
        run.results,
        problem.tolerance,
        options.limits.max_jacobian,
        count_entries=getattr(kind_module, "COUNT_ENTRIES", False),
    )
    gradient_check = (
        kind_module.finite_differences(problem, run) if options.gradient_check else None
    )
    explainer = registry.explain_module(kind).Explainer(problem, run, options)
    sections = explainer.sections()
    found = None
    if target is not None:
        focus_section, found = explainer.section_focus(target)
        sections.insert(0, focus_section)
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
        **run.solution,
    )
