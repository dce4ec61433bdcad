"""Max pooling's fast path where the windows tile the input (core/ops/pool.py tiled_max) and
its routes_only cache (a net's numeric path): the maximum, the ties, the first maximum and
∂L/∂x are those of the gathered windows (max_pool, tie_weights, weighted_backward), bit for
bit, -0.0 next to 0.0, nan and infinite values included."""

from __future__ import annotations

import numpy as np
import pytest

from gradcalc.core.ops import pool
from gradcalc.core.ops.pool_geometry import PoolGeometry, tap_layout


def geometry(shape: tuple[int, ...], kernel: tuple[int, int]) -> PoolGeometry:
    n, c, h, w = shape
    return PoolGeometry(
        batch=n,
        channels=c,
        in_h=h,
        in_w=w,
        kernel_h=kernel[0],
        kernel_w=kernel[1],
        stride=kernel,
        padding=(0, 0),
        dilation=(1, 1),
        ceil_mode=False,
    )


def gathered(x: np.ndarray, g: PoolGeometry, ties: str, grad_y: np.ndarray) -> dict:
    """The general path: the windows gathered, reduced, weighted and scattered back."""
    layout = tap_layout(g)
    maximum, tied, first = pool.max_pool(pool.gather_windows(x, layout, -np.inf), layout.real)
    weights, denominator = pool.tie_weights(tied, first, ties)
    weighted = grad_y[..., None] * np.asarray(weights, dtype=float)
    grad = pool.scatter_windows(weighted, g)
    grad = grad / denominator if denominator != 1 else grad + 0.0
    return {"y": maximum, "tied": tied, "first": first, "weights": weights, "grad": grad}


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def values(rng: np.random.Generator, shape: tuple[int, ...], variant: str) -> np.ndarray:
    x = rng.integers(-2, 3, shape).astype(float)  # small integers: many ties
    if variant == "signed zeros":
        x[(x == 0) & (rng.random(shape) < 0.5)] = -0.0
    elif variant == "nan and inf":
        x[x == 1] = np.nan
        x[x == 2] = np.inf
        x[x == -2] = -np.inf
    elif variant == "normal":
        x = rng.standard_normal(shape)
    return x


@pytest.mark.parametrize("variant", ["ties", "signed zeros", "nan and inf", "normal"])
@pytest.mark.parametrize("kernel", [(2, 2), (3, 2), (1, 3)])
@pytest.mark.parametrize("ties", ["first", "all", "split"])
def test_tiled_max_pool_is_the_gathered_one(variant: str, kernel: tuple, ties: str) -> None:
    rng = np.random.default_rng(len(variant) + 7 * kernel[0] + kernel[1])
    shape = (3, 2, 6 * kernel[0], 4 * kernel[1])
    x = values(rng, shape, variant)
    g = geometry(shape, kernel)
    assert pool.tiles(g)
    grad_y = rng.integers(-3, 4, (3, 2, g.out_h, g.out_w)).astype(float)
    grad_y[grad_y == 3] = np.inf
    grad_y[grad_y == 0] = -0.0
    with np.errstate(all="ignore"):
        expected = gathered(x, g, ties, grad_y)
    params = {"geometry": g, "layout": tap_layout(g), "ties": ties}
    with np.errstate(all="ignore"):
        y, cache = pool.max_forward(x, params)
        grad = pool.weighted_backward(grad_y, cache)["input"]
        routed_y, routes = pool.max_forward(x, {**params, "routes_only": True})
        routed = pool.weighted_backward(grad_y, routes)["input"]
    assert same_bits(y, expected["y"]) and same_bits(routed_y, expected["y"])
    assert same_bits(cache["tied"], expected["tied"])
    assert same_bits(cache["first"], expected["first"])
    assert same_bits(cache["weights"], expected["weights"])
    assert same_bits(grad, expected["grad"])
    if ties == "first":  # only ties first routes by the first maximum alone
        assert routes["weights"] is None and routes["tied"] is None
        assert same_bits(routes["first"], expected["first"])
    assert same_bits(routed, expected["grad"])


def test_routes_only_off_the_tiling_path() -> None:
    """Overlapping windows (stride 1): routes_only still gives weighted_backward's ∂L/∂x."""
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, (2, 3, 7, 6)).astype(float)
    g = PoolGeometry(
        batch=2,
        channels=3,
        in_h=7,
        in_w=6,
        kernel_h=2,
        kernel_w=3,
        stride=(1, 2),
        padding=(1, 1),
        dilation=(1, 1),
        ceil_mode=True,
    )
    grad_y = rng.standard_normal((2, 3, g.out_h, g.out_w))
    params = {"geometry": g, "layout": tap_layout(g), "ties": "first"}
    y, cache = pool.max_forward(x, params)
    routed_y, routes = pool.max_forward(x, {**params, "routes_only": True})
    assert routes["weights"] is None
    assert same_bits(y, routed_y)
    expected = pool.weighted_backward(grad_y, cache)["input"]
    assert same_bits(pool.weighted_backward(grad_y, routes)["input"], expected)


def test_tiled_max_reads_the_batch_off_x_as_gather_windows_does():
    # A net's stacked finite differences pool B points' samples as one batch of B·N: the
    # tiled path took N and C from the geometry and failed to reshape (random net seed 10).
    rng = np.random.default_rng(3)
    one = rng.standard_normal((1, 2, 4, 4))
    g = geometry(one.shape, (2, 2))
    stacked = np.concatenate([one, one + 1, one * 2])
    maximum, _, first = pool.tiled_max(stacked, g)
    for b, sample in enumerate((one, one + 1, one * 2)):
        alone, _, alone_first = pool.tiled_max(sample, g)
        assert np.array_equal(maximum[b : b + 1], alone)
        assert np.array_equal(first[b : b + 1], alone_first)
