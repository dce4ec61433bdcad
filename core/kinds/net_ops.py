"""A net's layers in float64 straight through their ops (core/ops, by the adapter): the
numeric path of core/kinds/net_run.py, and the finite-difference loss of the whole chain.

A layer's kind reads the layer once (its problem: geometry, parameters, conventions); here
its ops run on float64 arrays: ``forward(layer_run, x, params)`` -> (output, the op traces),
``backward(kind, problem, traces, grad_y)`` -> its gradients.  Each is the float64 branch of
the kind's own ``compute``/``run``, the same adapter calls on the same arrays (the kind's
helpers build the op parameters), so the numbers are the kind's to the last bit; only the
kind's extras (Jacobians, argmax, explanations) are not made.

``CALLS`` counts the forward and backward runs per op name (tests keep each layer's op
to one forward and one backward run per solve, and the finite-difference loss to forwards).
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core.float_source import (
    denominators_reach,
    holds_negative_zero,
    shortest_fraction,
)
from gradcalc.core.kinds.net import PARAMETERS
from gradcalc.core.ops import adapter
from gradcalc.core.ops.adapter import Trace
from gradcalc.core.outcome import Run
from gradcalc.core.values import read_floats, to_float

Traces = list[Trace]
# (op name, "forward" | "backward") -> runs, for tests; reset it before counting.
CALLS: Counter[tuple[str, str]] = Counter()
# The kinds whose float64 run converts exact arrays with to_float (one common denominator)
# rather than rounding each entry once (adapter.each_rounded).
_COMMON_DENOMINATOR = ("conv", "conv_transpose", "batchnorm", "layernorm", "groupnorm")


def _forward(op: Any, x: np.ndarray, params: Mapping[str, Any], float64: Any) -> Any:
    """(y, trace) for a backward pass; y alone (trace None) while ``TRACING`` is off."""
    CALLS[op.name, "forward"] += 1
    if not TRACING[0]:
        return adapter.forward_float(op, x, params, float64), None
    return adapter.forward(op, x, params, exact=False, float64=float64)


# Off while finite differences evaluate the loss: no traces are kept (forward only).
TRACING = [True]


def _backward(grad_y: Any, trace: Trace) -> dict[str, np.ndarray]:
    CALLS[trace.op.name, "backward"] += 1
    return adapter.backward(grad_y, trace)


def as_read(values: np.ndarray, kind: str, signed_zeros: bool = True) -> np.ndarray:
    """float64 ``values`` as a layer of ``kind`` computes with them after reading them from
    a spec: each entry read exactly from its shortest repr (0.1 is 1/10), then converted
    to float64 as the kind converts (the float64 arrays of a float64 run are these).

    Rounding each Fraction once gives the value back (-0.0 reads as 0); to_float, which
    divides numerators over their common denominator when it is below 2^53, can round
    twice, so for those kinds the denominators are looked at until their lcm reaches 2^53
    (at the first entry with 16 or more digits, as computed values have).

    Exact values (an object array) read as they are and convert as the kind converts them.
    Flatten is no kind: it takes its input as it is (to_float for exact values).
    ``signed_zeros`` False: the caller knows that float64 ``values`` hold no −0.0 (a relu's
    output), and they are not looked at for one."""
    values = np.asarray(values)
    if values.dtype == object:
        common = kind in _COMMON_DENOMINATOR or kind == "flatten"
        return to_float(values) if common else adapter.each_rounded(values)
    if kind == "flatten":
        return values
    # float64 already (a layer's output or gradient): −0.0 reads as 0, and an array that
    # holds none is used as it is (most do; a copy of each costs more than the look)
    if values.dtype != np.float64 or (signed_zeros and holds_negative_zero(values)):
        values = values + 0.0
    if kind not in _COMMON_DENOMINATOR:
        return values
    # Whole numbers have denominator 1 (inf and nan never reach here: reading refuses
    # them); at 2^53, to_float rounds each entry once.
    if denominators_reach(values):
        return values
    exact = np.array([shortest_fraction(value) for value in values.ravel().tolist()], dtype=object)
    return to_float(exact.reshape(values.shape))


def forward_input(
    values: np.ndarray, kind: str, problem: Any, source: tuple[str, Any] | None = None
) -> np.ndarray:
    """A layer's input as it reads it (``as_read``), with ``source`` (the kind and problem of
    the layer whose output it is, None for the net's input) to skip the look for −0.0
    where it cannot matter: a relu's float64 input is taken as it is (relu gives 0.0, relu′
    0 and a chosen subgradient the same at −0.0 as at 0, so reading −0.0 as 0 changes
    nothing it computes), and a relu's float64 output holds none (relu(x) is 0.0, never
    −0.0, for x ≤ 0 and nan, computed or compiled)."""
    float64 = isinstance(values, np.ndarray) and values.dtype == np.float64
    if float64 and _is_relu(kind, problem):
        return values
    return as_read(values, kind, signed_zeros=not (float64 and source and _is_relu(*source)))


def upstream_input(
    grad_y: np.ndarray, kind: str, source: tuple[str, Any] | None = None
) -> np.ndarray:
    """∂L/∂output as a layer reads it (``as_read``), with ``source`` (the kind and problem
    of the layer whose ∂L/∂input it is, when that layer ran by its ops; else None): a max
    pool's float64 ∂L/∂input holds no −0.0, so it is not looked at for one (each cell is
    0.0 plus its taps' products, or a tap's product + 0.0, over a positive denominator:
    core/ops/pool.py weighted_backward and _routed, compiled or NumPy)."""
    float64 = isinstance(grad_y, np.ndarray) and grad_y.dtype == np.float64
    max_pool = source is not None and source[0] == "pool" and source[1].mode == "max"
    return as_read(grad_y, kind, signed_zeros=not (float64 and max_pool))


def _is_relu(kind: str, problem: Any) -> bool:
    return kind == "activation" and problem.function == "relu"


def float_params(kind: str, problem: Any, cache: dict[Any, np.ndarray]) -> dict[str, Any]:
    """The layer's parameters (net.PARAMETERS) as its float64 run converts them (conv:
    to_float; dense, embedding: each entry rounded), converted once into ``cache`` (keyed
    by the problem)."""
    names = PARAMETERS.get(kind, ())
    convert = to_float if kind in _COMMON_DENOMINATOR else adapter.each_rounded
    params = {}
    for name in names:
        value = getattr(problem, name)
        if value is None:
            continue
        key = (id(problem), name)
        if key not in cache:
            cache[key] = convert(value) if value.dtype == object else value
        params[name] = cache[key]
    return params


# ---------------------------------------------------------------------------
# Forward: output and traces


def forward(
    kind: str, problem: Any, x: np.ndarray, params: Mapping[str, np.ndarray] | None = None
) -> tuple[np.ndarray, Traces]:
    """The layer's output in float64 at input ``x`` (float64, in the shape the kind read),
    with ``params`` (float64 kernel, weight, bias) in place of the problem's when given."""
    params = params or {}
    return _FORWARD[kind](problem, x, params)


def _conv(problem: Any, x: np.ndarray, params: Mapping[str, Any]) -> tuple[np.ndarray, Traces]:
    from gradcalc.core.kinds.conv import conv_op, kernel_params
    from gradcalc.core.ops.conv import BIAS_ADD

    kernel = kernel_params(problem, params.get("kernel", problem.kernel))
    x = problem.to_nchw(x)
    pad_trace = None
    if problem.padding_mode != "zeros" and any(problem.geometry.padding):
        x, pad_trace, kernel["geometry"] = _pad_copies(problem, x)
    output, conv_trace = _forward(conv_op(problem), x, kernel, to_float)
    traces = [conv_trace]
    bias = params.get("bias", problem.bias)
    if bias is not None:  # (the conv's output is new, and only the bias add reads it)
        bias_params = {"bias": bias, "overwrite": True}
        output, bias_trace = _forward(BIAS_ADD, output, bias_params, to_float)
        traces.append(bias_trace)
    if pad_trace is not None:
        traces.append(pad_trace)
    return output.reshape(problem.output_shape), traces


def _conv_transpose(
    problem: Any, x: np.ndarray, params: Mapping[str, Any]
) -> tuple[np.ndarray, Traces]:
    from gradcalc.core.kinds.conv_transpose import transpose_op
    from gradcalc.core.ops.conv import BIAS_ADD

    kernel = problem.kernel_full(params.get("kernel", problem.kernel))
    op_params = {"kernel": kernel, "geometry": problem.geometry}
    output, trace = _forward(transpose_op(problem), problem.to_nchw(x), op_params, to_float)
    traces = [trace]
    bias = params.get("bias", problem.bias)
    if bias is not None:
        output, bias_trace = _forward(BIAS_ADD, output, {"bias": bias}, to_float)
        traces.append(bias_trace)
    return output.reshape(problem.output_shape), traces


def _pad_copies(problem: Any, x: np.ndarray) -> tuple[np.ndarray, Trace, Any]:
    """A conv layer whose padding copies input cells (padding_mode reflect, replicate,
    circular): the padded N×C×H_padded×W_padded input, the pad op's trace, and the geometry
    of the convolution over it (no padding of its own; core/kinds/conv_padding.py)."""
    from gradcalc.core.kinds.conv_padding import inner_geometry, pad_params
    from gradcalc.core.ops.pad import PAD

    padded, pad_trace = _forward(PAD, x, pad_params(problem), to_float)
    return padded, pad_trace, inner_geometry(problem.geometry)


def _dense(problem: Any, x: np.ndarray, params: Mapping[str, Any]) -> tuple[np.ndarray, Traces]:
    from gradcalc.core.ops.linear import BIAS_ADD, LINEAR

    rows = x.reshape(problem.batch, problem.in_features)
    weight = {"weight": params.get("weight", problem.weight)}
    output, linear = _forward(LINEAR, rows, weight, adapter.each_rounded)
    traces = [linear]
    bias = params.get("bias", problem.bias)
    if bias is not None:
        output, bias_trace = _forward(BIAS_ADD, output, {"bias": bias}, adapter.each_rounded)
        traces.append(bias_trace)
    shape = dense_shape(x.shape, problem.out_features, problem.output_shape)
    return output.reshape(shape), traces


def dense_shape(
    shape: tuple[int, ...], features: int, otherwise: tuple[int, ...]
) -> tuple[int, ...]:
    """A dense layer's output shape (``features`` = O) given its input's ``shape``, or its
    input's (L) given its upstream's: a ≥3-D one (*, L) keeps its leading axes, (*, O),
    as nn.Linear applies to the last axis; else ``otherwise`` (the kind's own shape)."""
    return (*shape[:-1], features) if len(shape) >= 3 else otherwise


def rows_read_back(results: dict[str, Any], shape: tuple[int, ...]) -> dict[str, Any]:
    """A dense layer's results on rows with its output (rows×O) and ∂L/∂input (rows×L) read
    back as (*, O) and (*, L), the leading axes of its input ``shape`` (*, L)."""
    shaped = dict(results)
    output = results["output"]
    shaped["output"] = output.reshape(*shape[:-1], output.shape[-1])
    shaped["grad_input"] = results["grad_input"].reshape(shape)
    return shaped


def _pool(problem: Any, x: np.ndarray, _: Mapping[str, Any]) -> tuple[np.ndarray, Traces]:
    op, params = pool_params(problem)
    output, trace = _forward(op, problem.to_nchw(x), params, adapter.each_rounded)
    return output.reshape(problem.output_shape), [trace]


# The pooling op and its parameters (its tap layout) per pool problem, built once.
_POOLS: weakref.WeakKeyDictionary[Any, tuple[Any, dict[str, Any]]] = weakref.WeakKeyDictionary()


def pool_params(problem: Any) -> tuple[Any, dict[str, Any]]:
    from gradcalc.core.kinds.pool import op_params

    if problem not in _POOLS:
        op, params = op_params(problem)
        # Nothing here reads max pooling's per-tap weights or ties (no explanation): the
        # cache keeps only where ∂L/∂y goes (core/ops/pool.py max_forward).
        _POOLS[problem] = op, {**params, "routes_only": True}
    return _POOLS[problem]


def _activation(problem: Any, x: np.ndarray, _: Mapping[str, Any]) -> tuple[np.ndarray, Traces]:
    from gradcalc.core.ops.elementwise import ELEMENTWISE

    params = {**problem.params, "subgradient": problem.subgradient}
    output, trace = _forward(ELEMENTWISE[problem.function], x, params, adapter.each_rounded)
    return np.asarray(output, dtype=float), [trace]


def _softmax(problem: Any, x: np.ndarray, _: Mapping[str, Any]) -> tuple[np.ndarray, Traces]:
    from gradcalc.core.ops.softmax import SOFTMAX

    classes = problem.input.shape[-1]
    rows = x.reshape(-1, classes)
    output, trace = _forward(SOFTMAX, rows, {"log": problem.log}, adapter.each_rounded)
    return output.reshape(problem.input.shape), [trace]  # y: log p or p, as the kind's


def _dropout(problem: Any, x: np.ndarray, _: Mapping[str, Any]) -> tuple[np.ndarray, Traces]:
    from gradcalc.core.ops.dropout import DROPOUT

    keep = {"keep": _float_keep(problem)}
    output, trace = _forward(DROPOUT, x, keep, adapter.each_rounded)
    return np.asarray(output, dtype=float).reshape(problem.input.shape), [trace]


# keep = m/(1 − p) in float64 per dropout problem (DropoutProblem.float_keep), made once.
_KEEPS: weakref.WeakKeyDictionary[Any, np.ndarray] = weakref.WeakKeyDictionary()


def _float_keep(problem: Any) -> np.ndarray:
    if problem not in _KEEPS:
        _KEEPS[problem] = problem.float_keep()
    return _KEEPS[problem]


def _embedding(problem: Any, _: np.ndarray, params: Mapping[str, Any]) -> tuple[np.ndarray, Traces]:
    """W[indices]: the indices are the ones the kind read (int64), whatever ``x`` holds:
    an embedding is the first layer, its input is its indices, and they never move."""
    from gradcalc.core.ops.embedding import EMBEDDING

    weight = {"weight": params.get("weight", problem.weight), "padding_idx": problem.padding_idx}
    output, trace = _forward(EMBEDDING, problem.indices, weight, adapter.each_rounded)
    return np.asarray(output, dtype=float).reshape(problem.output_shape), [trace]


def rational(values: np.ndarray) -> np.ndarray:
    """A layer's float64 input or upstream as exact values, as the explained path's kind
    reads them (core/values.py read_floats: each entry the Fraction of its shortest repr);
    exact values as they are.  Entries read_floats refuses (not finite) stay floats."""
    values = np.asarray(values)
    if values.dtype == object:
        return values
    read = read_floats(values)
    return np.array(values.tolist(), dtype=object) if read is None else read


def rounded_norm(problem: Any, exact_x: np.ndarray) -> tuple[np.ndarray, Traces]:
    """A normalization layer as its kind runs it with --float when rounds_once holds (core/
    kinds/normalization.py): exactly on ``exact_x`` (rational) and its own γ and β, the
    output rounded once; the trace is exact, and ``backward`` takes the upstream exactly."""
    from gradcalc.core.kinds.normalization import op_params, rounded_once
    from gradcalc.core.ops.normalization import NORMALIZE

    CALLS[NORMALIZE.name, "forward"] += 1
    x = exact_x.reshape(problem.op_shape)
    output, trace = adapter.forward(NORMALIZE, x, op_params(problem), exact=True)
    return rounded_once(output).reshape(problem.input.shape), [trace]


def _norm(problem: Any, x: np.ndarray, params: Mapping[str, Any]) -> tuple[np.ndarray, Traces]:
    """batchnorm, layernorm, groupnorm: the normalization op over the problem's axes (in its
    op layout), with γ and β from ``params`` when given."""
    from gradcalc.core.kinds.normalization import op_params
    from gradcalc.core.ops.normalization import NORMALIZE

    values = {name: params.get(name, getattr(problem, name)) for name in ("weight", "bias")}
    op = op_params(problem, values)
    output, trace = _forward(NORMALIZE, x.reshape(problem.op_shape), op, to_float)
    return np.asarray(output, dtype=float).reshape(problem.input.shape), [trace]


def running(kind: str, problem: Any, traces: Traces) -> dict[str, np.ndarray]:
    """A training batch norm's ``running_mean`` and ``running_var`` from its forward trace
    (the batch statistics in its cache), in float64 as its kind computes them; {} for
    every other layer."""
    if kind != "batchnorm" or not problem.running:
        return {}
    from gradcalc.core.kinds.normalization import rounded_once, running_results

    cache, exact = traces[0].cache, traces[0].exact  # exact: rounded_norm's run
    moved = running_results(problem, cache["mean"], cache["var"], exact=exact)
    return {key: rounded_once(value) for key, value in moved.items()}


def _norm_backward(problem: Any, traces: Traces, grad_y: np.ndarray) -> dict[str, Any]:
    """The gradients from ``_norm``'s float64 trace, or from ``rounded_norm``'s exact one
    (``grad_y`` exact then, each gradient rounded once as the kind rounds it)."""
    from gradcalc.core.kinds.normalization import rounded_once

    grads = _backward(grad_y.reshape(problem.op_shape), traces[0])
    if traces[0].exact:
        grads = {name: rounded_once(value) for name, value in grads.items()}
    results = {"grad_input": np.asarray(grads["input"], dtype=float).reshape(problem.input.shape)}
    if problem.affine:
        results["grad_weight"] = grads["weight"].reshape(problem.weight.shape)
        results["grad_bias"] = grads["bias"].reshape(problem.bias.shape)
    return results


def _rnn(problem: Any, x: np.ndarray, params: Mapping[str, Any]) -> tuple[np.ndarray, Traces]:
    """rnn, lstm, gru: the recurrent op over the steps (step-major), with the weights and
    biases from ``params`` when given; the output is every step's h_t in the input's layout."""
    from gradcalc.core.kinds.rnn import op_params
    from gradcalc.core.ops.recurrent import op_for

    values = {**op_params(problem), **params}
    values = {k: adapter.as_float(v, adapter.each_rounded) for k, v in values.items()}
    op = op_for(problem.cell, problem.nonlinearity)
    steps = problem.step_major(np.asarray(x, dtype=float))
    stacked, trace = _forward(op, steps, values, adapter.each_rounded)
    return problem.as_written(np.asarray(stacked, dtype=float)[: steps.shape[0]]), [trace]


def _rnn_backward(problem: Any, traces: Traces, grad_y: np.ndarray) -> dict[str, Any]:
    """∂L/∂output (the output's layout) with nothing on h_n and c_n: the layer's gradients."""
    steps = problem.step_major(grad_y)
    extra = 2 if problem.cell == "lstm" else 1
    stacked = np.concatenate([steps, np.zeros((extra, *steps.shape[1:]))])
    grads = _backward(stacked, traces[0])
    results = {"grad_input": problem.as_written(np.asarray(grads["input"], dtype=float))}
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        if name in grads:
            results[f"grad_{name}"] = np.asarray(grads[name], dtype=float)
    return results


def _attention(problem: Any, x: np.ndarray, _: Mapping[str, Any]) -> tuple[np.ndarray, Traces]:
    """Self-attention: the input is the query, the key and the value."""
    from gradcalc.core.kinds.attention import params_of
    from gradcalc.core.ops.attention import ATTENTION

    params = {**params_of(problem), "key": x, "value": x}
    output, trace = _forward(ATTENTION, x, params, adapter.each_rounded)
    return output, [trace]


def _flatten(_: Any, x: np.ndarray, __: Mapping[str, Any]) -> tuple[np.ndarray, Traces]:
    from gradcalc.core.ops.flatten import FLATTEN

    output, trace = _forward(FLATTEN, x, {}, to_float)
    return output, [trace]


_FORWARD = {
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "dense": _dense,
    "pool": _pool,
    "activation": _activation,
    "softmax": _softmax,
    "dropout": _dropout,
    "embedding": _embedding,
    "batchnorm": _norm,
    "layernorm": _norm,
    "groupnorm": _norm,
    "rnn": _rnn,
    "attention": _attention,
    "flatten": _flatten,
}


def loss_value(problem: Any, x: np.ndarray) -> float:
    """The loss (a loss kind's problem) at float64 input ``x``: its op's forward alone."""
    from gradcalc.core.kinds.loss import op_inputs
    from gradcalc.core.ops.losses import LOSS_OPS

    rows, params = op_inputs(with_input(problem, x))
    loss, _ = _forward(LOSS_OPS[problem.loss], rows, params, adapter.each_rounded)
    return float(loss)


def loss_run(read: Any, values: np.ndarray) -> tuple[Any, Run] | None:
    """The loss (``read``: as the loss kind read it with the net, None without one) at the
    last layer's output, run as the kind runs it in float64 (its own compute, at the output
    read as the kind reads it) without reading a spec: (the problem at that input, its run).
    None where the kind must read it: bce and bce_with_logits (they take 1 − x from the
    values read exactly), and an output it refuses (not finite), to say so."""
    from gradcalc.core.kinds import loss as loss_kind

    if read is None or read.loss in ("bce", "bce_with_logits"):
        return None
    x = as_read(values, "loss")
    if x.dtype != np.float64 or x.shape != read.input.shape or not np.isfinite(x).all():
        return None
    moved = with_input(read, x)
    computed = loss_kind.compute(moved, exact=False)
    results = {"loss": np.array(computed.loss, dtype=float), "grad_input": computed.grad_input}
    return moved, Run(results=results, trace=computed, exact=False)


def with_input(problem: Any, x: np.ndarray) -> Any:
    """A shallow copy of a kind's problem with input ``x``."""
    import copy

    moved = copy.copy(problem)
    moved.input = x
    return moved


# ---------------------------------------------------------------------------
# Backward: the gradients


def backward(kind: str, problem: Any, traces: Traces, grad_y: np.ndarray) -> dict[str, Any]:
    """``grad_input`` and the parameters' gradients (``grad_kernel``, …) given ∂L/∂output
    (float64, the output's shape), from the traces ``forward`` returned."""
    if kind in ("conv", "conv_transpose"):
        shaped = problem.output_nohw if kind == "conv" else problem.output_nchw
        upstream = shaped(grad_y)
        results = {}
        by_op = {trace.op.name: trace for trace in traces[1:]}  # bias_add, pad
        if "bias_add" in by_op:
            bias_grads = _backward(upstream, by_op["bias_add"])
            results["grad_bias"] = bias_grads["bias"].reshape(problem.bias.shape)
            upstream = bias_grads["input"]
        grads = _backward(upstream, traces[0])
        if "pad" in by_op:  # ∂L/∂x_padded folded back onto the cells it copied
            grads["input"] = _backward(grads["input"], by_op["pad"])["input"]
        results["grad_input"] = grads["input"].reshape(problem.input.shape)
        results["grad_kernel"] = grads["kernel"].reshape(problem.kernel.shape)
        return results
    if kind == "dense":
        upstream = grad_y.reshape(problem.batch, problem.out_features)
        results = {}
        if len(traces) > 1:
            bias_grads = _backward(upstream, traces[1])
            results["grad_bias"], upstream = bias_grads["bias"], bias_grads["input"]
        grads = _backward(upstream, traces[0])
        in_shape = dense_shape(np.shape(grad_y), problem.in_features, problem.input.shape)
        results["grad_input"] = grads["input"].reshape(in_shape)
        results["grad_weight"] = grads["weight"]
        return results
    if kind == "pool":
        grad = _backward(problem.output_nchw(grad_y), traces[0])["input"]
        return {"grad_input": grad.reshape(problem.input.shape)}
    if kind == "activation":
        grad = _backward(grad_y, traces[0])["input"]
        return {"grad_input": np.asarray(grad, dtype=float)}
    if kind == "softmax":
        classes = problem.input.shape[-1]
        grad = _backward(grad_y.reshape(-1, classes), traces[0])["input"]
        return {"grad_input": grad.reshape(problem.input.shape)}
    if kind == "dropout":
        grad = _backward(grad_y, traces[0])["input"]
        return {"grad_input": np.asarray(grad, dtype=float).reshape(problem.input.shape)}
    if kind in ("batchnorm", "layernorm", "groupnorm"):
        return _norm_backward(problem, traces, grad_y)
    if kind == "rnn":
        return _rnn_backward(problem, traces, grad_y)
    if kind == "attention":  # self-attention: the input is the query, the key and the value
        grads = _backward(grad_y, traces[0])
        return {"grad_input": grads["input"] + grads["key"] + grads["value"]}
    if kind == "embedding":  # no grad_input: the indices are not differentiable
        return {"grad_weight": np.asarray(_backward(grad_y, traces[0])["weight"], dtype=float)}
    return {"grad_input": _backward(grad_y, traces[0])["input"]}  # flatten
