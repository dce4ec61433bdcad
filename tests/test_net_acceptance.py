"""Issue 14 (`gradcalc net`) audited as a new user would: each test failed before its fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sympy
import yaml
from nn_cli import PROBLEMS, net_error
from nn_cli import run as run_cli

from gradcalc.core import registry, symbolic
from gradcalc.core.grading import Problem
from gradcalc.core.spec import SolveOptions

# ---------------------------------------------------------------------------
# Numbers near 1e100


def test_a_coefficient_near_1e100_runs_as_formulas() -> None:
    """The pass that reads the layers puts 1 in for every symbol: 10**99*a**3 + 10**99 through
    x = [3, 2] and a dense weight 20 is 1.2e101 there, which the loss refused as 'the loss does
    not fit the net's output … numbers larger than 1e100': no shape was wrong, and the net's
    own values are formulas, whose coefficients have no bound.  Checked against SymPy."""
    a = sympy.Symbol("a")
    spec = {
        "kind": "net",
        "symbols": ["a"],
        "input": [[3, 2]],
        "layers": [
            {"type": "dense", "weight": [["10**99*a**3 + 10**99", 1], [1, 1]]},
            {"type": "dense", "weight": [[20, 1]]},
        ],
        "loss": {"type": "mse", "target": [[1]]},
    }
    results = registry.solve(spec, SolveOptions(sections=frozenset())).results
    w = sympy.Matrix(2, 2, sympy.symbols("w:4"))
    x = sympy.Matrix([[3, 2]])
    loss = ((x * w.T * sympy.Matrix([[20, 1]]).T)[0] - 1) ** 2
    given = dict(zip(w, [10**99 * a**3 + 10**99, 1, 1, 1], strict=True))
    assert sympy.expand(sympy.sympify(symbolic.text(results["loss"])) - loss.subs(given)) == 0
    for index in range(4):
        got = sympy.sympify(symbolic.text(results["dense1.grad_weight"].ravel()[index]))
        assert sympy.expand(got - sympy.diff(loss, w[index]).subs(given)) == 0


def test_a_symbolic_kernel_near_1e100_runs_through_an_average_pool() -> None:
    """The symbols of a layer's parameters (not the input's) did not count until the layers
    were read: conv1's output at a = 1 (2.3e100) was refused by the pool after it as 'pool1
    (pool) takes numbers up to 1e100 … conv1.output[0,0,0,0] ≈ 2.3e+100', a value the net
    never has (its output there is a formula)."""
    a = sympy.Symbol("a")
    spec = {
        "kind": "net",
        "symbols": ["a"],
        "input": [[[[3, 2, 1], [1, 2, 3], [4, 5, 6]]]],
        "layers": [
            {"type": "conv", "kernel": [[[["10**99*a**3", "1e99"], [1, "9*10**99*a"]]]]},
            {"type": "pool", "mode": "avg", "size": 2},
            "flatten",
            {"type": "dense", "weight": [[7]]},
        ],
        "loss": {"type": "mse", "target": [[1]]},
    }
    results = registry.solve(spec, SolveOptions(sections=frozenset())).results
    k = sympy.symbols("k:4")
    x = sympy.Matrix([[3, 2, 1], [1, 2, 3], [4, 5, 6]])
    taps = [(m, q) for m in range(2) for q in range(2)]
    window = [
        sum(x[i + m, j + q] * k[2 * m + q] for m, q in taps) for i in range(2) for j in range(2)
    ]
    loss = (7 * sum(window) / 4 - 1) ** 2
    given = dict(zip(k, [10**99 * a**3, 10**99, 1, 9 * 10**99 * a], strict=True))
    assert sympy.expand(sympy.sympify(symbolic.text(results["loss"])) - loss.subs(given)) == 0


NUMBERS_ABOVE = [
    (
        "input: [[1e99, 1]]\nlayers:\n  - {type: dense, weight: [[100, 1]]}\n  - relu\n",
        (5, 5),
        "layers[1]: activation1 (activation) takes numbers up to 1e100 in magnitude, and its "
        "input dense1.output[0,0] ≈ 1e+101 is above that",
    ),
    (
        "input: [[-1e99, 1]]\nlayers:\n  - {type: dense, weight: [[100, 1]]}\n"
        "loss: {type: mse, target: [[0]]}\n",
        (5, 7),
        "loss: the loss takes numbers up to 1e100 in magnitude, and its input "
        "dense1.output[0,0] ≈ −1e+101 is above that",
    ),
    (
        "input: [[1e-100]]\nlayers:\n" + "  - {type: dense, weight: [[1e50]]}\n" * 4,
        (4, 5),
        "layers[0]: dense1 (dense) takes numbers up to 1e100 in magnitude, and its upstream "
        "dense1.grad_output[0,0] ≈ 1e+150 (from dense2's backward pass) is above that",
    ),
    (
        "input: [[1e99]]\nlayers:\n  - {type: dense, weight: [[10]]}\n"
        "loss: {type: mse, target: [[0]]}\n",
        (4, 5),
        "layers[0]: dense1 (dense) takes numbers up to 1e100 in magnitude, and its upstream "
        "dense1.grad_output[0,0] ≈ 2e+100 (from the loss's backward pass) is above that",
    ),
]


@pytest.mark.parametrize("text, place, start", NUMBERS_ABOVE)
def test_a_number_above_1e100_between_layers_is_no_shape_mismatch(
    tmp_path: Path, text: str, place: tuple[int, int], start: str
) -> None:
    """A layer's output (or gradient) above 1e100 was 'does not fit its input: dense1 gives
    shape 1×2, and the dense layer says: numbers larger than 1e100 …': the shapes fit."""
    line, column, message = net_error(tmp_path, text)
    assert (line, column) == place, message
    assert message.startswith(start), message
    assert message.endswith("; scale the input or the parameters down"), message
    assert "does not fit" not in message


# ---------------------------------------------------------------------------
# --format dot


def test_a_dot_label_cut_one_row_short_says_one_more_row() -> None:
    """A 4-row array shown with --steps 3 ended '… 1 more rows'."""
    bundled = Path(__file__).resolve().parents[1] / "problems" / "net_conv_relu_maxpool_dense.yaml"
    result = run_cli("net", "--spec", str(bundled), "--format", "dot", "--values", "--steps", "3")
    assert result.exit_code == 0, result.stderr
    assert "… 1 more row (--steps all shows every one)" in result.stdout
    assert "1 more rows" not in result.stdout


# ---------------------------------------------------------------------------
# Shape mismatches


def test_a_first_dense_layer_that_does_not_fit_the_input_calls_it_the_input(
    tmp_path: Path,
) -> None:
    """'but x gives 2 (its output is shape 1×2)': x is the net's input, it has no output."""
    text = "input: [[1, 2]]\nlayers:\n  - {type: dense, weight: [[1, 2, 3]]}\n"
    line, column, message = net_error(tmp_path, text)
    assert (line, column) == (4, 27)
    assert message == (
        "layers[0].weight: dense1's weight is 1×3, so it takes 3 features, but x gives 2 "
        "(the input is shape 1×2)"
    )


# ---------------------------------------------------------------------------
# The forward rule on the conventions line


@pytest.mark.parametrize(
    "spec, rule",
    [
        ({"kind": "conv", "input": [[1, 2], [3, 4]], "kernel": [[[[1]]], [[[2]]]]}, "w[o,0,m,q]"),
        ({"kind": "conv", "dims": 1, "input": [1, 2], "kernel": [[[1]], [[2]]]}, "w[o,0,m]"),
        (
            {"kind": "conv", "dims": 3, "input": [[[1, 2]]], "kernel": [[[[[1]]]], [[[[2]]]]]},
            "w[o,0,e,m,q]",
        ),
        (
            {"kind": "conv_transpose", "input": [[1, 2]], "kernel": [[[[1]], [[2]]]]},
            "w[0,o,m,q]",
        ),
        (
            {"kind": "conv_transpose", "dims": 1, "input": [1, 2], "kernel": [[[1], [2]]]},
            "w[0,o,m]",
        ),
        (
            {
                "kind": "conv_transpose",
                "dims": 3,
                "input": [[[1, 2]]],
                "kernel": [[[[[1]]], [[[2]]]]],
            },
            "w[0,o,e,m,q]",
        ),
        (
            {"kind": "net", "input": [[1, 2]], "layers": [{"type": "conv", "kernel": [[[[1]]]]}]},
            "w[o,0,m,q]",
        ),
    ],
)
def test_a_kernels_channel_index_is_bound_when_the_input_has_no_channel_axis(
    tmp_path: Path, spec: dict, rule: str
) -> None:
    """An input without a channel axis (H×W, L, D×H×W) with an O×1×… kernel read
    'y[o,i,j] = Σ_m,q x[i+m,j+q]·w[o,c,m,q]': c was summed over nowhere."""
    import json

    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    result = run_cli("run", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    conventions = " ".join(json.loads(result.stdout)["conventions"])
    assert rule in conventions, conventions
    assert "w[o,c," not in conventions and "w[c,o," not in conventions


# ---------------------------------------------------------------------------
# Keys of a layer


@pytest.mark.parametrize(
    "layer, wanted",
    [
        (
            "{type: activation, function: relu, kernel: [[1]]}",
            "kernel is a key of conv layers, not of an activation layer (also of conv_transpose "
            "layers); an activation layer takes: ",
        ),
        ("{type: attention, num_heads: 1}", "unknown key 'num_heads' for an attention layer."),
        ("{type: dense, weight: [[1, 2]], size: 2}", "not of a dense layer; a dense layer takes"),
    ],
)
def test_a_wrong_key_names_the_layer_kind_with_its_article(
    tmp_path: Path, layer: str, wanted: str
) -> None:
    """'for a activation layer', 'not of a attention layer'."""
    message = net_error(tmp_path, f"input: [[1, 2]]\nlayers:\n  - {layer}\n")[2]
    assert wanted in message, message


# ---------------------------------------------------------------------------
# A loss that refuses a value


def test_a_bce_input_outside_0_1_is_a_value_not_a_shape(tmp_path: Path) -> None:
    """2·sigmoid(9) refused by bce read 'the loss does not fit the net's output: dense2 gives
    shape 1×1, and the loss says: … got 9998766054240137/5000000000000000': the shape fits, and
    the float64 value was written as the fraction of its shortest repr."""
    text = (
        "input: [[1, 2, 4]]\nlayers:\n  - {type: dense, weight: [[1, 2, 1]]}\n  - sigmoid\n"
        "  - {type: dense, weight: [[2]]}\nloss: {type: bce, target: [[1]]}\n"
    )
    line, column, message = net_error(tmp_path, text)
    assert (line, column) == (7, 7)
    assert message == (
        "loss: the loss's input dense2.output[0,0] is refused: bce takes probabilities (apply a "
        "sigmoid, or use bce_with_logits): an input must be in [0, 1], got 1.99975"
    )


def test_a_vector_input_is_a_list_not_a_shape_a_list(tmp_path: Path) -> None:
    text = "input: [1, 2, 3]\nlayers:\n  - {type: dense, weight: [[1, 2]]}\n"
    message = net_error(tmp_path, text)[2]
    assert message.endswith("but x gives 3 (the input is a list of 3)"), message


# ---------------------------------------------------------------------------
# --layer


@pytest.mark.parametrize(
    "word, hint",
    [
        ("relu", "did you mean 'activation1'?"),
        ("FC", "did you mean 'fc'?"),
        ("dense", "did you mean 'fc'?"),
        ("loss", "the loss is no layer (its sections show without --layer)."),
        ("pool", "did you mean 'pool1'?"),
    ],
)
def test_a_layer_word_the_spec_used_points_to_its_layer(word: str, hint: str) -> None:
    """--layer relu (the word the spec wrote for activation1), FC or loss only listed the
    layers."""
    bundled = Path(__file__).resolve().parents[1] / "problems" / "net_conv_relu_maxpool_dense.yaml"
    result = run_cli("net", "--spec", str(bundled), "--layer", word)
    assert result.exit_code == 2
    assert result.stderr == (
        f"gradcalc net --layer: no layer {word!r} in this net; {hint} Its layers: conv1, "
        "activation1, pool1, flatten1, fc\n"
    )


# ---------------------------------------------------------------------------
# Default names


@pytest.mark.parametrize(
    "layers, message",
    [
        (
            "  - {type: dense, name: activation1, weight: [[1, 2], [3, 4]]}\n  - relu\n",
            "layers[1]: the default name 'activation1' is taken by layers[0] (activation1); "
            "give each layer its own name",
        ),
        (
            "  - relu\n  - {type: dense, name: activation1, weight: [[1, 2], [3, 4]]}\n",
            "layers[1].name: the name 'activation1' is taken by layers[0] (activation1), its "
            "default name; give each layer its own name",
        ),
    ],
)
def test_a_name_clash_with_a_default_name_says_which_is_the_default(
    tmp_path: Path, layers: str, message: str
) -> None:
    """A relu after a dense layer named activation1 read 'the name 'activation1' is taken by
    layers[0]', though the spec gave layers[1] no name."""
    assert net_error(tmp_path, f"input: [[1, -2]]\nlayers:\n{layers}")[2] == message


# ---------------------------------------------------------------------------
# The schema


@pytest.mark.parametrize("layer", ["rleu", {"type": "dens"}, {"type": "relu"}])
def test_the_net_schema_marks_an_unknown_layer_word_or_type(layer: object) -> None:
    """The schema took any text as a layer and any text as a type: an editor marked neither
    `rleu` nor `type: dens`, both refused by gradcalc."""
    from jsonschema import Draft7Validator

    from gradcalc.core.schema import spec_schema

    validator = Draft7Validator(spec_schema("net"))
    good = {"kind": "net", "input": [[1, 2]], "layers": ["relu", {"type": "flatten"}]}
    assert list(validator.iter_errors(good)) == []
    assert list(validator.iter_errors({**good, "layers": [layer]}))


def test_the_net_schema_marks_a_loss_without_a_known_type() -> None:
    from jsonschema import Draft7Validator

    from gradcalc.core.schema import spec_schema

    validator = Draft7Validator(spec_schema("net"))
    good = {"kind": "net", "input": [[1, 2]], "layers": ["relu"]}
    assert list(validator.iter_errors({**good, "loss": {"type": "mse", "target": [[1, 2]]}})) == []
    for loss in ({"type": "crossentropy", "target": [0]}, {"target": [0]}):
        assert list(validator.iter_errors({**good, "loss": loss})), loss


@pytest.mark.parametrize(
    "loss, meant",
    [("crossentropy", "cross_entropy"), ("CrossEntropy", "cross_entropy"), ("mse_loss", "mse")],
)
def test_an_unknown_loss_type_close_to_one_says_which(
    tmp_path: Path, loss: str, meant: str
) -> None:
    """'unknown loss 'crossentropy'; allowed: …' named no loss (a layer type does)."""
    text = f"input: [[1, 2]]\nlayers: [relu]\nloss: {{type: {loss}, target: [1]}}\n"
    line, column, message = net_error(tmp_path, text)
    assert (line, column) == (4, 14)
    assert message == (
        f"loss.type: unknown loss {loss!r}; did you mean {meant!r}? Allowed: cross_entropy, "
        "nll, mse, bce, bce_with_logits"
    )


# ---------------------------------------------------------------------------
# What a layer's kind leaves out, the tied maximum routed wrong, messages naming the layer,
# accepted mappings


def _section_titles(spec: str, *options: str) -> list[str]:
    result = run_cli("net", "--spec", str(PROBLEMS / spec), "--no-color", *options)
    assert result.exit_code == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line.startswith("── pool1 · ")]


def test_a_pool_layer_leaves_out_the_sections_its_mode_has_not() -> None:
    """`gradcalc pool` leaves out the ties section of an average pool and the LP relations of
    a max or average pool ("mode avg: these relations are shown for mode lp"); the net
    showed both for every pool layer.  --show ties still asks for it, as for the kind."""
    max_pool = " ".join(_section_titles("net_conv_relu_maxpool_dense.yaml"))
    assert "Ties" in max_pool and "LP pooling" not in max_pool
    avg_pool = " ".join(_section_titles("net_conv_relu_avgpool_dense.yaml"))
    assert "Ties" not in avg_pool and "LP pooling" not in avg_pool
    assert "Routing" in avg_pool or "routing" in avg_pool
    asked = " ".join(_section_titles("net_conv_relu_avgpool_dense.yaml", "--show", "ties"))
    assert "Ties" in asked


def _wrongly_routed_checked(tmp_path: Path, problem: Path) -> Any:
    """`gradcalc check` of ``problem`` (the bundled net's, its pool maybe written another way)
    answered with pool1's upstream sent to the last of its first window's two tied maxima.
    The wrong ∂L/∂kernel below is the plain-loop correlation of x with that routing's
    ∂L/∂conv1 (1.90486 at [0, 0, 1, 1])."""
    answers = dict(yaml.safe_load(problem.read_text(encoding="utf-8"))["expected"])
    g, h = 1.9048591031858997, -0.9529087280004653
    answers["conv1.grad_kernel"] = [[[[g, 3 * g], [-2 * g, g]]], [[[0, h], [2 * h, -2 * h]]]]
    submission = tmp_path / "answer.yaml"
    submission.write_text(yaml.safe_dump({"answers": answers}), encoding="utf-8")
    return run_cli("check", "--problem", str(problem), str(submission))


def test_a_max_pool_routed_to_the_other_tied_maximum_is_named(tmp_path: Path) -> None:
    """The issue's example: pool1's first window holds 4 twice, and ties: first sends its
    upstream to the first.  A student who sends it to the other (the last) maximum was given
    no diagnosis (only ties: all and split were tried)."""
    result = _wrongly_routed_checked(tmp_path, PROBLEMS / "net_conv_relu_maxpool_dense.yaml")
    assert result.exit_code == 1, result.stderr
    assert "conv1.grad_kernel matches the net with pool1's gradient routed to the wrong " in (
        " ".join(result.stdout.split())
    )
    assert "sent to its last tied maximum (layers[2]); this problem uses ties: first" in (
        " ".join(result.stdout.split())
    )


def test_a_loss_target_that_does_not_fit_names_the_layer_it_is_compared_with(
    tmp_path: Path,
) -> None:
    """The loss's own message says 'the input is 1×3', which in a net read as the net's
    input x (1×1×4×4); it now names the layer whose output the loss takes.  The message's
    grammar too: 'a list of 1 class indices, …, or an 1×3 matrix'."""
    _, _, message = net_error(
        tmp_path,
        "input: [[1, -2, 3]]\n"
        "layers: [{type: dense, name: fc, weight: [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}]\n"
        "loss: {type: cross_entropy, target: [2, 1]}\n",
    )
    assert message.startswith("loss.target: target is a list of 2 but the input is 1×3; ")
    assert (
        "needs a list of 1 class index, one per row of the input, or probabilities: a 1×3 matrix"
        in message
    )
    assert message.endswith("(the loss's input is fc's output, shape 1×3)")


MLP = """kind: net
input: [[1, 2, -1], [0, 1, 1]]
layers:
  - {type: dense, weight: [[1, -1, 2], [3, 0, 1]], bias: [1, 0]}
  - relu
  - {type: dense, weight: [[1, 2]]}
loss: {type: mse, target: [[1], [2]], reduction: mean}
expected: {loss: "13/2", dense2.grad_weight: [[4, 8]]}
"""


def _summed_answer_checked(tmp_path: Path, accepted_loss: str) -> Any:
    """`gradcalc check` of MLP's answers under reduction: sum, with ``accepted_loss`` (flow
    YAML) as the accepted loss."""
    problem = tmp_path / "mlp.yaml"
    problem.write_text(MLP + f"accept: {{loss: {accepted_loss}}}\n", encoding="utf-8")
    answer = tmp_path / "answer.yaml"
    answer.write_text("answers: {loss: 13, dense2.grad_weight: [[8, 16]]}\n", encoding="utf-8")
    return run_cli("check", "--problem", str(problem), str(answer))


def test_a_net_accepts_another_loss_or_layer_written_as_a_mapping(tmp_path: Path) -> None:
    """A net's conventions live in mappings (loss: {…, reduction: mean}, a pool layer's ties),
    and accept skipped every mapping without a word: `accept: {loss: {…, reduction: sum}}`
    accepted nothing.  An accepted mapping now counts, named by what it changes."""
    # Under reduction: sum, L = 3² + 2² = 13 and ∂L/∂W2 doubles: the 1/N left out.
    result = _summed_answer_checked(tmp_path, "{type: mse, target: [[1], [2]], reduction: sum}")
    assert result.exit_code == 0, result.stdout
    assert "matches the accepted convention loss.reduction: sum" in result.stdout


def test_an_accepted_layers_list_is_named_by_the_layer_it_changes() -> None:
    """accept: {layers: [the same net with tanh for relu]} is named layers[1]: tanh, not by
    the whole list of layers written out."""
    layers = "[{type: dense, weight: [[1, -1, 2], [3, 0, 1]], bias: [1, 0]}, tanh, "
    layers += "{type: dense, weight: [[1, 2]]}]"
    spec = yaml.safe_load(MLP + f"accept: {{layers: [{layers}]}}\n")
    (variant,) = Problem(spec).alternatives
    assert variant.label == "layers[1]: tanh"


@pytest.mark.parametrize(("written", "mode"), [("First", "max"), ("null", "max"), ("first", "Max")])
def test_a_tie_rule_written_as_the_pool_kind_reads_it_is_named(
    tmp_path: Path, written: str, mode: str
) -> None:
    """ties: First, ties: null (both first, as the pool kind reads them) and mode: Max ended
    `gradcalc check` in an internal error (KeyError) or left the tied maximum unnamed."""
    text = (PROBLEMS / "net_conv_relu_maxpool_dense.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "{type: pool, mode: max, size: 2, ties: first}",
        f"{{type: pool, mode: {mode}, size: 2, ties: {written}}}",
    )
    problem = tmp_path / "net.yaml"
    problem.write_text(text, encoding="utf-8")
    result = _wrongly_routed_checked(tmp_path, problem)
    assert result.exit_code == 1, result.stdout + result.stderr
    words = " ".join(result.stdout.split())
    assert "routed to the wrong maximum" in words
    assert "this problem uses ties: first (the whole upstream value to the first maximum)" in words


def test_an_accepted_mapping_writing_a_key_null_is_solved_as_written(tmp_path: Path) -> None:
    """A choice differing from the loss only by a key written null was named by no entry:
    its label was empty, the problem's own, so its solution was the problem's and the invalid
    convention (reduction: null) passed the load-time check; one left out is named apart."""
    result = _summed_answer_checked(tmp_path, "{type: mse, target: [[1], [2]], reduction: null}")
    assert result.exit_code == 2, result.stdout
    assert "with loss.reduction: null the problem is invalid" in " ".join(result.stdout.split())
    spec = yaml.safe_load(MLP + "accept: {loss: {type: mse, target: [[1], [2]]}}\n")
    (variant,) = Problem(spec).alternatives
    assert variant.label == "loss.reduction left out"


def test_a_loss_target_message_about_the_target_alone_names_no_layer(tmp_path: Path) -> None:
    """'a class index must be a whole number' says nothing of the input: the layer's output
    added to it only lengthened the line."""
    _, _, message = net_error(
        tmp_path,
        "input: [[1, -2, 3]]\n"
        "layers: [{type: dense, name: fc, weight: [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}]\n"
        "loss: {type: cross_entropy, target: [1.5]}\n",
    )
    assert message == "loss.target[0]: a class index must be a whole number, got 3/2"


def test_an_accepted_mapping_for_a_single_value_is_refused_in_yaml_words(tmp_path: Path) -> None:
    """accept: {ties: {all: 1}} (a mapping where the key takes one value) was skipped without a
    word; it is a choice like any other, refused when it makes the problem invalid, and
    written as the spec writes it, not as Python's repr."""
    problem = tmp_path / "pool.yaml"
    problem.write_text(
        "kind: pool\ninput: [[1, 2], [3, 4]]\nmode: max\nsize: 2\naccept: {ties: {all: 1}}\n",
        encoding="utf-8",
    )
    result = run_cli("check", str(problem))
    assert result.exit_code == 2
    assert "accept.ties: with ties: {all: 1} the problem is invalid" in result.stdout
