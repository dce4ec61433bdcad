"""The whole-chain check's stacked loss (core/kinds/net_batched.py) against one float_loss per
point, bit for bit, on nets of every layer kind, and the check it feeds still failing on a
wrong backward pass.  Counts and bits, not times."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from net_specs import NAMED_NETS, bundled_nets, random_nets

from gradcalc.core import registry
from gradcalc.core.kinds import net_batched, net_gradcheck, net_ops
from gradcalc.core.spec import SolveOptions

NUMERIC = SolveOptions(force_float=True, explain=False, gradient_check=False)
RNG = np.random.default_rng(14)


def _grid(*shape: int) -> list:
    """Values with ties, zeros and fractions (kinks and rounding both show up)."""
    return (RNG.integers(-4, 5, size=shape) / RNG.choice([1, 2, 3, 8], size=shape)).tolist()


# Conv layouts and options the stacked passes take apart: groups, stride, dilation, zero
# padding, a reflect padding (its pad op runs per point), a 0-D bias, a 1-D conv; avg and
# lp pools, softmax and log_softmax layers, dense on 3-D input, a batch of 9 (a sum over
# more than 8 rows), cross-entropy with weights, smoothing, ignore_index, soft targets.
STACKED_NETS = {
    "groups and stride": {
        "input": _grid(2, 4, 5, 5),
        "layers": [
            {
                "type": "conv",
                "kernel": _grid(4, 2, 2, 2),
                "bias": [1, 0, -1, 0.5],
                "groups": 2,
                "flip_kernel": True,
                "stride": 2,
                "padding": 1,
            },
            "tanh",
            {"type": "pool", "mode": "avg", "size": 2, "padding": 1, "ceil_mode": True},
            "flatten",
            {"type": "dense", "weight": _grid(3, 16)},
        ],
        "loss": {
            "type": "cross_entropy",
            "target": [1, 2],
            "weight": [1, 2, 0.5],
            "label_smoothing": 0.1,
        },
    },
    "dilation and reflect": {
        "input": _grid(1, 2, 6, 6),
        "layers": [
            {
                "type": "conv",
                "kernel": _grid(3, 2, 2, 2),
                "dilation": 2,
                "padding": 1,
                "padding_mode": "reflect",
            },
            "relu",
            {"type": "conv", "kernel": _grid(2, 3, 3, 3), "bias": 0.5},
            {"type": "pool", "mode": "lp", "p": 2, "size": 2},
            "flatten",
            "log_softmax",
        ],
        "loss": {"type": "nll", "target": [3]},
    },
    "nine rows": {
        "input": _grid(9, 5),
        "layers": [
            {"type": "dense", "name": "a", "weight": _grid(4, 5), "bias": _grid(4)},
            "sigmoid",
            "softmax",
            {"type": "dense", "name": "b", "weight": _grid(3, 4), "bias": _grid(3)},
        ],
        "loss": {
            "type": "cross_entropy",
            "target": [0, 1, 2, 0, 1, 2, 0, -100, 1],
            "ignore_index": -100,
        },
    },
    "sequences through dense": {
        "input": _grid(2, 3, 4),
        "layers": [
            {"type": "dense", "weight": _grid(5, 4), "bias": _grid(5)},
            "leaky_relu",
            "flatten",
            {"type": "dense", "weight": _grid(2, 15)},
        ],
        "loss": {"type": "cross_entropy", "target": [[0.25, 0.75], [1, 0]]},
    },
}


CASES = [*NAMED_NETS, *STACKED_NETS.items(), *bundled_nets(), *random_nets(12)]


def _checked(spec: dict[str, Any]) -> tuple[Any, Any, dict[str, np.ndarray]]:
    net = registry.op_module("net")
    problem = net.read(spec, NUMERIC.limits)
    run = net.run(problem, NUMERIC)
    params, _ = net_gradcheck.chain_params(problem, run)
    return problem, run, params


@pytest.mark.parametrize(("name", "spec"), CASES, ids=[name for name, _ in CASES])
def test_stacked_losses_are_each_points_float_loss_to_the_bit(name: str, spec: dict) -> None:
    problem, _, params = _checked(spec)
    moves = net_gradcheck._probe_moves(params)
    net_ops.TRACING[0] = False
    try:
        stacked = net_batched.float_losses(problem, params, moves)
        one_by_one = []
        for array, index, shift in moves:
            moved = dict(params)
            moved[array] = params[array].copy()
            moved[array][index] += shift
            one_by_one.append(net_gradcheck.float_loss(problem, moved))
    finally:
        net_ops.TRACING[0] = True
    assert np.array(stacked).tobytes() == np.array(one_by_one).tobytes()


@pytest.mark.parametrize(("name", "spec"), CASES[:8], ids=[name for name, _ in CASES[:8]])
def test_stacked_losses_in_chunks_are_the_same(
    name: str, spec: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Points run in chunks when a stack would be large: the chunks change nothing."""
    problem, _, params = _checked(spec)
    moves = net_gradcheck._probe_moves(params)
    whole = net_batched.float_losses(problem, params, moves)
    monkeypatch.setattr(net_batched, "MOST_STACKED", 1)
    assert net_batched.float_losses(problem, params, moves) == whole


@pytest.mark.parametrize(("name", "spec"), CASES[:10], ids=[name for name, _ in CASES[:10]])
def test_the_check_takes_every_loss_from_the_stacked_passes(
    name: str, spec: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the stacked passes, the check itself runs the chain once (the centre) only."""
    problem, run, _ = _checked(spec)
    calls = []
    original = net_gradcheck.float_loss
    monkeypatch.setattr(
        net_gradcheck, "float_loss", lambda *args: calls.append(1) or original(*args)
    )
    check = net_gradcheck.finite_differences(problem, run)
    assert check is not None and check.ok
    assert len(calls) == 1


def _wrong_backward(results: dict[str, Any], key: str, slip: str) -> dict[str, Any]:
    """One gradient as a wrong backward pass gives it: off by 1/2 everywhere, or twice the
    true value (a mean's 1/N left out)."""
    shifted = copy.deepcopy(results)
    value = np.array(shifted[key], dtype=float)
    shifted[key] = value + 0.5 if slip == "off" else 2 * value
    return shifted


@pytest.mark.parametrize("slip", ["off", "doubled"])
@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("net_conv_relu_maxpool_dense.yaml", "conv1.grad_kernel"),
        ("net_conv_relu_maxpool_dense.yaml", "conv1.grad_bias"),
        ("net_conv_relu_maxpool_dense.yaml", "fc.grad_weight"),
        ("net_conv_relu_maxpool_dense.yaml", "grad_input"),
        ("net_conv_relu_avgpool_dense.yaml", "conv1.grad_kernel"),
        ("nine rows", "a.grad_bias"),
        ("nine rows", "b.grad_weight"),
        ("groups and stride", "grad_input"),
        ("dilation and reflect", "conv2.grad_kernel"),
        ("net_conv_relu_maxpool_dense.yaml", "fc.grad_bias"),
    ],
)
def test_a_wrong_gradient_fails_the_stacked_check(name: str, key: str, slip: str) -> None:
    spec = dict(CASES)[name]
    problem, run, _ = _checked(spec)
    assert net_gradcheck.finite_differences(problem, run).ok
    run.results = _wrong_backward(run.results, key, slip)
    failed = net_gradcheck.finite_differences(problem, run)
    assert failed is not None and not failed.ok


def test_a_large_net_stacks_its_points_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """MOST_STACKED bounds B × the largest layer's output (memory): points run in chunks."""
    problem, _, params = _checked(dict(CASES)["net_conv_relu_maxpool_dense.yaml"])
    moves = net_gradcheck._probe_moves(params)
    stacks = []
    original = net_batched._stacked_losses
    monkeypatch.setattr(
        net_batched,
        "_stacked_losses",
        lambda problem, params, name, stacked, prefixes: (
            stacks.append(len(stacked)) or original(problem, params, name, stacked, prefixes)
        ),
    )
    monkeypatch.setattr(net_batched, "MOST_STACKED", 3 * 18)  # conv1's output: 1×2×3×3
    net_batched.float_losses(problem, params, moves)
    assert max(stacks) == 3 and sum(stacks) == len(moves)
