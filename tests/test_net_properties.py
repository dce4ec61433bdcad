"""`kind: net` on random chains of layers (conv, activation, pool, flatten, dense, softmax)
against the plain-loop reference (tests/net_reference.py), float64 central differences of the
whole chain, and the chain rule between layers.  ``chains`` draws the common layers;
``wide_chains`` every layer kind's options too (conv stride, padding and flip, every
activation function and alpha, max pools under each tie rule, summed losses)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import net_reference as ref
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcalc.core import registry
from gradcalc.core.spec import SolveOptions

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
QUIET = SolveOptions(explain=False, gradient_check=False)
RATIONAL = ("relu", "leaky_relu")
IRRATIONAL = ("tanh", "sigmoid")


def _numbers(draw, shape: tuple[int, ...], low: int = -6, high: int = 6) -> Any:
    """Nested lists of halves in [low/2, high/2] (Fractions), shaped ``shape``."""
    if not shape:
        return Fraction(draw(st.integers(low, high)), 2)
    return [_numbers(draw, shape[1:], low, high) for _ in range(shape[0])]


def _activation(draw, layers: list[dict]) -> None:
    function = draw(st.sampled_from((None, *RATIONAL, *IRRATIONAL)))
    if function is not None:
        layers.append({"type": "activation", "function": function})


def _image_layers(draw, shape: tuple[int, ...]) -> tuple[list[dict], tuple[int, ...]]:
    """conv → activation? → pool? → flatten: the layers and the shape that comes out."""
    n, c, h, w = shape
    layers: list[dict] = []
    if draw(st.booleans()):
        out = draw(st.integers(1, 2))
        conv = {"type": "conv", "kernel": _numbers(draw, (out, c, 2, 2), -4, 4)}
        if draw(st.booleans()):
            conv["bias"] = _numbers(draw, (out,))
        layers.append(conv)
        c, h, w = out, h - 1, w - 1
        _activation(draw, layers)
    if draw(st.booleans()):
        stride = draw(st.sampled_from((1, 2)))
        layers.append({"type": "pool", "mode": draw(st.sampled_from(("max", "avg"))), "size": 2})
        layers[-1]["stride"] = stride
        h, w = (h - 2) // stride + 1, (w - 2) // stride + 1
    layers.append({"type": "flatten"})
    return layers, (n, c * h * w)


@st.composite
def chains(draw) -> tuple[Any, list[dict], dict | None]:
    """(input, layers with names, loss) of a random net."""
    if draw(st.booleans()):
        shape = (
            draw(st.integers(1, 2)),
            draw(st.integers(1, 2)),
            *draw(st.sampled_from(((3, 3), (3, 4), (4, 4), (4, 5)))),
        )
        layers, flowing = _image_layers(draw, shape)
    else:
        shape = draw(st.sampled_from(((3,), (1, 2), (2, 3))))
        layers, flowing = [], shape
    x = _numbers(draw, shape)
    flowing = _dense_end(draw, layers, flowing, _activation)
    loss = _loss(draw, flowing)
    return x, _named(layers), loss


def _dense_end(draw, layers: list[dict], flowing: tuple[int, ...], activation) -> tuple:
    """1–2 dense layers, each followed by ``activation(draw, layers)``, then maybe a softmax;
    the shape that comes out."""
    for _ in range(draw(st.integers(1, 2))):
        out = draw(st.integers(2, 3))
        dense = {"type": "dense", "weight": _numbers(draw, (out, flowing[-1]), -4, 4)}
        if draw(st.booleans()):
            dense["bias"] = _numbers(draw, (out,))
        layers.append(dense)
        flowing = (*flowing[:-1], out)
        activation(draw, layers)
    if draw(st.booleans()):
        layers.append(
            {"type": "softmax", "function": draw(st.sampled_from(("softmax", "log_softmax")))}
        )
    return flowing


def _named(layers: list[dict]) -> list[dict]:
    """Each layer named as a net names it by default: its type and its count (conv1, …)."""
    counts: dict[str, int] = {}
    for layer in layers:
        counts[layer["type"]] = counts.get(layer["type"], 0) + 1
        layer["name"] = f"{layer['type']}{counts[layer['type']]}"
    return layers


def _loss(draw, shape: tuple[int, ...]) -> dict | None:
    choice = draw(st.sampled_from(("none", "mse", "cross_entropy")))
    if choice == "mse":
        return {"type": "mse", "target": _numbers(draw, shape)}
    if choice == "cross_entropy":
        rows = shape[0] if len(shape) == 2 else None
        targets = [draw(st.integers(0, shape[-1] - 1)) for _ in range(rows or 1)]
        return {"type": "cross_entropy", "target": targets if rows else targets[0]}
    return None


def _written(value: Any) -> Any:
    """Fractions as a spec writes them ("3/2" or a whole number)."""
    if isinstance(value, list):
        return [_written(item) for item in value]
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else str(value)
    return value


def net_spec(x: Any, layers: list[dict], loss: dict | None) -> dict:
    spec: dict[str, Any] = {"kind": "net", "input": _written(x), "layers": _written(layers)}
    if loss is not None:
        spec["loss"] = _written(loss)
    return spec


def _rational(layers: list[dict], loss: dict | None) -> bool:
    irrational = any(
        layer["type"] == "softmax" or layer.get("function") not in (None, *RATIONAL)
        for layer in layers
    )
    return not irrational and (loss is None or loss["type"] == "mse")


def agrees_with_the_reference(case) -> None:
    x, layers, loss = case
    solution = registry.solve(net_spec(x, layers, loss), QUIET)
    expected = ref.run(x, layers, loss)
    assert set(solution.results) == set(expected)
    for name, value in expected.items():
        got = np.asarray(solution.results[name], dtype=object).tolist()
        assert ref.close(got, value), (name, got, value)
    if _rational(layers, loss):
        # Exact all the way: Fractions equal to the reference's Fractions, not just close.
        assert solution.exact
        for name, value in expected.items():
            got = np.asarray(solution.results[name], dtype=object).tolist()
            assert got == value, name


def agrees_with_central_differences(case) -> None:
    x, layers, loss = case
    solution = registry.solve(net_spec(x, layers, loss), SolveOptions(explain=False))
    check = solution.gradient_check
    assert check is None or check.ok, check


def passes_each_grad_output_back(case) -> None:
    """Solving layer i + 1 alone, on layer i's output with its own grad_output as upstream,
    gives ∂L/∂input equal to layer i's grad_output."""
    x, layers, loss = case
    results = registry.solve(net_spec(x, layers, loss), QUIET).results
    for before, layer in zip(layers, layers[1:], strict=False):
        values = np.asarray(results[f"{before['name']}.output"])
        upstream = np.asarray(results[f"{layer['name']}.grad_output"])
        if layer["type"] == "flatten":
            passed_back = upstream.reshape(values.shape)
        else:
            keys = {key: value for key, value in layer.items() if key not in ("type", "name")}
            spec = {"kind": layer["type"], **_written(keys), "input": values.tolist()}
            spec["upstream"] = upstream.tolist()
            passed_back = registry.solve(spec, QUIET).results["grad_input"]
        got = np.asarray(passed_back, dtype=object).tolist()
        want = np.asarray(results[f"{before['name']}.grad_output"], dtype=object).tolist()
        assert ref.close(got, want), (layer["name"], got, want)


@SETTINGS
@given(chains())
def test_every_result_equals_the_plain_loop_reference(case) -> None:
    agrees_with_the_reference(case)


@settings(SETTINGS, max_examples=40)
@given(chains())
def test_the_whole_chain_agrees_with_central_differences(case) -> None:
    agrees_with_central_differences(case)


@settings(SETTINGS, max_examples=40)
@given(chains())
def test_each_layers_grad_output_is_the_next_layers_grad_input(case) -> None:
    """Solving layer i + 1 alone, on layer i's output with its own grad_output as upstream,
    gives ∂L/∂input equal to layer i's grad_output."""
    passes_each_grad_output_back(case)


@settings(SETTINGS, max_examples=6)
@given(chains())
def test_the_explanation_has_a_graph_and_every_layers_sections(case) -> None:
    x, layers, loss = case
    solution = registry.solve(net_spec(x, layers, loss), SolveOptions(gradient_check=False))
    assert solution.sections[0].key == "graph"
    titles = " ".join(section.title for section in solution.sections)
    for layer in layers:
        assert f"{layer['name']} · " in titles


# -- wider chains: conv stride, padding and flip; every activation function; max pools under
# every tie rule; losses summed as well as averaged

EVERY_ACTIVATION = (*RATIONAL, "elu", "softplus", "gelu", *IRRATIONAL)


def _any_activation(draw, layers: list[dict]) -> None:
    function = draw(st.sampled_from(EVERY_ACTIVATION))
    layer = {"type": "activation", "function": function}
    if function in ("leaky_relu", "elu") and draw(st.booleans()):
        layer["alpha"] = draw(st.sampled_from((Fraction(1, 2), Fraction(1, 5))))
    layers.append(layer)


def _wide_image_layers(draw, shape: tuple[int, ...]) -> tuple[list[dict], tuple[int, ...]]:
    """conv (stride 1–2, padding 0–1, flipped or not) → activation → pool? → flatten."""
    n, c, h, w = shape
    out, stride = draw(st.integers(1, 2)), draw(st.sampled_from((1, 2)))
    padding = draw(st.sampled_from((0, 1)))
    conv = {"type": "conv", "kernel": _numbers(draw, (out, c, 2, 2), -4, 4)}
    conv.update(stride=stride, padding=padding, flip_kernel=draw(st.booleans()))
    if draw(st.booleans()):
        conv["bias"] = _numbers(draw, (out,))
    layers = [conv]
    h, w = (h + 2 * padding - 2) // stride + 1, (w + 2 * padding - 2) // stride + 1
    _any_activation(draw, layers)
    if h >= 2 and w >= 2 and draw(st.booleans()):
        pool = {"type": "pool", "mode": draw(st.sampled_from(("max", "avg"))), "size": 2}
        if pool["mode"] == "max":
            pool["ties"] = draw(st.sampled_from(("first", "all", "split")))
        pool["stride"] = draw(st.sampled_from((1, 2)))
        layers.append(pool)
        h, w = (h - 2) // pool["stride"] + 1, (w - 2) // pool["stride"] + 1
    layers.append({"type": "flatten"})
    return layers, (n, out * h * w)


@st.composite
def wide_chains(draw) -> tuple[Any, list[dict], dict | None]:
    """(input, layers with names, loss) of a random net over every layer kind's options."""
    shape = (
        draw(st.integers(1, 2)),
        draw(st.integers(1, 2)),
        *draw(st.sampled_from(((3, 3), (3, 4), (4, 4), (4, 5)))),
    )
    layers, flowing = _wide_image_layers(draw, shape)
    x = _numbers(draw, shape)
    flowing = _dense_end(draw, layers, flowing, _maybe_any_activation)
    loss = _loss(draw, flowing)
    if loss is not None:
        loss["reduction"] = draw(st.sampled_from(("mean", "sum")))
    return x, _named(layers), loss


def _maybe_any_activation(draw, layers: list[dict]) -> None:
    if draw(st.booleans()):
        _any_activation(draw, layers)


@settings(SETTINGS, max_examples=60)
@given(wide_chains())
def test_wide_chains_equal_the_plain_loop_reference(case) -> None:
    agrees_with_the_reference(case)


@settings(SETTINGS, max_examples=30)
@given(wide_chains())
def test_wide_chains_agree_with_central_differences(case) -> None:
    agrees_with_central_differences(case)


@settings(SETTINGS, max_examples=30)
@given(wide_chains())
def test_wide_chains_pass_each_grad_output_back(case) -> None:
    passes_each_grad_output_back(case)
