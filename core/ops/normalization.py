"""Normalization over given axes: the op under batch norm, layer norm and group norm.

``x`` has any shape; ``axes`` are the axes each statistic averages over (batch norm 1d:
(0,), 2d: (0, 2, 3); layer norm: the last k; group norm: x reshaped N×G×(C/G)×S, axes
(2, 3)).  With M the number of entries each statistic averages:

    μ = Σ x / M,  x̃ = x − μ,  σ² = Σ x̃² / M (biased),  σ = √(σ² + ε),  x̂ = x̃/σ,
    y = γ·x̂ + β

``weight`` γ and ``bias`` β (or None: no affine map) are given in a shape that broadcasts
against x (batch norm 2d: 1×C×1×1); their gradients sum over the axes where that shape is 1.
The statistics have x's shape with the ``axes`` kept as 1.  Given ``mean`` and ``var`` (batch
norm's evaluation mode, its running statistics), the op is the affine map with them as
constants.

Exactness: the mean, x̃ and σ² are rational and run exactly on the exact values; σ is
exact only when every σ² + ε is the square of a rational (√(25/16) = 5/4), else it and
what follows it (x̂, y, the gradients of x and γ) are float64.  ∂L/∂β = Σ ∂L/∂y stays exact
either way.  Declared PIECEWISE with its own ``exact_forward``: that decision is made on the
exact values, where the adapter runs the op exactly.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.ops import Cache, Exactness, Op, Params
from gradcalc.core.ops import normalization_kernel as compiled
from gradcalc.core.ops import normalization_rows as rows
from gradcalc.core.values import to_float


def exact_sqrt(value: Fraction | int) -> Fraction | None:
    """√value as a Fraction when value is the square of a rational, else None."""
    value = Fraction(value)
    if value < 0:
        return None
    top, bottom = math.isqrt(value.numerator), math.isqrt(value.denominator)
    if top * top == value.numerator and bottom * bottom == value.denominator:
        return Fraction(top, bottom)
    return None


def count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    """M: how many entries of an array of ``shape`` each statistic over ``axes`` averages."""
    return math.prod(shape[a] for a in axes)


def reduce_axes(x_shape: tuple[int, ...], param_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes a parameter of broadcast shape ``param_shape`` (same ndim as x) is summed over."""
    return tuple(a for a, size in enumerate(param_shape) if size == 1 and x_shape[a] != 1)


def statistics(x: np.ndarray, axes: tuple[int, ...]) -> tuple[Any, Any, Any]:
    """(μ, x̃, σ²) over ``axes``: μ and σ² keep the axes as 1; float or exact alike."""
    m: Any = count(x.shape, axes)
    if x.dtype == object:
        m = Fraction(m)  # exact values: ints / int would be a float
    mean = x.sum(axis=axes, keepdims=True) / m
    centred = x - mean
    var = (centred * centred).sum(axis=axes, keepdims=True) / m
    return mean, centred, var


def _affine(x_hat: np.ndarray, params: Params) -> np.ndarray:
    """y = γ·x̂ + β (x̂ itself without an affine map)."""
    weight, bias = params.get("weight"), params.get("bias")
    y = x_hat if weight is None else x_hat * weight
    return y if bias is None else y + bias


def _cache(x_shape, params, mean, centred, var, sigma, x_hat, sigma_exact) -> dict[str, Any]:
    axes = params["axes"]
    weight = params.get("weight")
    return {
        "axes": axes,
        "count": count(x_shape, axes),
        "frozen": params.get("mean") is not None,
        "mean": mean,
        "centred": centred,
        "var": var,
        "sigma": sigma,
        "x_hat": x_hat,
        "weight": weight,
        "has_bias": params.get("bias") is not None,
        "param_axes": reduce_axes(
            x_shape, weight.shape if weight is not None else (1,) * len(x_shape)
        ),
        "sigma_exact": sigma_exact,
    }


def _moments(x: np.ndarray, params: Params) -> tuple[Any, Any, Any]:
    """(μ, x̃, σ²): the batch's, or the given ones (evaluation mode)."""
    if params.get("mean") is None:
        return statistics(x, params["axes"])
    mean, var = params["mean"], params["var"]
    return mean, x - mean, var


def axis_sum(a: np.ndarray, axes: tuple[int, ...], b: np.ndarray | None = None) -> np.ndarray:
    """Σ over ``axes`` of a (or of a·b, both x's shape), keeping the axes as 1: by einsum for
    floats (no temporary array, a few passes fewer over memory), else NumPy's sum."""
    if a.dtype == object or (b is not None and b.dtype == object):
        return (a if b is None else a * b).sum(axis=axes, keepdims=True)
    letters = "abcdefghijklmnop"[: a.ndim]
    kept = "".join(letter for axis, letter in enumerate(letters) if axis not in axes)
    if b is None:
        summed = np.einsum(f"{letters}->{kept}", a)
    else:
        summed = np.einsum(f"{letters},{letters}->{kept}", a, b)
    return summed.reshape(tuple(1 if axis in axes else n for axis, n in enumerate(a.shape)))


def x_hat_of(cache: Cache) -> np.ndarray:
    """x̂ (x's shape): kept by the forward pass, or computed once on first request after
    the compiled kernel's forward (core/ops/normalization_kernel.py), which does not keep it."""
    if cache.get("x_hat") is None:
        cache["x_hat"] = compiled.x_hat(cache)
    return cache["x_hat"]


def centred_of(cache: Cache) -> np.ndarray:
    """x̃ = x − μ: kept by an exact run, computed again from x and μ after a float64 one (which
    overwrites it with x̂ to spare a pass over memory)."""
    if cache.get("centred") is not None:
        return cache["centred"]
    return cache["input"] - cache["mean"]


def forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """float64: x (any shape), params ``axes``, ``eps``, ``weight``/``bias`` (broadcast shape
    or None), ``mean``/``var`` (evaluation mode, else None) -> y (x's shape), cache.

    Large arrays of batch, layer and group norm's layouts run in the compiled kernel
    (core/ops/normalization_kernel.py) where it is built.  The NumPy paths are written for
    speed at scale (memory passes, not arithmetic, bound it): the sums by einsum, x̂ computed
    in x̃'s buffer, y = γ·x̂ + β in place."""
    found = compiled.layout(x, params)
    if found is not None:
        return _kernel_forward(found, x, params)
    axes = params["axes"]
    weight = params.get("weight")
    shape = None if weight is None else weight.shape
    if params.get("mean") is None and rows.fits(x.shape, axes, shape):
        return _rows_forward(x, params)
    if params.get("mean") is None and rows.fits_channels(x.shape, axes, shape):
        return _channels_forward(x, params)
    if params.get("mean") is None:
        m = count(x.shape, axes)
        mean = axis_sum(x, axes) / m
        work = x - mean
        var = axis_sum(work, axes, work) / m
    else:
        mean, var = params["mean"], params["var"]
        work = x - mean
    sigma = np.sqrt(var + params["eps"])
    np.multiply(work, 1 / sigma, out=work)  # x̃ becomes x̂
    weight, bias = params.get("weight"), params.get("bias")
    y = work.copy() if weight is None else work * weight
    if bias is not None:
        y += bias
    cache = _cache(x.shape, params, mean, None, var, sigma, work, False)
    cache["input"] = x
    return y, cache


def _kernel_forward(
    found: tuple[Any, ...], x: np.ndarray, params: Params
) -> tuple[np.ndarray, Cache]:
    """forward by the compiled kernel (core/ops/normalization_kernel.py): x̂ is not kept
    but computed on request (x_hat_of)."""
    y, mean, var = compiled.forward(found, x, params)
    if params.get("mean") is None:
        keep = tuple(1 if axis in params["axes"] else n for axis, n in enumerate(x.shape))
        mean, var = mean.reshape(keep), var.reshape(keep)
    else:
        mean, var = params["mean"], params["var"]
    sigma = np.sqrt(var + params["eps"])
    cache = _cache(x.shape, params, mean, None, var, sigma, None, False)
    cache.update({"input": x, "kernel": found, "eps": params["eps"]})
    return y.reshape(x.shape), cache


def _rows_forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """forward for layer norm's layout (core/ops/normalization_rows.py): x as R×M rows."""
    axes = params["axes"]
    lead = x.ndim - len(axes)
    width = count(x.shape, axes)
    weight, bias = params.get("weight"), params.get("bias")
    y, x_hat, mean, var, sigma = rows.rows_forward(
        x.reshape(-1, width),
        None if weight is None else weight.reshape(width),
        None if bias is None else bias.reshape(width),
        params["eps"],
    )
    keep = x.shape[:lead] + (1,) * len(axes)
    return _blocked_result(x, params, (y, x_hat, mean, var, sigma), keep, "rows")


def _channels_forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """forward for batch norm 2d's layout (core/ops/normalization_rows.py): x as N·C rows."""
    channels = x.shape[1]
    weight, bias = params.get("weight"), params.get("bias")
    y, x_hat, mean, var, sigma = rows.channels_forward(
        x.reshape(x.shape[0] * channels, -1),
        channels,
        None if weight is None else weight.reshape(channels),
        None if bias is None else bias.reshape(channels),
        params["eps"],
    )
    keep = (1, channels) + (1,) * (x.ndim - 2)
    return _blocked_result(x, params, (y, x_hat, mean, var, sigma), keep, "channels")


def _blocked_result(
    x: np.ndarray, params: Params, found: tuple[np.ndarray, ...], keep: tuple[int, ...], path: str
) -> tuple[np.ndarray, Cache]:
    """y in x's shape and the cache, from a blocked forward's (y, x̂, μ, σ², σ): μ, σ², σ
    reshaped to ``keep`` (x's shape with the averaged axes as 1); ``path`` (rows, channels)
    tells backward which blocked backward follows."""
    y, x_hat, mean, var, sigma = found
    stats = (mean.reshape(keep), None, var.reshape(keep), sigma.reshape(keep))
    cache = _cache(x.shape, params, *stats, x_hat.reshape(x.shape), False)
    cache.update({"input": x, path: True})
    return y.reshape(x.shape), cache


def exact_forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """Exact values (object arrays) in: μ, x̃, σ² exact; σ, x̂ and y exact when every
    σ² + ε is a perfect square of a rational, else float64 from σ on."""
    mean, centred, var = _moments(x, params)
    shifted = var + params["eps"]
    roots = [exact_sqrt(v) for v in shifted.ravel().tolist()]
    if all(root is not None for root in roots):
        sigma = np.array(roots, dtype=object).reshape(shifted.shape)
        x_hat = centred / sigma
        y = _affine(x_hat, params)
        return y, _cache(x.shape, params, mean, centred, var, sigma, x_hat, True)
    sigma = np.sqrt(to_float(shifted))
    x_hat = to_float(centred) / sigma
    floats = {k: to_float(v) for k, v in params.items() if isinstance(v, np.ndarray)}
    y = _affine(x_hat, {**params, **floats})
    return y, _cache(x.shape, params, mean, centred, var, sigma, x_hat, False)


def _count(cache: Cache, values: np.ndarray) -> Any:
    """M, as a Fraction for exact values (so that ints divided by it stay exact)."""
    return Fraction(cache["count"]) if values.dtype == object else cache["count"]


def _parameter_sum(values: np.ndarray, cache: Cache, other: np.ndarray | None = None) -> np.ndarray:
    """Σ over the parameter's broadcast axes of values (or values·other), in the parameter's
    broadcast shape."""
    return axis_sum(values, cache["param_axes"], other)


def _float_backward(
    grad_y: np.ndarray, cache: Cache, bias_sum: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """backward's "weight" and "input" in float64, with as few passes over memory as it can:
    ∂L/∂x = ∂L/∂x̂/σ − x̂·(Σ ∂L/∂x̂·x̂)/(M·σ) − (Σ ∂L/∂x̂)/(M·σ).  When γ is constant over each
    group (batch norm), Σ ∂L/∂x̂ = γ·∂L/∂β and Σ ∂L/∂x̂·x̂ = γ·∂L/∂γ need no pass of their own
    (``bias_sum``: ∂L/∂β as backward summed it from this ``grad_y``, the same sum)."""
    x_hat, inverse = cache["x_hat"], 1 / cache["sigma"]
    axes, m = cache["axes"], cache["count"]
    weight = cache["weight"]
    if weight is not None and weight.dtype == object:
        weight = to_float(weight)
    grads: dict[str, np.ndarray] = {}
    projected_y = None
    if weight is not None:
        projected_y = _parameter_sum(grad_y, cache, x_hat)
        grads["weight"] = projected_y
    if cache["frozen"]:
        scale = inverse if weight is None else weight * inverse
        grads["input"] = grad_y * scale
        return grads
    if weight is not None and set(cache["param_axes"]) == set(axes):
        same_sum = bias_sum is not None and tuple(cache["param_axes"]) == tuple(axes)
        total = weight * (bias_sum if same_sum else axis_sum(grad_y, axes))
        projected = weight * projected_y
        grad = np.empty_like(grad_y)
        scale = weight * inverse
    else:
        g_hat = grad_y if weight is None else grad_y * weight
        total = axis_sum(g_hat, axes)
        projected = axis_sum(g_hat, axes, x_hat)
        grad = g_hat * inverse if weight is None else np.multiply(g_hat, inverse, out=g_hat)
        scale = None
    slope, shift = projected * inverse / m, total * inverse / m
    blocks = _blocks(grad.shape)
    scratch = np.empty_like(grad[blocks[0]]) if blocks else None  # x̂·slope, reused by blocks
    for block in blocks:
        # grad_y·scale (batch norm), − x̂·slope, − shift: the whole-array steps, a block at
        # a time so that the block's temporaries stay in the CPU cache (the same values).
        part = grad[block]
        if scale is not None:
            np.multiply(grad_y[block], _rows(scale, block), out=part)
        part -= np.multiply(x_hat[block], _rows(slope, block), out=scratch[: len(part)])
        part -= _rows(shift, block)
    return {**grads, "input": grad}


def _blocks(shape: tuple[int, ...]) -> list[slice]:
    """Slices of axis 0 of about 2^15 entries each (at least one row each)."""
    row = math.prod(shape[1:]) or 1
    step = max(1, (1 << 15) // row)
    return [slice(start, start + step) for start in range(0, shape[0], step)] if shape else []


def _rows(values: np.ndarray, block: slice) -> np.ndarray:
    """A statistic (x's shape, axes kept as 1) for the rows ``block`` of x."""
    return values if values.shape[0] == 1 else values[block]


def _floats(grad_y: np.ndarray, cache: Cache) -> np.ndarray:
    """∂L/∂y as the gradient of x must take it: float64 when σ is."""
    if cache["sigma_exact"] or grad_y.dtype != object:
        return grad_y
    return to_float(grad_y)


def _grad_x_hat(grad_y: np.ndarray, cache: Cache) -> np.ndarray:
    """∂L/∂x̂ = ∂L/∂y·γ (∂L/∂y itself without an affine map)."""
    weight = cache["weight"]
    if weight is None:
        return grad_y
    if weight.dtype == object and grad_y.dtype != object:
        weight = to_float(weight)
    return grad_y * weight


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: x's shape -> {"input": ∂L/∂x by the compact form, "weight", "bias" (the
    parameters' broadcast shapes, when they exist)}.

    ∂L/∂x = (1/(M·σ))·(M·∂L/∂x̂ − Σ ∂L/∂x̂ − x̂·Σ(∂L/∂x̂·x̂)), sums over the statistic's
    axes; with given statistics (evaluation mode), ∂L/∂x = ∂L/∂x̂/σ.
    """
    if cache.get("kernel"):
        param_shape = cache["kernel"][3]
        return _blocked_grads(cache, param_shape, *compiled.backward(grad_y, cache))
    if cache.get("rows"):
        return _rows_backward(grad_y, cache)
    if cache.get("channels"):
        return _channels_backward(grad_y, cache)
    grads: dict[str, np.ndarray] = {}
    if cache["has_bias"]:
        grads["bias"] = _parameter_sum(grad_y, cache)
    rational = None if cache["frozen"] else _rational_input_grad(grad_y, cache)
    rational_weight = _rational_weight_grad(grad_y, cache)
    bias_sum = grads.get("bias") if grad_y.dtype == float else None
    grad_y = _floats(grad_y, cache)
    if not cache["sigma_exact"]:
        grads.update(_float_backward(grad_y, cache, bias_sum))
        if rational is not None:
            grads["input"] = rational
        if rational_weight is not None:
            grads["weight"] = rational_weight
        return grads
    x_hat, sigma = cache["x_hat"], cache["sigma"]
    if cache["weight"] is not None:
        grads["weight"] = _parameter_sum(grad_y * x_hat, cache)
    g_hat = _grad_x_hat(grad_y, cache)
    if cache["frozen"]:
        grads["input"] = g_hat / sigma
        return grads
    axes, m = cache["axes"], _count(cache, g_hat)
    total = g_hat.sum(axis=axes, keepdims=True)
    projected = (g_hat * x_hat).sum(axis=axes, keepdims=True)
    grads["input"] = (g_hat * m - total - x_hat * projected) / (sigma * m)
    return grads


def _rows_backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """backward after _rows_forward: core/ops/normalization_rows.py rows_backward."""
    x_hat, weight = cache["x_hat"], cache["weight"]
    width = cache["count"]
    grad, grad_weight, grad_bias = rows.rows_backward(
        np.asarray(grad_y, dtype=float).reshape(-1, width),
        x_hat.reshape(-1, width),
        cache["sigma"].reshape(-1, 1),
        None if weight is None else np.asarray(weight, dtype=float).reshape(width),
    )
    param_shape = (1,) * (x_hat.ndim - len(cache["axes"])) + x_hat.shape[
        x_hat.ndim - len(cache["axes"]) :
    ]
    return _blocked_grads(cache, param_shape, grad, grad_weight, grad_bias)


def _channels_backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """backward after _channels_forward: core/ops/normalization_rows.py channels_backward."""
    x_hat, weight = cache["x_hat"], cache["weight"]
    keep = cache["sigma"].shape
    channels = keep[1]
    rows_of = (x_hat.shape[0] * channels, -1)  # N·C rows of H·W
    grad, grad_weight, grad_bias = rows.channels_backward(
        np.asarray(grad_y, dtype=float).reshape(rows_of),
        x_hat.reshape(rows_of),
        cache["sigma"].reshape(channels),
        None if weight is None else np.asarray(weight, dtype=float).reshape(channels),
    )
    return _blocked_grads(cache, keep, grad, grad_weight, grad_bias)


def _blocked_grads(
    cache: Cache,
    param_shape: tuple[int, ...],
    grad: np.ndarray,
    grad_weight: np.ndarray | None,
    grad_bias: np.ndarray,
) -> dict[str, np.ndarray]:
    """backward's dict from a blocked or compiled backward's ∂L/∂x, ∂L/∂γ and ∂L/∂β: these
    two in the parameters' broadcast ``param_shape``, each when the parameter exists."""
    grads = {"input": grad.reshape(cache["input"].shape)}
    if cache["weight"] is not None:
        grads["weight"] = grad_weight.reshape(param_shape)
    if cache["has_bias"]:
        grads["bias"] = grad_bias.reshape(param_shape)
    return grads


def staged_backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """The backward pass node by node along the graph x → μ → x̃ → σ² → σ → x̂ → y:
    {"x_hat": ∂L/∂x̂, "sigma": ∂L/∂σ, "var": ∂L/∂σ², "centred": ∂L/∂x̃, "mean": ∂L/∂μ,
    "input": ∂L/∂x, and the compact form's sums "total": Σ ∂L/∂x̂, "projected":
    Σ ∂L/∂x̂·x̂}, the statistics' gradients and the sums in their keepdims shape.

    ∂L/∂σ = Σ ∂L/∂x̂·(−x̃/σ²); ∂L/∂σ² = ∂L/∂σ/(2σ); ∂L/∂x̃ = ∂L/∂x̂/σ + ∂L/∂σ²·2x̃/M;
    ∂L/∂μ = −Σ ∂L/∂x̃; ∂L/∂x = ∂L/∂x̃ + ∂L/∂μ/M.  (Given statistics: ∂L/∂x = ∂L/∂x̂/σ.)
    """
    exact = _exact_projection(grad_y, cache)
    rational = None if cache["frozen"] else _rational_input_grad(grad_y, cache)
    grad_y = _floats(grad_y, cache)
    g_hat = _grad_x_hat(grad_y, cache)
    sigma, centred = cache["sigma"], centred_of(cache)
    if not cache["sigma_exact"] and centred.dtype == object:
        centred = to_float(centred)
    if cache["frozen"]:
        return {"x_hat": g_hat, "input": g_hat / sigma}
    axes, m = cache["axes"], _count(cache, g_hat)
    # Σ ∂L/∂x̂·(−x̃) exactly when both are rational (the steps show it as a sum of fractions,
    # which may be exactly 0), and only then divided by the float64 σ².
    projection = (g_hat * -centred).sum(axis=axes, keepdims=True) if exact is None else exact
    g_sigma = projection / (sigma * sigma)
    g_var = g_sigma / (2 * sigma)
    g_centred = g_hat / sigma + g_var * 2 * centred / m
    g_mean = -g_centred.sum(axis=axes, keepdims=True)
    # Σ ∂L/∂x̂·x̂ = (Σ ∂L/∂x̂·x̃)/σ: from the exact sum when there is one (0 stays 0).
    projected = (
        (g_hat * x_hat_of(cache)).sum(axis=axes, keepdims=True)
        if exact is None
        else (-exact / sigma)
    )
    return {
        "total": g_hat.sum(axis=axes, keepdims=True),
        "projected": projected,
        "x_hat": g_hat,
        "sigma": g_sigma,
        "var": g_var,
        "centred": g_centred,
        "mean": g_mean,
        # The staged sum's last step gives the compact form's value, to the digits shown.
        "input": g_centred + g_mean / m if rational is None else rational,
    }


def _rational_input_grad(grad_y: np.ndarray, cache: Cache) -> np.ndarray | None:
    """∂L/∂x when ∂L/∂y, γ and x̃ are rational and only σ is not (an exact run whose σ² + ε
    is no square): (M·∂L/∂x̂ − S)/(M·σ) − x̃·Q/(M·σ³) with S = Σ ∂L/∂x̂ and Q = Σ ∂L/∂x̂·x̃
    summed exactly, so that a gradient that is exactly 0 (an upstream of ones) comes out 0,
    not float64's ±1e-16 of the form with x̂ (whose steps would then be false).  None when
    σ is exact or the values are not rational (a --float run: the float form as it was)."""
    if cache["sigma_exact"] or grad_y.dtype != object:
        return None  # decided before centred_of, which costs a pass over x in a float run
    weight, centred = cache["weight"], centred_of(cache)
    if centred.dtype != object or (weight is not None and weight.dtype != object):
        return None
    axes, count = cache["axes"], cache["count"]
    g_hat = _grad_x_hat(grad_y, cache)
    total = g_hat.sum(axis=axes, keepdims=True)
    projection = (g_hat * centred).sum(axis=axes, keepdims=True)
    sigma = np.asarray(cache["sigma"], dtype=float)
    first = to_float(np.asarray(g_hat * Fraction(count) - total, dtype=object))
    second = to_float(centred) * to_float(np.asarray(projection, dtype=object))
    return first / (count * sigma) - second / (count * sigma**3)


def _rational_weight_grad(grad_y: np.ndarray, cache: Cache) -> np.ndarray | None:
    """∂L/∂γ = Σ ∂L/∂y·x̂ as (Σ ∂L/∂y·x̃)/σ, the sum taken exactly, when ∂L/∂y and x̃ are
    rational, σ is not, and σ is one number over each sum (batch norm: the sum runs over the
    statistic's own axes), so that a sum that is exactly 0 comes out 0.  None otherwise
    (σ exact, floats, no γ, or γ shared across groups with different σ)."""
    centred = cache.get("centred")
    if cache["weight"] is None or cache["sigma_exact"] or centred is None:
        return None
    if grad_y.dtype != object or centred.dtype != object:
        return None
    if not set(cache["param_axes"]) <= set(cache["axes"]):
        return None
    exact = _parameter_sum(grad_y, cache, centred)
    return exact.astype(float) / np.asarray(cache["sigma"], dtype=float)


def _exact_projection(grad_y: np.ndarray, cache: Cache) -> np.ndarray | None:
    """Σ ∂L/∂x̂·(−x̃) over the statistic's axes in exact arithmetic, as float64 (None when
    σ is exact, or ∂L/∂y, γ or x̃ is not rational)."""
    if cache["sigma_exact"] or grad_y.dtype != object:
        return None  # decided before centred_of, which costs a pass over x in a float run
    weight, centred = cache["weight"], centred_of(cache)
    if centred.dtype != object or (weight is not None and weight.dtype != object):
        return None
    exact = (_grad_x_hat(grad_y, cache) * -centred).sum(axis=cache["axes"], keepdims=True)
    return to_float(np.asarray(exact, dtype=object))


def running_update(
    running: Any, batch: Any, momentum: Any, *, unbiased_from: int | None = None
) -> Any:
    """PyTorch's running statistic update, (1 − momentum)·running + momentum·batch; with
    ``unbiased_from`` M, the batch variance is made unbiased first: σ²·M/(M − 1)."""
    if unbiased_from is not None:
        batch = batch * Fraction(unbiased_from, unbiased_from - 1)
    return running * (1 - momentum) + batch * momentum


NORMALIZE = Op(
    name="normalize",
    exactness=Exactness.PIECEWISE,
    forward=forward,
    backward=backward,
    exact_forward=exact_forward,
)
