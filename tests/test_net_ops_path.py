"""A net's numeric path (core/kinds/net_ops.py): unexplained, each float64 layer runs its ops
once forward and once backward, the whole-chain finite differences run ops forward only, and
every result is the one the explained path (each layer run by its own kind) gives, to the
bit (-0.0 included).  Counts, not times: the gain is kept without timing anything."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from net_specs import (
    ATTENTION_NET,
    CONV_NET,
    DROPOUT_NET,
    EMBEDDING_NET,
    NAMED_NETS,
    NORM_NET,
    bundled_nets,
)

from gradcalc.core import registry
from gradcalc.core.kinds import net_ops
from gradcalc.core.spec import SolveOptions

NUMERIC = SolveOptions(force_float=True, explain=False, gradient_check=False)


# The losses the numeric path computes without reading the loss spec again (every loss but
# bce and bce_with_logits): weights, label smoothing, ignored targets, class probabilities,
# log-probabilities, sums and per-item losses, after one float64 dense layer.
_LOGITS = {
    "input": [[0.5, -1.25, 2], [3, 0.1, -0.0], [1, 1, 1]],
    "layers": [{"type": "dense", "weight": [[1, -0.5, 2], [0.25, 1, -1], [0, 0.5, 0.5]]}],
}
LOSS_NETS = {
    "cross_entropy, weights and smoothing": {
        "type": "cross_entropy",
        "target": [2, 0, 1],
        "weight": [1, "1/3", 2],
        "label_smoothing": 0.1,
    },
    "cross_entropy, ignored target, sum": {
        "type": "cross_entropy",
        "target": [2, -100, 1],
        "reduction": "sum",
    },
    "cross_entropy, probabilities": {
        "type": "cross_entropy",
        "target": [[0.25, 0.75, 0], [1, 0, 0], ["1/3", "1/3", "1/3"]],
    },
    "nll, sum": {"type": "nll", "target": [1, 0, 2], "reduction": "sum"},
    "mse, sum": {"type": "mse", "target": [[1, 0, -1], [0.5, 2, 0], [0, 0, 0]], "reduction": "sum"},
}


def _net(spec: dict[str, Any]) -> Any:
    return registry.op_module("net").read(spec, NUMERIC.limits)


def _bits(results: dict[str, Any]) -> dict[str, Any]:
    """Every result exactly: dtype, values and the sign of each zero."""
    found = {}
    for key, value in results.items():
        array = np.asarray(value)
        signs = np.signbit(array.astype(float)).tolist() if array.dtype != object else None
        found[key] = (array.dtype.str, array.tolist(), signs)
    return found


CASES = [
    *NAMED_NETS,
    *((name, {**_LOGITS, "loss": loss}) for name, loss in LOSS_NETS.items()),
    *bundled_nets(),
]


@pytest.mark.parametrize("force_float", [False, True])
@pytest.mark.parametrize(("name", "spec"), CASES, ids=[name for name, _ in CASES])
def test_numeric_path_gives_the_explained_results(name: str, spec: dict, force_float: bool) -> None:
    net = registry.op_module("net")
    problem = _net(spec)
    explained = net.run(problem, SolveOptions(force_float=force_float, gradient_check=False))
    numeric = net.run(problem, SolveOptions(force_float=force_float, explain=False))
    assert _bits(numeric.results) == _bits(explained.results)
    assert numeric.exact == explained.exact


LAYER_OPS = {
    "conv net": {
        op: 1
        for op in ("conv2d", "bias_add", "relu", "max_pool", "flatten", "linear", "bias_add_rows")
    },
    "dropout net": {"linear": 2, "bias_add_rows": 1, "sigmoid": 1, "dropout": 3},
    "embedding net": {"embedding": 1, "dropout": 1, "flatten": 1, "linear": 1, "tanh": 1},
    "norm net": {"conv2d": 1, "normalize": 3, "tanh": 1, "flatten": 1, "linear": 1},
    "attention net": {"attention": 1, "flatten": 1, "linear": 1},
}
NETS = {
    "conv net": CONV_NET,
    "dropout net": DROPOUT_NET,
    "embedding net": EMBEDDING_NET,
    "norm net": NORM_NET,
    "attention net": ATTENTION_NET,
}


@pytest.mark.parametrize("name", LAYER_OPS)
def test_each_layer_runs_its_ops_once(name: str) -> None:
    net = registry.op_module("net")
    problem = _net(NETS[name])
    net_ops.CALLS.clear()
    net.run(problem, NUMERIC)
    expected = Counter(
        {(op, way): runs for op, runs in LAYER_OPS[name].items() for way in ("forward", "backward")}
    )
    assert net_ops.CALLS == expected


@pytest.mark.parametrize("name", LAYER_OPS)
def test_finite_differences_run_ops_forward_only(name: str) -> None:
    net = registry.op_module("net")
    problem = _net(NETS[name])
    run = net.run(problem, NUMERIC)
    net_ops.CALLS.clear()
    check = net.finite_differences(problem, run)
    assert check is not None and check.ok and check.entries_checked
    assert net_ops.CALLS and all(way == "forward" for _, way in net_ops.CALLS)
    # every evaluation of the loss runs each layer's ops once (the losses alone besides)
    runs = {
        count / LAYER_OPS[name].get(op, 1)
        for (op, _), count in net_ops.CALLS.items()
        if op not in ("cross_entropy", "mse")
    }
    assert len(runs) == 1


def test_embedding_net_checks_its_table_not_its_indices() -> None:
    """The indices never move (no ∂L/∂input), and the padding_idx row is left out, saying so."""
    net = registry.op_module("net")
    problem = _net(EMBEDDING_NET)
    run = net.run(problem, NUMERIC)
    assert "grad_input" not in run.results
    check = net.finite_differences(problem, run)
    # the table (4×2) less the padding row, and the dense weight (3×6), every entry probed
    assert check.ok and check.entries_total == 8 + 18 and check.entries_checked == 6 + 18
    assert "emb's padding_idx row (its gradient is 0 by definition)" in check.note


def test_as_read_is_reading_the_shortest_repr() -> None:
    """as_read gives what reading a float64 array from lists and converting it back gives."""
    from gradcalc.core.ops.adapter import each_rounded
    from gradcalc.core.values import parse_array, to_float

    rng = np.random.default_rng(0)
    arrays = [
        np.array([[0.5, -0.0, 3.25], [1e20, -7.0, 0.1]]),
        rng.standard_normal((3, 4)),
        np.array([12345678.9, 1e-9, 3.0000000000000004, 7.000000000000001]),
        np.array([0.1, 0.2, 0.3]) * 3,
    ]
    for values in arrays:
        read = parse_array(values.tolist(), (), ndims=(1, 2), what="x", max_elements=100)
        for kind, convert in (("conv", to_float), ("dense", each_rounded)):
            ours = net_ops.as_read(values, kind)
            theirs = convert(read)
            assert ours.tolist() == theirs.tolist()
            assert np.signbit(ours).tolist() == np.signbit(theirs).tolist()
