"""gradcalc net attacked after issues 14 and 20 landed (symbols in a net, symbols in
command-line options, the stacked whole-chain check): each test failed before its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from nn_cli import net_error
from nn_cli import run as run_cli

from gradcalc.core import registry
from gradcalc.core.spec import SolveOptions


def test_an_unnamed_conv_transpose_layer_takes_its_default_name() -> None:
    """The default name conv_transpose1 (15 characters) is handed to the layer's kind as the
    symbol of its output, which refused symbols above 12 characters: every net with an
    unnamed conv_transpose layer stopped at layers[0].names.output."""
    spec = {
        "kind": "net",
        "input": [[[[1, 2], [3, 4]]]],
        "layers": [{"type": "conv_transpose", "kernel": [[[[1, 0], [0, 1]]]], "stride": 2}],
        "upstream": "ones",
    }
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert solution.results["conv_transpose1.grad_kernel"].tolist() == [[[[10, 10], [10, 10]]]]
    assert solution.gradient_check.ok


def test_a_default_name_is_the_next_layers_and_the_losss_input_symbol(tmp_path: Path) -> None:
    """conv_transpose1 is also conv_transpose2's input symbol and conv_transpose2 the loss's."""
    spec = {
        "kind": "net",
        "input": [[[[1, 2], [3, 4]]]],
        "layers": [
            {"type": "conv_transpose", "kernel": [[[[1, 0], [0, 1]]]], "stride": 2},
            {"type": "conv_transpose", "kernel": [[[[1, 1]]]]},
        ],
        "loss": {"type": "mse", "target": [[[[0] * 5] * 4]], "reduction": "sum"},
    }
    solution = registry.solve(spec, SolveOptions())
    assert solution.results["loss"] == 120
    assert solution.gradient_check.ok
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    text = run_cli("net", "--spec", str(path), "--no-color", "--width", "200").output
    assert "the upstream ∂L/∂conv_transpose1 is conv_transpose2's ∂L/∂input" in text


def test_the_stacked_check_bounds_a_conv_layers_im2col_matrix() -> None:
    """A 15×15 kernel padded by 14 over a 30×30 image: each point's im2col matrix holds
    225·44·44 entries (3.5 MB), and all 96 probe points of the input were stacked (334 MB,
    3 GB for a 30×30 kernel on a 40×40 image) because the chunks counted layer outputs only."""
    import tracemalloc

    import numpy as np

    from gradcalc.core.kinds import net_batched, net_gradcheck, net_ops
    from gradcalc.core.spec import Limits

    rng = np.random.default_rng(3)
    spec = {
        "input": rng.normal(size=(1, 1, 30, 30)).round(3).tolist(),
        "layers": [
            {
                "type": "conv",
                "kernel": rng.normal(size=(1, 1, 15, 15)).round(3).tolist(),
                "padding": 14,
            },
            "flatten",
        ],
        "upstream": "ones",
    }
    net = registry.op_module("net")
    options = SolveOptions(force_float=True, explain=False, gradient_check=False)
    problem = net.read(spec, Limits())
    params, _ = net_gradcheck.chain_params(problem, net.run(problem, options))
    moves = net_gradcheck._probe_moves(params)
    net_ops.TRACING[0] = False
    tracemalloc.start()
    try:
        net_batched.float_losses(problem, params, moves)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        net_ops.TRACING[0] = True
    assert peak < 3 * 8 * net_batched.MOST_WINDOWS, f"{peak / 1e6:.0f} MB"


def test_a_high_power_of_a_symbol_is_no_float_overflow() -> None:
    """The float64 pass that reads the layers put random values up to 9 in for the symbols:
    a**999 at 9 is no float64, and the net stopped with an internal OverflowError."""
    from gradcalc.core import symbolic

    spec = {
        "kind": "net",
        "symbols": ["a"],
        "input": [["a**999"]],
        "layers": [{"type": "dense", "weight": [["a**999"]]}],
        "upstream": [[1]],
    }
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert symbolic.text(solution.results["dense1.grad_weight"][0, 0]) == "a**999"
    assert symbolic.text(solution.results["output"][0, 0]) == "a**1998"


def test_an_answered_layer_result_the_problem_does_not_ask_is_no_unknown_result(
    tmp_path: Path,
) -> None:
    """gradcalc check knew a net's results as output, loss and grad_input only: an answer
    for fc.output (a result of the net, not asked by the problem) was 'unknown result
    'fc.output'; did you mean 'output'?' instead of not asked."""
    bundled = Path(__file__).resolve().parents[1] / "problems" / "symbolic"
    submission = tmp_path / "answers.yaml"
    submission.write_text(
        f"problem: {bundled / 'net_conv_avgpool_dense.yaml'}\n"
        "answers:\n  fc.output: [[w1_11 - w1_12 + 2*w1_22, 0]]\n  loss: 1\n",
        encoding="utf-8",
    )
    text = run_cli("check", str(submission)).output
    assert "not graded (the problem does not ask for it): fc.output" in text, text
    assert "unknown result" not in text, text


def test_a_bce_loss_of_formulas_quotes_no_stand_in_number(tmp_path: Path) -> None:
    """The pass that reads the layers puts numbers in for the symbols, and bce refused its
    input as 'an input must be in [0, 1], got 3' (3 = W_00 + 2·W_01 at 1; the net's input
    there is the formula)."""
    line, column, message = net_error(
        tmp_path,
        "input: [[1, 2]]\nlayers:\n  - {type: dense, weight: symbolic 1x2}\n"
        "loss: {type: bce, target: [[1]]}\n",
    )
    assert (line, column) == (5, 14), message
    assert "the loss bce is not a polynomial" in message and "got 3" not in message


def test_a_bce_loss_the_symbols_never_reach_reads_its_numbers(tmp_path: Path) -> None:
    """An embedding row of symbols that no index looks up: the loss's input is numbers, and
    its own refusal (3 is no probability) is true."""
    _, _, message = net_error(
        tmp_path,
        "symbols: [a]\ninput: [[0]]\nlayers:\n  - {type: embedding, weight: [[3], [a]]}\n"
        "loss: {type: bce, target: [[[1]]]}\n",
    )
    assert "an input must be in [0, 1], got 3" in message, message


@pytest.mark.parametrize(
    "text",
    [
        "input: [[0, 0]]\nlayers:\n  - {type: dense, weight: symbolic 1x2}\n  - sigmoid\n"
        "upstream: ones\n",
        "input: [[0, 0]]\nlayers:\n  - {type: dense, weight: symbolic 1x2}\n"
        "loss: {type: cross_entropy, target: [0]}\n",
        "symbols: [a]\ninput: [[0]]\nlayers:\n  - {type: embedding, weight: [['1/2'], [a]]}\n"
        "  - sigmoid\nupstream: ones\n",
    ],
    ids=["zero_input_sigmoid", "zero_input_cross_entropy", "unused_embedding_row"],
)
def test_symbols_that_vanish_before_a_float_layer_are_one_located_line(
    tmp_path: Path, text: str
) -> None:
    """The symbols of a layer whose output holds none (a zero input, an embedding row never
    looked up) pass a sigmoid or a cross-entropy as numbers; its float64 upstream then met
    the symbols in the backward pass: an internal TypeError (cannot convert to float)."""
    line, column, message = net_error(tmp_path, text)
    first_layer = 2 + text.splitlines().index(next(x for x in text.splitlines() if "- {" in x))
    assert (line, column) == (first_layer, 5), message
    assert "holds symbols, and its upstream is float64" in message, message
