"""Mistake diagnosis and accepted conventions in `gradcalc check`.

Each test writes a wrong answer the way a student makes the mistake (by hand where
the seeds give one, otherwise by solving the mistaken problem) and asserts that the
report names that mistake, and only for wrong answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from gradcalc.cli.main import main
from gradcalc.cli.spec_loader import load_file
from gradcalc.core import registry
from gradcalc.core.errors import SpecError
from gradcalc.core.grading import Problem
from gradcalc.core.spec import SolveOptions
from gradcalc.problems import PROBLEMS_DIR

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}


def problem_spec(name: str) -> dict[str, Any]:
    return dict(load_file(str(PROBLEMS_DIR / name)).data)


def solved(spec: dict[str, Any], result: str, **changes: Any) -> list:
    """``result`` of the problem with ``changes`` (the student's mistaken computation)."""
    variant = {k: v for k, v in spec.items() if k not in ("expected", "points", "accept")}
    for key, value in changes.items():
        if value is None:
            variant.pop(key, None)
        else:
            variant[key] = value
    options = SolveOptions(sections=frozenset(), gradient_check=False)
    value = registry.solve(variant, options).results[result]
    return [str(v) for v in value] if isinstance(value, list) else _listed(value)


def _listed(value: Any) -> Any:
    array = np.asarray(value, dtype=object)
    if array.ndim == 0:
        return str(array[()])
    return [_listed(row) for row in array]


def diagnose(spec: dict[str, Any], result: str, answer: Any) -> tuple[bool, str, str]:
    """(ok, diagnosis, accepted) for one answer graded against ``spec``."""
    grade = Problem(spec).grade({result: answer})
    graded = next(r for r in grade.results if r.name == result)
    return graded.ok, graded.diagnosis, graded.accepted


def test_kernel_flipped():
    spec = problem_spec("task3.yaml")
    ok, diagnosis, _ = diagnose(spec, "output", solved(spec, "output", flip_kernel=True))
    assert not ok
    assert diagnosis == (
        "output matches the result for true convolution (flip_kernel: true); "
        "this problem uses cross-correlation"
    )


def test_kernel_not_flipped():
    spec = problem_spec("seed001_true_convolution.yaml")
    answer = solved(spec, "grad_input", flip_kernel=False)
    ok, diagnosis, _ = diagnose(spec, "grad_input", answer)
    assert not ok
    assert diagnosis.startswith("grad_input matches the result for cross-correlation")


def test_stride_ignored():
    spec = problem_spec("seed003_multichannel_strided.yaml")
    answer = solved(spec, "output", stride=1, upstream=None)
    ok, diagnosis, _ = diagnose(spec, "output", answer)
    assert not ok
    assert diagnosis == "output matches the result with stride 1: the stride (2) was ignored"


def test_padding_ignored():
    spec = {
        "kind": "conv",
        "input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
        "kernel": [[1, -1], [2, 0]],
        "padding": 1,
    }
    answer = solved(spec, "output", padding=0)
    ok, diagnosis, _ = diagnose(spec, "output", answer)
    assert not ok
    assert diagnosis == "output matches the result without padding: the padding (1) was ignored"


def test_output_size_without_plus_one():
    # Seed 003 states the size as (H − M)/s = (5 − 3)/2 = 1 instead of ⌊(5 − 3)/2⌋ + 1 = 2.
    spec = problem_spec("seed003_multichannel_strided.yaml")
    ok, diagnosis, _ = diagnose(spec, "output_shape", [2, 1, 1])
    assert not ok
    assert diagnosis.startswith("output_shape matches an output size computed without the “+1”")
    # The forward pass over those windows only: the first row and column of each map.
    ok, diagnosis, _ = diagnose(spec, "output", [[[20]], [[10]]])
    assert "without the “+1”" in diagnosis


def test_grad_weight_transposed():
    spec = problem_spec("seed001_fully_connected.yaml")
    answer = [[1, -2], ["-1/2", 1], ["3/2", -3]]
    ok, diagnosis, _ = diagnose(spec, "grad_weight", answer)
    assert not ok
    assert diagnosis == "grad_weight is the transpose of ∂L/∂W: rows and columns swapped"


def test_grad_kernel_transposed():
    spec = problem_spec("task3.yaml")
    ok, diagnosis, _ = diagnose(spec, "grad_kernel", [[2, -1], [1, 5]])
    assert diagnosis == "grad_kernel is the transpose of ∂L/∂kernel: rows and columns swapped"


def test_max_pool_tie_conventions():
    spec = problem_spec("seed000_ex2_pool_ties_first.yaml")
    # Seed 000 Exercise 2's own answer routes to every tied maximum.
    all_ties = problem_spec("seed000_ex2_pool_ties_all.yaml")["expected"]["grad_input"]
    ok, diagnosis, _ = diagnose(spec, "grad_input", all_ties)
    assert not ok
    assert diagnosis.startswith("grad_input matches the result under ties: all")
    assert diagnosis.endswith("this problem uses ties: first")
    split = solved(spec, "grad_input", ties="split")
    assert "under ties: split" in diagnose(spec, "grad_input", split)[1]
    first = problem_spec("seed000_ex2_pool_ties_first.yaml")["expected"]["grad_input"]
    spec_all = problem_spec("seed000_ex2_pool_ties_all.yaml")
    assert "under ties: first" in diagnose(spec_all, "grad_input", first)[1]


def test_avg_pool_count_include_pad():
    spec = problem_spec("pool_avg_ceil_padding.yaml")  # count_include_pad: false
    answer = solved(spec, "output", count_include_pad=True)
    ok, diagnosis, _ = diagnose(spec, "output", answer)
    assert not ok
    assert diagnosis.startswith("output matches the result with count_include_pad: true")


def test_loss_reduction_mean_versus_sum():
    spec = problem_spec("cross_entropy_batch_weighted.yaml")  # reduction: mean (default)
    answer = solved(spec, "grad_input", reduction="sum")
    ok, diagnosis, _ = diagnose(spec, "grad_input", answer)
    assert not ok
    assert diagnosis == (
        "grad_input matches the result with reduction: sum; this problem uses reduction: mean"
    )


def test_softmax_cross_entropy_sign_flipped():
    spec = problem_spec("seed003_problem2_cross_entropy.yaml")
    right = spec["expected"]["grad_input"]
    ok, diagnosis, _ = diagnose(spec, "grad_input", [-v for v in right])
    assert not ok
    assert diagnosis.startswith("grad_input has its sign flipped: 1[i = gt] − p_i")


def test_upstream_forgotten():
    spec = problem_spec("task3.yaml")
    answer = solved(spec, "grad_kernel", upstream=None)
    ok, diagnosis, _ = diagnose(spec, "grad_kernel", answer)
    assert not ok
    assert diagnosis.startswith(
        "grad_kernel matches the result with an upstream of ones: the upstream gradient"
    )
    dense = problem_spec("seed001_fully_connected.yaml")
    answer = solved(dense, "grad_input", upstream=None)
    assert "upstream of ones" in diagnose(dense, "grad_input", answer)[1]


def test_no_diagnosis_for_an_unexplained_answer():
    spec = problem_spec("task3.yaml")
    ok, diagnosis, _ = diagnose(spec, "grad_kernel", [[100, 0], [0, 0]])
    assert not ok and diagnosis == ""


def test_accepted_convention_counts_as_correct_and_is_named():
    spec = problem_spec("seed000_ex2_pool_ties_first.yaml")
    spec["accept"] = {"ties": ["first", "all"]}
    all_ties = problem_spec("seed000_ex2_pool_ties_all.yaml")["expected"]["grad_input"]
    ok, diagnosis, accepted = diagnose(spec, "grad_input", all_ties)
    assert ok and accepted == "ties: all" and diagnosis == ""
    split = solved(spec, "grad_input", ties="split")
    ok, diagnosis, accepted = diagnose(spec, "grad_input", split)
    assert not ok and accepted == "" and "under ties: split" in diagnosis


def test_diagnosis_and_accepted_convention_in_the_report(tmp_path: Path):
    spec = problem_spec("seed000_ex2_pool_ties_first.yaml")
    all_ties = problem_spec("seed000_ex2_pool_ties_all.yaml")["expected"]["grad_input"]
    spec["expected"]["grad_input"] = all_ties
    plain = {k: (str(v) if k == "title" else v) for k, v in spec.items()}
    path = tmp_path / "ties.yaml"
    path.write_text(yaml.safe_dump(plain, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(path)], env=ENV)
    assert result.exit_code == 1
    assert "likely mistake: grad_input matches the result under ties: all" in result.output
    plain["accept"] = {"ties": ["all"]}
    path.write_text(yaml.safe_dump(plain, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", "--format", "json", str(path)], env=ENV)
    assert result.exit_code == 0, result.output
    graded = json.loads(result.output)["files"][0]["results"]
    assert [r["accepted"] for r in graded if r["name"] == "grad_input"] == ["ties: all"]
    text = CliRunner().invoke(main, ["check", str(path)], env=ENV).output
    assert "matches the accepted convention ties: all" in text


def test_pool_stride_and_padding_ignored():
    spec = {
        "kind": "pool",
        "mode": "max",
        "input": [[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 2]],
        "size": 2,
        "padding": 1,
    }
    no_padding = solved(spec, "output", padding=0)
    assert diagnose(spec, "output", no_padding)[1] == (
        "output matches the result without padding: the padding (1) was ignored"
    )
    spec.pop("padding")
    stride_one = solved(spec, "output", stride=1)
    assert diagnose(spec, "output", stride_one)[1] == (
        "output matches the result with stride 1: the stride (2) was ignored"
    )


def test_an_invalid_accepted_convention_is_a_spec_error():
    spec = problem_spec("seed000_ex2_pool_ties_first.yaml")
    spec["accept"] = {"ties": ["every"]}
    with pytest.raises(SpecError) as caught:
        diagnose(spec, "grad_input", [[0] * 4] * 4)
    assert caught.value.path == ("accept", "ties")
    assert "unknown ties 'every'" in caught.value.message
