"""A plain-loop reference for `kind: net`: a chain of layers, forward then backward by hand.

Shares no code with gradcalc: each layer is the plain-loop reference of its kind
(conv_reference.py, pool_reference.py, nn_reference.py), on nested lists of Fractions while
the values are rational and Python floats after; flatten is a reshape; the backward pass
runs the layers in reverse, each taking the next layer's ∂L/∂input.  PyTorch semantics
(ReLU′(0) = 0, max-pool ties to the first maximum, nn.Linear's W: out×in).

A layer is a dict as a net spec writes it after its shorthand is expanded: ``type``,
``name`` and the kind's keys (kernel, bias, weight, mode, size, stride, function).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import conv_reference as conv_ref
import nn_reference as nn_ref
import pool_reference as pool_ref


def shape_of(value: Any) -> tuple[int, ...]:
    return conv_ref.shape_of(value)


def _map(function, value: Any) -> Any:
    return conv_ref.map_nested(function, value)


def _rows(value: Any) -> list[list[Any]]:
    """A vector as one row, a batch as its rows."""
    return value if isinstance(value[0], list) else [value]


def _unrows(rows: list[list[Any]], like: Any) -> Any:
    return rows if isinstance(like[0], list) else rows[0]


def _pair(value: Any) -> tuple[int, int]:
    return tuple(value) if isinstance(value, list) else (value, value)


def forward(layer: dict, x: Any) -> Any:
    """The layer's output for input ``x`` (nested lists)."""
    kind = layer["type"]
    if kind == "conv":
        return conv_ref.conv2d(x, layer["kernel"], bias=layer.get("bias"), **_conv_options(layer))
    if kind == "pool":
        zeros = _map(lambda _: 0, pool_output_shape_probe(layer, x))
        return _pool(layer, x, zeros)[0]
    if kind == "flatten":
        return [nn_ref.flatten(sample) for sample in x]
    if kind == "dense":
        rows = _rows(x)
        zeros = [[0] * len(layer["weight"]) for _ in rows]
        out = nn_ref.dense(rows, layer["weight"], layer.get("bias"), zeros)
        return _unrows(out["output"], x)
    if kind == "activation":
        return _map(lambda v: _activation(layer, v)[0], x)
    log = layer.get("function") == "log_softmax"
    rows = [(nn_ref.log_softmax if log else nn_ref.softmax)(row) for row in _rows(x)]
    return _unrows(rows, x)


def _conv_options(layer: dict) -> dict[str, Any]:
    """A conv layer's stride, padding (one number: every side) and flip_kernel."""
    pad = layer.get("padding", 0)
    return {
        "stride": _pair(layer.get("stride", 1)),
        "padding": (pad, pad, pad, pad),
        "flip": layer.get("flip_kernel", False),
    }


def _activation(layer: dict, v: Any) -> tuple[Any, Any]:
    """(f(v), f′(v)) with the layer's alpha (leaky_relu, elu) when it gives one.  gelu's Φ
    as erfc(−v/√2)/2, which keeps its tiny values for v ≪ 0 (1 + erf(v/√2) cancels to 0,
    and a max pool after it would see −0.0 tie with 0.0 where the true values differ)."""
    if layer["function"] == "gelu":
        phi = math.erfc(-float(v) / math.sqrt(2)) / 2
        return v * phi, phi + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi)
    alpha = layer.get("alpha")
    return nn_ref.activation(layer["function"], v, None if alpha is None else Fraction(alpha))


def pool_output_shape_probe(layer: dict, x: Any) -> Any:
    """A nested list shaped like the pool's output (its upstream placeholder)."""
    n, c, h, w = shape_of(x)
    kh, kw = _pair(layer["size"])
    sh, sw = _pair(layer.get("stride", layer["size"]))
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    return [[[[0] * wo for _ in range(ho)] for _ in range(c)] for _ in range(n)]


def _pool(layer: dict, x: Any, upstream: Any) -> tuple[Any, Any]:
    kernel = _pair(layer["size"])
    stride = _pair(layer.get("stride", layer["size"]))
    if layer["mode"] == "max":
        out, grad, _ = pool_ref.max_pool(
            x, upstream, kernel, stride, (0, 0), (1, 1), False, layer.get("ties", "first")
        )
        return out, grad
    return pool_ref.avg_pool(x, upstream, kernel, stride, (0, 0), False, True, None)


def backward(layer: dict, x: Any, upstream: Any) -> dict[str, Any]:
    """{"input": ∂L/∂x, and ∂L/∂ each parameter} given ∂L/∂(the layer's output)."""
    kind = layer["type"]
    if kind == "conv":
        gx, gw, gb = conv_ref.conv2d_backward(
            x, layer["kernel"], upstream, bias=layer.get("bias"), **_conv_options(layer)
        )
        grads = {"input": gx, "kernel": gw}
        return grads | ({"bias": gb} if layer.get("bias") is not None else {})
    if kind == "pool":
        return {"input": _pool(layer, x, upstream)[1]}
    if kind == "flatten":
        return {"input": [nn_ref.reshape(row, shape_of(x)[1:]) for row in upstream]}
    if kind == "dense":
        out = nn_ref.dense(_rows(x), layer["weight"], layer.get("bias"), _rows(upstream))
        grads = {"input": _unrows(out["grad_input"], x), "weight": out["grad_weight"]}
        return grads | ({"bias": out["grad_bias"]} if layer.get("bias") is not None else {})
    if kind == "activation":
        slopes = _map(lambda v: _activation(layer, v)[1], x)
        return {"input": _zip_map(lambda s, u: s * u, slopes, upstream)}
    log = layer.get("function") == "log_softmax"
    rows = []
    for row, up in zip(_rows(x), _rows(upstream), strict=True):
        jac = nn_ref.softmax_jacobian(row, log)  # jac[i][j] = ∂y_i/∂x_j
        rows.append([sum(up[i] * jac[i][j] for i in range(len(row))) for j in range(len(row))])
    return {"input": _unrows(rows, x)}


def _zip_map(function, a: Any, b: Any) -> Any:
    if isinstance(a, list):
        return [_zip_map(function, p, q) for p, q in zip(a, b, strict=True)]
    return function(a, b)


def loss(spec_loss: dict | None, y: Any) -> tuple[Any, Any]:
    """(L, ∂L/∂y) for the net's loss (cross_entropy or mse, mean or sum), or L = Σ y
    without one."""
    if spec_loss is None:
        return sum(nn_ref.flatten(y)), _map(lambda _: 1, y)
    summed = spec_loss.get("reduction", "mean") == "sum"
    if spec_loss["type"] == "mse":
        flat_y, flat_t = nn_ref.flatten(y), nn_ref.flatten(spec_loss["target"])
        count = 1 if summed else len(flat_y)
        value = nn_ref.mse(flat_y, flat_t, "sum" if summed else "mean")
        grads = [2 * (a - b) / count for a, b in zip(flat_y, flat_t, strict=True)]
        return value, nn_ref.reshape(grads, shape_of(y))
    rows, target = _rows(y), spec_loss["target"]
    target = target if isinstance(target, list) else [target]
    count = 1 if summed else len(rows)
    value = nn_ref.cross_entropy(rows, target, reduction="sum" if summed else "mean")
    grads = [
        [(p - (1 if c == t else 0)) / count for c, p in enumerate(nn_ref.softmax(row))]
        for row, t in zip(rows, target, strict=True)
    ]
    return value, _unrows(grads, y)


def run(
    x: Any, layers: list[dict], spec_loss: dict | None, slips: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every result of the net, keyed as gradcalc keys them.  ``slips`` maps a layer's name
    to a backward rule used in place of its own, ``(layer, its input, upstream) -> grads``
    (a student's mistake, for tests/test_net_check.py)."""
    slips = slips or {}
    inputs, value = [], x
    for layer in layers:
        inputs.append(value)
        value = forward(layer, value)
    results: dict[str, Any] = {"output": value}
    loss_value, upstream = loss(spec_loss, value)
    if spec_loss is not None:
        results["loss"] = loss_value
    for layer, layer_input in zip(reversed(layers), reversed(inputs), strict=True):
        name = layer["name"]
        results[f"{name}.grad_output"] = upstream
        grads = slips.get(name, backward)(layer, layer_input, upstream)
        for parameter, grad in grads.items():
            if parameter != "input":
                results[f"{name}.grad_{parameter}"] = grad
        upstream = grads["input"]
    results["grad_input"] = upstream
    for layer, layer_input in zip(layers, inputs[1:] + [value], strict=True):
        results[f"{layer['name']}.output"] = layer_input
    return results


def as_floats(value: Any) -> Any:
    return _map(lambda v: float(Fraction(v)) if not isinstance(v, float) else v, value)


def close(a: Any, b: Any, tolerance: float = 1e-9) -> bool:
    """Entry by entry |a − b| ≤ tolerance·max(1, |b|)."""
    flat_a, flat_b = nn_ref.flatten(a), nn_ref.flatten(b)
    return len(flat_a) == len(flat_b) and all(
        math.isclose(float(p), float(q), rel_tol=tolerance, abs_tol=tolerance)
        for p, q in zip(flat_a, flat_b, strict=True)
    )
