"""The whole-chain loss of a net (core/kinds/net_gradcheck.py float_loss) at many points at
once: ``float_losses(problem, params, moves)`` gives, for every move (one entry of one array
shifted), the loss float_loss gives at that point, bit for bit, in a few stacked passes
instead of one pass through the layers' ops per point.

Why it is the same number: the points that move one array are stacked along a new leading
axis B, and each layer computes every point's slice with the same float64 operations, in the
same order, as its one-point pass (core/kinds/net_ops.py):

- the layers before the moved one see no change: their output is computed once;
- conv and pool treat the samples of a batch independently (one matmul or window reduction
  per sample), so the B points' samples run as one batch of B·N samples;
- an activation is elementwise; flatten and softmax keep their last axes; dense multiplies
  each point's N×L rows by Wᵀ as one matrix of a stack (the same matrix product per point);
- cross-entropy takes log-softmax over the last axis per row, then sums each point's rows
  alone (the same 1-D sum as its one-point loss).

Every other layer, a layer whose parameter moves, and every other loss run their one-point
pass per point (net_ops.forward, net_ops.loss_value): the same code, so the same bits.
tests/test_net_batched_fd.py compares the two bit for bit on random chains.
"""

from __future__ import annotations

import copy
import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradcalc.core.kinds import net_ops
from gradcalc.core.kinds.net import NetProblem
from gradcalc.core.kinds.net_run import upstream_is_ones
from gradcalc.core.ops import adapter

# One move: (array name, index into it, shift added to that entry).
Move = tuple[str, tuple[int, ...], float]
# The most float64 entries one stacked layer output may hold (B points × its size): larger
# groups of points run in chunks, so memory stays bounded (about 16 MB per array).
MOST_STACKED = 2_000_000
# The most entries of the windows a stacked conv or pool lays out for its B points (_windows:
# a conv's im2col matrix may be C·kh·kw times its output): a second bound on the chunks.
MOST_WINDOWS = 4_000_000


def float_losses(
    problem: NetProblem, params: Mapping[str, np.ndarray], moves: Sequence[Move]
) -> list[float]:
    """The loss float_loss(problem, params with ``moves[i]`` applied) for every i."""
    losses: list[float] = [0.0] * len(moves)
    by_array: dict[str, list[int]] = {}
    for i, (name, _, _) in enumerate(moves):
        by_array.setdefault(name, []).append(i)
    prefixes: dict[int, tuple[Any, Counter]] = {}
    largest = max(
        [int(np.prod(problem.shapes[layer.name])) for layer in problem.layers]
        + [int(np.size(problem.input))]
    )
    windows = max(_windows(problem, layer) for layer in problem.layers)
    chunk = max(1, min(MOST_STACKED // max(1, largest), MOST_WINDOWS // max(1, windows)))
    for name, positions in by_array.items():
        for start in range(0, len(positions), chunk):
            some = positions[start : start + chunk]
            stacked = _stacked_moves(params[name], [moves[i][1:] for i in some])
            for i, loss in zip(
                some, _stacked_losses(problem, params, name, stacked, prefixes), strict=True
            ):
                losses[i] = loss
    return losses


def _windows(problem: NetProblem, layer: Any) -> int:
    """The entries of the windows one point lays out in ``layer``'s stacked op, which may be
    many times its output: a 2-D or 1-D conv's im2col matrix (C·kh·kw per output position),
    a pool's taps per output entry; 0 for another layer."""
    size = int(np.prod(problem.shapes[layer.name]))
    read = problem.read_layers[layer.index]
    if layer.type == "conv" and not _per_point_conv(read):
        g = read.geometry
        return size // g.out_channels * g.in_channels * g.kernel_h * g.kernel_w
    if layer.type == "pool":
        return size * read.geometry.taps
    return 0


def _stacked_moves(values: np.ndarray, moves: list[tuple[tuple[int, ...], float]]) -> np.ndarray:
    """B copies of ``values`` (B×its shape), the b-th with entry ``moves[b][0]`` moved by
    ``moves[b][1]``, as float_loss's caller moves it (the same float64 addition)."""
    stacked = np.repeat(values[np.newaxis], len(moves), axis=0)
    for point, (index, shift) in enumerate(moves):
        stacked[(point, *index)] += shift
    return stacked


def _stacked_losses(
    problem: NetProblem,
    params: Mapping[str, np.ndarray],
    name: str,
    stacked: np.ndarray,
    prefixes: dict[int, tuple[Any, Counter]],
) -> list[float]:
    """The losses of the B points whose array ``name`` takes the B values of ``stacked``
    (B×the array's shape).  ``prefixes`` keeps each layer's unmoved input across calls."""
    first = 0 if name == "input" else _layer_index(problem, name)
    values, runs = _prefix(problem, params, first, prefixes)
    for op_run, count in runs.items():  # the unmoved layers ran once for all B points
        net_ops.CALLS[op_run] += count * len(stacked)
    batched = name == "input"
    if batched:
        values = stacked
    layers = zip(problem.layers[first:], problem.read_layers[first:], strict=True)
    for layer, kind_problem in layers:
        moved = {key: params[f"{layer.name}.{key}"] for key in layer.parameters}
        if not batched:  # this layer's parameter moves
            key = name.removeprefix(f"{layer.name}.")
            values = _moving_layer(layer.type, kind_problem, values, moved, key, stacked)
            batched = True
            continue
        values = _stacked_layer(layer.type, kind_problem, values, moved)
    return _losses(problem, values)


def _layer_index(problem: NetProblem, name: str) -> int:
    layer_name = name.rsplit(".", 1)[0]
    return next(layer.index for layer in problem.layers if layer.name == layer_name)


def _prefix(
    problem: NetProblem,
    params: Mapping[str, np.ndarray],
    first: int,
    prefixes: dict[int, tuple[Any, Counter]],
) -> tuple[Any, Counter]:
    """The input of layer ``first`` at the unmoved point (float_loss's pass, up to it), and
    the op runs that pass takes (taken out of net_ops.CALLS: the caller counts them per
    point)."""
    if first not in prefixes:
        if first == 0:
            prefixes[0] = (params.get("input"), Counter())
        else:
            values, runs = _prefix(problem, params, first - 1, prefixes)
            layer = problem.layers[first - 1]
            moved = {key: params[f"{layer.name}.{key}"] for key in layer.parameters}
            before = Counter(net_ops.CALLS)
            values = _one(layer.type, problem.read_layers[first - 1], values, moved)
            ran = Counter(net_ops.CALLS)
            ran.subtract(before)
            net_ops.CALLS.subtract(ran)
            prefixes[first] = (values, runs + ran)
    return prefixes[first]


def _one(kind: str, kind_problem: Any, values: Any, moved: Mapping[str, np.ndarray]) -> np.ndarray:
    """One point through one layer, as float_loss passes it."""
    output, _ = net_ops.forward(kind, kind_problem, values, moved)
    return np.asarray(output, dtype=float)


def _moving_layer(
    kind: str,
    kind_problem: Any,
    values: Any,
    moved: Mapping[str, np.ndarray],
    key: str,
    stacked: np.ndarray,
) -> np.ndarray:
    """One unmoved input through one layer whose parameter ``key`` takes the B values of
    ``stacked``: B×its output shape."""
    moving = _MOVING.get(kind)
    output = None if moving is None else moving(kind_problem, values, moved, key, stacked)
    if output is None:  # one pass per point
        output = np.stack([_one(kind, kind_problem, values, {**moved, key: v}) for v in stacked])
    return np.asarray(output, dtype=float)


def _conv_moving(
    problem: Any, x: np.ndarray, moved: Mapping[str, np.ndarray], key: str, stacked: np.ndarray
) -> Any:
    """A conv layer with B kernels (one matrix product each per sample, as conv2d_forward
    takes it) or B biases (added to the one output, as the bias op adds it)."""
    from gradcalc.core.kinds.conv import kernel_params
    from gradcalc.core.ops.conv import conv2d_forward_kernels

    if _per_point_conv(problem):
        return None
    points = len(stacked)
    if key == "kernel":
        kernels = np.stack([kernel_params(problem, kernel)["kernel"] for kernel in stacked])
        net_ops.CALLS["conv2d", "forward"] += points
        output = conv2d_forward_kernels(
            problem.to_nchw(x), kernels, problem.geometry, problem.flip_kernel
        )
        bias = moved.get("bias", problem.bias)
        biases = None if bias is None else adapter.as_float(bias, adapter.to_float)[None]
    else:
        output = _one_op_output(problem, x, moved, points)
        biases = stacked
    if biases is not None:
        net_ops.CALLS["bias_add", "forward"] += points
        channels = (1, -1, 1, 1) if biases.ndim == 2 else (1, 1, 1, 1)
        output = output + biases.reshape(len(biases), *channels)
    return output.reshape(points, *problem.output_shape)


def _one_op_output(
    problem: Any, x: np.ndarray, moved: Mapping[str, np.ndarray], points: int
) -> Any:
    """A conv layer's output before its bias (1×N×O×H_out×W_out) at the unmoved kernel."""
    from gradcalc.core.kinds.conv import kernel_params
    from gradcalc.core.ops.conv import CONV2D

    kernel = kernel_params(problem, moved.get("kernel", problem.kernel))
    return _run(CONV2D, problem.to_nchw(x), kernel, adapter.to_float, points)[None]


def _dense_moving(
    problem: Any, x: np.ndarray, moved: Mapping[str, np.ndarray], key: str, stacked: np.ndarray
) -> Any:
    """A dense layer with B weights (each point's rows times its Wᵀ, one matrix of a stack)
    or B biases (added to the one output)."""
    from gradcalc.core.ops.linear import LINEAR

    points = len(stacked)
    rows = x.reshape(problem.batch, problem.in_features)
    if key == "weight":
        net_ops.CALLS[LINEAR.name, "forward"] += points
        output = rows @ stacked.transpose(0, 2, 1)  # linear_forward's x @ w.T, per point
        bias = moved.get("bias", problem.bias)
        biases = None if bias is None else adapter.as_float(bias, adapter.each_rounded)[None]
    else:
        weight = {"weight": moved.get("weight", problem.weight)}
        output = _run(LINEAR, rows, weight, adapter.each_rounded, points)
        output, biases = output[None], stacked
    if biases is not None:
        net_ops.CALLS["bias_add_rows", "forward"] += points
        output = output + biases[:, None, :]
    shape = net_ops.dense_shape(np.shape(x), problem.out_features, problem.output_shape)
    return output.reshape(points, *shape)


_MOVING = {"conv": _conv_moving, "dense": _dense_moving}


def _stacked_layer(
    kind: str, kind_problem: Any, values: np.ndarray, moved: Mapping[str, np.ndarray]
) -> np.ndarray:
    """B points (B×the layer's input shape) through one layer whose parameters do not move:
    B×its output shape."""
    stacked = _STACKED.get(kind)
    output = None if stacked is None else stacked(kind_problem, values, moved)
    if output is None:
        output = np.stack([_one(kind, kind_problem, value, moved) for value in values])
    return np.asarray(output, dtype=float)


def _run(op: Any, x: np.ndarray, params: Mapping[str, Any], float64: Any, points: int) -> Any:
    """The op's float64 forward on the stacked points, counted as ``points`` runs in
    net_ops.CALLS (one per point it evaluates, as the one-point passes count)."""
    net_ops.CALLS[op.name, "forward"] += points
    return adapter.forward_float(op, x, params, float64)


def _samples(problem: Any, values: np.ndarray) -> np.ndarray:
    """B×(the layer's input) values as one N×C×H×W batch of B·N samples."""
    return values.reshape(-1, *problem.to_nchw(values[0]).shape[1:])


def _per_point_conv(problem: Any) -> bool:
    """A conv layer whose stacked points run one pass each: a padding that copies cells (its
    pad op runs per point) or a 3-D conv (its op is conv3d's, not the conv2d stacked here)."""
    copies = problem.padding_mode != "zeros" and any(problem.geometry.padding)
    return copies or len(problem.geometry.padding) == 6


def _conv(problem: Any, values: np.ndarray, moved: Mapping[str, np.ndarray]) -> Any:
    from gradcalc.core.kinds.conv import kernel_params
    from gradcalc.core.ops.conv import BIAS_ADD, CONV2D

    if _per_point_conv(problem):
        return None
    x = _samples(problem, values)
    from gradcalc.core.records import fields

    g = problem.geometry
    geometry = type(g)(**{**{name: getattr(g, name) for name in fields(g)}, "batch": len(x)})
    kernel = {**kernel_params(problem, moved.get("kernel", problem.kernel)), "geometry": geometry}
    output = _run(CONV2D, x, kernel, adapter.to_float, len(values))
    bias = moved.get("bias", problem.bias)
    if bias is not None:
        output = _run(BIAS_ADD, output, {"bias": bias}, adapter.to_float, len(values))
    return output.reshape(values.shape[0], *problem.output_shape)


def _pool(problem: Any, values: np.ndarray, _: Mapping[str, np.ndarray]) -> Any:
    op, params = net_ops.pool_params(problem)
    x = _samples(problem, values)  # the pool ops read the batch off x
    output = _run(op, x, params, adapter.each_rounded, len(values))
    return output.reshape(values.shape[0], *problem.output_shape)


def _activation(problem: Any, values: np.ndarray, _: Mapping[str, np.ndarray]) -> Any:
    from gradcalc.core.ops.elementwise import ELEMENTWISE

    params = {**problem.params, "subgradient": problem.subgradient}
    op = ELEMENTWISE[problem.function]
    return _run(op, values, params, adapter.each_rounded, len(values))


def _flatten(_: Any, values: np.ndarray, __: Mapping[str, np.ndarray]) -> Any:
    """Each point's N×(C·H·W): the samples of all points flattened as one batch."""
    from gradcalc.core.ops.flatten import FLATTEN

    samples = values.reshape(-1, *values.shape[2:])
    output = _run(FLATTEN, samples, {}, adapter.to_float, len(values))
    return output.reshape(*values.shape[:2], -1)


def _dense(problem: Any, values: np.ndarray, moved: Mapping[str, np.ndarray]) -> Any:
    from gradcalc.core.ops.linear import BIAS_ADD, LINEAR

    rows = values.reshape(values.shape[0], problem.batch, problem.in_features)
    weight = {"weight": moved.get("weight", problem.weight)}
    output = _run(LINEAR, rows, weight, adapter.each_rounded, len(values))
    bias = moved.get("bias", problem.bias)
    if bias is not None:
        output = _run(BIAS_ADD, output, {"bias": bias}, adapter.each_rounded, len(values))
    shape = net_ops.dense_shape(values.shape[1:], problem.out_features, problem.output_shape)
    return output.reshape(values.shape[0], *shape)


def _softmax(problem: Any, values: np.ndarray, _: Mapping[str, np.ndarray]) -> Any:
    from gradcalc.core.ops.softmax import SOFTMAX

    classes = problem.input.shape[-1]
    rows = values.reshape(values.shape[0], -1, classes)
    output = _run(SOFTMAX, rows, {"log": problem.log}, adapter.each_rounded, len(values))
    return output.reshape(values.shape[0], *problem.input.shape)


_STACKED = {
    "conv": _conv,
    "pool": _pool,
    "activation": _activation,
    "flatten": _flatten,
    "dense": _dense,
    "softmax": _softmax,
}


def _losses(problem: NetProblem, values: np.ndarray) -> list[float]:
    """Each point's loss (Σ upstream ⊙ output without a loss) from its B×output values."""
    if problem.loss is None:
        upstream = (
            1.0 if upstream_is_ones(problem.upstream) else np.asarray(problem.upstream, dtype=float)
        )
        return [float(np.sum(upstream * value)) for value in values]
    if problem.read_loss.loss == "cross_entropy":
        return _cross_entropy(problem.read_loss, values)
    return [net_ops.loss_value(problem.read_loss, value) for value in values]


def _cross_entropy(loss_problem: Any, values: np.ndarray) -> list[float]:
    """cross_entropy_forward (core/ops/losses.py) for B points at once: log p per row over
    the classes' axis, then each point's Σ_n ℓ_n / D alone."""
    from gradcalc.core.ops.softmax import softmax_parts

    net_ops.CALLS["cross_entropy", "forward"] += len(values)
    shape, coefficients, denominator = _class_terms(loss_problem, values[0])
    rows = values.reshape(values.shape[0], *shape)
    per_item = -(coefficients * softmax_parts(rows).log_p).sum(axis=-1)
    return [float(items.sum() / denominator) for items in per_item]


# Per loss problem: the rows' shape, the class coefficients a and the denominator D its
# float64 cross-entropy takes (class_coefficients), worked out once for all the stacked
# passes of a check: they hang on the target, weights and smoothing, not on the logits.
_CLASS_TERMS: weakref.WeakKeyDictionary[Any, tuple[Any, np.ndarray, Any]] = (
    weakref.WeakKeyDictionary()
)


def _class_terms(loss_problem: Any, logits: np.ndarray) -> tuple[Any, np.ndarray, Any]:
    """(N×C, a, D) of ``loss_problem`` at float64 ``logits`` (one point's: any, as only
    their shape and float64 kind count), as cross_entropy_forward works them out."""
    if loss_problem not in _CLASS_TERMS:
        from gradcalc.core.kinds.loss import op_inputs
        from gradcalc.core.ops.losses import class_coefficients

        moved = copy.copy(loss_problem)
        moved.input = logits
        first_rows, params = op_inputs(moved)
        params = {
            key: adapter.as_float(value, adapter.each_rounded) for key, value in params.items()
        }
        coefficients, _, denominator = class_coefficients(first_rows, params)
        _CLASS_TERMS[loss_problem] = (first_rows.shape, coefficients, denominator)
    return _CLASS_TERMS[loss_problem]
