"""Pooling ops (PyTorch's MaxPool2d, AvgPool2d, LPPool2d) over precomputed windows.

Arrays are NCHW: input ``x`` N×C×H×W, output ``y`` N×C×H_out×W_out.  A window's taps
lie on one last axis of T = kh·kw entries in row-major order, so "window arrays" are
N×C×H_out×W_out×T; the kind computes where each tap lands (``layout``: a
:class:`~gradcalc.core.ops.pool_geometry.TapLayout`) and passes it in the params with the geometry.

Backward is the same for every mode once each tap's local derivative ∂y/∂x (its
*weight*) is known: ∂L/∂x = Σ over the windows that read a cell of ∂L/∂y·weight, so
overlapping windows add up.  Max routes to the maximum (weights 1, or 1/k between k
tied maxima, by the tie policy), avg divides by the window's divisor, LP uses
scale·(x/y)^(p−1).  LP scales a window by its largest |x| where x^p would underflow or
overflow float64 (:func:`power_sums`).

Max and avg are positively homogeneous in x and linear in ∂L/∂y, with integer weights
over one common denominator: the adapter runs them on integers (x and ∂L/∂y scaled by
their common denominators) and divides once.  On integers they return numerators: y
over ``cache["y_denominator"]``, ∂L/∂x over ``cache["denominator"]`` (times the
scaling).  LP is float64.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core.float_source import holds_negative_zero
from gradcalc.core.ops import Cache, Exactness, Op, Params, fused

if TYPE_CHECKING:
    from gradcalc.core.ops.pool_geometry import PoolGeometry, TapLayout

_INT64_SAFE = 2**62
# A window is scaled by its largest |x| where that entry's p-th power lies outside
# [_SCALED_BELOW, _SCALED_ABOVE]: below the smallest normal float64 the powers lose
# digits or vanish; above, the sum of kh·kw of them (times a clipped window's scale,
# at most kh·kw) could overflow for any window of fewer than 2^25 taps.
_SCALED_BELOW = float(np.finfo(float).tiny)
_SCALED_ABOVE = 2.0**974


def gather_windows(x: np.ndarray, layout: TapLayout, fill: Any) -> np.ndarray:
    """x: N×C×H×W -> N×C×H_out×W_out×T, each tap's input value (``fill`` where it is not REAL)."""
    flat = x.reshape(*x.shape[:2], -1)
    values = flat[:, :, np.maximum(layout.positions, 0)]
    if layout.real.all():  # every tap on the input (no padding, no ceil_mode overhang)
        return values
    return np.where(layout.real, values, fill)


def tiles(g: PoolGeometry) -> bool:
    """Whether the windows tile the input: stride = kernel, no dilation or padding, and
    H = H_out·kh, W = W_out·kw, so that each cell lies under exactly one tap."""
    return (
        g.stride == (g.kernel_h, g.kernel_w)
        and g.dilation == (1, 1)
        and g.padding == (0, 0)
        and (g.in_h, g.in_w) == (g.out_h * g.kernel_h, g.out_w * g.kernel_w)
    )


def untile_windows(values: np.ndarray, g: PoolGeometry) -> np.ndarray:
    """scatter_windows of float64 tap values where the windows tile the input: each cell
    takes its one tap's value, plus the 0.0 scatter_windows adds it to (−0.0 becomes 0)."""
    taps = values.reshape(g.batch, g.channels, g.out_h, g.out_w, g.kernel_h, g.kernel_w)
    grid = taps.transpose(0, 1, 2, 4, 3, 5).reshape(g.batch, g.channels, g.in_h, g.in_w)
    grid += 0.0
    return grid


def scatter_windows(values: np.ndarray, g: PoolGeometry) -> np.ndarray:
    """Add N×C×H_out×W_out×T tap values back onto the cells they read -> N×C×H×W.

    Overlapping windows add up; taps on padding or past the edge are dropped.
    One vectorized add per tap (kh·kw of them), not per element.
    """
    sh, sw = g.stride
    dh, dw = g.dilation
    ph, pw = g.padding
    grid_h = max(g.in_h + 2 * ph, (g.out_h - 1) * sh + g.span_h)
    grid_w = max(g.in_w + 2 * pw, (g.out_w - 1) * sw + g.span_w)
    grid = np.zeros((g.batch, g.channels, grid_h, grid_w), dtype=values.dtype)
    if grid.dtype == object:
        grid.fill(0)
    taps = values.reshape(*values.shape[:4], g.kernel_h, g.kernel_w)
    rows_end = sh * (g.out_h - 1) + 1
    cols_end = sw * (g.out_w - 1) + 1
    for m in range(g.kernel_h):
        for q in range(g.kernel_w):
            grid[:, :, m * dh : m * dh + rows_end : sh, q * dw : q * dw + cols_end : sw] += taps[
                ..., m, q
            ]
    return grid[:, :, ph : ph + g.in_h, pw : pw + g.in_w]


def max_pool(windows: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max over each window.

    windows: N×C×H_out×W_out×T with non-REAL taps filled below every input value;
    real: H_out×W_out×T.  Returns (maximum N×C×H_out×W_out, tied N×C×H_out×W_out×T:
    the taps equal to the maximum, first N×C×H_out×W_out: the first of them in
    row-major order, which is PyTorch's choice).
    """
    maximum = windows.max(axis=-1)
    tied = np.asarray(windows == maximum[..., None], dtype=bool) & real
    return maximum, tied, tied.argmax(axis=-1)


def tie_weights(tied: np.ndarray, first: np.ndarray, policy: str) -> tuple[np.ndarray, int]:
    """Integer weights and their common denominator: ∂y/∂x of each tap = weight/denominator.

    first: 1 at the first maximum; all: 1 at every maximum; split: 1/k at each of k maxima;
    last (no spec's rule: a student's slip that gradcalc check names in a net): 1 at the
    last maximum in row-major order.
    """
    if policy == "first":
        return (np.arange(tied.shape[-1]) == first[..., None]).astype(np.int64), 1
    if policy == "last":
        last = tied.shape[-1] - 1 - tied[..., ::-1].argmax(axis=-1)
        return (np.arange(tied.shape[-1]) == last[..., None]).astype(np.int64), 1
    if policy == "all":
        return tied.astype(np.int64), 1
    counts = tied.sum(axis=-1)
    # a set, not np.unique: np.unique imports numpy.ma (10 ms of start-up)
    denominator = math.lcm(*set(counts.ravel().tolist()))
    shares = denominator // counts
    if denominator >= _INT64_SAFE:
        shares = shares.astype(object)
    return tied * shares[..., None], denominator


def avg_weights(real: np.ndarray, divisors: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer weights over a common denominator: 1/divisor on each input cell of a window."""
    denominator = math.lcm(*set(np.asarray(divisors).ravel().tolist()))
    shares = denominator // divisors
    if denominator >= _INT64_SAFE:
        shares = shares.astype(object)
    weights = real * shares[..., None]
    return weights.reshape(1, 1, *weights.shape), denominator


def power_sums(
    windows: np.ndarray, real: np.ndarray, p: float, scale: Any = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Σ x^p over each window's REAL taps: (sums, unit), both N×C×H_out×W_out.

    Where x^p would leave float64's normal range the sum is taken of (x/m)^p
    instead, m the window's largest |x|, and ``unit`` is m there (1 elsewhere):
    the sum times unit^p is Σ x^p.  That is where the largest term m^p
    underflows below the smallest normal number (1e-170 squared is 0, so the
    window's norm would be 0) or is so large that the sum, times the clipped
    window's ``scale`` (H_out×W_out), could overflow.  p = 1 cannot underflow:
    x^1 is x.  Everywhere else the plain powers are summed, as PyTorch does,
    which keeps its exact zeros (odd powers that cancel) and its last bits.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        sums = (windows**p * real).sum(axis=-1)
    largest = np.abs(windows).max(axis=-1, initial=0.0)
    with np.errstate(over="ignore", under="ignore"):
        top = largest**p
    unsafe = ~np.isfinite(sums) | (top > _SCALED_ABOVE)
    if p != 1:
        unsafe |= (largest > 0) & (top < _SCALED_BELOW)
    unit = np.ones(sums.shape)
    if unsafe.any():
        unit = np.where(unsafe, largest, 1.0)
        with np.errstate(under="ignore"):
            relative = ((windows / unit[..., None]) ** p * real).sum(axis=-1)
        sums = np.where(unsafe, relative, sums)
    return sums, np.broadcast_to(unit, np.broadcast(sums, scale).shape).copy()


def lp_pool(
    windows: np.ndarray, real: np.ndarray, p: float, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LP pooling in float64, as PyTorch computes it where float64 can.

    windows: N×C×H_out×W_out×T floats (0 where not REAL); scale: H_out×W_out,
    kh·kw/(cells inside the window) (1 unless ceil_mode clips the window; see
    :func:`lp_scales`).  y = (scale·Σ x^p)^(1/p); ∂y/∂x = scale·(x/y)^(p−1), and
    0 where Σ x^p = 0 (PyTorch's rule).  A window whose x^p would underflow or
    overflow (see :func:`power_sums`) is scaled by its largest |x|, m:
    y = m·(scale·Σ (x/m)^p)^(1/p), and ∂y/∂x = scale·(x/y)^(p−1) needs no
    scaling (x/y is at most scale^(1/p)).  PyTorch computes Σ x^p as it is and
    gives 0 or inf there.
    Returns (y N×C×H_out×W_out, weights N×C×H_out×W_out×T, unit N×C×H_out×W_out:
    m where the window was scaled, else 1).
    """
    sums, unit = power_sums(windows, real, p, scale)
    total = sums * scale
    nonzero = total != 0
    if p == 1:
        output = total * unit
    else:
        output = unit * np.where(total > 0, total, 0.0) ** (1.0 / p)
    ratio = windows / np.where(nonzero, output, 1.0)[..., None]
    with np.errstate(under="ignore"):
        weights = np.where(nonzero[..., None] & real, scale[..., None] * ratio ** (p - 1), 0.0)
    return np.where(nonzero, output, 0.0), weights, unit


def _widen(values: np.ndarray, bound: int) -> np.ndarray:
    """Python ints when a product could reach ``bound`` ≥ 2^62 (exact, slower), else as is."""
    return values.astype(object) if bound >= _INT64_SAFE else values


def _largest(values: np.ndarray) -> int:
    """max |entry| of an integer array, as a Python int (0 when empty); 2^62 for polynomials
    (a symbolic run, core/symbolic.py): they have no bound, and stay Python objects."""
    try:
        return int(np.max(np.abs(values), initial=0))
    except TypeError:
        return _INT64_SAFE


def _is_float(values: np.ndarray) -> bool:
    return values.dtype == float


def max_forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: N×C×H×W (float64, or integers) -> y: N×C×H_out×W_out, the max of each window.

    params: ``geometry``, ``layout``, ``ties`` (first, all or split), and optionally
    ``routes_only`` (a net's numeric path, which reads nothing but the gradients).  The
    cache holds ``weights`` (integers, N×C×H_out×W_out×T) over ``denominator``, ``tied``
    (N×C×H_out×W_out×T) and ``first`` (N×C×H_out×W_out); with ``routes_only`` on float64
    under ties first, ``weights`` and ``tied`` are None: ∂L/∂y goes to ``first``.
    """
    g, layout, policy = params["geometry"], params["layout"], params["ties"]
    routes_only = params.get("routes_only") and policy == "first" and _is_float(x)
    if _is_float(x) and tiles(g):  # every tap is on the input: all REAL
        maximum, tied, first = tiled_max(x, g, keep_ties=not routes_only)
    else:
        # Taps off the input must lose to every value: −∞, or one below the smallest integer.
        fill = -np.inf if _is_float(x) else x.min() - 1
        maximum, tied, first = max_pool(gather_windows(x, layout, fill), layout.real)
    if routes_only:
        return maximum, _max_cache(g, None, 1, None, first)
    weights, denominator = tie_weights(tied, first, policy)
    return maximum, _max_cache(g, weights, denominator, tied, first)


def _max_cache(g: PoolGeometry, weights: Any, denominator: int, tied: Any, first: Any) -> Cache:
    return {
        "geometry": g,
        "weights": weights,
        "denominator": denominator,
        "y_denominator": 1,
        "tied": tied,
        "first": first,
    }


def tiled_max(
    x: np.ndarray, g: PoolGeometry, keep_ties: bool = True
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """max_pool of float64 x (N×C×H×W) where the windows tile it, without gathering the
    N×C×H_out×W_out×T windows: each tap is a strided view of x, and T − 1 elementwise
    maxima give the maximum.  Returns (maximum N×C×H_out×W_out, tied N×C×H_out×W_out×T
    (the taps equal to the maximum; None unless ``keep_ties``), first N×C×H_out×W_out).

    Equal to max_pool bit for bit: the largest of distinct values is one value, whatever
    the order; only a maximum of 0 (0.0 and −0.0 compare equal, and which one a max keeps
    depends on the order) or nan is taken again by max_pool's own reduction of the window.
    """
    # N and C are read off x, as gather_windows does: a net's stacked finite differences
    # pool B points' samples as one batch of B·N.
    batch, channels = x.shape[:2]
    shape = (batch, channels, g.out_h, g.out_w)
    maximum, first = np.empty(shape), np.empty(shape, dtype=np.intp)
    kernel = None if keep_ties else fused.net_kernel(x)
    dims = (batch, channels, g.out_h, g.out_w, g.kernel_h, g.kernel_w)
    # The compiled loop decides every window without a nan or a −0.0 (almost always all).
    if kernel is not None and kernel.max_pool_tiled(np.ascontiguousarray(x), maximum, first, dims):
        return maximum, None, first
    tied = np.empty((*shape, g.taps), dtype=bool) if keep_ties else None
    windows = x.reshape(batch, channels, g.out_h, g.kernel_h, g.out_w, g.kernel_w)
    taps = [windows[:, :, :, m, :, q] for m in range(g.kernel_h) for q in range(g.kernel_w)]
    np.copyto(maximum, taps[0])
    for tap in taps[1:]:
        np.maximum(maximum, tap, out=maximum)
    unsure = np.isnan(maximum)
    if holds_negative_zero(x):  # (a −0.0 is rare: ReLU's output, for one, holds none)
        unsure |= maximum == 0
    if unsure.any():
        n, c, i, j = np.nonzero(unsure)
        gathered = windows[n, c, i, :, j, :].reshape(n.size, g.taps)  # K×T, row-major taps
        maximum[unsure] = gathered.max(axis=-1)
    equal = [
        np.equal(tap, maximum, out=None if tied is None else tied[..., index])
        for index, tap in enumerate(taps)
    ]
    # The first tap equal to the maximum (0 where none is: a nan window), as argmax gives;
    # counted in the smallest integers that hold T − 1 (a mask assignment per tap is slower).
    counted = np.zeros(maximum.shape, dtype=np.min_scalar_type(g.taps - 1))
    for index in range(len(taps) - 1, 0, -1):
        counted *= ~equal[index]
        counted += equal[index] * counted.dtype.type(index)
    counted *= ~equal[0]
    first[...] = counted
    return maximum, tied, first


def avg_forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: N×C×H×W (float64, or integers) -> y: N×C×H_out×W_out, each window's sum / divisor.

    params: ``geometry``, ``layout``, ``divisors`` (H_out×W_out, PyTorch's rule).  The
    cache holds ``weights`` (integers, 1×1×H_out×W_out×T) over ``denominator``.
    """
    g, layout = params["geometry"], params["layout"]
    weights, denominator = avg_weights(layout.real, params["divisors"])
    windows = gather_windows(x, layout, 0)
    if _is_float(x):
        y = (windows * weights).sum(axis=-1) / denominator
    else:
        reach = _largest(x) * int(np.max(weights)) * g.taps
        y = (_widen(windows, reach) * _widen(weights, reach)).sum(axis=-1)
    cache = {
        "geometry": g,
        "weights": weights,
        "denominator": denominator,
        "y_denominator": denominator,
    }
    return y, cache


def lp_forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: N×C×H×W float64 -> y: N×C×H_out×W_out, (scale·Σ x^p)^(1/p) per window.

    params: ``geometry``, ``layout``, ``p``, ``scales`` (H_out×W_out).  The cache holds the
    float ``weights`` (N×C×H_out×W_out×T) over ``denominator`` 1, and ``units``
    (N×C×H_out×W_out): the largest |x| a window was scaled by, 1 where it was not.
    """
    layout = params["layout"]
    output, weights, units = lp_pool(
        gather_windows(x, layout, 0.0), layout.real, params["p"], params["scales"]
    )
    cache = {"geometry": params["geometry"], "weights": weights, "denominator": 1, "units": units}
    return output, cache


def weighted_backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: N×C×H_out×W_out -> {"input": N×C×H×W}, the scatter of ∂L/∂y·weight.

    In float64 too the integer weights are summed first and divided once: with 1/6 and
    1/3 as floats, −1/6 − 1/6 + 1/3 of integer upstreams left 2.8e-17 where the answer
    is 0.  On integers the result is the numerators over ``denominator``.
    """
    g, weights, denominator = cache["geometry"], cache["weights"], cache["denominator"]
    if weights is None:  # max pooling's routes_only cache: all to the first maximum
        return {"input": _routed(grad_y, cache["first"], g)}
    if _is_float(grad_y):
        weighted = grad_y[..., None] * np.asarray(weights, dtype=float)
        grad = untile_windows(weighted, g) if tiles(g) else scatter_windows(weighted, g)
        return {"input": grad / denominator if denominator != 1 else grad}
    # A cell is read by at most one tap of each window, so by at most T windows.
    reach = _largest(grad_y) * _largest(weights) * g.taps
    contributions = _widen(grad_y, reach)[..., None] * _widen(weights, reach)
    return {"input": scatter_windows(contributions, g)}


def _routed(grad_y: np.ndarray, first: np.ndarray, g: PoolGeometry) -> np.ndarray:
    """grad_y (float64, N×C×H_out×W_out) on each window's ``first`` tap, 0 on the others:
    weighted_backward's products grad_y·1.0 and grad_y·0.0 (so nan where grad_y is
    infinite, as there) scattered onto N×C×H×W."""
    if not tiles(g):
        routes = np.arange(g.taps) == first[..., None]
        return scatter_windows(grad_y[..., None] * routes, g)
    grid = np.empty((g.batch, g.channels, g.in_h, g.in_w))
    kernel = fused.net_kernel(grid, grad_y)
    if kernel is not None:  # the same products and + 0.0, in one pass
        dims = (g.batch, g.channels, g.out_h, g.out_w, g.kernel_h, g.kernel_w)
        first = np.ascontiguousarray(first, dtype=np.int64)
        kernel.max_pool_route(np.ascontiguousarray(grad_y), first, grid, dims)
        return grid
    windows = grid.reshape(g.batch, g.channels, g.out_h, g.kernel_h, g.out_w, g.kernel_w)
    for m in range(g.kernel_h):
        for q in range(g.kernel_w):
            np.multiply(grad_y, first == m * g.kernel_w + q, out=windows[:, :, :, m, :, q])
    grid += 0.0  # as untile_windows: −0.0 becomes 0
    return grid


MAX_POOL = Op(
    name="max_pool",
    exactness=Exactness.PIECEWISE,
    forward=max_forward,
    backward=weighted_backward,
    homogeneous=True,
)
AVG_POOL = Op(
    name="avg_pool",
    exactness=Exactness.PIECEWISE,
    forward=avg_forward,
    backward=weighted_backward,
    homogeneous=True,
)
LP_POOL = Op(
    name="lp_pool",
    exactness=Exactness.IRRATIONAL,
    forward=lp_forward,
    backward=weighted_backward,
)
