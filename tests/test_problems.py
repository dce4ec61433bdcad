"""Golden tests: every bundled problem solves, and every expected answer in it matches."""

from __future__ import annotations

import pytest

from gradcalc.cli.spec_loader import load_file
from gradcalc.core import registry
from gradcalc.core.spec import SolveOptions
from gradcalc.problems import bundled

PROBLEMS = bundled()


def test_problems_are_bundled() -> None:
    names = {path.name for path in PROBLEMS}
    assert "task3.yaml" in names
    assert len(names) >= 5


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.name)
def test_problem_matches_its_expected_answers(path) -> None:
    loaded = load_file(str(path))
    solution = registry.solve(loaded.data, SolveOptions(steps=None))
    assert "expected" in loaded.data, f"{path.name} has no expected answers to check"
    assert solution.checks, f"{path.name}: nothing was checked"
    wrong = {check.name: check.wrong for check in solution.checks if not check.ok}
    assert not wrong, f"{path.name}: {wrong}"
    assert solution.gradient_check is None or solution.gradient_check.ok
    assert solution.exit_status == 0


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.name)
def test_problem_float_mode_agrees(path) -> None:
    """The float64 path gives the same answers (within tolerance) as the exact path."""
    loaded = load_file(str(path))
    solution = registry.solve(loaded.data, SolveOptions(force_float=True, gradient_check=False))
    assert all(check.ok for check in solution.checks), path.name


def test_registry_sections_match_modules() -> None:
    """The CLI's --show list (from the registry) and each module's sections agree."""
    for kind, entry in registry.OPS.items():
        module = registry.op_module(kind)
        sections = getattr(module, "SECTIONS_BY_KIND", {}).get(kind, module.SECTIONS)
        assert tuple(sections) == tuple(entry.sections), kind


def test_task3_is_seed_004() -> None:
    """problems/task3.yaml carries seed 004 Task 3's numbers."""
    loaded = load_file(str(next(p for p in PROBLEMS if p.name == "task3.yaml")))
    solution = registry.solve(loaded.data, SolveOptions())
    assert [[int(v) for v in row] for row in solution.results["output"]] == [[4], [-3], [-2]]
    assert [[int(v) for v in row] for row in solution.results["grad_kernel"]] == [[2, 1], [-1, 5]]
