"""Work a net's solve no longer repeats (issue 14, session 10), each against a copy of the code
it replaced: the whole-chain check's parameters taken from the layers' problems rather than
parsed from the spec again, and the conventions of a layer's forward run (which the net never
shows) no longer built."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from net_specs import NAMED_NETS, bundled_nets, random_nets

from gradcalc.core import registry
from gradcalc.core.kinds import net_gradcheck
from gradcalc.core.spec import SolveOptions
from gradcalc.core.values import parse_array

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


# random nets draw rnn layers, embeddings, every activation …
CASES = [*NAMED_NETS, ("transposed net", TRANSPOSED_NET), *bundled_nets(), *random_nets(40)]


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
    # the solve reads the net (1), then the layer for its forward run (1); its backward run
    # takes that problem with its true upstream (spec.with_upstream)
    assert len(made) - reads == 2


def _same(a: Any, b: Any) -> bool:
    """Equal values, arrays by dtype, shape and entries (float64 to the bit), records by
    their fields."""
    from gradcalc.core.records import fields

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype == object:
            return all(type(x) is type(y) and x == y for x, y in zip(a.flat, b.flat, strict=True))
        return a.tobytes() == b.tobytes()
    if hasattr(type(a), "__record_fields__"):
        return type(a) is type(b) and all(
            _same(getattr(a, name), getattr(b, name)) for name in fields(a)
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize(("name", "spec"), CASES, ids=[name for name, _ in CASES])
@pytest.mark.parametrize("force_float", [False, True])
def test_a_backward_run_takes_the_problem_its_kind_reads(
    name: str, spec: dict[str, Any], force_float: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A layer's backward run takes its forward run's problem with the true upstream
    (spec.with_upstream): field for field what its kind reads from the backward spec."""
    from gradcalc.core import spec as common
    from gradcalc.core.kinds import net_run
    from gradcalc.core.records import fields

    taken: list[tuple[Any, Any]] = []
    original = common.with_upstream

    def compared(kind_problem: Any, layer_spec: dict, limits: Any) -> Any:
        made = original(kind_problem, layer_spec, limits)
        taken.append((made, net_run.read_kind(layer_spec["kind"], layer_spec, limits)))
        return made

    monkeypatch.setattr(common, "with_upstream", compared)
    net = registry.op_module("net")
    options = SolveOptions(force_float=force_float, gradient_check=False)
    try:
        problem = net.read(spec, options.limits)
        net.run(problem, options)
    except Exception as error:  # a spec gradcalc refuses (--float with symbols, …)
        pytest.skip(f"not run: {error}")
    for made, read in taken:
        assert fields(made) == fields(read)
        for field_name in fields(made):
            assert _same(getattr(made, field_name), getattr(read, field_name)), field_name
    if not problem.holds_symbols and not problem.declared:
        kinds = {layer.type for layer in problem.layers} & set(net_run.UPSTREAM_ONLY)
        assert {type(made).__name__ for made, _ in taken} or not kinds
