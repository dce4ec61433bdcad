"""The rnn kind (issue 17): against a plain-loop reference (tests/rnn_reference.py) and float64
central differences over random cells, lengths, batches and sizes (hypothesis); a relu rnn
exactly; bad inputs; BPTT's usual mistakes; practice."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from drawn_values import fractions_between
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nn_cli import run, run_spec, spec_error
from rnn_reference import GATES, reference

from gradcalc.core import practice, registry
from gradcalc.core.grading import Problem
from gradcalc.core.spec import SolveOptions

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
VALUE = fractions_between(-2, 2, max_denominator=4)


def solve(spec: dict[str, Any], **options: Any):
    options.setdefault("gradient_check", False)
    options.setdefault("sections", frozenset())
    return registry.solve({"kind": "rnn", **spec}, SolveOptions(**options))


def grid(draw, *shape: int) -> list:
    if len(shape) == 1:
        return [draw(VALUE) for _ in range(shape[0])]
    return [grid(draw, *shape[1:]) for _ in range(shape[0])]


@st.composite
def cases(draw) -> dict[str, Any]:
    cell = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    nonlinearity = draw(st.sampled_from(["tanh", "relu"])) if cell == "rnn" else "tanh"
    count, batch = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    inputs, hidden = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rows = GATES[cell] * hidden
    case = {
        "cell": cell,
        "nonlinearity": nonlinearity,
        "x": grid(draw, count, batch, inputs),
        "weight_ih": grid(draw, rows, inputs),
        "weight_hh": grid(draw, rows, hidden),
        "bias_ih": grid(draw, rows),
        "bias_hh": grid(draw, rows),
        "h0": grid(draw, batch, hidden),
        "c0": grid(draw, batch, hidden) if cell == "lstm" else None,
        "up": grid(draw, count, batch, hidden),
        "up_h": draw(st.none() | st.just(grid(draw, batch, hidden))),
        "up_c": grid(draw, batch, hidden) if cell == "lstm" else None,
        "batch_first": draw(st.booleans()),
        "single": count == 1 and draw(st.booleans()),
    }
    return case


def as_spec(case: dict[str, Any]) -> dict[str, Any]:
    """The case as a spec (Fractions as text), in the layout it draws."""

    def text(values: Any) -> Any:
        return np.vectorize(str, otypes=[object])(np.asarray(values, dtype=object)).tolist()

    x, up = np.asarray(case["x"], dtype=object), np.asarray(case["up"], dtype=object)
    if case["single"]:
        x, up = x[0], up[0]
    elif case["batch_first"]:
        x, up = x.swapaxes(0, 1), up.swapaxes(0, 1)
    spec = {
        "cell": case["cell"],
        "input": text(x),
        "upstream": text(up),
        "batch_first": case["batch_first"] and not case["single"],
        **{key: text(case[key]) for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "h0")},
    }
    if case["cell"] == "rnn":
        spec["nonlinearity"] = case["nonlinearity"]
    if case["up_h"] is not None:
        spec["upstream_h_n"] = text(case["up_h"])
    if case["cell"] == "lstm":
        spec.update(c0=text(case["c0"]), upstream_c_n=text(case["up_c"]))
    return spec


def step_major(case: dict[str, Any], values: Any) -> np.ndarray:
    values = np.asarray(values, dtype=object)
    if case["single"]:
        return values[None]
    return values.swapaxes(0, 1) if case["batch_first"] else values


def expected(case: dict[str, Any]) -> dict[str, Any]:
    floats = {k: v for k, v in case.items()}
    if case["cell"] != "rnn" or case["nonlinearity"] != "relu":
        for key in (
            "x",
            "weight_ih",
            "weight_hh",
            "bias_ih",
            "bias_hh",
            "h0",
            "c0",
            "up",
            "up_h",
            "up_c",
        ):
            if case[key] is not None:
                floats[key] = np.asarray(case[key], dtype=float).tolist()
    return reference(
        case["cell"],
        case["nonlinearity"],
        floats["x"],
        floats["weight_ih"],
        floats["weight_hh"],
        floats["bias_ih"],
        floats["bias_hh"],
        floats["h0"],
        floats["c0"],
        floats["up"],
        floats["up_h"],
        floats["up_c"],
    )


@SETTINGS
@given(cases())
def test_rnn_matches_the_plain_loop_reference(case: dict[str, Any]) -> None:
    solution = solve(as_spec(case))
    want = expected(case)
    relu = case["cell"] == "rnn" and case["nonlinearity"] == "relu"
    assert solution.exact == relu
    for name, value in want.items():
        got = solution.results[name]
        if name in ("output", "grad_input", "grad_h"):
            got = step_major(case, got)
        if relu:
            assert (
                np.asarray(got, dtype=object).tolist() == np.asarray(value, dtype=object).tolist()
            ), name
        else:
            np.testing.assert_allclose(
                np.asarray(got, dtype=float),
                np.asarray(value, dtype=float),
                atol=1e-12,
                err_msg=name,
            )


def loss(case: dict[str, Any], moved: dict[str, Any]) -> float:
    """Σ upstream ⊙ (outputs, h_n, c_n) by the reference, for central differences."""
    out = expected({**case, **moved, "nonlinearity": case["nonlinearity"]})
    total = float(
        np.sum(np.asarray(out["output"], dtype=float) * np.asarray(case["up"], dtype=float))
    )
    if case["up_h"] is not None:
        total += float(
            np.sum(np.asarray(out["h_n"], dtype=float) * np.asarray(case["up_h"], dtype=float))
        )
    if case["cell"] == "lstm":
        total += float(
            np.sum(np.asarray(out["c_n"], dtype=float) * np.asarray(case["up_c"], dtype=float))
        )
    return total


@SETTINGS
@given(cases())
def test_rnn_gradients_match_central_differences(case: dict[str, Any]) -> None:
    case = {**case, "nonlinearity": "tanh"}  # relu's kink: see the exact test above
    solution = solve(as_spec(case))
    keys = {"x": "grad_input", "weight_ih": "grad_weight_ih", "weight_hh": "grad_weight_hh"}
    keys.update(bias_ih="grad_bias_ih", bias_hh="grad_bias_hh", h0="grad_h0")
    if case["cell"] == "lstm":
        keys["c0"] = "grad_c0"
    h = 1e-6
    for key, result in keys.items():
        values = np.asarray(case[key], dtype=float)
        analytic = np.asarray(solution.results[result], dtype=float)
        if key == "x":
            analytic = step_major(case, analytic)
        for flat in range(values.size):
            index = np.unravel_index(flat, values.shape)
            up, down = values.copy(), values.copy()
            up[index] += h
            down[index] -= h
            numeric = (loss(case, {key: up.tolist()}) - loss(case, {key: down.tolist()})) / (2 * h)
            assert abs(numeric - analytic[index]) <= 1e-6 * (1 + abs(numeric)), (key, index)


def test_relu_rnn_is_exact() -> None:
    spec = {
        "cell": "rnn",
        "nonlinearity": "relu",
        "input": [[[1, -1]], [["1/2", 2]]],
        "weight_ih": [["1/3", 1], [-1, "1/2"]],
        "weight_hh": [[1, 0], ["1/2", -1]],
    }
    solution = solve(spec, gradient_check=True)
    assert solution.exact and solution.gradient_check.ok
    assert solution.results["grad_weight_hh"][0][0] == Fraction(0) or isinstance(
        solution.results["grad_weight_hh"][0][0], Fraction
    )


BAD = {
    "weight_hh gate count": (
        "cell: lstm\ninput: [[1, 2]]\nweight_ih: [[1, 2], [3, 4]]\nweight_hh: [[1, 0], [0, 1]]\n",
        (4, 12),
        "an lstm has 4 gates (i, f, g, o): it must be 4·H×H = 8×2",
    ),
    "weight_ih gate count": (
        "cell: gru\ninput: [[1, 2]]\nweight_ih: [[1, 2], [3, 4]]\nweight_hh: [[1], [0], [2]]\n",
        (3, 12),
        "weight_ih is 2×2 but a gru has 3 gates (r, z, n) of H = 1",
    ),
    "h0 size": (
        "input: [[1, 2]]\nweight_ih: [[1, 2]]\nweight_hh: [[1]]\nh0: [[1, 2]]\n",
        (4, 5),
        "h0 is 1×2 but the hidden state is N×H = 1×1",
    ),
    "c0 on a gru": (
        "cell: gru\ninput: [[1]]\nweight_ih: [[1], [2], [3]]\nweight_hh: [[1], [0], [2]]\nc0: [[1]]\n",
        (5, 5),
        "c0 is an lstm's cell state",
    ),
    "c_n expected of a gru": (
        "cell: gru\ninput: [[1]]\nweight_ih: [[1], [2], [3]]\nweight_hh: [[1], [0], [2]]\n"
        "expected:\n  c_n: [[1]]\n",
        (6, 3),
        "c_n belongs to an lstm's cell state (cell: lstm); a gru has none: its state is h",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_inputs_give_one_located_line(tmp_path: Path, case: str) -> None:
    text, (line, column), words = BAD[case]
    result = run_spec(tmp_path, "rnn", text)
    got_line, got_column, message = spec_error(result)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (got_line, got_column) == (line, column), message
    assert words in message, message


SPEC = {
    "kind": "rnn",
    "input": [[[1, 0]], [[0, 1]], [[-1, 1]]],
    "weight_ih": [["1/2", -1], [1, "1/2"]],
    "weight_hh": [["1/2", 0], ["-1/2", "1/2"]],
    "bias_ih": [0, "1/4"],
    "bias_hh": ["1/4", 0],
    "upstream": [[[1, 0]], [[0, 1]], [[1, -2]]],
}


def graded(spec: dict[str, Any], result: str, answer: Any) -> tuple[bool, str]:
    grade = Problem(spec).grade({result: answer})
    one = next(r for r in grade.results if r.name == result)
    return one.ok, one.diagnosis


@pytest.mark.parametrize(
    ("spec", "slip", "result", "words"),
    [
        (SPEC, "next", "grad_weight_hh", "without the gradient arriving from step t+1"),
        (SPEC, "last", "grad_weight_ih", "the gradient of the last step alone"),
        (SPEC, "tanh", "grad_input", "1 − tanh(a)"),
        (
            {
                **SPEC,
                "cell": "lstm",
                "weight_ih": [[1, 0], [0, 1], [1, 1], [-1, 1]] * 2,
                "weight_hh": [[1, 0], [0, 1], [1, 1], [-1, 1]] * 2,
                "bias_ih": None,
                "bias_hh": None,
            },
            "order",
            "grad_weight_ih",
            "PyTorch stacks them as i, f, g, o",
        ),
    ],
)
def test_usual_mistakes_are_named(spec: dict, slip: str, result: str, words: str) -> None:
    from gradcalc.core.kinds.rnn_extras import slipped

    spec = {k: v for k, v in spec.items() if v is not None}
    right = solve(spec).results[result]
    assert graded(spec, result, np.asarray(right, dtype=float).tolist())[0]
    wrong = slipped(spec, slip)[result]
    ok, diagnosis = graded(spec, result, np.asarray(wrong, dtype=float).tolist())
    assert not ok and words in diagnosis, diagnosis


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_practice_problems_solve(cell: str) -> None:
    for seed in range(3):
        problem = practice.make_problem("rnn", seed, {"cell": cell})
        assert problem.spec["cell"] == cell
        solution = registry.solve(problem.spec, SolveOptions(sections=frozenset()))
        assert solution.gradient_check is None or solution.gradient_check.ok
    result = run("random", "rnn", "--seed", "2", "--cell", cell, "--steps", "3")
    assert result.exit_code == 0, result.output


def test_json_results_and_bundled_problems(tmp_path: Path) -> None:
    bundled = Path(__file__).parent.parent / "problems"
    for name in ("rnn_tanh_step", "rnn_three_steps", "lstm_step"):
        result = run("rnn", "--spec", str(bundled / f"{name}.yaml"), "--format", "json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert "grad_h" in data["results"] and "grad_weight_hh" in data["results"]


def test_an_rnn_layer_feeds_a_dense_layer_in_a_net() -> None:
    """rnn → flatten → dense → mse (the bundled net): every gradient as the plain-loop
    reference gives it through the chain, and the whole-chain check passes."""
    bundled = Path(__file__).parent.parent / "problems" / "net_rnn_dense_mse.yaml"
    result = run("net", "--spec", str(bundled), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    x = [[[1.0, 0.0]], [[0.0, 1.0]], [[-1.0, 1.0]]]
    wih, whh = [[0.5, -1.0], [1.0, 0.5]], [[0.5, 0.0], [-0.5, 0.5]]
    bih, bhh = [0.0, 0.25], [0.25, 0.0]
    zero = [[[0.0, 0.0]] for _ in range(3)]
    rows = [
        step[0]
        for step in reference("rnn", "tanh", x, wih, whh, bih, bhh, [[0, 0]], None, zero)["output"]
    ]
    y = [rows[t][0] - rows[t][1] for t in range(3)]
    dy = [2 * (y[t] - target) / 3 for t, target in enumerate([0, 1, -1])]
    up = [[[dy[t], -dy[t]]] for t in range(3)]
    want = reference("rnn", "tanh", x, wih, whh, bih, bhh, [[0, 0]], None, up)
    results = data["results"]
    for name in ("grad_weight_ih", "grad_weight_hh", "grad_bias_ih", "grad_bias_hh"):
        np.testing.assert_allclose(
            np.asarray(results[f"rnn.{name}"], dtype=float), want[name], atol=1e-12
        )
    np.testing.assert_allclose(
        np.asarray(results["grad_input"], dtype=float), want["grad_input"], atol=1e-12
    )
    assert data["gradient_check"]["ok"]


def test_a_net_refuses_an_upstream_on_h_n(tmp_path: Path) -> None:
    text = (
        "input: [[[1]]]\nlayers:\n  - type: rnn\n    weight_ih: [[1]]\n    weight_hh: [[1]]\n"
        "    upstream_h_n: [[1]]\n"
    )
    result = run_spec(tmp_path, "net", text)
    line, column, message = spec_error(result)
    assert result.exit_code == 2 and (line, column) == (6, 5), message
    assert "a layer takes no upstream_h_n" in message, message
