"""`gradcalc check` on nets: slips named across layers (issue 14).

Each wrong answer is computed the way a student makes the slip, by the plain-loop reference
(tests/net_reference.py) with one layer's backward rule replaced, never by gradcalc; the
diagnosis must name the slip and its layer, and only for answers it reproduces.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import net_reference as ref
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_net_properties import SETTINGS, net_spec, wide_chains

from gradcalc.core.grading import Problem

# dense → relu → dense → mse, exact: hidden's pre-activation is [-1, 3, -1], so relu′ is 0
# on two of its three entries and skipping it changes every gradient before it.
X = [[1, -2]]
MLP = [
    {"type": "dense", "name": "hidden", "weight": [[1, 1], [2, -1], [0, 1]], "bias": [0, -1, 1]},
    {"type": "activation", "name": "act", "function": "relu"},
    {"type": "dense", "name": "out", "weight": [[1, -2, 3], [2, 1, -1]], "bias": [0, 1]},
]
MSE = {"type": "mse", "target": [[0, 1]]}


def spec_of(x: Any, layers: list[dict], loss: dict | None, **keys: Any) -> dict:
    spec = {"kind": "net", "input": x, "layers": copy.deepcopy(layers), **keys}
    if loss is not None:
        spec["loss"] = dict(loss)
    return spec


def listed(value: Any) -> Any:
    """Fractions as text, as a student's YAML would write them; floats as they are."""
    if isinstance(value, list):
        return [listed(v) for v in value]
    return str(value) if isinstance(value, Fraction) else value


def graded(spec: dict, name: str, answer: Any, **asked: Any):
    problem = Problem({**spec, "points": {name: 1, **asked}})
    grade = problem.grade({name: listed(answer)}, "answers")
    return next(result for result in grade.results if result.name == name)


def test_right_answers_get_no_diagnosis_and_full_marks() -> None:
    expected = ref.run(X, MLP, MSE)
    spec = spec_of(X, MLP, MSE)
    for name in ("grad_input", "hidden.grad_weight", "act.grad_output", "out.grad_bias"):
        result = graded(spec, name, expected[name])
        assert result.ok and not result.diagnosis


def _passed_through(layer: dict, x: Any, upstream: Any) -> dict:
    return {"input": upstream}


def test_an_activations_derivative_skipped_is_named_with_its_layer() -> None:
    slipped = ref.run(X, MLP, MSE, slips={"act": _passed_through})
    assert slipped["hidden.grad_weight"] != ref.run(X, MLP, MSE)["hidden.grad_weight"]
    for name in ("hidden.grad_weight", "hidden.grad_output", "grad_input"):
        result = graded(spec_of(X, MLP, MSE), name, slipped[name])
        assert not result.ok
        # (named alone, or beside another slip that gives the same answer)
        assert result.diagnosis.startswith(f"{name}")
        assert "matches the net with act's derivative skipped" in result.diagnosis
        assert "layers[1], relu" in result.diagnosis and result.diagnosis_reveals


def test_a_weight_gradient_from_the_pre_activation_is_one_layer_too_early() -> None:
    """∂L/∂W2 = δ2ᵀ·z1 (hidden's output) instead of δ2ᵀ·relu(z1)."""
    pre_activation = ref.run(X, MLP, MSE)["hidden.output"]

    def too_early(layer: dict, x: Any, upstream: Any) -> dict:
        return ref.backward(layer, pre_activation, upstream)

    slipped = ref.run(X, MLP, MSE, slips={"out": too_early})
    result = graded(spec_of(X, MLP, MSE), "out.grad_weight", slipped["out.grad_weight"])
    assert result.diagnosis == (
        "out.grad_weight matches ∂L/∂W computed with hidden's output in place of out's input "
        "(act's output, one layer too early; layers[2])"
    )


def test_a_gradient_for_the_wrong_layers_output_is_one_layer_off() -> None:
    expected = ref.run(X, MLP, MSE)
    result = graded(spec_of(X, MLP, MSE), "act.grad_output", expected["out.grad_output"])
    assert result.diagnosis.startswith("act.grad_output is out.grad_output, the gradient with")
    assert "one layer later" in result.diagnosis


def test_the_mean_losss_missing_one_over_n() -> None:
    x = [[1, -2], [2, 1]]
    loss = {"type": "cross_entropy", "target": [0, 1]}
    mean = ref.run(x, MLP, loss)  # the student sums: every gradient and L times N
    n = len(x)
    for name in ("hidden.grad_bias", "out.grad_weight", "loss"):
        answer = ref.conv_ref.map_nested(lambda v: v * n, mean[name])
        result = graded(spec_of(x, MLP, loss), name, answer)
        assert "the loss's reduction: sum (the mean loss's 1/N left out)" in result.diagnosis


def _ties_net(ties: str) -> tuple[Any, list[dict], dict]:
    """problems/net_conv_relu_maxpool_dense.yaml, whose pool1 has a tied window."""
    x = [[[[1, 2, 0, -1], [0, 1, 3, 1], [2, -2, 1, 0], [1, 0, -1, 2]]]]
    layers = [
        {"type": "conv", "name": "conv1", "kernel": [[[[1, 0], [-1, 1]]], [[[0, 1], [1, 0]]]]},
        {"type": "activation", "name": "activation1", "function": "relu"},
        {"type": "pool", "name": "pool1", "mode": "max", "size": 2, "ties": ties},
        {"type": "flatten", "name": "flatten1"},
        {"type": "dense", "name": "fc", "weight": [[1, -1], [2, 0], [0, 1]], "bias": [0, 0, 1]},
    ]
    layers[0]["bias"] = [0, 1]
    return x, layers, {"type": "cross_entropy", "target": [2]}


@pytest.mark.parametrize("ties", ["all", "split"])
def test_a_max_pool_routed_to_another_maximum(ties: str) -> None:
    slipped = ref.run(*_ties_net(ties))
    spec = spec_of(*_ties_net("first"))
    result = graded(spec, "conv1.grad_kernel", slipped["conv1.grad_kernel"])
    assert result.diagnosis.startswith(
        f"conv1.grad_kernel matches the net with pool1's gradient routed by ties: {ties}"
    )
    assert result.diagnosis.endswith("this problem uses ties: first")


def test_a_layers_own_upstream_forgotten_reveals_nothing() -> None:
    def forgot(layer: dict, x: Any, upstream: Any) -> dict:
        return ref.backward(layer, x, ref.conv_ref.map_nested(lambda _: 1, upstream))

    slipped = ref.run(X, MLP, MSE, slips={"hidden": forgot})
    result = graded(spec_of(X, MLP, MSE), "hidden.grad_weight", slipped["hidden.grad_weight"])
    assert result.diagnosis.startswith(
        "hidden.grad_weight matches the net with an upstream of ones in hidden (layers[0])"
    )
    assert not result.diagnosis_reveals


def test_a_layers_kind_mistake_reruns_the_net() -> None:
    """conv1 as a true convolution (the kernel flipped) in the whole net: its kernel
    gradient is the one the net gives with flip_kernel: true, and the kind's message."""
    x, layers, loss = _ties_net("first")
    rotated = [[[row[::-1] for row in channel[::-1]] for channel in k] for k in layers[0]["kernel"]]
    flipped = copy.deepcopy(layers)
    flipped[0]["kernel"] = rotated
    slipped = ref.run(x, flipped, loss)
    # ∂L/∂K for the flipped kernel is ∂L/∂(rotated kernel) rotated back.
    answer = [[[row[::-1] for row in ch[::-1]] for ch in k] for k in slipped["conv1.grad_kernel"]]
    result = graded(spec_of(x, layers, loss), "conv1.grad_kernel", answer)
    assert result.diagnosis == (
        "conv1.grad_kernel matches the result for true convolution (flip_kernel: true); "
        "this problem uses cross-correlation (layers[0])"
    )


def test_a_wrong_answer_no_slip_explains_gets_no_diagnosis() -> None:
    expected = ref.run(X, MLP, MSE)
    wrong = ref.conv_ref.map_nested(lambda v: v + 1, expected["hidden.grad_weight"])
    result = graded(spec_of(X, MLP, MSE), "hidden.grad_weight", wrong)
    assert not result.ok and result.diagnosis == ""


# -- per-layer partial credit in every report --------------------------------------------------


def _check(tmp_path, *extra: str) -> tuple[int, str]:
    """`gradcalc check` on one submission to the MLP: every answer right but out's weight
    gradient, computed with out's upstream forgotten (ones)."""
    import yaml
    from click.testing import CliRunner

    from gradcalc.cli.main import main

    expected = ref.run(X, MLP, MSE)

    def forgot(layer: dict, x: Any, upstream: Any) -> dict:
        return ref.backward(layer, x, ref.conv_ref.map_nested(lambda _: 1, upstream))

    slipped = ref.run(X, MLP, MSE, slips={"out": forgot})
    problem = spec_of(X, MLP, MSE, points={name: 1 for name in ASKED})
    (tmp_path / "problem.yaml").write_text(
        yaml.safe_dump(listed(problem), sort_keys=False), encoding="utf-8"
    )
    answers = {name: listed(expected[name]) for name in ASKED if name != "out.grad_weight"}
    answers["out.grad_weight"] = listed(slipped["out.grad_weight"])
    submission = {"problem": "problem.yaml", "answers": answers}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(submission, sort_keys=False), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", *extra, str(tmp_path / "s.yaml")])
    return result.exit_code, result.output


ASKED = ("loss", "hidden.grad_weight", "hidden.grad_bias", "out.grad_weight", "out.grad_bias")


def test_the_table_groups_a_nets_results_by_layer_with_each_layers_score(tmp_path) -> None:
    code, output = _check(tmp_path)
    assert code == 1
    lines = output.splitlines()
    start = lines.index("hidden: 2 of 2 results right, 2/2 points")
    assert lines[start : start + 4] == [
        "hidden: 2 of 2 results right, 2/2 points",
        "  ✓ hidden.grad_weight: 6 values match, 1/1 points",
        "  ✓ hidden.grad_bias: 3 values match, 1/1 points",
        "out: 1 of 2 results right, 1.66667/2 points",  # 4 of out.grad_weight's 6 cells right
    ]
    assert lines[start + 4].startswith("  ✗ out.grad_weight: ")
    assert (
        "likely mistake: out.grad_weight matches the net with an upstream of ones in out" in output
    )
    assert "loss: 1 of 1 results right, 1/1 points" in lines


def test_json_csv_and_junit_give_each_layers_score(tmp_path) -> None:
    import json
    import xml.etree.ElementTree as ET

    csv_path, junit_path = tmp_path / "g.csv", tmp_path / "j.xml"
    code, output = _check(
        tmp_path, "--format", "json", "--csv", str(csv_path), "--junit", str(junit_path)
    )
    document = json.loads(output)["files"][0]
    assert document["layers"] == [
        {
            "name": "hidden",
            "results": ["hidden.grad_weight", "hidden.grad_bias"],
            "right": 2,
            "score": 2,
            "points": 2,
        },
        {
            "name": "out",
            "results": ["out.grad_weight", "out.grad_bias"],
            "right": 1,
            "score": 5 / 3,
            "points": 2,
        },
        {"name": "loss", "results": ["loss"], "right": 1, "score": 1, "points": 1},
    ]
    header, row = csv_path.read_text(encoding="utf-8").splitlines()
    assert header.endswith("out.grad_bias,layer hidden,layer out,layer loss,score,points")
    assert row.endswith(",2,1.66667,1,4.66667,5")
    suite = ET.parse(junit_path).getroot().find("testsuite")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties == {"layer hidden": "2/2", "layer out": "1.66667/2", "layer loss": "1/1"}
    classes = {case.get("name"): case.get("classname") for case in suite.iter("testcase")}
    assert classes["out.grad_weight"].endswith(".s.out") and classes["loss"].endswith(".s.loss")


def test_hidden_answers_keep_the_layer_scores_and_drop_revealing_diagnoses(tmp_path) -> None:
    code, output = _check(tmp_path, "--hide-answers")
    assert "out: 1 of 2 results right, 1.66667/2 points" in output
    assert "correct" not in output
    # The upstream forgotten in a dense layer reveals nothing: it stays.
    assert "likely mistake: out.grad_weight matches the net with an upstream of ones" in output
    skipped = ref.run(X, MLP, MSE, slips={"act": _passed_through})
    result = graded(spec_of(X, MLP, MSE), "hidden.grad_bias", skipped["hidden.grad_bias"])
    assert result.diagnosis and result.diagnosis_reveals  # hidden under --hide-answers


# -- any net: a slip made by the reference is named ------------------------------------------


@settings(SETTINGS, max_examples=40)
@given(wide_chains(), st.data())
def test_a_skipped_derivative_or_tie_rule_in_any_net_is_named(case, data) -> None:
    """On random nets, ∂L/∂x computed by the reference with one activation's derivative
    skipped, or one max pool routed by another tie rule, is named as that slip in that layer
    whenever it differs from the key."""
    x, layers, loss = case
    slips = [layer for layer in layers if layer["type"] in ("activation", "pool")]
    slips = [layer for layer in slips if layer.get("mode", "max") == "max"]
    assume(slips)
    layer = data.draw(st.sampled_from(slips))
    if layer["type"] == "activation":
        slipped = ref.run(x, layers, loss, slips={layer["name"]: _passed_through})
        words = f"with {layer['name']}'s derivative skipped"
    else:
        ties = data.draw(
            st.sampled_from([t for t in ("first", "all", "split") if t != layer["ties"]])
        )
        other = [dict(each, ties=ties) if each is layer else each for each in layers]
        slipped = ref.run(x, other, loss)
        words = f"with {layer['name']}'s gradient routed by ties: {ties}"
    correct = ref.run(x, layers, loss)
    assume(not ref.close(slipped["grad_input"], correct["grad_input"], 1e-6))
    result = graded(net_spec(x, layers, loss), "grad_input", slipped["grad_input"])
    assert not result.ok
    assert words in result.diagnosis, result.diagnosis


# -- an embedding first: its input is its indices, with no ∂L/∂x -----------------------------

EMBEDDING_NET = [
    {"type": "embedding", "name": "emb", "weight": [[1, -1], [2, 0], [0, 3]], "padding_idx": 0},
    "flatten",
    {"type": "dense", "name": "fc", "weight": [[1, 0, -1, 2], [0, 1, 1, -1]], "bias": [1, 0]},
    {"type": "activation", "name": "act", "function": "relu"},
]


def test_an_embedding_net_is_graded_without_a_grad_input() -> None:
    """Every result right gets full marks; an answer one layer off is named (never as ∂L/∂x,
    which an embedding's indices do not have)."""
    from gradcalc.core import registry
    from gradcalc.core.spec import SolveOptions

    spec = spec_of([[1, 2], [2, 0]], EMBEDDING_NET, MSE | {"target": [[0, 1], [1, 0]]})
    results = registry.solve(spec, SolveOptions(sections=frozenset())).results
    assert "grad_input" not in results
    names = [name for name in results if "." in name]
    problem = Problem({**spec, "points": {name: 1 for name in names}})
    grade = problem.grade({name: listed(results[name].tolist()) for name in names}, "answers")
    assert all(result.ok and not result.diagnosis for result in grade.results)
    result = graded(spec, "act.grad_output", results["fc.grad_output"])
    assert result.diagnosis.startswith("act.grad_output is fc.grad_output, the gradient with")
    result = graded(spec, "emb.grad_weight", results["emb.grad_weight"] * 2)
    assert not result.ok and "grad_input" not in (result.diagnosis or "")
