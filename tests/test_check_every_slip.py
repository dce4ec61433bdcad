"""`gradcalc check` names every slip that explains an answer (issue 18): when several usual
mistakes reproduce a wrong answer, all are named, the same way on output_shape and output;
and the new diagnoses (a negated gradient, p given instead of p − y, the softmax forgotten,
the upstream transposed, the loss's sign flipped) each reproduce the answer exactly and
declare what they reveal."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from gradcalc.cli.main import main
from gradcalc.core.grading import Problem, Variant
from gradcalc.core.grading.diagnoses import diagnosis_words, hidden_diagnosis

ENV = {"COLUMNS": "200", "NO_COLOR": "1", "FORCE_COLOR": None}

# Issue 18's case: a 6×6 input, a 3×3 kernel, stride 2, padding 1 gives 3×3; without the
# "+1" ⌊(6 + 2 − 3)/2⌋ = 2, and without the padding ⌊(6 − 3)/2⌋ + 1 = 2.
STRIDED = {
    "kind": "conv",
    "input": [[(3 * i + j) % 5 for j in range(6)] for i in range(6)],
    "kernel": [[1, 0, -1], [2, 1, 0], [0, 1, 1]],
    "stride": 2,
    "padding": 1,
}
PLUS_ONE = "the “+1” of the output size was dropped"


def grade(spec: dict[str, Any], name: str, answer: Any):
    """The grade of one answer to ``name`` against ``spec`` (its key solved here)."""
    key = Problem({**spec, "expected": {name: [0]}}).solution.results[name]
    problem = Problem({**spec, "expected": {name: listed(key)}})
    return next(r for r in problem.grade({name: answer}).results if r.name == name)


def results(spec: dict[str, Any], **changes: Any) -> dict[str, np.ndarray]:
    """Every result of ``spec`` with ``changes`` (the mistaken computation), exactly."""
    changed = {**spec, **changes}
    solution = Problem({**changed, "expected": {"output": [0]}}, limits=None).solution
    return {name: np.asarray(value) for name, value in solution.results.items()}


def listed(array: np.ndarray) -> Any:
    """An exact answer as a student writes it (fractions as text)."""
    return np.vectorize(lambda v: str(v) if isinstance(v, Fraction) else v, otypes=[object])(
        np.asarray(array, dtype=object)
    ).tolist()


def variant(spec: dict[str, Any], label: str) -> Variant:
    problem = Problem({**spec, "expected": {"output": [0]}} if "output" in spec else spec)
    return next(v for v in problem.mistakes() if v.label == label)


# -- several slips, one answer ---------------------------------------------------------------


def test_the_plus_one_and_the_padding_are_both_named_on_output_shape():
    result = grade(STRIDED, "output_shape", [2, 2])
    assert result.diagnosis == (
        f"output_shape: either the padding (1) was ignored or {PLUS_ONE}: both give [2, 2]"
    )
    assert result.diagnosis_reveals and result.diagnosis_hidden == ""  # both reveal the key
    # On output, only the "+1" reproduces the answer (the padded output's first 2×2): named
    # alone, in its own words, also under --hide-answers (the cells kept are the student's).
    key = results(STRIDED)["output"]
    output = grade(STRIDED, "output", key[:-1, :-1].tolist())
    assert output.diagnosis.startswith("output matches an output size computed without the “+1”")
    assert output.diagnosis_hidden == output.diagnosis


def test_the_padding_ignored_answer_on_output_names_the_padding():
    unpadded = results({**STRIDED, "padding": 0})["output"]
    output = grade(STRIDED, "output", unpadded.tolist())
    assert output.diagnosis == (
        "output matches the result without padding: the padding (1) was ignored"
    )


def test_an_upstream_of_minus_ones_forgotten_is_a_negated_gradient_too():
    spec = {
        "kind": "conv",
        "input": [[1, 2, 0], [3, -2, 1], [0, 1, 2]],
        "kernel": [[1, -1], [2, 1]],
        "upstream": [[-1, -1], [-1, -1]],
    }
    forgotten = results({**spec, "upstream": None})["grad_kernel"]
    result = grade(spec, "grad_kernel", forgotten.tolist())
    assert result.diagnosis == (
        "grad_kernel: either the upstream gradient was forgotten (ones used) or the gradient's "
        "sign was flipped: both give this answer"
    )
    # A constant upstream makes the key the answer times it: neither is named when hidden.
    assert result.diagnosis_hidden == ""


def test_three_slips_and_a_hidden_subset():
    slips = [
        Variant("a", "{name} a", slip="a was done", reveals=("x",)),
        Variant("b", "{name} b", slip="b was done"),
        Variant("c", "{name} c", slip="c was done"),
    ]
    answer = np.array([1, 2])
    assert diagnosis_words("x", slips, answer) == (
        "x: any of these slips: a was done, b was done or c was done: each gives this answer"
    )
    assert hidden_diagnosis("x", slips, answer) == (
        "x: either b was done or c was done: both give this answer"
    )
    assert hidden_diagnosis("x", slips[:2], answer) == "x b"  # one: its own message
    assert diagnosis_words("x", [slips[1], slips[1]], answer) == "x b"  # named once
    assert diagnosis_words("x", [], answer) == ""


def test_both_slips_in_every_report(tmp_path: Path):
    problem = {**STRIDED, "expected": {"output_shape": [3, 3]}}
    (tmp_path / "p.yaml").write_text(json.dumps(problem))
    (tmp_path / "s.yaml").write_text(
        json.dumps({"problem": "p.yaml", "answers": {"output_shape": [2, 2]}})
    )
    words = f"output_shape: either the padding (1) was ignored or {PLUS_ONE}: both give [2, 2]"
    table = CliRunner().invoke(main, ["check", str(tmp_path / "s.yaml")], env=ENV).output
    assert f"    likely mistake: {words}" in table
    document = CliRunner().invoke(
        main, ["check", "--format", "json", str(tmp_path / "s.yaml")], env=ENV
    )
    assert json.loads(document.output)["files"][0]["results"][0]["diagnosis"] == words
    hidden = CliRunner().invoke(
        main, ["check", "--hide-answers", str(tmp_path / "s.yaml")], env=ENV
    )
    assert "likely mistake" not in hidden.output


# -- the new diagnoses ------------------------------------------------------------------------

CROSS_ENTROPY = {
    "kind": "loss",
    "loss": "cross_entropy",
    "input": [[2, 0, -1], [1, 1, 0], [0, 3, 1]],
    "target": [0, 2, -100],  # the last sample ignored: D = 2
}
DENSE_ROW = {
    "kind": "dense",
    "layout": "row",
    "input": [[1, 2], [3, -1]],
    "weight": [[1, 0], [2, 1]],
    "bias": [0, 1],
    "upstream": [[1, 2], [3, 5]],
}


def _softmax_rows(scores: list[list[int]]) -> np.ndarray:
    values = np.exp(np.array(scores, dtype=float))
    return values / values.sum(axis=1, keepdims=True)


def test_p_given_instead_of_p_minus_y():
    p = _softmax_rows(CROSS_ENTROPY["input"])
    answer = p * np.array([[0.5], [0.5], [0.0]])  # the mean over the two counted samples
    result = grade(CROSS_ENTROPY, "grad_input", answer.tolist())
    assert result.diagnosis.startswith("grad_input matches p = softmax(s) without the target")
    assert result.diagnosis_hidden == ""  # the key is the answer less y/D
    # With a probability target and reduction: sum, p itself.
    spec = {**CROSS_ENTROPY, "target": [[1, 0, 0], [0, "1/2", "1/2"], [0, 0, 1]]}
    spec["reduction"] = "sum"
    assert "without the target" in grade(spec, "grad_input", p.tolist()).diagnosis


def test_the_softmax_forgotten_exactly():
    scores = np.array(CROSS_ENTROPY["input"], dtype=object)
    onehot = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0]], dtype=object)
    scale = np.array([[Fraction(1, 2)], [Fraction(1, 2)], [Fraction(0)]], dtype=object)
    answer = (scores - onehot) * scale  # exact: the scores used as probabilities
    mistake = variant(CROSS_ENTROPY, "softmax forgotten")
    assert mistake.reveals == ()  # s − y says nothing of softmax(s)
    assert (mistake.transform(answer, "grad_input") == answer).all()  # exactly the answer
    result = grade(CROSS_ENTROPY, "grad_input", listed(answer))
    assert result.diagnosis == (
        "grad_input matches s − y, the scores used as probabilities: the softmax was "
        "forgotten (the gradient is softmax(s) − y)"
    )
    assert result.diagnosis_hidden == result.diagnosis


def test_no_cross_entropy_slips_with_weights_or_label_smoothing():
    for extra in ({"weight": [1, 2, 1]}, {"label_smoothing": "1/10"}):
        labels = [v.label for v in Problem({**CROSS_ENTROPY, **extra}).mistakes()]
        assert "p instead of p − y" not in labels and "softmax forgotten" not in labels


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        (DENSE_ROW, "grad_input"),
        (DENSE_ROW, "grad_weight"),
        (
            {
                "kind": "conv",
                "input": [[1, 2, 0], [3, -2, 1], [0, 1, 2]],
                "kernel": [[1, -1], [2, 1]],
                "upstream": [[1, 2], [0, -1]],
            },
            "grad_kernel",
        ),
        (
            {
                "kind": "activation",
                "function": "leaky_relu",
                "alpha": "1/4",
                "input": [[1, -2], [3, -1]],
                "upstream": [[1, 2], [3, 4]],
            },
            "grad_input",
        ),
    ],
)
def test_the_upstream_transposed(spec: dict[str, Any], name: str):
    swapped = [list(row) for row in zip(*spec["upstream"], strict=True)]
    answer = results(spec, upstream=swapped)[name]
    result = grade(spec, name, listed(answer))
    assert result.diagnosis == (
        f"{name} matches the result with the upstream gradient ∂L/∂output transposed "
        "(rows and columns swapped)"
    )
    assert result.diagnosis_hidden == ""  # declared to reveal: hidden with the answers


def test_no_upstream_transposed_for_a_symmetric_or_non_square_upstream():
    symmetric = {**DENSE_ROW, "upstream": [[1, 2], [2, 1]]}
    wide = {**DENSE_ROW, "weight": [[1, 0], [2, 1], [0, 1]], "bias": [0, 1, 0]}
    wide["upstream"] = [[1, 2, 3], [4, 5, 6]]
    for spec in (symmetric, wide):
        assert "upstream transposed" not in [v.label for v in Problem(spec).mistakes()]


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ({**DENSE_ROW, "upstream": [[1, 2], [3, 4]]}, "grad_weight"),
        ({**DENSE_ROW, "upstream": [[1, 2], [3, 4]]}, "grad_bias"),
        (
            {"kind": "pool", "mode": "avg", "size": 2, "input": [[1, 2], [3, 4]]},
            "grad_input",
        ),
        ({"kind": "softmax", "input": [[1, 2, 3]], "upstream": [[1, 0, 0]]}, "grad_input"),
        ({"kind": "activation", "function": "relu", "input": [1, -2, 3]}, "grad_input"),
    ],
)
def test_a_negated_gradient(spec: dict[str, Any], name: str):
    answer = -np.asarray(results(spec)[name], dtype=object)
    result = grade(spec, name, listed(answer))
    assert result.diagnosis == f"{name} is the negative of the gradient: its sign was flipped"
    assert result.diagnosis_hidden == ""  # the key is the answer negated


def test_the_losss_sign_flipped():
    mse = {"kind": "loss", "loss": "mse", "input": [1, 2, 3], "target": [0, 1, 1]}
    key = results(mse)
    loss = grade(mse, "loss", str(-key["loss"][()]))
    assert loss.diagnosis == "loss is −L: the loss's sign was flipped"
    assert loss.diagnosis_hidden == ""
    gradient = grade(mse, "grad_input", listed(-key["grad_input"]))
    assert gradient.diagnosis == (
        "grad_input: either the loss's sign was flipped or the gradient's sign was flipped: "
        "both give this answer"
    )
    nll = {"kind": "loss", "loss": "nll", "input": [[-1, -2], [-3, -1]], "target": [0, 1]}
    assert "the loss's sign was flipped" in grade(nll, "loss", "-1").diagnosis
    # Cross-entropy names its gradient's sign slip in its own words, once.
    flipped = -np.asarray(results(CROSS_ENTROPY)["grad_input"], dtype=float)
    result = grade(CROSS_ENTROPY, "grad_input", flipped.tolist())
    assert result.diagnosis.startswith("grad_input has its sign flipped: 1[i = gt] − p_i")


def test_every_diagnosis_declares_what_it_reveals():
    # The new ones: the key follows from the answer and the slip (negated, less y/D,
    # transposed upstream, −L), except the softmax forgotten.
    for spec, label, reveals in (
        (DENSE_ROW, "gradient negated", ("grad_input", "grad_weight", "grad_bias")),
        (DENSE_ROW, "upstream transposed", ("grad_input", "grad_weight", "grad_bias")),
        (CROSS_ENTROPY, "p instead of p − y", ("grad_input",)),
        (CROSS_ENTROPY, "softmax forgotten", ()),
        (CROSS_ENTROPY, "loss sign flipped", ("loss",)),
    ):
        assert variant(spec, label).reveals == reveals, label


def test_a_single_number_result_tried_under_every_slip(tmp_path: Path):
    # −L of a 0-d result is a number, not an array: a list answer to loss is wrong, not a crash.
    spec = "kind: loss\nloss: mse\ninput: [1, 2, 3]\ntarget: [0, 1, 1]\nexpected:\n  loss: [0]\n"
    (tmp_path / "l.yaml").write_text(spec)
    result = CliRunner().invoke(main, ["check", str(tmp_path / "l.yaml")], env=ENV)
    assert result.exit_code == 1, result.output
    # A list of one number is the flat reading of a single number (the one answer reader).
    assert "(read flat in row-major order as a single number)" in result.output
    assert "\n    given 0, correct 2 (off by 2)\n" in result.output


@pytest.mark.parametrize("written", ["SAME", " Same ", "VALID"])
def test_a_padding_word_has_the_slips_of_its_lowercase_form(written: str) -> None:
    """The reader takes "SAME" as "same", so its slips are the same: "SAME" offered the
    padding ignored and the "+1" dropped, which "same" leaves out (the student never wrote the
    size formula), and "VALID" a padding ignored that changes nothing."""
    spec = {"kind": "conv", "input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "kernel": [[1, 0], [0, 1]]}
    labels = [v.label for v in Problem({**spec, "padding": written}).mistakes()]
    plain = written.strip().lower()
    assert labels == [v.label for v in Problem({**spec, "padding": plain}).mistakes()]
