"""Work a net's solve no longer repeats (issue 14, session 10), each against a copy of the code
it replaced: the whole-chain check's parameters taken from the layers' problems rather than
parsed from the spec again, and the conventions of a layer's forward run (which the net never
shows) no longer built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from gradcalc.cli.main import main
from gradcalc.core import registry
from gradcalc.core.kinds import net_gradcheck
from gradcalc.core.spec import SolveOptions
from gradcalc.core.values import parse_array
from tests.test_net_ops_path import (
    ATTENTION_NET,
    BCE_CHAIN,
    CONV_NET,
    DROPOUT_NET,
    EMBEDDING_NET,
    FLOAT_CHAIN,
    NORM_NET,
)

PROBLEMS = Path(__file__).resolve().parents[1] / "problems"
LIMITS = SolveOptions().limits

# A transposed convolution and a batch norm whose γ and β are written as text.
TRANSPOSED_NET = {
    "input": [[[[1, 2], [0.5, -1]]]],
    "layers": [
        {
            "type": "conv_transpose",
            "name": "ct",
            "kernel": [[[[1, 0.5], [0, -1]], [[2, 1], [0.25, 1]]]],
            "bias": [0.5, -1],
            "stride": 2,
        },
        {"type": "batchnorm", "name": "bn", "weight": ["1/3", 2], "bias": ["2/7", 0.1]},
        "flatten",
        {"type": "dense", "weight": [[0.1] * 32]},
    ],
    "loss": {"type": "mse", "target": [[1]]},
}


def _specs() -> list[tuple[str, dict[str, Any]]]:
    found = [
        ("conv net", CONV_NET),
        ("float chain", FLOAT_CHAIN),
        ("bce chain", BCE_CHAIN),
        ("dropout net", DROPOUT_NET),
        ("embedding net", EMBEDDING_NET),
        ("norm net", NORM_NET),
        ("attention net", ATTENTION_NET),
        ("transposed net", TRANSPOSED_NET),
    ]
    for path in sorted(PROBLEMS.glob("*net*.yaml")):
        found.append((path.name, yaml.safe_load(path.read_text(encoding="utf-8"))))
    runner = CliRunner()
    for seed in range(40):  # random nets draw rnn layers, embeddings, every activation …
        made = runner.invoke(main, ["random", "net", "--seed", str(seed)])
        assert made.exit_code == 0, made.output
        found.append((f"random net {seed}", yaml.safe_load(made.output)))
    return [(name, {k: v for k, v in spec.items() if k != "kind"}) for name, spec in found]


CASES = _specs()


def _old_layer_value(problem: Any, layer: Any, parameter: str) -> Any:
    """net_gradcheck.layer_value before session 10: the parameter parsed from the spec."""
    if layer.keys.get(parameter) is None:
        return getattr(problem.read_layers[layer.index], parameter)
    return parse_array(
        layer.keys[parameter], (), ndims=tuple(range(7)), what=parameter, max_elements=10**9
    )


@pytest.mark.parametrize(("name", "spec"), CASES, ids=[name for name, _ in CASES])
def test_the_checked_parameters_are_the_ones_parsed_from_the_spec_to_the_bit(
    name: str, spec: dict[str, Any]
) -> None:
    problem = registry.op_module("net").read(spec, LIMITS)
    if problem.holds_symbols:
        pytest.skip("a net with symbols has no finite differences")
    for layer in problem.layers:
        for parameter in layer.parameters:
            old = np.asarray(_old_layer_value(problem, layer, parameter), dtype=float)
            new = np.asarray(net_gradcheck.layer_value(problem, layer, parameter), dtype=float)
            assert new.shape == old.shape
            assert new.tobytes() == old.tobytes()


def test_a_layers_forward_run_builds_no_conventions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The net says the conventions of each layer's backward run and of the loss: those of
    the forward runs (explained for their size and forward sections) are never built."""
    from types import SimpleNamespace

    original = registry.explain_module
    built: list[str] = []

    def counting(kind: str) -> Any:
        explainer = original(kind).Explainer

        class Counting(explainer):  # type: ignore[misc, valid-type]
            def conventions(self) -> list[str]:
                built.append(kind)
                return super().conventions()

        return SimpleNamespace(Explainer=Counting)

    monkeypatch.setattr(registry, "explain_module", counting)
    spec = dict(CASES)["net_conv_relu_maxpool_dense.yaml"]
    solution = registry.solve(spec, SolveOptions(), command_kind="net")
    # the net's own, then conv, activation, pool and dense (flatten is no kind), and the loss
    assert sorted(built) == sorted(["net", "conv", "activation", "pool", "dense", "loss"])
    assert any(line.startswith("conv1: ") for line in solution.conventions)


def test_a_pool_layers_tap_layout_is_worked_out_once_per_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each read of a pool layer works out its tap layout once; its runs (forward, backward,
    each tie rule shown) and the whole-chain check take the problem's, which no run changes."""
    from gradcalc.core.kinds import pool
    from gradcalc.core.ops.pool_geometry import tap_layout

    made: list[Any] = []
    original = pool.tap_layout
    monkeypatch.setattr(pool, "tap_layout", lambda g: made.append(g) or original(g))
    spec = dict(CASES)["net_conv_relu_maxpool_dense.yaml"]
    problem = registry.op_module("net").read(spec, LIMITS)
    reads = len(made)
    assert reads == 1  # the pool layer, read once with the net
    registry.solve(spec, SolveOptions(), command_kind="net")
    pooled = problem.read_layers[2]
    expected = tap_layout(pooled.geometry)
    assert np.array_equal(pooled.layout.codes, expected.codes)
    assert np.array_equal(pooled.layout.positions, expected.positions)
    # the solve reads the net (1), then the layer for its forward and backward runs (2)
    assert len(made) - reads == 3
