"""`kind: attention`: against the plain-loop reference (tests/attention_reference.py) and
float64 central differences over random sizes, batches, masks, causal and scales; its
refusals (one located line, exit 2); its usual mistakes; practice; the bundled problem."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import attention_reference as ref
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
VALUE = fractions_between(-3, 3, max_denominator=4)


def solve(spec: dict[str, Any], **options: Any):
    options.setdefault("gradient_check", False)
    options.setdefault("sections", frozenset())
    return registry.solve({"kind": "attention", **spec}, SolveOptions(**options))


def matrix(draw, rows: int, columns: int) -> list[list[Fraction]]:
    return [draw(st.lists(VALUE, min_size=columns, max_size=columns)) for _ in range(rows)]


def texts(value: Any) -> Any:
    if isinstance(value, list):
        return [texts(v) for v in value]
    return value if isinstance(value, bool) else str(value)


def floats(value: Any) -> Any:
    if isinstance(value, list):
        return [floats(v) for v in value]
    return float(value)


@st.composite
def cases(draw) -> dict[str, Any]:
    """One attention problem: up to two batch slices (a leading axis), L, S, E, Ev ≤ 3, a
    boolean mask (every row attending a key), an additive mask, causal or none, a scale or
    the default, an upstream."""
    slices = draw(st.sampled_from([None, 1, 2]))
    length, keys = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    width, value_width = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    count = slices or 1
    q = [matrix(draw, length, width) for _ in range(count)]
    k = [matrix(draw, keys, width) for _ in range(count)]
    v = [matrix(draw, keys, value_width) for _ in range(count)]
    g = [matrix(draw, length, value_width) for _ in range(count)]
    masking = draw(st.sampled_from(["none", "causal", "boolean", "additive"]))
    allowed, bias = None, None
    spec: dict[str, Any] = {}
    if masking == "causal":
        spec["causal"] = True
        allowed = ref.causal(length, keys)
    elif masking == "boolean":
        allowed = [
            draw(st.lists(st.booleans(), min_size=keys, max_size=keys)) for _ in range(length)
        ]
        for row in allowed:
            if not any(row):
                row[draw(st.integers(0, keys - 1))] = True
        spec["mask"] = allowed
    elif masking == "additive":
        bias = matrix(draw, length, keys)
        spec["mask"] = texts(bias)
    scale = draw(st.none() | fractions_between(-2, 2, max_denominator=3))
    if scale is not None:
        spec["scale"] = str(scale)
    used = float(scale) if scale is not None else 1 / math.sqrt(width)

    def lead(slices_: list[Any]) -> Any:
        return slices_ if slices else slices_[0]

    spec.update(
        query=texts(lead(q)), key=texts(lead(k)), value=texts(lead(v)), upstream=texts(lead(g))
    )
    return {
        "spec": spec,
        "slices": [(floats(q[n]), floats(k[n]), floats(v[n]), floats(g[n])) for n in range(count)],
        "scale": used,
        "allowed": allowed,
        "bias": None if bias is None else floats(bias),
        "batched": slices is not None,
    }


def reference(case: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every result by the plain loops, slice by slice (stacked when batched)."""
    per_slice = [
        ref.attention(q, k, v, g, case["scale"], case["allowed"], case["bias"])
        for q, k, v, g in case["slices"]
    ]
    stacked = {name: np.array([r[name] for r in per_slice]) for name in per_slice[0]}
    return stacked if case["batched"] else {n: a[0] for n, a in stacked.items()}


@SETTINGS
@given(cases(), st.booleans())
def test_attention_matches_the_plain_loop_reference(case: dict[str, Any], force: bool) -> None:
    solution = solve(case["spec"], force_float=force)
    want = reference(case)
    assert set(solution.results) == set(want)
    for name, value in want.items():
        got = np.asarray(solution.results[name], dtype=float)
        assert got.shape == value.shape, name
        np.testing.assert_allclose(got, value, rtol=1e-12, atol=1e-12, err_msg=name)


@SETTINGS
@given(cases())
def test_attention_gradients_match_central_differences(case: dict[str, Any]) -> None:
    """∂L/∂Q, ∂L/∂K, ∂L/∂V of L = Σ upstream ⊙ Y against central differences of the loops."""
    solution = solve(case["spec"])
    q, k, v, g = case["slices"][0]
    shapes = {"query": q, "key": k, "value": v}
    for name, array in shapes.items():
        flat = [x for row in array for x in row]
        columns = len(array[0])

        def loss(values: list[float], name: str = name, columns: int = columns) -> float:
            moved = [values[r * columns : (r + 1) * columns] for r in range(len(values) // columns)]
            args = {**shapes, name: moved}
            out = ref.attention(
                args["query"], args["key"], args["value"], g, case["scale"], case["allowed"],
                case["bias"],
            )["output"]  # fmt: skip
            return sum(out[i][c] * g[i][c] for i in range(len(g)) for c in range(len(g[0])))

        grads = np.asarray(solution.results[f"grad_{name}"], dtype=float)
        grads = (grads[0] if case["batched"] else grads).ravel()
        for index in range(len(flat)):
            numeric = nn_reference.central_difference(loss, flat, index)
            assert abs(numeric - grads[index]) <= 1e-5 * (1 + abs(grads[index])), (name, index)


@settings(SETTINGS, max_examples=20)
@given(cases(), st.sampled_from([1, None]))
def test_explanation_and_runtime_gradient_check(case: dict[str, Any], steps) -> None:
    solution = registry.solve({"kind": "attention", **case["spec"]}, SolveOptions(steps=steps))
    assert solution.gradient_check is not None and solution.gradient_check.ok
    assert [s.key for s in solution.sections] == [
        "problem",
        "scores",
        "weights",
        "forward",
        "backward",
    ]


def test_bundled_problem_solves_and_shows_the_softmax_row_backward() -> None:
    result = run("run", "problems/attention_causal_2x2.yaml", "--no-color", "--steps", "all")
    assert result.exit_code == 0, result.stdout
    text = result.stdout
    assert "scale = 1/√E = 1/√2 = 0.707107 (PyTorch's default)" in text
    assert "P_01 = 0 (masked: left out of the softmax)" in text
    assert "∂L/∂A_10 = P_10·(∂L/∂P_10 − g_1)" in text
    assert "every check passed" in text


def test_causal_is_top_left_aligned_when_l_differs_from_s() -> None:
    """L = 3 queries, S = 2 keys: query 0 attends key 0, queries 1 and 2 both keys (as
    torch.ones(L, S).tril(), PyTorch's is_causal); L = 2, S = 3: key 2 is never attended."""
    tall = solve({"query": [[1], [2], [3]], "key": [[1], [1]], "value": [[1], [2]], "causal": True})
    assert np.asarray(tall.results["weights"], dtype=float).tolist() == [
        [1, 0],
        [0.5, 0.5],
        [0.5, 0.5],
    ]
    wide = solve({"query": [[1], [2]], "key": [[1], [1], [1]], "value": [[1], [2], [3]],
                  "causal": True})  # fmt: skip
    weights = np.asarray(wide.results["weights"], dtype=float)
    assert weights[:, 2].tolist() == [0, 0] and weights[1].tolist() == [0.5, 0.5, 0]


def test_a_mask_broadcasts_and_numbers_are_added() -> None:
    spec = {"query": [[[1, 0], [0, 1]], [[1, 1], [0, 0]]], "key": [[[1, 0], [0, 1]]] * 2,
            "value": [[[1, 0], [0, 1]]] * 2, "scale": 1}  # fmt: skip
    one_row = solve({**spec, "mask": [True, False]})
    assert np.asarray(one_row.results["weights"], dtype=float)[..., 1].tolist() == [[0, 0]] * 2
    added = solve({**spec, "mask": [[0, "-1/2"]]})
    scores = np.asarray(added.results["scores"], dtype=float)
    assert scores[0].tolist() == [[1, -0.5], [0, 0.5]]


BAD = {
    "key width": ("query: [[1, 2]]\nkey: [[1, 2, 3]]\nvalue: [[1]]\n", (2, 6), "key rows have 3 entries but query rows have E = 2"),
    "value rows": ("query: [[1]]\nkey: [[1], [2]]\nvalue: [[1]]\n", (3, 8), "value has 1 row but key has S = 2"),
    "leading axes": ("query: [[[1]], [[2]]]\nkey: [[1]]\nvalue: [[1]]\n", (2, 6), "leading (batch, head) axes must be the same"),
    "mask does not broadcast": ("query: [[1], [2]]\nkey: [[1], [2]]\nvalue: [[1], [2]]\nmask: [[true, false, true]]\n", (4, 7), "does not broadcast to the scores' shape 2×2"),
    "mixed mask": ("query: [[1]]\nkey: [[1], [2]]\nvalue: [[1], [2]]\nmask: [[true, 0]]\n", (4, 15), "a boolean mask holds true or false only"),
    "mask with causal": ("query: [[1]]\nkey: [[1]]\nvalue: [[1]]\nmask: [[true]]\ncausal: true\n", (5, 9), "PyTorch refuses both"),
    "all-masked row": ("query: [[1], [2]]\nkey: [[1], [2]]\nvalue: [[1], [2]]\nmask:\n  - [true, false]\n  - [false, false]\n", (6, 5), "query 1 (row 1 of the scores, counted from 0) may attend no key"),
    "upstream shape": ("query: [[1]]\nkey: [[1]]\nvalue: [[1, 2]]\nupstream: [[1]]\n", (4, 11), "upstream is 1×1 but the output Y is 1×2"),
    "causal not a boolean": ("query: [[1]]\nkey: [[1]]\nvalue: [[1]]\ncausal: 2\n", (4, 9), "expected true or false"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_inputs_give_one_located_line(tmp_path: Path, case: str) -> None:
    text, (line, column), words = BAD[case]
    got_line, got_column, message = spec_error(run_spec(tmp_path, "attention", text))
    assert (got_line, got_column) == (line, column), message
    assert words in message, message


def test_the_all_masked_refusal_says_what_pytorch_returns(tmp_path: Path) -> None:
    text = BAD["all-masked row"][0]
    _, _, message = spec_error(run_spec(tmp_path, "attention", text))
    assert "PyTorch 2.13's scaled_dot_product_attention returns 0 for such a row" in message
    assert "NaN" in message


SPEC = {
    "kind": "attention",
    "query": [[1, 0], [1, 2]],
    "key": [[1, 1], [0, 2]],
    "value": [[1, 2], [3, -1]],
    "upstream": [[1, -1], [2, 1]],
}


def answers(spec: dict[str, Any]) -> dict[str, Any]:
    results = registry.solve(spec, SolveOptions(sections=frozenset(), gradient_check=False))
    return {
        name: np.asarray(value, dtype=float).tolist() for name, value in results.results.items()
    }


def graded(spec: dict[str, Any], result: str, answer: Any) -> tuple[bool, str]:
    grade = Problem(spec).grade({result: answer})
    one = next(r for r in grade.results if r.name == result)
    return one.ok, one.diagnosis


def test_usual_mistakes_are_named() -> None:
    right = answers(SPEC)
    assert graded(SPEC, "grad_query", right["grad_query"]) == (True, "")
    unscaled = answers({**SPEC, "scale": 1})
    ok, diagnosis = graded(SPEC, "grad_key", unscaled["grad_key"])
    assert not ok and "without the scale" in diagnosis, diagnosis
    ones = answers({key: v for key, v in SPEC.items() if key != "upstream"})
    ok, diagnosis = graded(SPEC, "grad_value", ones["grad_value"])
    assert not ok and "upstream" in diagnosis, diagnosis


def test_the_softmax_jacobian_taken_entry_by_entry_is_named() -> None:
    """∂L/∂A_ij = p_ij(1 − p_ij)·∂L/∂P_ij (the cross terms dropped), by the reference's loops."""
    q, k, v, g = (floats(SPEC[n]) for n in ("query", "key", "value", "upstream"))
    scale = 1 / math.sqrt(2)
    p = ref.attention(q, k, v, g, scale)["weights"]
    dp = [[sum(g[i][c] * v[j][c] for c in range(2)) for j in range(2)] for i in range(2)]
    da = [[p[i][j] * (1 - p[i][j]) * dp[i][j] for j in range(2)] for i in range(2)]
    wrong = [
        [sum(da[i][j] * k[j][e] for j in range(2)) * scale for e in range(2)] for i in range(2)
    ]
    ok, diagnosis = graded(SPEC, "grad_query", wrong)
    assert not ok and "p_ij·(1 − p_ij)" in diagnosis, diagnosis


def test_practice_problems_solve_with_clean_numbers() -> None:
    for seed in range(8):
        problem = practice.make_problem("attention", seed, {})
        solution = registry.solve(problem.spec, SolveOptions(sections=frozenset()))
        assert solution.ok, seed
        assert solution.gradient_check is not None and solution.gradient_check.ok
    result = run("random", "attention", "--seed", "2", "--masking", "causal", "--queries", "3")
    assert result.exit_code == 0 and "causal: true" in result.stdout


def test_json_results(tmp_path: Path) -> None:
    result, data = run_json(
        tmp_path, "attention", "query: [[1]]\nkey: [[1], [1]]\nvalue: [[2], [4]]\n"
    )
    assert result.exit_code == 0
    assert set(data["results"]) == {
        "output",
        "scores",
        "weights",
        "grad_query",
        "grad_key",
        "grad_value",
    }
    assert data["results"]["output"] == [[3]]
    assert data["results"]["weights"] == [[0.5, 0.5]]


def test_self_attention_as_a_net_layer_matches_the_reference() -> None:
    """attention (causal, input as query, key and value) → flatten → dense, mse: the net's
    ∂L/∂x is ∂L/∂Q + ∂L/∂K + ∂L/∂V of the plain loops, chained by hand."""
    x = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    w = [1.0, 0.0, -1.0, 2.0, 0.0, 1.0]
    spec = {
        "kind": "net",
        "input": [x],
        "layers": [{"type": "attention", "name": "attn", "causal": True}, "flatten",
                   {"type": "dense", "name": "fc", "weight": [w], "bias": [0]}],
        "loss": {"type": "mse", "target": [[1]]},
    }  # fmt: skip
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert solution.gradient_check is not None and solution.gradient_check.ok
    forward = ref.attention(x, x, x, [[0.0, 0.0]] * 3, 1 / math.sqrt(2), ref.causal(3, 3))
    flat = [v for row in forward["output"] for v in row]
    y = sum(a * b for a, b in zip(flat, w, strict=True))
    grad_y = 2 * (y - 1)
    upstream = [[grad_y * w[2 * i + c] for c in range(2)] for i in range(3)]
    back = ref.attention(x, x, x, upstream, 1 / math.sqrt(2), ref.causal(3, 3))
    want = [[back[g][i][e] for g in ("grad_query", "grad_key", "grad_value")] for i in range(3)
            for e in range(2)]  # fmt: skip
    got = np.asarray(solution.results["grad_input"], dtype=float).ravel()
    np.testing.assert_allclose(got, [sum(parts) for parts in want], rtol=1e-12)
    assert float(solution.results["loss"]) == pytest.approx((y - 1) ** 2, rel=1e-12)


def test_self_attention_input_excludes_query_key_value(tmp_path: Path) -> None:
    text = "input: [[1]]\nquery: [[1]]\n"
    line, column, message = spec_error(run_spec(tmp_path, "attention", text))
    assert (line, column) == (2, 1) and "input is self-attention" in message


AUDITED = {
    "additive mask, batch, index_base 1": (
        "index_base: 1\nquery: [[[1, 0], [0.5, 1]], [[2, -1], [0, 1]]]\n"
        "key: [[[1, 1], [0, 2], [1, -1]], [[0, 1], [1, 0], [2, 2]]]\n"
        "value: [[[1], [2], [3]], [[0], [-1], [1]]]\nmask: [[0, '-1/2', 1]]\nscale: 1/3\n"
        "upstream: [[[1], [2]], [[-1], [0.5]]]\n"
    ),
    "boolean mask": (
        "query: [[1, 0, 2], [0.5, 1, 1]]\nkey: [[1, 1, 0], [0, 2, 1], [1, -1, 3]]\n"
        "value: [[1, 2], [2, 0], [3, 1]]\nmask: [[true, false, true], [false, true, true]]\n"
    ),
    "causal with a key no query attends": (
        "query: [[1, 0], [0.5, 1]]\nkey: [[1, 1], [0, 2], [1, -1]]\n"
        "value: [[1, 2], [2, 0], [3, 1]]\ncausal: true\n"
    ),
    "self-attention": "input: [[1, 0], [0, 1], [1, 1]]\ncausal: true\nupstream: [[1, 0], [0, 2], [1, 1]]\n",
}


@pytest.mark.parametrize("name", list(AUDITED))
def test_every_displayed_step_is_true(tmp_path: Path, name: str) -> None:
    from equation_truth import summary
    from test_displayed_equations import audit

    path = tmp_path / "spec.yaml"
    path.write_text("kind: attention\n" + AUDITED[name], encoding="utf-8")
    for options in [(), ("--decimal", "--precision", "3")]:
        problems, count, _, matched = audit(path, *options)
        assert count and matched, options
        assert not problems, summary(problems)
