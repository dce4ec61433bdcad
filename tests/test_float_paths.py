"""Reading float64 values exactly, fast (core/values.py): a net hands its float64 arrays to
an explained layer as the Fractions of their shortest reprs (read_floats), and the layer
converts them back to float64 to compute.  These give the same values as the slow ways:
Fraction(repr(v)) for each value, and Fraction.__float__ / to_float of each Fraction."""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcalc.core.float_source import each_float, float_source, shortest_fraction
from gradcalc.core.ops import adapter
from gradcalc.core.values import parse_array, read_floats, to_float

FINITE = st.floats(allow_nan=False, allow_infinity=False)
EDGES = [0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, 1e22, 1e16, 123456789.0, 0.1, 2.5]


@settings(max_examples=500, deadline=None, derandomize=True)
@given(FINITE)
def test_shortest_fraction_is_the_fraction_of_the_repr(value: float) -> None:
    assert shortest_fraction(value) == Fraction(repr(value))


def test_shortest_fraction_on_edges_and_random_bit_patterns() -> None:
    rng = np.random.default_rng(0)
    patterns = rng.integers(0, 2**63, 20000, dtype=np.int64).tolist()
    values = EDGES + [struct.unpack("d", struct.pack("q", bits))[0] for bits in patterns]
    for value in values:
        if math.isfinite(value):
            assert shortest_fraction(value) == Fraction(repr(value)), value


def slow_to_float(exact: np.ndarray) -> np.ndarray:
    """to_float on a copy that no registry knows: the Fractions converted as they are."""
    return to_float(np.array(exact.tolist(), dtype=object))


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).standard_normal((3, 4, 5)),  # 17-digit values
        np.array([[0.5, -0.0, 2.0], [0.25, 1.5, -3.0]]),  # small denominators: to_float divides
        np.array([[1.0, -2.0], [3e20, 0.0]]),  # whole numbers
        np.array([[0.1, 0.2], [0.3, 1e-5]]),
    ],
    ids=["computed", "small denominators", "whole", "decimals"],
)
def test_read_floats_convert_back_as_their_fractions_do(values: np.ndarray) -> None:
    exact = read_floats(values)
    assert exact is not None
    assert exact.ravel().tolist() == [Fraction(repr(v)) for v in values.ravel().tolist()]
    slow_each = np.array(exact.tolist(), dtype=object).astype(float)
    for array in (exact, exact.reshape(-1), exact.reshape(values.shape[0], -1)):
        assert float_source(array) is not None
        assert each_float(array).tobytes() == slow_each.reshape(array.shape).tobytes()
        assert adapter.each_rounded(array).tobytes() == slow_each.reshape(array.shape).tobytes()
        assert to_float(array).tobytes() == slow_to_float(array).tobytes()


def test_a_copy_read_from_a_layer_keeps_its_floats_and_nothing_else_does() -> None:
    values = np.random.default_rng(2).standard_normal((2, 3))
    exact = read_floats(values)
    copy = parse_array(exact, ("input",), ndims=(2,), what="input", max_elements=100)
    assert copy is not exact and float_source(copy) is not None
    assert float_source(exact.T) is None  # a transposed view is not the floats' order
    assert float_source(exact[:1]) is None
    assert float_source(np.array(exact.tolist(), dtype=object)) is None
    with pytest.raises(ValueError):
        exact[0, 0] = Fraction(1)  # read-only: the floats stay the values'


def test_read_floats_shares_known_values() -> None:
    known: dict[float, Fraction] = {}
    first = read_floats(np.array([0.5, 0.25]), known)
    second = read_floats(np.array([0.25, 0.75]), known)
    assert first is not None and second is not None
    assert second[0] is first[1]
    assert set(known) == {0.5, 0.25, 0.75}


@pytest.mark.parametrize(
    "x",
    [
        np.random.default_rng(3).standard_normal((4, 5, 6)),
        np.array([-0.0, 0.0, np.nan, np.inf, -np.inf, 1e-320, -1e-320, 2.0, -2.0]),
        np.array(3.0),
        np.array(np.nan),
        np.array(-0.0),
        np.zeros((0, 3)),
        np.random.default_rng(4).standard_normal((7, 3))[:, ::2],
    ],
)
def test_float_relu_is_where_to_the_bit(x: np.ndarray) -> None:
    from gradcalc.core.ops.elementwise import relu, relu_grad

    for rule, want in ((relu, np.where(x > 0, x, 0.0)), (relu_grad, np.where(x > 0, 1.0, 0.0))):
        got = rule(x, {})
        assert type(got) is type(want) and got.shape == want.shape and got.dtype == want.dtype
        assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("prefix", [0, 5, 1500])
def test_denominators_reach_looks_at_a_prefix_first(prefix: int) -> None:
    """The same answer as looking at every entry: decimals with small denominators first
    (the lcm stays below 2^53), then a computed value that takes it past."""
    from gradcalc.core.float_source import denominators_reach

    def reach(values: np.ndarray) -> bool:
        denominator = 1
        for value in values.tolist():
            if value != math.floor(value):
                denominator = math.lcm(denominator, Fraction(repr(value)).denominator)
        return denominator >= 2**53

    tidy = np.resize(np.array([0.5, 0.25, 1.0, 0.125]), prefix)
    for tail in ([], [1 / 3], [2.0, 3.0]):
        values = np.concatenate([tidy, np.array(tail, dtype=float)])
        assert denominators_reach(values) == reach(values)


@pytest.mark.parametrize(
    ("shape", "kernel"),
    [
        ((2, 3, 4, 6), (2, 2)),
        ((1, 2, 6, 6), (3, 2)),
        ((2, 1, 5, 5), (1, 1)),
        ((1, 1, 4, 4), (4, 4)),
    ],
)
def test_tiled_pool_scatter_is_the_strided_one_to_the_bit(
    shape: tuple[int, ...], kernel: tuple[int, int]
) -> None:
    from gradcalc.core.ops.pool import (
        scatter_windows,
        tiles,
        untile_windows,
    )
    from gradcalc.core.ops.pool_geometry import PoolGeometry

    g = PoolGeometry(*shape, *kernel, kernel, (0, 0), (1, 1), False)
    assert tiles(g)
    rng = np.random.default_rng(5)
    taps = rng.standard_normal((*shape[:2], g.out_h, g.out_w, g.taps))
    taps.flat[:4] = [-0.0, 0.0, np.inf, np.nan]
    want = scatter_windows(taps.copy(), g)
    got = untile_windows(taps.copy(), g)
    assert got.shape == want.shape and got.tobytes() == np.ascontiguousarray(want).tobytes()
    assert not tiles(PoolGeometry(1, 1, 5, 4, 2, 2, (2, 2), (0, 0), (1, 1), False))
    assert not tiles(PoolGeometry(1, 1, 4, 4, 2, 2, (1, 1), (0, 0), (1, 1), False))
