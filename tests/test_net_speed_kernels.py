"""The compiled ReLU that writes its output alone (core/ops/_net.c relu_forward), and its
backward that reads the slope off the input (relu_backward), give the NumPy path's bits
(−0.0, nan, infinities; 1-entry and odd sizes), leave the slopes readable in the cache,
and refuse every buffer they cannot read safely; the 2×2 max pooling loop (pairwise
maxima) keeps the row-major first maximum, and its routing writes every cell as the NumPy
path does; a conv → relu → pool → dense net gives the same bits with the kernels on or
off, whatever GRADCALC_THREADS says."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_net_kernels import NET, both_paths, kernels_on, needs_kernel, same_bits
from test_pool_tiled import geometry

from gradcalc.core.ops import elementwise, fused, pool

pytestmark = needs_kernel

# inf·0 on the NumPy path is nan, as in the kernel: the comparison wants it, not its warning
QUIET_NAN = pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")
RELU = elementwise.ELEMENTWISE["relu"]
ODD = [-2.5, -0.0, 0.0, 1e-300, -1e-300, 3.0, np.inf, -np.inf, np.nan]


@QUIET_NAN
@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.sampled_from(ODD), min_size=1, max_size=41),
    st.lists(st.sampled_from(ODD), min_size=1, max_size=41),
    st.sampled_from([None, 0.5]),
)
def test_relu_forward_and_backward_match_the_numpy_path(entries, upstream, subgradient):
    size = min(len(entries), len(upstream))
    x, grad_y = np.array(entries[:size]), np.array(upstream[:size])

    def run():
        y, cache = RELU.forward(x, {"subgradient": subgradient})
        grad = RELU.backward(grad_y, cache)["input"]
        return y, grad, cache["raw_slope"], cache["slope"], cache.get("tail")

    fast, plain = both_paths(run)
    for got, expected in zip(fast, plain, strict=True):
        assert same_bits(got, expected)


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5, 9), (2, 16, 11, 13)])
def test_a_large_relu_keeps_one_array_and_makes_its_slopes_when_read(shape):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    x[rng.random(shape) < 0.2] = -0.0
    grad_y = rng.standard_normal(shape)
    with kernels_on(False):
        y_plain, plain = RELU.forward(x, {"subgradient": None})
        grad_plain = RELU.backward(grad_y, plain)["input"]
    with kernels_on(True):
        y, cache = RELU.forward(x, {"subgradient": None})
        assert list(cache) == ["input"]  # nothing but x until a slope is read
        grad = RELU.backward(grad_y, cache)["input"]
        assert list(cache) == ["input"]  # the backward read none
        assert same_bits(y, y_plain) and same_bits(grad, grad_plain)
        for key in ("raw_slope", "slope", "tail"):
            assert same_bits(cache[key], plain[key])
        assert cache.get("missing", 7) == 7
        with pytest.raises(KeyError):
            cache["missing"]
        # a non-contiguous or integer upstream takes the kernel or the product alike
        assert same_bits(RELU.backward(grad_y.T.copy().T, cache)["input"], grad_plain)
        ints = np.ones(shape, dtype=np.int64)
        assert same_bits(RELU.backward(ints, cache)["input"], ints * plain["slope"])


def test_relu_loops_refuse_unsafe_buffers():
    x = np.zeros((2, 8))
    with pytest.raises(TypeError):
        NET.relu_forward(x, np.zeros_like(x).astype(np.float32), x.size)
    with pytest.raises(TypeError):
        NET.relu_forward(np.zeros((2, 16))[:, ::2], np.zeros_like(x), x.size)
    with pytest.raises(TypeError):
        NET.relu_forward(x, x.copy().T, x.size)  # Fortran order: not C-contiguous
    with pytest.raises(ValueError):
        NET.relu_forward(x, np.zeros(15), x.size)
    with pytest.raises(ValueError):
        NET.relu_forward(x, np.zeros_like(x), -1)
    with pytest.raises(ValueError):
        NET.relu_forward(x, np.zeros_like(x), 2**62)
    read_only = np.zeros_like(x)
    read_only.flags.writeable = False
    with pytest.raises(TypeError):
        NET.relu_forward(x, read_only, x.size)
    with pytest.raises(ValueError, match="overlaps"):
        NET.relu_forward(x, x, x.size)
    grad = np.zeros_like(x)
    with pytest.raises(TypeError):
        NET.relu_backward(grad.astype(np.int64), x, np.zeros_like(x), x.size)
    with pytest.raises(ValueError):
        NET.relu_backward(grad, x.ravel()[:15], np.zeros_like(x), x.size)
    with pytest.raises(ValueError):
        NET.relu_backward(grad, x, np.zeros(17), x.size)
    with pytest.raises(TypeError):
        NET.relu_backward(grad, x, read_only, x.size)
    with pytest.raises(TypeError):
        NET.relu_backward("text", x, np.zeros_like(x), x.size)
    with pytest.raises(ValueError, match="overlaps"):
        NET.relu_backward(grad, x, grad, x.size)
    NET.relu_backward(x, x, np.zeros_like(x), x.size)  # two inputs on one buffer are fine


def _net_spec(seed: int) -> dict:
    """conv (padding 1, bias) → relu → max pool 2 → flatten → dense → cross-entropy on
    2×3×8×8, with −0.0 and ties in the input."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 8, 8)).round(2)
    x[rng.random(x.shape) < 0.1] = 0.0
    conv = {"type": "conv", "name": "conv1", "padding": 1}
    conv |= {"kernel": (rng.standard_normal((4, 3, 3, 3)) / 3).round(3).tolist()}
    conv["bias"] = rng.standard_normal(4).round(3).tolist()
    dense = {
        "type": "dense",
        "name": "fc",
        "weight": rng.standard_normal((5, 64)).round(3).tolist(),
    }
    return {
        "input": x.tolist(),
        "layers": [conv, "relu", {"type": "pool", "mode": "max", "size": 2}, "flatten", dense],
        "loss": {"type": "cross_entropy", "target": rng.integers(0, 5, 2).tolist()},
    }


@pytest.mark.parametrize("threads", ["1", "2", "4"])
def test_a_net_gives_the_same_bits_with_kernels_on_or_off(monkeypatch, threads):
    from gradcalc.core.kinds import net
    from gradcalc.core.spec import SolveOptions

    numeric = SolveOptions(force_float=True, explain=False, gradient_check=False)
    for seed in range(3):
        problem = net.read(_net_spec(seed), numeric.limits)
        monkeypatch.setenv("GRADCALC_THREADS", "1")
        with kernels_on(False):
            plain = net.run(problem, numeric).results
        monkeypatch.setenv("GRADCALC_THREADS", threads)
        with kernels_on(True, min(fused.MIN_ENTRIES, 16)):
            fast = net.run(problem, numeric).results
        assert list(fast) == list(plain)
        for key, value in plain.items():
            assert same_bits(np.asarray(fast[key]), np.asarray(value)), key


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from([-2.0, -1.0, -0.0, 0.0, 1.0, 2.5, np.nan, np.inf]),
             min_size=16, max_size=16),
    st.integers(1, 3), st.integers(1, 3),
)  # fmt: skip
def test_the_2x2_max_pool_loop_keeps_the_first_maximum(taps, rows, columns):
    """The 2×2 windows' loop takes the maximum pairwise and the first tap equal to it:
    the values and taps of the row-major scan (ties, 0.0 beside −0.0, nan: NumPy's)."""
    x = np.resize(np.array(taps), (1, 2, 2 * rows, 2 * columns))
    g = geometry(x.shape, (2, 2))
    with kernels_on(True):
        fast, _, first_fast = pool.tiled_max(x, g, keep_ties=False)
    with kernels_on(False):
        plain, _, first_plain = pool.tiled_max(x, g, keep_ties=False)
    assert same_bits(fast, plain) and np.array_equal(first_fast, first_plain)
    if not np.isnan(x).any() and not np.isinf(x).any() and not (np.signbit(x) & (x == 0)).any():
        dims = (1, 2, rows, columns, 2, 2)
        maximum, first = np.empty(plain.shape), np.empty(plain.shape, dtype=np.int64)
        # decided in C whenever no −0.0 or negative tap sits beside a maximum of 0
        zero_windows = plain == 0
        windows = x.reshape(1, 2, rows, 2, columns, 2).transpose(0, 1, 2, 4, 3, 5)
        signed = np.signbit(windows).reshape(*plain.shape, 4).any(axis=-1)
        assert NET.max_pool_tiled(x, maximum, first, dims) is not (zero_windows & signed).any()
        if not (zero_windows & signed).any():
            assert same_bits(maximum, plain) and np.array_equal(first, first_plain)


@QUIET_NAN
@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.sampled_from([-1.5, -0.0, 0.0, 2.0, np.inf, -np.inf, np.nan]),
             min_size=1, max_size=12),
    st.sampled_from([(2, 2), (3, 2), (1, 1)]), st.integers(0, 2**16),
)  # fmt: skip
def test_max_pool_routing_writes_every_cell_as_the_numpy_path(upstream, kernel, seed):
    """The 2×2 routing writes each cell once (no memset): grad_y·0.0 + 0.0 off the first
    maximum (nan for an infinite grad_y), grad_y·1.0 + 0.0 on it, as the NumPy path."""
    rng = np.random.default_rng(seed)
    pooled = (1, len(upstream), 2, 3)
    grad_y = np.resize(np.array(upstream), pooled)
    first = rng.integers(0, kernel[0] * kernel[1], pooled)
    g = geometry((1, len(upstream), 2 * kernel[0], 3 * kernel[1]), kernel)

    fast, plain = both_paths(lambda: pool._routed(grad_y, first, g))
    assert same_bits(fast, plain)


@pytest.mark.parametrize("on", [True, False])
def test_a_relu_layer_takes_its_input_with_signed_zeros_as_read(on):
    """net_ops.forward_input hands a relu its float64 input as it is (no look for −0.0):
    its output and gradients are those of the input read as a spec reads it (−0.0 as 0)."""
    from gradcalc.core.kinds import net, net_ops
    from gradcalc.core.spec import SolveOptions

    relu = net.read(_net_spec(0), SolveOptions().limits).read_layers[1]
    rng = np.random.default_rng(4)
    x = rng.standard_normal(relu.input.shape)
    x[rng.random(x.shape) < 0.3] = -0.0
    grad_y = rng.standard_normal(x.shape)
    grad_y[rng.random(x.shape) < 0.3] = -0.0
    with kernels_on(on):
        taken = net_ops.forward_input(x, "activation", relu)
        assert taken is x
        runs = []
        for given in (taken, net_ops.as_read(x, "activation")):
            y, traces = net_ops.forward("activation", relu, given)
            runs.append((y, net_ops.backward("activation", relu, traces, grad_y)["grad_input"]))
    for got, expected in zip(*runs, strict=True):
        assert same_bits(got, expected)


@pytest.mark.parametrize("on", [True, False])
@pytest.mark.parametrize("subgradient", [None, 0.5])
def test_a_relu_output_holds_no_negative_zero(on, subgradient):
    """net_ops.forward_input skips the look for −0.0 in a relu's output: it holds none,
    whatever its input (−0.0, negatives, nan, infinities), small or large, either path."""
    from gradcalc.core.kinds import net, net_ops
    from gradcalc.core.spec import SolveOptions

    for size in (7, 5000):
        x = np.resize(np.array([-0.0, 0.0, -1.0, 2.0, np.nan, -np.inf, np.inf, -1e-300]), size)
        with kernels_on(on, fused.MIN_ENTRIES):
            y, _ = RELU.forward(x, {"subgradient": subgradient})
        assert not (np.signbit(y) & (y == 0)).any()
    spec = _net_spec(1)
    problem = net.read(spec, SolveOptions().limits)
    relu, pool_problem = problem.read_layers[1], problem.read_layers[2]
    signed = np.full(relu.input.shape, -0.0)
    with kernels_on(on):
        taken = net_ops.forward_input(signed, "pool", pool_problem, ("activation", relu))
        assert taken is signed  # not looked at: the caller said it came from a relu
        read = net_ops.forward_input(signed, "pool", pool_problem, ("conv", problem.read_layers[0]))
        assert not np.signbit(read).any()  # from a conv: −0.0 read as 0


@pytest.mark.parametrize("on", [True, False])
@pytest.mark.parametrize("ties", ["first", "all", "split"])
@pytest.mark.parametrize("stride", [(2, 2), (1, 2)])
def test_a_max_pool_gradient_holds_no_negative_zero(on, ties, stride):
    """net_ops.upstream_input skips the look for −0.0 in a max pool's ∂L/∂input: it holds
    none, whatever ∂L/∂y holds (−0.0, negatives, nan, infinities), tiled or overlapping,
    routed or weighted, compiled or NumPy."""
    from gradcalc.core.kinds import net, net_ops
    from gradcalc.core.ops.pool_geometry import PoolGeometry, tap_layout
    from gradcalc.core.spec import SolveOptions

    rng = np.random.default_rng(6)
    x = rng.integers(-2, 3, (2, 3, 8, 8)).astype(float)  # ties
    x[x == 0] = -0.0
    g = PoolGeometry(2, 3, 8, 8, 2, 2, stride, (0, 0), (1, 1), False)
    params = {"geometry": g, "layout": tap_layout(g), "ties": ties}
    grad_y = np.resize(
        np.array([-0.0, -1.5, 2.0, np.nan, np.inf, -np.inf]), (2, 3, g.out_h, g.out_w)
    )
    with kernels_on(on), np.errstate(all="ignore"):
        for routes_only in (False, True):
            _, cache = pool.max_forward(x, {**params, "routes_only": routes_only})
            grad = pool.weighted_backward(grad_y, cache)["input"]
            assert not (np.signbit(grad) & (grad == 0)).any()
    problem = net.read(_net_spec(2), SolveOptions().limits)
    signed = np.full((2, 4, 8, 8), -0.0)
    relu, max_pool = problem.read_layers[1], problem.read_layers[2]
    assert net_ops.upstream_input(signed, "activation", ("pool", max_pool)) is signed
    for source in (None, ("activation", relu), ("flatten", None)):
        assert not np.signbit(net_ops.upstream_input(signed, "activation", source)).any()
