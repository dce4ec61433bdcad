"""A net's result named as a student's assignment names it (relu1.output, dense1.grad_W,
conv1.grad_weight, pool1.grad_input, L, x.grad) gets a hint that names the result meant, or
says what the name means when the net has no such result; never a close spelling of another
quantity.  The same hint wherever a result is named: ``expected``, ``points``,
``accept.tolerance`` and `gradcalc check` answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from nn_cli import PROBLEMS, net_error

from gradcalc.cli.main import main
from gradcalc.core import registry
from gradcalc.core.errors import SpecError
from gradcalc.core.grading import Problem
from gradcalc.core.kinds import net
from gradcalc.core.kinds.net_messages import net_result_hint
from gradcalc.core.spec import Limits

# conv1 → activation1 (relu) → pool1 (max) → flatten1 → fc (dense) → cross-entropy; x, L.
EXAMPLE = (PROBLEMS / "net_conv_relu_maxpool_dense.yaml").read_text(encoding="utf-8")
NET = EXAMPLE[EXAMPLE.index("input:") : EXAMPLE.index("expected:")]
EXPECTED_LINE = NET.count("\n") + 3  # after `kind: net` and `expected:`
RESULTS = (
    "output, loss, grad_input, conv1.output, conv1.grad_output, conv1.grad_kernel, "
    "conv1.grad_bias, activation1.output, activation1.grad_output, pool1.output, "
    "pool1.grad_output, flatten1.output, flatten1.grad_output, fc.output, fc.grad_output, "
    "fc.grad_weight, fc.grad_bias"
)
HINTS = {
    # the n-th layer with an activation function, a type or another word for the type
    "relu1.output": "; did you mean 'activation1.output' (activation1 is the first relu layer)?",
    "relu": "; did you mean 'activation1.output' (activation1 is the net's only relu layer)?",
    "dense1.grad_W": "; did you mean 'fc.grad_weight' (fc is the first dense layer)?",
    "fc1.grad_weight": "; did you mean 'fc.grad_weight' (fc is the first dense layer)?",
    "linear1.grad_b": "; did you mean 'fc.grad_bias' (fc is the first dense layer)?",
    "maxpool1.output": "; did you mean 'pool1.output' (pool1 is the first max pool layer)?",
    "conv2d1.grad_bias": "; did you mean 'conv1.grad_bias' (conv1 is the first conv layer)?",
    "Relu_1.grad_output": (
        "; did you mean 'activation1.grad_output' (activation1 is the first relu layer)?"
    ),
    # a parameter named by another word
    "conv1.grad_weight": (
        "; did you mean 'conv1.grad_kernel' (a conv layer's weight is its kernel)?"
    ),
    "conv1.grad_W": "; did you mean 'conv1.grad_kernel'?",
    "conv1.db": "; did you mean 'conv1.grad_bias'?",
    "fc.grad_kernel": "; did you mean 'fc.grad_weight' (a dense layer's kernel is its weight)?",
    # a layer's input is the layer before's output (the net's input for the first layer)
    "pool1.grad_input": (
        "; did you mean 'activation1.grad_output' (pool1's input is activation1's output)?"
    ),
    "conv1.grad_input": "; did you mean 'grad_input' (conv1's input is the net's input, x)?",
    "pool1.input": "; did you mean 'activation1.output' (pool1's input is activation1's output)?",
    # the net's symbols (names: {input: x, loss: L})
    "L": "; did you mean 'loss'?",
    "x.grad": "; did you mean 'grad_input'?",
    "grad_x": "; did you mean 'grad_input'?",
    # a quantity the net has no result for: said as it is, with no close spelling
    "relu2.output": "; the net has 1 relu layer, activation1.",
    "relu0.output": "; the net has 1 relu layer, activation1.",
    "tanh1.output": "; the net has no tanh layer.",
    "avgpool1.output": "; the net has no avg pool layer.",
    "fc.weight": "; fc's weight is given; its gradient is 'fc.grad_weight'.",
    "conv1.input": "; conv1's input is the net's input, x, which is given.",
    "grad_W": (
        "; each layer's parameters are named with the layer: conv1.grad_kernel, fc.grad_weight."
    ),
    "relu1.grad_weight": (
        "; activation1 is the first relu layer, whose results are activation1.output, "
        "activation1.grad_output."
    ),
    "relu1.outptu": ("; did you mean 'activation1.output' (activation1 is the first relu layer)?"),
    # otherwise the close-match hint, as for every kind
    "fc.grad_wieght": "; did you mean 'fc.grad_weight'?",
    "outptu": "; did you mean 'output'?",
    "nothing_like_it": ".",
}


@pytest.mark.parametrize("name", sorted(HINTS))
def test_an_expected_name_gets_its_hint_in_one_line_exit_2(tmp_path: Path, name: str) -> None:
    line, column, message = net_error(tmp_path, f"{NET}expected:\n  {name}: 0\n")
    assert (line, column) == (EXPECTED_LINE, 3)
    assert message == (
        f"expected.{name}: unknown result {name!r}{HINTS[name]} This problem's results: {RESULTS}"
    )


def spec_with(**keys: object) -> dict:
    return {"kind": "net", **yaml.safe_load(NET), **keys}


@pytest.mark.parametrize(
    ("keys", "path"),
    [
        ({"points": {"relu1.output": 2}}, "points.relu1.output"),
        ({"accept": {"tolerance": {"relu1.output": 1e-3}}}, "accept.tolerance.relu1.output"),
    ],
)
def test_points_and_accept_tolerance_get_the_same_hint(keys: dict, path: str) -> None:
    with pytest.raises(SpecError) as raised:
        Problem(spec_with(**keys))
    assert f"{raised.value}".endswith(
        f"{path}: unknown result 'relu1.output'{HINTS['relu1.output']} "
        f"This problem's results: {RESULTS}."
    )


def test_a_check_answer_gets_the_hint_in_the_report(tmp_path: Path) -> None:
    problem = tmp_path / "p.yaml"
    problem.write_text(
        yaml.safe_dump(spec_with(points={"loss": 1, "conv1.grad_kernel": 1})), encoding="utf-8"
    )
    submission = tmp_path / "ann.yaml"
    submission.write_text(
        "problem: p.yaml\nanswers:\n  loss: 1\n  conv1.grad_weight: 0\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        main,
        ["check", str(submission)],
        env={"COLUMNS": "400", "NO_COLOR": "1", "FORCE_COLOR": None},
        catch_exceptions=False,
    )
    assert result.exit_code == 1  # a mismatch: the unknown name is listed, the rest graded
    assert (
        f"· not graded (no such result): {submission}:4:3: answers.conv1.grad_weight: "
        f"unknown result 'conv1.grad_weight'{HINTS['conv1.grad_weight']} "
        f"A net problem's results: {RESULTS}."
    ) in result.output


def test_a_normalization_layers_gamma_and_beta_are_its_weight_and_bias() -> None:
    spec = {
        "kind": "net",
        "input": [[1, 2, 0], [0, 1, 3]],
        "layers": [{"type": "batchnorm", "name": "norm"}, "tanh"],
        "upstream": "ones",
        "expected": {"bn1.grad_gamma": 0},
    }
    with pytest.raises(SpecError) as raised:
        net.read(spec, Limits())
    assert raised.value.message.startswith(
        "unknown result 'bn1.grad_gamma'; did you mean 'norm.grad_weight' (norm is the first "
        "batchnorm layer, gamma is a batchnorm layer's weight)? "
    )


# Words a student may write for a layer or a result, combined over every bundled net.
PREFIXES = (
    "relu1", "relu2", "relu0", "sigmoid1", "tanh2", "softmax1", "log_softmax1", "dense1",
    "dense3", "fc1", "linear2", "conv1", "conv2d1", "maxpool1", "avgpool1", "pool2", "bn1",
    "x", "L", "hidden", "act1", "flatten1", "grad_input", "grad_x", "dx", "embedding1",
)  # fmt: skip
SUFFIXES = (
    "output", "out", "grad_output", "grad_input", "input", "grad", "dx", "grad_W", "grad_w",
    "dW", "grad_b", "grad_weight", "grad_kernel", "weight", "kernel", "grad_gamma", "outptu",
)  # fmt: skip


def test_a_hint_only_ever_names_results_of_the_net() -> None:
    """Every name a hint quotes or lists is a result of the net."""
    for path in sorted(PROBLEMS.glob("*net*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec.pop("expected", None)
        problem = net.read(spec, Limits())
        known = list(net.known_results(problem))
        names = [*PREFIXES, *(f"{p}.{s}" for p in PREFIXES for s in SUFFIXES)]
        for name in names:
            if name in known:
                continue
            hint = net_result_hint(problem, name, known) or ""
            named = re.findall(r"'([\w.]+)'", hint) + re.findall(r"\b\w+\.\w+\b", hint)
            assert all(result in known for result in named), (path.name, name, hint)


def test_other_kinds_supply_no_hint() -> None:
    """Only the net hints: every other kind keeps the close-match hint alone."""
    for kind in registry.known_kinds():
        hint = registry.kind_part(kind, "result_hint")
        assert (hint is not None) == (kind == "net"), kind


@pytest.mark.parametrize("name", ["x.grad", "grad_x", "dx", "grad_input", "embedding1.grad_input"])
def test_no_input_gradient_after_an_embedding_is_said(name: str) -> None:
    """A net that starts with an embedding has no grad_input (its input holds indices): a name
    for it was hinted as another layer's grad_output."""
    spec = yaml.safe_load(
        (PROBLEMS / "net_embedding_rnn_dense_temporal.yaml").read_text(encoding="utf-8")
    )
    spec.pop("expected", None)
    problem = net.read(spec, Limits())
    known = list(net.known_results(problem))
    assert "grad_input" not in known
    assert net_result_hint(problem, name, known) == (
        "; x holds indices into embedding1's weight, and no gradient flows to indices "
        "(PyTorch gives none): embedding1's gradient is embedding1.grad_weight."
    )
