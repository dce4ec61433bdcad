"""`kind: embedding`: against the plain-loop reference and central differences, exactness,
repeated indices, padding_idx, its refusals (one located line, exit 2), its usual mistakes,
practice, and embedding as the first layer of a net."""

from __future__ import annotations

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
VALUE = fractions_between(-5, 5, max_denominator=7)


def solve(spec: dict[str, Any], **options: Any):
    options.setdefault("gradient_check", False)
    options.setdefault("sections", frozenset())
    return registry.solve({"kind": "embedding", **spec}, SolveOptions(**options))


def rows(array: Any) -> list[list[Any]]:
    values = np.asarray(array, dtype=object)
    return [list(row) for row in values.reshape(-1, values.shape[-1])]


@st.composite
def cases(draw) -> dict[str, Any]:
    vocabulary = draw(st.integers(1, 5))
    width = draw(st.integers(1, 3))
    shape = draw(st.sampled_from([(), (1,), (4,), (2, 3), (3, 1), (2, 1, 2)]))
    size = math.prod(shape)
    indices = draw(st.lists(st.integers(0, vocabulary - 1), min_size=size, max_size=size))
    weight = [draw(st.lists(VALUE, min_size=width, max_size=width)) for _ in range(vocabulary)]
    up = [draw(st.lists(VALUE, min_size=width, max_size=width)) for _ in range(size)]
    padding = draw(st.none() | st.integers(-vocabulary, vocabulary - 1))
    spec: dict[str, Any] = {
        "indices": nn_reference.reshape(indices, shape),
        "weight": [[str(v) for v in row] for row in weight],
        "upstream": nn_reference.reshape([[str(v) for v in row] for row in up], shape),
    }
    if padding is not None:
        spec["padding_idx"] = padding
    return {"spec": spec, "indices": indices, "weight": weight, "up": up, "padding": padding,
            "shape": shape}  # fmt: skip


@SETTINGS
@given(cases())
def test_embedding_matches_the_plain_loop_reference_exactly(case: dict[str, Any]) -> None:
    solution = solve(case["spec"])
    assert solution.exact
    want_out, want_grad = ref.embedding(
        case["indices"], case["weight"], case["up"], case["padding"]
    )
    assert np.shape(solution.results["output"]) == (*case["shape"], len(case["weight"][0]))
    assert rows(solution.results["output"]) == want_out
    assert rows(solution.results["grad_weight"]) == want_grad


@SETTINGS
@given(cases())
def test_embedding_gradient_matches_central_differences(case: dict[str, Any]) -> None:
    """Central differences of L = Σ upstream ⊙ W[idx] by the weight; the padding row is held
    constant (nn.Embedding never updates it)."""
    solution = solve(case["spec"], force_float=True)
    grads = [float(g) for row in rows(solution.results["grad_weight"]) for g in row]
    width = len(case["weight"][0])
    values = [float(v) for row in case["weight"] for v in row]
    padding = None if case["padding"] is None else case["padding"] % len(case["weight"])

    def loss(moved: list[float]) -> float:
        table = [moved[r * width : (r + 1) * width] for r in range(len(case["weight"]))]
        out, _ = ref.embedding(case["indices"], table, case["up"], None)
        return sum(float(u) * float(o) for urow, orow in zip(case["up"], out, strict=True)
                   for u, o in zip(urow, orow, strict=True))  # fmt: skip

    for index in range(len(values)):
        if padding is not None and index // width == padding:
            assert grads[index] == 0
            continue
        numeric = nn_reference.central_difference(loss, values, index)
        assert abs(numeric - grads[index]) <= 1e-6 * (1 + abs(grads[index]))


@settings(SETTINGS, max_examples=20)
@given(cases(), st.sampled_from([1, None]))
def test_embedding_explanation_and_gradient_check(case: dict[str, Any], steps) -> None:
    solution = registry.solve({"kind": "embedding", **case["spec"]}, SolveOptions(steps=steps))
    assert solution.gradient_check is None or solution.gradient_check.ok
    assert solution.sections


def test_bundled_problem_shows_which_positions_add_into_each_row() -> None:
    result = run("run", "problems/embedding_repeated_index.yaml", "--no-color", "--steps", "all")
    assert result.exit_code == 0, result.stdout
    text = result.stdout
    assert "row 1: looked up at idx_00, idx_02, idx_11 (idx = 1): 3 positions add into it" in text
    assert "row 0 is padding_idx: looked up at idx_10, its gradient stays 0" in text
    assert "∂L/∂W_10 = ∂L/∂y_000 + ∂L/∂y_020 + ∂L/∂y_110" in text


def test_negative_padding_idx_counts_from_the_end() -> None:
    spec = {"indices": [2, 2, 0], "weight": [[1], [2], [3]], "upstream": [[1], [2], [5]]}
    plain = solve(spec)
    assert rows(plain.results["grad_weight"]) == [[5], [0], [3]]
    padded = solve({**spec, "padding_idx": -1})
    assert rows(padded.results["grad_weight"]) == [[5], [0], [0]]
    assert rows(padded.results["output"]) == [[3], [3], [1]]


BAD = {
    "index not an integer": ("indices: [1, 0.5]\nweight: [[1], [2]]\n", (1, 14), "indices are integers (rows of the weight table), got 0.5"),
    "index too large": ("indices: [[0, 1], [2, 3]]\nweight: [[1], [2], [3]]\n", (1, 23), "index 3 is out of range: the weight has V = 3 rows, so an index is in [0, 3)"),
    "index negative": ("indices: [-1]\nweight: [[1], [2]]\n", (1, 11), "index -1 is out of range"),
    "padding_idx out of range": ("indices: [1]\nweight: [[1], [2]]\npadding_idx: 2\n", (3, 14), "padding_idx must be in [−2, 1]"),
    "padding_idx too negative": ("indices: [1]\nweight: [[1], [2]]\npadding_idx: -3\n", (3, 14), "padding_idx must be in [−2, 1]"),
    "weight not 2-D": ("indices: [1]\nweight: [1, 2]\n", (2, 9), "weight has 1 dimension"),
    "upstream shape": ("indices: [1, 0]\nweight: [[1, 2], [3, 4]]\nupstream: [1, 2]\n", (3, 11), "upstream is a list of 2 but the output y is 2×2"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_inputs_give_one_located_line(tmp_path: Path, case: str) -> None:
    text, (line, column), words = BAD[case]
    got_line, got_column, message = spec_error(run_spec(tmp_path, "embedding", text))
    assert (got_line, got_column) == (line, column), message
    assert words.replace("-", "−") in message.replace("-", "−"), message


SPEC = {
    "kind": "embedding",
    "indices": [1, 2, 1, 0],
    "weight": [[1, 0], [2, -1], [0, 3]],
    "padding_idx": 0,
    "upstream": [[1, 2], [3, -1], [4, 5], [2, 2]],
}


def graded(result: str, answer: Any) -> tuple[bool, str]:
    grade = Problem(SPEC).grade({result: answer})
    one = next(r for r in grade.results if r.name == result)
    return one.ok, one.diagnosis


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ([[0, 0], [4, 5], [3, -1]], "overwritten instead of accumulated"),
        ([[2, 2], [5, 7], [3, -1]], "without padding_idx"),
        ([[0, 0], [2, 2], [1, 1]], "upstream gradient"),
    ],
)
def test_usual_mistakes_are_named(answer: Any, words: str) -> None:
    assert graded("grad_weight", [[0, 0], [5, 7], [3, -1]]) == (True, "")
    ok, diagnosis = graded("grad_weight", answer)
    assert not ok and words in diagnosis, diagnosis


def test_practice_problems_repeat_an_index_and_solve() -> None:
    for seed in range(12):
        problem = practice.make_problem("embedding", seed, {})
        flat = np.asarray(problem.spec["indices"]).ravel().tolist()
        assert len(set(flat)) < len(flat), flat
    result = run("random", "embedding", "--seed", "4", "--vocabulary", "3", "--lookups", "2x2")
    assert result.exit_code == 0 and "indices:" in result.stdout


def test_json_results(tmp_path: Path) -> None:
    result, data = run_json(tmp_path, "embedding", "indices: [1, 1]\nweight: [[1], [2]]\n")
    assert result.exit_code == 0
    assert set(data["results"]) == {"output", "grad_weight"}
    assert data["results"]["grad_weight"] == [[0], [2]]


def test_embedding_as_the_first_net_layer_matches_the_reference() -> None:
    """embedding (repeated index, padding_idx) → flatten → dense, upstream given: the table's
    gradient by plain loops; no grad_input (indices); the whole-chain check passes."""
    indices = [[1, 3, 1], [0, 1, 2]]
    table = [[1, -1], [2, 0], ["1/2", 3], [-2, 1]]
    w = [[1, 0, -1, 2, 0, 1], [0, 1, 1, -1, 2, 0]]
    up = [[1, -2], [3, 1]]
    spec = {
        "kind": "net",
        "input": indices,
        "layers": [
            {"type": "embedding", "name": "emb", "weight": table, "padding_idx": 0},
            "flatten",
            {"type": "dense", "name": "fc", "weight": w},
        ],
        "upstream": up,
    }
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert solution.exact and solution.gradient_check.ok
    assert "grad_input" not in solution.results
    flat = sum(indices, [])
    # ∂L/∂emb: each sample's upstream through the dense weight, as the flattened S×D rows.
    grad_flat = [[sum(Fraction(up[n][j]) * w[j][c] for j in range(2)) for c in range(6)]
                 for n in range(2)]  # fmt: skip
    grad_rows = [grad_flat[n][t * 2 : t * 2 + 2] for n in range(2) for t in range(3)]
    out_rows, want = ref.embedding(flat, table, grad_rows, 0)
    assert rows(solution.results["emb.grad_weight"]) == want
    assert rows(solution.results["emb.output"]) == out_rows
    assert rows(solution.results["emb.grad_output"]) == grad_rows


@pytest.mark.parametrize(
    ("net", "where", "words"),
    [
        ("input: [[1, 4]]\nlayers: [{type: embedding, weight: [[1], [2]]}]\n", (1, 13),
         "embedding1 (embedding): index 4 is out of range"),
        ("input: [[1, 0]]\nlayers: [relu, {type: embedding, weight: [[1], [2]]}]\n", (2, 23),
         "an embedding layer must be the first layer"),
    ],
)  # fmt: skip
def test_net_refusals_for_embedding(tmp_path: Path, net: str, where, words: str) -> None:
    line, column, message = spec_error(run_spec(tmp_path, "net", net))
    assert (line, column) == where and words in message, message


def test_index_base_one_prints_index_values_as_the_table_holds_them(tmp_path: Path) -> None:
    """Index values stay PyTorch's 0-based ones; index_base 1 only relabels rows, and a step
    never claims a value the idx table does not show."""
    spec = "index_base: 1\nindices: [0, 1, 0]\nweight: [[1, 2], [3, 4]]\n"
    result = run_spec(tmp_path, "embedding", spec, "--steps", "all")
    assert result.exit_code == 0, result.stdout
    text = result.stdout
    assert "0-based as in PyTorch" in text
    assert "idx_1 = 0: row 1" in text and "idx_2 = 1: row 2" in text
    assert "idx_1 = 1: row 1" not in text
    assert "row 1: looked up at idx_1, idx_3 (idx = 0): 2 positions add into it" in text


def test_a_single_index_reads_as_english(tmp_path: Path) -> None:
    result = run_spec(tmp_path, "embedding", "indices: 1\nweight: [[1, 2], [3, 4]]\n")
    assert result.exit_code == 0, result.stdout
    assert "a single index integers" not in result.stdout
    assert "idx: a single integer in [0, 2)" in result.stdout


def test_one_index_in_a_list_is_one_integer(tmp_path: Path) -> None:
    result = run_spec(tmp_path, "embedding", "indices: [1]\nweight: [[1, 2], [3, 4]]\n")
    assert "idx: 1 integer in [0, 2)" in result.stdout
