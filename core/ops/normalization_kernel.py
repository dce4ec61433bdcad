"""The float64 normalization of core/ops/normalization.py by its compiled kernels
(core/ops/_norm_channels.c and _norm_rows.c, the module `_norm_` + the layout's name),
for large arrays of its two layouts:

- ``channels`` (batch norm 1d and 2d, training or evaluation): x as N×C×L, the
  statistics averaging every axis but the channel axis 1, γ and β one number per channel;
- ``rows`` (layer norm, group norm): x as R×W rows (the leading axes, the averaged
  trailing axes), W = P·S, γ and β with G·P entries: entry j of row r takes entry
  (r mod G)·P + j // S (layer norm G = 1, P = W, S = 1; group norm's N×G×(C/G)×S
  rows (n, g), P = C/G channels of S entries).

The kernel fuses the NumPy path's dozen passes over memory into one or two: a channel
(or a row) is read once, its sums taken pairwise as NumPy's (μ, then Σ(x − μ)²), and
x̂ and y written while it is in the CPU cache; backward computes x̂ again from x, μ and
σ² instead of reading it.  So forward writes y alone: x̂, which only the kinds' results
and explanations show, is computed on request (``x_hat``), by the same expression, so
with the same bits as backward's.  The results differ from the NumPy path's only by
rounding order.

Threads: the channels or rows are split into spans by core/parallel.py (from the sizes
alone) and each span is one kernel call, the GIL released.  Every per-channel and
per-row value is computed within one call whatever the split, and the layer/group norm
sums of ∂L/∂γ and ∂L/∂β over rows are kept per block of BLOCK // W rows (fixed by the
size) and added in block order: the same bytes for any thread count.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradcalc.core import parallel
from gradcalc.core.ops import Cache, Params, kernels

# Below this many entries the NumPy paths run (their results, unchanged); above, the
# kernel is 2-4 times faster.
SMALLEST = 1 << 16
# Entries of the row blocks whose ∂L/∂γ, ∂L/∂β sums are kept apart (layer/group norm).
BLOCK = 1 << 15


def layout(x: np.ndarray, params: Params) -> tuple[Any, ...] | None:
    """(kernel module, "channels" or "rows", dims, γ's broadcast shape) when the kernel
    runs this op: float64, at least SMALLEST entries, one of the two layouts; else None.
    dims: (N, C, L) for channels, (R, G, P, S) for rows."""
    if x.dtype != np.float64 or x.size < SMALLEST:
        return None
    given = [params.get(k) for k in ("weight", "bias", "mean", "var")]
    if any(v is not None and np.asarray(v).dtype != np.float64 for v in given):
        return None
    weight, bias = given[0], given[1]
    if weight is not None and bias is not None and weight.shape != bias.shape:
        return None
    param_shape = weight.shape if weight is not None else None if bias is None else bias.shape
    found = _channels(x.shape, params, param_shape) or _rows(x.shape, params, param_shape)
    if found is None:
        return None
    module = kernels.load(f"_norm_{found[0]}")  # _norm_channels or _norm_rows
    return None if module is None else (module, *found, param_shape)


def _channels(shape: tuple[int, ...], params: Params, param_shape) -> tuple | None:
    """("channels", (N, C, L)) when the statistic averages every axis but 1."""
    if len(shape) < 2 or tuple(params["axes"]) != (0, *range(2, len(shape))):
        return None
    per_channel = (1, shape[1]) + (1,) * (len(shape) - 2)
    if param_shape is not None and param_shape != per_channel:
        return None
    if params.get("mean") is not None and (
        np.shape(params["mean"]) != per_channel or np.shape(params["var"]) != per_channel
    ):
        return None
    return "channels", (shape[0], shape[1], math.prod(shape[2:]))


def _rows(shape: tuple[int, ...], params: Params, param_shape) -> tuple | None:
    """("rows", (R, G, P, S)) when the statistic averages the trailing axes and γ varies
    at most along the last leading axis (G) and the first trailing ones (P)."""
    axes, lead = tuple(params["axes"]), len(shape) - len(params["axes"])
    if params.get("mean") is not None or axes != tuple(range(lead, len(shape))):
        return None
    rows, width = math.prod(shape[:lead]), math.prod(shape[lead:])
    if param_shape is None:
        return "rows", (rows, 1, width, 1)
    if len(param_shape) != len(shape) or any(n != 1 for n in param_shape[: max(lead - 1, 0)]):
        return None
    groups = param_shape[lead - 1] if lead else 1  # lead 0: one row, the whole array
    if lead and groups not in (1, shape[lead - 1]):
        return None
    varying = 0  # γ's trailing axes: the first `varying` as x's, the rest of length 1
    while varying < len(axes) and param_shape[lead + varying] == shape[lead + varying]:
        varying += 1
    if any(n != 1 for n in param_shape[lead + varying :]):
        return None
    per = math.prod(shape[lead : lead + varying])
    return "rows", (rows, groups, per, width // per)


def _flat(values: Any) -> np.ndarray | None:
    """A parameter or statistic as a contiguous float64 vector (None stays None)."""
    return None if values is None else np.ascontiguousarray(values, dtype=float).reshape(-1)


# Entries of each sample a call takes at least when the kernel walks short rows as columns
# (batch norm 1d): fewer make its loops too short to pay.
SEGMENT = 64


def _spans(module, name: str, dims: tuple[int, ...]) -> list[tuple[int, int]]:
    """The channel or row ranges of the kernel calls, from the sizes alone."""
    if name == "rows":
        return parallel.spans(dims[0], dims[2] * dims[3])
    samples, channels, row = dims
    if row < module.COLUMNS_BELOW:
        return parallel.spans(channels, samples * row, max(1, channels * row // SEGMENT))
    return parallel.spans(channels, samples * row)


def forward(found: tuple[Any, ...], x: np.ndarray, params: Params):
    """y (x's shape), μ and σ² (C for channels, R for rows; evaluation mode: the given
    ones), for ``found`` = layout(x, params)."""
    module, name, dims, _ = found
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    frozen = params.get("mean") is not None
    count = dims[1] if name == "channels" else dims[0]
    mean = _flat(params["mean"]) if frozen else np.empty(count)
    var = _flat(params["var"]) if frozen else np.empty(count)
    call = module.channels_forward if name == "channels" else module.rows_forward
    weight, bias, eps = _flat(params.get("weight")), _flat(params.get("bias")), params["eps"]

    def work(start: int, stop: int) -> None:
        call(x, y, None, mean, var, weight, bias, *dims, float(eps), frozen, start, stop)

    parallel.run_blocks(work, _spans(module, name, dims))
    return y, mean, var


def x_hat(cache: Cache) -> np.ndarray:
    """x̂ = (x − μ)·(1/σ) (x's shape) after a kernel forward, as its backward computes it."""
    module, name, dims, _ = cache["kernel"]
    x = np.ascontiguousarray(cache["input"])
    found = np.empty_like(x)
    mean, var = _flat(cache["mean"]), _flat(cache["var"])
    call = module.channels_forward if name == "channels" else module.rows_forward

    def work(start: int, stop: int) -> None:
        call(x, None, found, mean, var, None, None, *dims, float(cache["eps"]), True, start, stop)

    parallel.run_blocks(work, _spans(module, name, dims))
    return found


def backward(grad_y: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """grad_y: x's shape -> (∂L/∂x: x's shape, ∂L/∂γ, ∂L/∂β: C for channels, G·P for rows)
    after a kernel forward."""
    module, name, dims, _ = cache["kernel"]
    x = np.ascontiguousarray(cache["input"])
    dy = np.ascontiguousarray(grad_y, dtype=float)
    grad = np.empty_like(x)
    mean, var, weight = _flat(cache["mean"]), _flat(cache["var"]), _flat(cache["weight"])
    eps = float(cache["eps"])
    if name == "channels":
        grad_weight, grad_bias = np.empty(dims[1]), np.empty(dims[1])

        def work(start: int, stop: int) -> None:
            module.channels_backward(
                dy, x, mean, var, weight, grad, grad_weight, grad_bias, *dims, eps,
                cache["frozen"], start, stop,
            )  # fmt: skip

        parallel.run_blocks(work, _spans(module, name, dims))
    else:
        grad_weight, grad_bias = _rows_backward(module, dims, dy, x, mean, var, weight, grad, eps)
    return grad, grad_weight, grad_bias


def _rows_backward(module, dims, dy, x, mean, var, weight, grad, eps):
    """∂L/∂x into grad, and (∂L/∂γ, ∂L/∂β) as G·P vectors: the kernel's per-block sums
    added in block order."""
    rows, groups, per, spread = dims
    block = max(1, BLOCK // (per * spread))
    count = -(-rows // block)
    weight_parts, bias_parts = np.empty((count, groups * per)), np.empty((count, groups * per))

    def work(first: int, last: int) -> None:
        module.rows_backward(
            dy, x, mean, var, weight, grad, weight_parts, bias_parts, *dims, eps, block,
            first * block, min(last * block, rows),
        )  # fmt: skip

    parallel.run_blocks(work, parallel.spans(count, block * per * spread))
    return np.add.reduce(weight_parts, axis=0), np.add.reduce(bias_parts, axis=0)
