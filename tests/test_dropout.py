"""`kind: dropout`: against the plain-loop reference and central differences, exactness,
its refusals (one located line, exit 2), its usual mistakes, the drawn mask, practice."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import dropout_embedding_reference as ref
import nn_reference
import numpy as np
import pytest
from drawn_values import fractions_between
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nn_cli import run, run_json, run_spec, spec_error

from gradcalc.core import practice, registry
from gradcalc.core.grading import Problem
from gradcalc.core.spec import SolveOptions

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
SHAPES = st.sampled_from([(), (1,), (4,), (2, 3), (3, 1), (2, 2, 2)])
VALUE = fractions_between(-5, 5, max_denominator=7)
P = st.sampled_from(
    [Fraction(0), Fraction(1, 2), Fraction(1, 3), Fraction(2, 5), Fraction(99, 100)]
)


def solve(spec: dict[str, Any], **options: Any):
    options.setdefault("gradient_check", False)
    options.setdefault("sections", frozenset())
    return registry.solve({"kind": "dropout", **spec}, SolveOptions(**options))


def flat(array: Any) -> list[Any]:
    return list(np.asarray(array, dtype=object).ravel())


@st.composite
def cases(draw) -> dict[str, Any]:
    shape = draw(SHAPES)
    size = math.prod(shape)
    x = draw(st.lists(VALUE, min_size=size, max_size=size))
    up = draw(st.lists(VALUE, min_size=size, max_size=size))
    mask = draw(st.lists(st.integers(0, 1), min_size=size, max_size=size))
    training = draw(st.booleans())
    p = draw(P)
    spec = {
        "input": nn_reference.reshape([str(v) for v in x], shape),
        "mask": nn_reference.reshape(mask, shape),
        "upstream": nn_reference.reshape([str(v) for v in up], shape),
        "p": str(p),
        "training": training,
    }
    return {"spec": spec, "x": x, "up": up, "mask": mask, "p": p, "training": training}


@SETTINGS
@given(cases())
def test_dropout_matches_the_plain_loop_reference_exactly(case: dict[str, Any]) -> None:
    solution = solve(case["spec"])
    assert solution.exact
    want_out, want_grad = ref.dropout(
        case["x"], case["mask"], case["up"], case["p"], case["training"]
    )
    assert flat(solution.results["output"]) == want_out
    assert flat(solution.results["grad_input"]) == want_grad


@SETTINGS
@given(cases())
def test_dropout_gradient_matches_central_differences(case: dict[str, Any]) -> None:
    solution = solve(case["spec"], force_float=True)
    grads = [float(g) for g in flat(solution.results["grad_input"])]
    values = [float(v) for v in case["x"]]

    def loss(moved: list[float]) -> float:
        out, _ = ref.dropout(
            [Fraction(v) for v in moved], case["mask"], case["up"], case["p"], case["training"]
        )
        return sum(float(u) * float(o) for u, o in zip(case["up"], out, strict=True))

    for index in range(len(values)):
        numeric = nn_reference.central_difference(loss, values, index)
        assert abs(numeric - grads[index]) <= 1e-6 * (1 + abs(grads[index]))


@settings(SETTINGS, max_examples=20)
@given(cases(), st.sampled_from([1, None]))
def test_dropout_explanation_and_gradient_check(case: dict[str, Any], steps) -> None:
    solution = registry.solve({"kind": "dropout", **case["spec"]}, SolveOptions(steps=steps))
    assert solution.gradient_check is None or solution.gradient_check.ok
    assert solution.sections


def test_p_zero_and_p_near_one() -> None:
    spec = {"input": [[3, -1]], "mask": [[1, 0]], "upstream": [[2, 5]]}
    zero = solve({**spec, "p": 0})
    assert flat(zero.results["output"]) == [3, 0] and flat(zero.results["grad_input"]) == [2, 0]
    near = solve({**spec, "p": "999/1000"})
    assert flat(near.results["output"]) == [3000, 0]
    assert flat(near.results["grad_input"]) == [2000, 0]
    decimal = solve({**spec, "p": 0.999999})
    assert flat(decimal.results["output"]) == [3_000_000, 0]


def test_evaluation_is_the_identity_and_needs_no_mask() -> None:
    solution = solve({"input": [1, "-1/2"], "upstream": [4, 2], "training": False, "p": 0.5})
    assert flat(solution.results["output"]) == [1, Fraction(-1, 2)]
    assert flat(solution.results["grad_input"]) == [4, 2]


def test_random_mask_is_numpys_default_rng_and_printed(tmp_path: Path) -> None:
    result, data = run_json(
        tmp_path, "dropout", "input: [[1, -2, 3], [4, 5, -6]]\np: 1/3\nrandom: 0\n"
    )
    assert result.exit_code == 0
    want = (np.random.default_rng(0).random((2, 3)) >= 1 / 3).astype(int).tolist()
    assert data["results"]["mask"] == want
    assert any(f"m = {want}" in line for line in data["conventions"])
    kept = [
        [x * m * 1.5 for x, m in zip(row, mrow, strict=True)]
        for row, mrow in zip([[1, -2, 3], [4, 5, -6]], want, strict=True)
    ]
    assert data["results"]["output"] == kept
    again = solve({"input": [[1, -2, 3], [4, 5, -6]], "p": "1/3", "mask": want})
    assert flat(again.results["output"]) == [v for row in kept for v in row]


def test_bundled_problem_passes() -> None:
    result = run("run", "problems/dropout_mask.yaml", "--no-color")
    assert result.exit_code == 0, result.stdout
    assert "1/(1 − p) = 5/3" in result.stdout


BAD = {
    "mask not 0/1": (
        "input: [[1, 2], [3, 4]]\np: 1/2\nmask: [[1, 0], [2, 1]]\n",
        (3, 17),
        "mask[1][0]: mask entries are 0 (dropped) or 1 (kept), got 2",
    ),
    "mask shape": (
        "input: [[1, 2], [3, 4]]\np: 1/2\nmask: [1, 0]\n",
        (3, 7),
        "mask is a list of 2 but the input is 2×2",
    ),
    "p is 1": (
        "input: [1, 2]\np: 1\nmask: [1, 0]\n",
        (2, 4),
        "p must be in [0, 1), got 1: p = 1 drops every entry",
    ),
    "p negative": (
        "input: [1, 2]\np: -0.1\nmask: [1, 0]\n",
        (2, 4),
        "p must be in [0, 1), got -0.1",
    ),
    "p above 1": ("input: [1, 2]\np: 1.5\nmask: [1, 0]\n", (2, 4), "p must be in [0, 1), got 1.5"),
    "mask is not the draw": (
        "input: [1, 2]\nmask: [1, 1]\nrandom: 3\n",
        (2, 7),
        "mask is not the one random: 3 draws for p = 0.5 ([0, 0])",
    ),
    "no mask in training": ("input: [1, 2]\np: 1/2\n", (1, 1), "missing required key 'mask'"),
    "training not boolean": (
        "input: [1, 2]\nmask: [1, 1]\ntraining: maybe\n",
        (3, 11),
        "expected true or false",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_inputs_give_one_located_line(tmp_path: Path, case: str) -> None:
    text, (line, column), words = BAD[case]
    got_line, got_column, message = spec_error(run_spec(tmp_path, "dropout", text))
    assert (got_line, got_column) == (line, column), message
    assert words.replace("-", "−") in message.replace("-", "−"), message


SPEC = {
    "kind": "dropout",
    "input": [[2, -1, 3], [4, 1, -6]],
    "p": "1/4",
    "mask": [[1, 0, 1], [1, 1, 0]],
    "upstream": [[1, 2, -1], [3, 1, 3]],
}


def graded(result: str, answer: Any) -> tuple[bool, str]:
    grade = Problem(SPEC).grade({result: answer})
    one = next(r for r in grade.results if r.name == result)
    return one.ok, one.diagnosis


@pytest.mark.parametrize(
    ("result", "answer", "words"),
    [
        ("output", [[2, 0, 3], [4, 1, 0]], "without the scale 1/(1 − p)"),
        ("grad_input", [[1, 0, -1], [3, 1, 0]], "without the scale 1/(1 − p)"),
        ("grad_input", [["4/3", "8/3", "-4/3"], [4, "4/3", 4]], "the mask was ignored"),
        ("output", [[2, -1, 3], [4, 1, -6]], "matches the identity"),
        ("grad_input", [["4/3", 0, "4/3"], ["4/3", "4/3", 0]], "upstream gradient"),
    ],
)
def test_usual_mistakes_are_named(result: str, answer: Any, words: str) -> None:
    ok, diagnosis = graded(result, answer)
    assert not ok and words in diagnosis, diagnosis


def test_practice_problems_are_clean_and_solve() -> None:
    for seed in range(12):
        problem = practice.make_problem("dropout", seed, {})
        spec = problem.spec
        mask = np.asarray(spec["mask"])
        assert set(mask.ravel().tolist()) <= {0, 1}
        assert np.shape(spec["input"]) == mask.shape
        for value in problem.answers.values():
            for entry in np.asarray(value, dtype=object).ravel():
                assert Fraction(str(entry)).denominator <= practice.MAX_DENOMINATOR
    result = run("random", "dropout", "--seed", "4", "--size", "3x2", "--p", "1/2")
    assert result.exit_code == 0 and "mask:" in result.stdout


def test_json_results(tmp_path: Path) -> None:
    result, data = run_json(
        tmp_path, "dropout", json.dumps({k: v for k, v in SPEC.items() if k != "kind"})
    )
    assert result.exit_code == 0
    assert set(data["results"]) == {"output", "grad_input"}
    assert data["exact_results"]["output"] == [["8/3", "0", "4"], ["16/3", "4/3", "0"]]


def test_dropout_as_a_net_layer_matches_the_reference() -> None:
    """dense → dropout (given mask) → dropout (drawn mask), upstream given: every gradient
    by plain loops, and the whole-chain finite-difference check passes."""
    x = [[1, -2, 3], [0, 2, -1]]
    w = [[1, 0, -1], [2, 1, 0]]
    mask = [[1, 0], [1, 1]]
    up = [[2, -1], [1, 3]]
    spec = {
        "kind": "net",
        "input": x,
        "layers": [
            {"type": "dense", "name": "fc", "weight": w},
            {"type": "dropout", "p": "1/3", "mask": mask},
            {"type": "dropout", "name": "drop", "p": "1/2", "random": 5},
        ],
        "upstream": up,
    }
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert solution.exact and solution.gradient_check.ok
    drawn = (np.random.default_rng(5).random((2, 2)) >= 0.5).astype(int).ravel().tolist()
    fc = [sum(Fraction(x[n][i]) * w[j][i] for i in range(3)) for n in range(2) for j in range(2)]
    first, _ = ref.dropout(fc, sum(mask, []), [0] * 4, "1/3")
    second, _ = ref.dropout(first, drawn, [0] * 4, "1/2")
    assert flat(solution.results["output"]) == second
    _, grad_first = ref.dropout([0] * 4, drawn, sum(up, []), "1/2")
    _, grad_fc = ref.dropout([0] * 4, sum(mask, []), grad_first, "1/3")
    assert flat(solution.results["dropout1.grad_output"]) == grad_first
    grad_x = [
        sum(grad_fc[n * 2 + j] * w[j][i] for j in range(2)) for n in range(2) for i in range(3)
    ]
    assert flat(solution.results["grad_input"]) == grad_x
    assert flat(solution.results["drop.grad_output"]) == [Fraction(v) for v in sum(up, [])]


def test_scale_left_out_is_named_with_a_drawn_mask_too() -> None:
    spec = {"kind": "dropout", "input": [[2, -1, 3], [4, 1, -6]], "p": "1/3", "random": 0}
    mask = (np.random.default_rng(0).random((2, 3)) >= 1 / 3).astype(int)
    unscaled = (np.array(spec["input"]) * mask).tolist()
    grade = Problem(spec).grade({"output": unscaled})
    one = next(r for r in grade.results if r.name == "output")
    assert not one.ok and "without the scale 1/(1 − p)" in one.diagnosis, one.diagnosis
