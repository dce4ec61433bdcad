"""`gradcalc activation` and `gradcalc softmax` on the command line."""

from __future__ import annotations

import pytest
from nn_cli import PROBLEMS, run, run_json, run_spec, spec_error


def test_relu_problem_walkthrough() -> None:
    result = run("activation", "--spec", str(PROBLEMS / "activation_relu_kink.yaml"), "--no-color")
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    assert "relu′(0) = 0 as in PyTorch" in out
    assert "y_00 = relu(x_00) = max(0, x_00)" in out
    assert "= max(0, 1.5) = 1.5" in out or "= max(0, 3/2) = 3/2" in out
    assert "relu′(x_01) = 1[x_01 > 0]" in out
    assert "x_01 = 0 sits on relu's kink: slope 0 on the left, 1 on the right" in out
    assert "∂L/∂x_00 = ∂L/∂y_00·∂y_00/∂x_00" in out
    assert "5 of 6 gradient entries checked" in out
    assert "OK — every check passed" in out


def test_softmax_problem_walkthrough() -> None:
    result = run("softmax", "--spec", str(PROBLEMS / "softmax_jacobian.yaml"), "--no-color")
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    assert "m = max_j s_j" in out and "= max(1, 0, −1) = 1" in out
    assert "Z = Σ_j exp(s_j − m)" in out
    assert "p_0 = exp(s_0 − m)/Z" in out
    assert "Jacobian ∂p/∂s = diag(p) − p·pᵀ" in out
    assert "p_0(1 − p_0)" in out and "−p_0·p_1" in out
    assert "∂L/∂s_0 = p_0·(∂L/∂p_0 − g)" in out


SIGMOID = """\
function: sigmoid
input: [0, 2]
upstream: [1, 1]
expected:
  output: [0.5, ANSWER]
tolerance: 1e-9
"""


def test_activation_json_and_exit_codes(tmp_path) -> None:
    result, document = run_json(tmp_path, "activation", SIGMOID.replace("ANSWER", "0.880797077978"))
    assert result.exit_code == 0
    assert document["exact"] is False
    assert document["results"]["output"][0] == 0.5
    assert document["results"]["grad_input"][0] == 0.25
    assert any("float64 arithmetic: sigmoid" in c for c in document["conventions"])
    wrong = run_spec(tmp_path, "activation", SIGMOID.replace("ANSWER", "0.9"))
    assert wrong.exit_code == 1
    assert "✗ output" in wrong.stdout


def test_exact_relu_json(tmp_path) -> None:
    _, document = run_json(tmp_path, "activation", "function: leaky_relu\ninput: [-3, 2]\n")
    assert document["exact"] is True
    assert document["exact_results"]["output"] == ["-3/100", "2"]
    assert document["results"]["grad_input"] == [0.01, 1]


def test_softmax_json_has_the_jacobian(tmp_path) -> None:
    _, document = run_json(tmp_path, "softmax", "input: [0, 0]\nupstream: [1, 0]\n")
    assert document["results"]["output"] == [0.5, 0.5]
    assert document["results"]["jacobian"] == [[0.25, -0.25], [-0.25, 0.25]]
    assert document["results"]["grad_input"] == [0.25, -0.25]


BAD = {
    "unknown function": (
        "activation",
        "function: swish\ninput: [1]\n",
        (1, 11),
        "unknown function 'swish'; allowed: relu, leaky_relu, sigmoid, tanh, softplus, elu, gelu",
    ),
    "missing function": ("activation", "input: [1]\n", (1, 1), "missing required key 'function'"),
    "alpha for relu": (
        "activation",
        "function: relu\ninput: [1]\nalpha: 0.1\n",
        (3, 1),
        "alpha does not apply to relu (it applies to leaky_relu, elu)",
    ),
    "subgradient for sigmoid": (
        "activation",
        "function: sigmoid\ninput: [1]\nsubgradient_at_zero: 0.5\n",
        (3, 1),
        "subgradient_at_zero does not apply to sigmoid",
    ),
    "subgradient out of range": (
        "activation",
        "function: relu\ninput: [1]\nsubgradient_at_zero: 2\n",
        (3, 22),
        "subgradient_at_zero must be in [0, 1], got 2",
    ),
    "beta not positive": (
        "activation",
        "function: softplus\ninput: [1]\nbeta: 0\n",
        (3, 7),
        "beta must be in (0, ∞)",
    ),
    "upstream shape": (
        "activation",
        "function: tanh\ninput: [[1, 2]]\nupstream: [1, 2]\n",
        (3, 11),
        "upstream is a list of 2 but the output y is 1×2",
    ),
    "entry not a number": (
        "activation",
        "function: tanh\ninput: [1, abc]\n",
        (2, 12),
        "expected a number",
    ),
    "softmax function": (
        "softmax",
        "function: sparsemax\ninput: [1]\n",
        (1, 11),
        "allowed: softmax, log_softmax",
    ),
    "softmax 3-D": ("softmax", "input: [[[1, 2]]]\n", (1, 8), "allowed: 1-D or 2-D"),
    "softmax ragged": (
        "softmax",
        "input: [[1, 2], [3]]\n",
        (1, 17),
        "but the first row has 2",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_specs_give_one_positioned_line(tmp_path, case: str) -> None:
    kind, text, position, words = BAD[case]
    line, column, message = spec_error(run_spec(tmp_path, kind, text))
    assert (line, column) == position, message
    assert words in message


def test_softmax_spec_under_the_activation_command(tmp_path) -> None:
    _, _, message = spec_error(run_spec(tmp_path, "activation", "kind: softmax\ninput: [1]\n"))
    assert "run it with `gradcalc softmax --spec FILE`" in message


def test_show_takes_each_kinds_own_sections(tmp_path) -> None:
    ok = run_spec(tmp_path, "activation", "function: relu\ninput: [1]\n", "--show", "derivative")
    assert ok.exit_code == 0 and "Derivative relu′(x)" in ok.stdout
    bad = run_spec(tmp_path, "softmax", "input: [1]\n", "--show", "derivative")
    assert bad.exit_code == 2 and "unknown section 'derivative'" in bad.stderr
