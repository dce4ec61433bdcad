"""A dense layer of a net on a ≥3-D input (issue 17 item 3): as nn.Linear takes (*, L), it
applies to the last axis, on the input read as rows (prod of the leading axes) × L, its
output and ∂L/∂input read back as (*, O) and (*, L), ∂L/∂W and ∂L/∂b summed over the rows.
The expected numbers of the bundled nets are PyTorch's (their specs say how)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
from nn_cli import run, run_json, run_spec, spec_error

PROBLEMS = Path(__file__).resolve().parents[1] / "problems"
CHAIN = "net_embedding_rnn_dense_temporal.yaml"
CONV_DENSE = "net_conv_dense_last_axis.yaml"


def test_embedding_rnn_dense_temporal_matches_pytorch() -> None:
    """The chain of the issue solves, every expected (PyTorch) answer and the whole-chain
    finite differences pass, in float64 (rnn's tanh) with and without --float."""
    for options in ((), ("--float",)):
        result = run("net", "--spec", str(PROBLEMS / CHAIN), "--format", "json", *options)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert np.shape(data["results"]["output"]) == (1, 3, 3)
        assert np.shape(data["results"]["dense1.grad_output"]) == (1, 3, 3)
        assert np.shape(data["results"]["rnn1.grad_output"]) == (1, 3, 2)
        assert "✗" not in run("net", "--spec", str(PROBLEMS / CHAIN), *options).stdout


def _fractions(values: object) -> np.ndarray:
    """JSON numbers (exact results print as their nearest float64) as small fractions."""

    def small(value: object) -> Fraction:
        return Fraction(value).limit_denominator(1000)

    return np.vectorize(small, otypes=[object])(np.asarray(values, dtype=object))


def test_conv_output_into_dense_on_its_last_axis_is_exact() -> None:
    """conv's N×C×H×W output into a dense layer with in_features = W: exact, and each
    result is the 2-D dense layer's on the N·C·H rows, read back."""
    result = run("net", "--spec", str(PROBLEMS / CONV_DENSE), "--format", "json")
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)["results"]
    conv = _fractions(results["conv1.output"])  # 1×2×2×2
    weight = _fractions([[1, -1], [0, 2], [1, 1]])
    bias = _fractions([1, 0, -1])
    rows = conv.reshape(-1, 2)
    output = _fractions(results["output"])
    assert output.shape == (1, 2, 2, 3)
    assert (output.reshape(-1, 3) == rows.dot(weight.T) + bias).all()
    upstream = _fractions(results["dense1.grad_output"]).reshape(-1, 3)
    assert (_fractions(results["dense1.grad_weight"]) == upstream.T.dot(rows)).all()
    assert (_fractions(results["dense1.grad_bias"]) == upstream.sum(axis=0)).all()
    grad_conv = _fractions(results["conv1.grad_output"])
    assert grad_conv.shape == (1, 2, 2, 2)
    assert (grad_conv.reshape(-1, 2) == upstream.dot(weight)).all()


def test_the_explanation_says_how_the_rows_are_read() -> None:
    out = run("net", "--spec", str(PROBLEMS / CHAIN), "--no-color", "--width", "400").stdout
    assert (
        "dense1 applies to the last axis (as nn.Linear): the 1×3×2 input is read as 3 rows of 2 "
        "features, and its 3×3 output is read back as 1×3×3"
    ) in out
    assert "∂L/∂rnn1 below is 3×2, one row per row of rnn1; it is read back as 1×3×2" in out


def test_a_3d_input_straight_into_dense(tmp_path: Path) -> None:
    """The net's own input N×T×L into a dense layer, with an upstream (no loss)."""
    spec = """kind: net
input: [[[1, 2], [3, 4], [5, 6]], [[0, 1], [1, 0], [2, 2]]]
layers:
  - {type: dense, weight: [[1, 1], [1, -1]], bias: [1/2, 0]}
"""
    result, data = run_json(tmp_path, "net", spec)
    assert result.exit_code == 0, result.output
    x = np.array([[[1, 2], [3, 4], [5, 6]], [[0, 1], [1, 0], [2, 2]]])
    want = x @ np.array([[1, 1], [1, -1]]).T + [0.5, 0]
    assert np.array_equal(np.asarray(data["results"]["output"], dtype=float), want)
    assert data["results"]["dense1.grad_bias"] == [6, 6]
    assert np.array_equal(
        np.asarray(data["results"]["grad_input"], dtype=float), np.full((2, 3, 2), [2, 0])
    )


def test_a_column_layout_on_a_3d_input_is_refused(tmp_path: Path) -> None:
    spec = """kind: net
input: [[[1, 2], [3, 4]]]
layers:
  - {type: dense, weight: [[1, 1]], layout: column}
"""
    line, _, message = spec_error(run_spec(tmp_path, "net", spec))
    assert line == 4
    assert "dense1's input (x) has shape 1×2×2" in message
    assert "rows of 2 features" in message and "layout: row" in message
