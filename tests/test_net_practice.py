"""`gradcalc random net` over many seeds: a chain ending in a loss on most seeds, every
convention written out, clean answers, and each drawn problem solves, passes the
whole-chain finite-difference check and grades its own key as right."""

from __future__ import annotations

from fractions import Fraction

import pytest

from gradcalc.core import practice, registry
from gradcalc.core.grading import Problem
from gradcalc.core.kinds.net_practice import CHAINS
from gradcalc.core.spec import SolveOptions

SEEDS = range(40)


@pytest.fixture(scope="module")
def drawn() -> list[practice.Practice]:
    return [practice.make_problem("net", seed, {}) for seed in SEEDS]


def test_most_seeds_end_in_a_loss_and_every_chain_and_loss_turns_up(drawn) -> None:
    losses = [problem.spec.get("loss", {}).get("type") for problem in drawn]
    assert sum(loss is not None for loss in losses) >= 0.6 * len(drawn)
    assert {"mse", "cross_entropy", None} == set(losses)
    assert {problem.sizes.values["chain"] for problem in drawn} == set(CHAINS)
    for problem, loss in zip(drawn, losses, strict=True):
        assert ("upstream" in problem.spec) == (loss is None)
        assert problem.sizes.values["loss"] == (loss or "none")


def test_every_convention_is_written_out(drawn) -> None:
    for problem in drawn:
        loss = problem.spec.get("loss")
        if loss is not None:
            assert loss["reduction"] == "mean"
            if loss["type"] == "cross_entropy":  # one class per sample, within the classes
                classes = len(problem.answers["output"][0])
                assert all(0 <= t < classes for t in loss["target"])
        for layer in problem.spec["layers"]:
            if layer == "flatten":
                continue
            assert isinstance(layer, dict), layer  # no shorthand: relu′(0) is written
            required = {
                "activation": ("subgradient_at_zero",),
                "conv": ("flip_kernel",),
                "dense": ("layout",),
                "pool": ("ties",) if layer.get("mode") == "max" else (),
            }[layer["type"]]
            assert all(key in layer for key in required), layer


def _fractions(value) -> list:
    if isinstance(value, list):
        return [v for item in value for v in _fractions(item)]
    return [value]


def test_mse_and_upstream_nets_have_exact_small_fractions(drawn) -> None:
    for problem in drawn:
        loss = problem.spec.get("loss")
        if loss is not None and loss["type"] != "mse":
            continue
        limit = 32 if problem.sizes.values["chain"] == "conv_avgpool" else 12
        assert not problem.decimal_results
        for name, answer in problem.answers.items():
            for entry in _fractions(answer):
                assert not isinstance(entry, float), (name, entry)
                assert Fraction(entry).denominator <= limit, (name, entry)


def test_each_drawn_net_solves_passes_finite_differences_and_checks_against_itself(
    drawn,
) -> None:
    for problem in drawn:
        spec = problem.with_answers()
        solution = registry.solve(spec, SolveOptions(explain=False))
        assert solution.ok, (problem.seed, solution.checks, solution.gradient_check)
        assert solution.gradient_check is not None
        assert solution.gradient_check.ok and solution.gradient_check.entries_checked > 0
        graded = Problem(spec)
        assert graded.grade(spec["expected"]).ok
        assert graded.grade(problem.answers, "answers").ok


def test_the_generated_by_line_names_upstream_only_without_a_loss(drawn) -> None:
    """With a loss, --upstream has no effect: the command leaves it out, and giving it
    anyway draws the same problem as the command line that leaves it out."""
    for problem in drawn:
        arguments = problem.arguments()
        assert ("--upstream" in arguments) == ("loss" not in problem.spec)
    with_loss = practice.make_problem("net", 3, {"chain": "mlp", "loss": "mse"})
    ones = practice.make_problem("net", 3, {"chain": "mlp", "loss": "mse", "upstream": "ones"})
    assert ones.spec == with_loss.spec
    assert ones.arguments() == with_loss.arguments()
