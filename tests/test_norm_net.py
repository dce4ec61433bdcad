"""Normalization layers in a net (issue 16 with issue 14): γ and β left at their defaults are
parameters all the same (their gradients are results, expected and check take them), and a
training batch norm layer gives its running statistics, as the single-layer kinds do."""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path
from typing import Any

import norm_reference as ref
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from gradcalc.cli.main import main
from gradcalc.core import registry
from gradcalc.core.grading import Problem
from gradcalc.core.spec import SolveOptions

NUMERIC = SolveOptions(force_float=True, explain=False, gradient_check=False)
EXPLAINED_FLOAT = SolveOptions(force_float=True)
ENV = {"COLUMNS": "100", "LINES": "50", "FORCE_COLOR": None, "NO_COLOR": None}

# γ and β written out as PyTorch's initial values, and the same net with them left out.
WRITTEN = {
    "kind": "net",
    "input": [[1, 2, 0], [0, 1, 3], [2, -2, 1], [1, 0, -1]],
    "layers": [
        {"type": "batchnorm", "name": "bn", "eps": 3, "weight": [1, 1, 1], "bias": [0, 0, 0]},
        {"type": "layernorm", "name": "ln", "normalized_shape": [3], "eps": 3},
        {"type": "dense", "name": "fc", "weight": [[1, -1, 0], [2, 0, -1]]},
        {"type": "groupnorm", "name": "gn", "num_groups": 1, "eps": "1/2"},
    ],
    "loss": {"type": "mse", "target": [[0, 1], [1, 0], [0, 0], [1, 1]]},
}
WRITTEN["layers"][1] |= {"weight": [1, 1, 1], "bias": [0, 0, 0]}
WRITTEN["layers"][3] |= {"weight": [1, 1], "bias": [0, 0]}


def defaulted(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with every normalization layer's γ and β left out."""
    spec = copy.deepcopy(spec)
    for layer in spec["layers"]:
        if layer["type"] in ("batchnorm", "layernorm", "groupnorm"):
            layer.pop("weight")
            layer.pop("bias")
    return spec


def solve(spec: dict[str, Any], options: SolveOptions | None = None) -> Any:
    return registry.solve(spec, options or SolveOptions())


def same(got: Any, want: Any) -> bool:
    got, want = np.asarray(got), np.asarray(want)
    return got.shape == want.shape and got.tolist() == want.tolist()


@pytest.mark.parametrize(
    "options", [SolveOptions(), EXPLAINED_FLOAT, NUMERIC], ids=["exact", "float", "numeric"]
)
def test_defaulted_gamma_and_beta_are_parameters_with_gradients(options: SolveOptions) -> None:
    written, left_out = solve(WRITTEN, options), solve(defaulted(WRITTEN), options)
    for layer in ("bn", "ln", "gn"):
        for key in ("grad_weight", "grad_bias"):
            assert f"{layer}.{key}" in left_out.results
    assert list(left_out.results) == list(written.results)
    for key, value in written.results.items():
        assert same(left_out.results[key], value), key


def test_defaulted_gradients_match_the_loop_reference() -> None:
    solution = solve(defaulted(WRITTEN))
    assert solution.gradient_check is not None and solution.gradient_check.ok
    assert solution.gradient_check.entries_checked == 12 + 6 + 6 + 6 + 4
    x = [[1, 2, 0], [0, 1, 3], [2, -2, 1], [1, 0, -1]]
    up = np.asarray(solution.results["bn.grad_output"], dtype=float)
    want = ref.batchnorm(x, up, weight=[1, 1, 1], bias=[0, 0, 0], eps=3)
    for key in ("grad_weight", "grad_bias", "grad_input"):
        got = np.asarray(solution.results["bn." + key if key != "grad_input" else key], float)
        assert np.allclose(got, want[key], rtol=1e-9, atol=1e-12), key


def test_affine_false_layers_have_no_parameters() -> None:
    spec = defaulted(WRITTEN)
    spec["layers"][0]["affine"] = False
    spec["layers"][1]["elementwise_affine"] = False
    results = solve(spec).results
    assert "bn.grad_weight" not in results and "ln.grad_bias" not in results
    assert "gn.grad_weight" in results


def test_expected_and_check_take_the_defaulted_gradients(tmp_path: Path) -> None:
    spec = defaulted(WRITTEN)
    right = solve(spec).results
    spec["expected"] = {
        "bn.grad_weight": np.asarray(right["bn.grad_weight"], dtype=float).tolist(),
        "gn.grad_bias": np.asarray(right["gn.grad_bias"], dtype=float).tolist(),
    }
    solution = solve(spec)
    assert all(check.ok for check in solution.checks)
    assert {check.name for check in solution.checks} >= {"bn.grad_weight", "gn.grad_bias"}
    key = {"bn.grad_weight": np.asarray(right["bn.grad_weight"], dtype=float).tolist()}
    graded = Problem(defaulted(WRITTEN)).grade(key)
    assert graded.ok


def running_net(**bn: Any) -> dict[str, Any]:
    return {
        "kind": "net",
        "input": [[1, 2, 0], [0, 1, 3], [2, -2, 1], [1, 0, -1]],
        "layers": [
            {"type": "dense", "name": "fc", "weight": [[1, 0, 1], [0, 2, 0], [1, 1, -1]]},
            {"type": "batchnorm", "name": "bn", **bn},
            "tanh",
        ],
        "loss": {"type": "mse", "target": [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 1, 1]]},
    }


@pytest.mark.parametrize(
    "options", [SolveOptions(), EXPLAINED_FLOAT, NUMERIC], ids=["exact", "float", "numeric"]
)
def test_a_training_batchnorm_layer_reports_its_running_statistics(options: SolveOptions) -> None:
    bn = {"momentum": "1/4", "running_mean": [1, 0, -1], "running_var": [2, 1, 1], "eps": 3}
    results = solve(running_net(**bn), options).results
    fc = np.asarray(results["fc.output"], dtype=object)
    single = solve({"kind": "batchnorm", "input": fc.tolist(), **bn}, options).results
    for key in ("running_mean", "running_var"):
        assert same(results[f"bn.{key}"], single[key]), key
    if options.force_float:
        assert np.asarray(results["bn.running_mean"]).dtype == float
    else:  # the batch mean and variance are rational: the running statistics are exact
        # fc's columns average 7/4, 1/2, 1/2: 3/4·[1, 0, −1] + 1/4·μ
        want = [Fraction(19, 16), Fraction(1, 8), Fraction(-5, 8)]
        assert results["bn.running_mean"].tolist() == want


def test_running_statistics_follow_pytorch() -> None:
    """PyTorch: running ← (1 − momentum)·running + momentum·batch, the unbiased variance."""
    results = solve(running_net(), NUMERIC).results
    fc = np.asarray(results["fc.output"], dtype=float)
    assert np.allclose(results["bn.running_mean"], 0.1 * fc.mean(axis=0), rtol=1e-14)
    want = 0.9 + 0.1 * fc.var(axis=0, ddof=1)
    assert np.allclose(results["bn.running_var"], want, rtol=1e-14)


def test_evaluation_layers_and_other_norms_give_no_running_statistics() -> None:
    results = solve(running_net(training=False)).results
    assert not any(key.endswith(("running_mean", "running_var")) for key in results)


def test_the_running_step_is_shown_in_the_forward_pass(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(running_net()), encoding="utf-8")
    text = CliRunner().invoke(main, ["run", str(path), "--no-color"], env=ENV).output
    running = text.index("bn · Running statistics")
    assert text.index("bn · Forward") < running < text.index("loss · Problem")
    assert "new running_mean[0] = (1 − momentum)·running_mean[0] + momentum·μ_0" in text
    assert "bn.running_mean" in text[text.index("── Results") :]


def test_expected_and_check_take_the_running_statistics() -> None:
    spec = running_net()
    right = solve(spec).results
    spec["expected"] = {"bn.running_var": [str(v) for v in right["bn.running_var"]]}
    solution = solve(spec)
    assert [check.name for check in solution.checks] == ["bn.running_var"]
    assert solution.checks[0].ok
    wrong = {"bn.running_mean": [0, 0, 0]}
    assert not Problem(running_net()).grade(wrong).ok


# -- --float: sums taken exactly on rational inputs, each value rounded ---------------------------

ZERO_GRADIENTS = {
    "layernorm ones": {
        "kind": "layernorm",
        "input": [[1, 2, 4]],
        "normalized_shape": [3],
        "elementwise_affine": False,
    },
    "batchnorm no affine": {
        "kind": "batchnorm",
        "input": [[1, 2], [3, 5], [0, -1]],
        "affine": False,
    },
    "batchnorm affine": {
        "kind": "batchnorm",
        "input": [[1, 2], [3, 5], [0, -1]],
        "weight": [2, "1/3"],
        "bias": [1, 0],
    },
    "groupnorm eps 1/4": {
        "kind": "groupnorm",
        "input": [[[1, 2], [3, 5], [0, 1], [2, 2]]],
        "num_groups": 2,
        "eps": "1/4",
    },
    "layernorm uniform upstream": {
        "kind": "layernorm",
        "input": [[1, 2, 4], [0, 3, 3]],
        "normalized_shape": [3],
        "upstream": [[2, 2, 2], [1, 1, 1]],
    },
    "net of norms": {
        "kind": "net",
        "input": [[1, 2, 4], [0, 3, 3]],
        "layers": [
            {"type": "layernorm", "normalized_shape": [3]},
            {"type": "batchnorm", "weight": [2, 1, "1/3"]},
        ],
    },
}


@pytest.mark.parametrize("options", [(), ("--float",)], ids=["exact", "float"])
@pytest.mark.parametrize("spec", ZERO_GRADIENTS.values(), ids=ZERO_GRADIENTS.keys())
def test_every_step_is_true_where_the_gradient_is_exactly_zero(
    spec: dict, options: tuple[str, ...], tmp_path: Path
) -> None:
    """An upstream that is uniform over each group makes ∂L/∂x (and batch norm's ∂L/∂γ)
    exactly 0 with an irrational σ.  The audit compares every displayed equation with the
    exact run's results: --float runs take the sums exactly too, so no step shows float64's
    ±1e-16 where the exact value is 0, and neither does ∂L/∂γ = (Σ ∂L/∂y·x̃)/σ."""
    from test_displayed_equations import audit

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    problems, equations, _, _ = audit(path, *options)
    assert equations > 20 and problems == []


@pytest.mark.parametrize("spec", ZERO_GRADIENTS.values(), ids=ZERO_GRADIENTS.keys())
def test_float_results_are_the_exact_ones_rounded(spec: dict) -> None:
    exact = solve(spec).results
    for options in (SolveOptions(force_float=True), NUMERIC):
        rounded = solve(spec, options).results
        assert list(rounded) == list(exact)
        for name, value in rounded.items():
            value = np.asarray(value, dtype=float)  # (a net's upstream of ones stays exact)
            want = np.asarray(exact[name], dtype=object)
            if want.size and all(isinstance(v, (int, Fraction)) for v in want.ravel()):
                assert np.asarray(value).tolist() == want.astype(float).tolist(), name
            else:  # σ irrational: float64 from σ on, the exact zeros kept
                assert np.allclose(value, want.astype(float), rtol=1e-12, atol=1e-15), name
                assert np.all((np.asarray(value) == 0) == (want.astype(float) == 0)), name


def test_float_conventions_say_the_sums_are_exact(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(ZERO_GRADIENTS["batchnorm affine"]))
    args = ["run", str(path), "--float", "--no-color", "--width", "200"]
    text = CliRunner().invoke(main, args, env=ENV).output
    assert "float64 arithmetic (--float), from exact sums" in text


def test_a_large_float_problem_stays_in_float64() -> None:
    """Above the exact limit --float runs float64 arithmetic throughout, as before."""
    rows = [[i % 7, (3 * i) % 5, i % 2] for i in range(8000)]
    spec = {"kind": "layernorm", "input": rows, "normalized_shape": [3]}
    solution = solve(spec, SolveOptions(force_float=True))
    assert "float64 arithmetic (--float)" in solution.conventions
    assert not any("from exact sums" in line for line in solution.conventions)
