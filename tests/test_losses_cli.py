"""`gradcalc loss` on the command line: the seed derivations, JSON, exit codes and bad specs."""

from __future__ import annotations

import pytest
from nn_cli import PROBLEMS, run, run_json, run_spec, spec_error

LOSS_PROBLEMS = (
    "seed001_softmax_cross_entropy.yaml",
    "seed003_problem2_cross_entropy.yaml",
    "cross_entropy_label_smoothing.yaml",
    "cross_entropy_batch_weighted.yaml",
)


@pytest.mark.parametrize("name", LOSS_PROBLEMS)
def test_bundled_loss_problems_pass(name: str) -> None:
    result = run("loss", "--spec", str(PROBLEMS / name), "--no-color")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "OK — every check passed" in result.stdout


def test_seed003_problem2_derivation_with_numbers() -> None:
    out = run(
        "loss", "--spec", str(PROBLEMS / "seed003_problem2_cross_entropy.yaml"), "--no-color"
    ).stdout
    # p = softmax(y) by log-sum-exp, printed from index 1 as the write-up does
    assert "m = max_j y_j" in out and "= max(1.5, −0.5, 3, 0) = 3" in out
    assert "p_3 = exp(y_3 − m)/Z" in out
    assert "ℓ = −log p_3  (gt = 3)" in out
    assert "= −log 0.767392 = 0.264757" in out
    # the chain rule through p_gt, then p_i − 1[i = gt]
    assert "∂ℓ/∂p_3 = −1/p_3" in out
    assert "∂p_3/∂y_3 = p_3·(1 − p_3)" in out
    assert "∂ℓ/∂y_3 = (−1/p_3)·p_3·(1 − p_3) = p_3 − 1" in out
    assert "= 0.767392 − 1 = −0.232608" in out
    assert "∂ℓ/∂y_1 = (−1/p_3)·(−p_3·p_1) = p_1" in out
    assert "∂L/∂y_2 = (p_2 − 1[2 = gt])" in out
    assert "target 0 prints as class 1" in out


def test_label_smoothing_walkthrough_names_pytorchs_rule() -> None:
    out = run(
        "loss", "--spec", str(PROBLEMS / "cross_entropy_label_smoothing.yaml"), "--no-color"
    ).stdout
    assert "label smoothing ε = 1/10" in out  # exact, as every number unless --decimal
    assert "ε/C = 1/30" in out
    assert "a_c = (1 − ε)·1[c = gt] + (ε/C)·1" in out
    assert "∂L/∂s_00 = ((Σ_c a_c)·p_00 − a_0)/2" in out


def test_weighted_batch_shows_the_weighted_mean() -> None:
    out = run(
        "loss", "--spec", str(PROBLEMS / "cross_entropy_batch_weighted.yaml"), "--no-color"
    ).stdout
    assert "L = Σ_n ℓ_n / Σ_n w[gt_n]" in out
    assert ")/(2 + 1) = 0.844085" in out
    assert "sample 2: target = ignore_index (−100)" in out  # the minus sign, as every number


def test_elementwise_losses_write_each_entry(tmp_path) -> None:
    out = run_spec(tmp_path, "loss", "loss: mse\ninput: [1, 3]\ntarget: [0, 1]\n").stdout
    assert "ℓ_0 = (x_0 − t_0)²" in out
    assert "L = Σ_i ℓ_i / 2  (entries)" in out
    assert "= (1 + 4)/2 = 5/2" in out
    assert "∂L/∂x_1 = 2·(x_1 − t_1)/2" in out
    out = run_spec(tmp_path, "loss", "loss: bce_with_logits\ninput: [0]\ntarget: [1]\n").stdout
    assert "max(s_0, 0) − s_0·t_0 + log(1 + exp(−|s_0|))" in out


def test_json_contract(tmp_path) -> None:
    text = "loss: nll\ninput: [[-1, -2], [-3, -4]]\ntarget: [1, 0]\nweight: [2, 1]\n"
    result, document = run_json(tmp_path, "loss", text)
    assert result.exit_code == 0
    assert document["kind"] == "loss" and document["exact"] is True
    assert document["results"]["loss"] == pytest.approx(8 / 3)
    assert document["exact_results"]["loss"] == "8/3"
    assert document["results"]["grad_input"][1][0] == pytest.approx(-2 / 3)
    assert "probabilities" not in document["results"]


def test_wrong_loss_exits_1(tmp_path) -> None:
    text = "loss: mse\ninput: [1, 3]\ntarget: [0, 1]\nexpected:\n  loss: 5\n"
    result = run_spec(tmp_path, "loss", text)
    assert result.exit_code == 1
    assert "given 5, correct 5/2" in result.stdout


BAD = {
    "class index out of range": (
        "loss: cross_entropy\ninput: [[1, 2, 3], [0, 0, 0]]\ntarget: [0, 3]\n",
        (3, 13),
        "class index 3 is out of range: the input has C = 3 classes",
    ),
    "negative class index": (
        "loss: nll\ninput: [1, 2]\ntarget: -1\n",
        (3, 9),
        "class index -1 is out of range",
    ),
    "fractional class index": (
        "loss: cross_entropy\ninput: [1, 2]\ntarget: 0.5\n",
        (3, 9),
        "a class index must be a whole number",
    ),
    "index count": (
        "loss: cross_entropy\ninput: [[1, 2], [3, 4]]\ntarget: [0]\n",
        (3, 9),
        "target is a list of 1 but the input is 2×2",
    ),
    "distribution shape": (
        "loss: cross_entropy\ninput: [[1, 2], [3, 4]]\ntarget: [[0.5, 0.5]]\n",
        (3, 9),
        "a probability target must have the input's shape 2×2",
    ),
    "distribution sum": (
        "loss: cross_entropy\ninput: [[1, 2], [3, 4]]\ntarget: [[0.5, 0.5], [0.5, 0.4]]\n",
        (3, 22),
        "row 1 of target sums to 0.9, not 1",
    ),
    "negative probability": (
        "loss: cross_entropy\ninput: [1, 2]\ntarget: [1.5, -0.5]\n",
        (3, 10),
        "a probability must be in [0, 1], got 1.5",
    ),
    "mse shapes": (
        "loss: mse\ninput: [1, 2, 3]\ntarget: [[1, 2, 3]]\n",
        (3, 9),
        "target is 1×3 but the input is a list of 3",
    ),
    "bce target above 1": (
        "loss: bce\ninput: [0.5, 0.5]\ntarget: [0, 2]\n",
        (3, 13),
        "a bce target must be in [0, 1], got 2",
    ),
    "bce_with_logits target below 0": (
        "loss: bce_with_logits\ninput: [3]\ntarget: [-0.5]\n",
        (3, 10),
        "a bce target must be in [0, 1], got -0.5",
    ),
    "bce input not a probability": (
        "loss: bce\ninput: [0.5, 1.5]\ntarget: [0, 1]\n",
        (2, 14),
        "bce takes probabilities",
    ),
    "unknown loss": (
        "loss: hinge\ninput: [1]\ntarget: [1]\n",
        (1, 7),
        "unknown loss 'hinge'; allowed: cross_entropy, nll, mse, bce, bce_with_logits",
    ),
    "missing loss": (
        "input: [1]\ntarget: [1]\n",
        (1, 1),
        "missing required key 'loss'",
    ),
    "unknown reduction": (
        "loss: mse\ninput: [1]\ntarget: [1]\nreduction: none\n",
        (4, 12),
        "unknown reduction 'none'; allowed: mean, sum",
    ),
    "weight length": (
        "loss: cross_entropy\ninput: [1, 2, 3]\ntarget: 0\nweight: [1, 2]\n",
        (4, 9),
        "weight has 2 entries but the input has C = 3 classes",
    ),
    "negative weight": (
        "loss: nll\ninput: [1, 2]\ntarget: 0\nweight: [1, -2]\n",
        (4, 13),
        "a weight must be 0 or more, got -2",
    ),
    "bce weight does not broadcast": (
        "loss: bce\ninput: [[0.5, 0.5]]\ntarget: [[1, 1]]\nweight: [1, 2, 3]\n",
        (4, 9),
        "does not broadcast to the input's 1×2",
    ),
    "label smoothing for nll": (
        "loss: nll\ninput: [1, 2]\ntarget: 0\nlabel_smoothing: 0.1\n",
        (4, 1),
        "label_smoothing does not apply to nll",
    ),
    "weight for mse": (
        "loss: mse\ninput: [1]\ntarget: [1]\nweight: [1]\n",
        (4, 1),
        "weight does not apply to mse",
    ),
    "label smoothing above 1": (
        "loss: cross_entropy\ninput: [1, 2]\ntarget: 0\nlabel_smoothing: 1.5\n",
        (4, 18),
        "label_smoothing must be in [0, 1], got 1.5",
    ),
    "ignore_index with probabilities": (
        "loss: cross_entropy\ninput: [1, 2]\ntarget: [0.5, 0.5]\nignore_index: 0\n",
        (4, 1),
        "ignore_index applies to class-index targets only",
    ),
    "every sample ignored": (
        "loss: cross_entropy\ninput: [[1, 2]]\ntarget: [-100]\n",
        (3, 9),
        "PyTorch's mean divides by 0",
    ),
    "upstream on a loss": (
        "loss: mse\ninput: [1]\ntarget: [1]\nupstream: [1]\n",
        (4, 1),
        "kind loss takes no upstream",
    ),
    "input too deep for cross_entropy": (
        "loss: cross_entropy\ninput: [[[1, 2]]]\ntarget: 0\n",
        (2, 8),
        "allowed: 1-D or 2-D",
    ),
    "expected result unknown": (
        "loss: mse\ninput: [1]\ntarget: [1]\nexpected:\n  probabilities: [1]\n",
        (5, 3),
        "unknown result 'probabilities'",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_specs_give_one_positioned_line(tmp_path, case: str) -> None:
    text, position, words = BAD[case]
    line, column, message = spec_error(run_spec(tmp_path, "loss", text))
    assert (line, column) == position, message
    assert words in message


def test_help_lists_the_examples() -> None:
    out = run("loss", "--help").stdout
    assert "problems/seed003_problem2_cross_entropy.yaml" in out
