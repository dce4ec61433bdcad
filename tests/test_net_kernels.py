"""The compiled loops of a net's float64 path (core/ops/_net.c, used by core/ops/fused.py and
core/ops/conv_fused.py) give the NumPy path's results bit for bit (random shapes, strides,
dilations, paddings, 1-entry and odd sizes; ties, -0.0, nan and infinities), whatever
GRADCALC_THREADS says; and they refuse every buffer they cannot read safely."""

from __future__ import annotations

import contextlib
import importlib
import os

import numpy as np
import pytest
import test_conv_transpose
import test_pool_tiled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcalc.core.ops import conv, conv_fused, elementwise, fused, pool
from gradcalc.core.ops.conv import ConvGeometry
from gradcalc.core.ops.conv_transpose import CONV_TRANSPOSE2D


def _built():
    """The kernel module as built, whatever GRADCALC_KERNELS says (these tests set it)."""
    try:
        return importlib.import_module("gradcalc.core.ops._net")
    except ImportError:
        if os.environ.get("GRADCALC_REQUIRE_KERNELS", "").strip() == "1":
            raise
        return None


NET = _built()
needs_kernel = pytest.mark.skipif(NET is None, reason="the _net kernel is not built here")
pytestmark = needs_kernel


@contextlib.contextmanager
def kernels_on(on: bool, smallest: int = 0):
    """The kernel on (from ``smallest`` entries) or off, for the ops called inside."""
    before_env, before_min = os.environ.get("GRADCALC_KERNELS"), fused.MIN_ENTRIES
    os.environ["GRADCALC_KERNELS"] = "on" if on else "off"
    fused.MIN_ENTRIES = smallest
    try:
        yield
    finally:
        fused.MIN_ENTRIES = before_min
        if before_env is None:
            os.environ.pop("GRADCALC_KERNELS", None)
        else:
            os.environ["GRADCALC_KERNELS"] = before_env


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def both_paths(run):
    """run() with the kernel (from 0 entries) and without it."""
    with kernels_on(True):
        fast = run()
    with kernels_on(False):
        plain = run()
    return fast, plain


@st.composite
def conv_cases(draw):
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw, dh, dw = (draw(st.integers(1, 3)) for _ in range(4))
    top, bottom, left, right = (draw(st.integers(0, 2)) for _ in range(4))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - top - bottom), 7))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - left - right), 7))
    g = ConvGeometry(n, c, o, h, w, kh, kw, (sh, sw), (top, bottom, left, right), (dh, dw))
    seed = draw(st.integers(0, 2**16))
    return g, seed


@settings(max_examples=120, deadline=None)
@given(conv_cases())
def test_conv_forward_and_backward_match_the_numpy_path(case):
    g, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(g.input_shape)
    x[rng.random(x.shape) < 0.1] = -0.0
    w = rng.standard_normal(g.kernel_shape)
    grad_y = rng.standard_normal(g.output_shape)
    params = {"kernel": w, "geometry": g, "flip": bool(seed % 2)}

    def run():
        y, cache = conv.forward(x, params)
        grads = conv.backward(grad_y, cache)
        # the NumPy path's functions on their own (col2im without the matching forward)
        alone = conv.conv2d_grad_input(grad_y, w, g)
        return y, cache["columns"], grads["kernel"], grads["input"], alone

    fast, plain = both_paths(run)
    for got, expected in zip(fast, plain, strict=True):
        assert same_bits(got, expected)


@pytest.mark.parametrize("variant", ["ties", "signed zeros", "nan and inf", "normal"])
@pytest.mark.parametrize("kernel", [(2, 2), (3, 2), (1, 3), (1, 1)])
@pytest.mark.parametrize("ties", ["first", "split"])
def test_tiled_max_pool_with_the_kernel_is_the_gathered_one(variant, kernel, ties):
    """core/ops/pool.py's tiled test, run again with the kernel taking every array."""
    with kernels_on(True):
        test_pool_tiled.test_tiled_max_pool_is_the_gathered_one(variant, kernel, ties)


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4),
    st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**16),
)  # fmt: skip
def test_tiled_max_pool_and_its_routing_match_the_numpy_path(n, c, oh, ow, kh, kw, seed):
    rng = np.random.default_rng(seed)
    g = test_pool_tiled.geometry((n, c, oh * kh, ow * kw), (kh, kw))
    x = test_pool_tiled.values(rng, (n, c, g.in_h, g.in_w), ("ties", "normal")[seed % 2])
    grad_y = rng.standard_normal((n, c, oh, ow))
    grad_y[rng.random(grad_y.shape) < 0.2] = -0.0

    def run():
        maximum, _, first = pool.tiled_max(x, g, keep_ties=False)
        return maximum, first, pool._routed(grad_y, first, g)

    fast, plain = both_paths(run)
    for got, expected in zip(fast, plain, strict=True):
        assert same_bits(got, expected)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([-2.5, -0.0, 0.0, 1e-300, 3.0, np.inf, -np.inf, np.nan]),
                min_size=1, max_size=40))  # fmt: skip
def test_relu_and_its_slope_match_the_numpy_path(entries):
    x = np.array(entries)
    relu = elementwise.ELEMENTWISE["relu"]
    for subgradient in (None, 0.5):

        def run(subgradient=subgradient):
            y, cache = relu.forward(x, {"subgradient": subgradient})
            return y, cache["raw_slope"], cache["slope"], cache["tail"]

        fast, plain = both_paths(run)
        for got, expected in zip(fast, plain, strict=True):
            assert same_bits(got, expected)


@pytest.mark.parametrize("threads", ["1", "2", "4"])
def test_blocks_give_the_same_bits_for_every_thread_count(monkeypatch, threads):
    """A conv large enough for several blocks of samples (core/parallel.py spans)."""
    g = ConvGeometry(16, 3, 4, 64, 64, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1))
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(g.input_shape), rng.standard_normal(g.kernel_shape)
    grad_y = rng.standard_normal(g.output_shape)
    params = {"kernel": w, "geometry": g, "flip": False}

    assert len(conv_fused._blocks(g)) > 1

    def run():
        y, cache = conv.forward(x, params)
        grads = conv.backward(grad_y, cache)
        return y, grads["kernel"], grads["input"]

    monkeypatch.setenv("GRADCALC_THREADS", "1")
    with kernels_on(False):
        reference = run()
    monkeypatch.setenv("GRADCALC_THREADS", threads)
    with kernels_on(True, fused.MIN_ENTRIES):
        blocked = run()
    for got, expected in zip(blocked, reference, strict=True):
        assert same_bits(got, expected)


# ---------------------------------------------------------------------------
# Buffers the kernel must refuse (never read or write outside them)


def _read_only(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array.flags.writeable = False
    return array


DIMS = (1, 1, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 4)  # N C H W kh kw sh sw dh dw top left Ho Wo


def _arrays():
    return np.zeros((1, 1, 4, 4)), np.zeros((1, 9, 16))


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda x, cols: (x.astype(np.float32), cols, DIMS), TypeError),
        (lambda x, cols: (x.astype(np.int64), cols, DIMS), TypeError),
        (lambda x, cols: (np.zeros((1, 1, 4, 8))[..., ::2], cols, DIMS), TypeError),
        (lambda x, cols: (x[..., :3], cols, DIMS), TypeError),
        (lambda x, cols: (x.ravel()[:15], cols, DIMS), ValueError),
        (lambda x, cols: (x, cols.ravel()[:100], DIMS), ValueError),
        (lambda x, cols: (x, _read_only(cols), DIMS), TypeError),
        (lambda x, cols: (x, cols, DIMS[:-1]), TypeError),
        (lambda x, cols: (x, cols, (*DIMS[:6], 0, *DIMS[7:])), ValueError),
        (lambda x, cols: (x, cols, (-1, *DIMS[1:])), ValueError),
        (lambda x, cols: (x, cols, (2**40, 2**40, *DIMS[2:])), ValueError),
        (lambda x, cols: (x, cols, (*DIMS[:6], 2**62, *DIMS[7:])), ValueError),
        (lambda x, cols: (x, cols, (*DIMS[:10], 2**40, *DIMS[11:])), ValueError),
        (lambda x, cols: (x, cols, (*DIMS[:12], 2**31, 1)), ValueError),
        (lambda x, cols: ("text", cols, DIMS), TypeError),
    ],
)
def test_im2col_and_col2im_refuse_unsafe_buffers(make, error):
    x, columns = _arrays()
    args = make(x, columns)
    with pytest.raises(error):
        NET.im2col(*args)


@pytest.mark.parametrize(
    "grads, grad_x, dims, error",
    [
        (np.zeros((1, 3, 3, 1, 4, 4), dtype=np.float32), np.zeros((1, 1, 4, 4)), DIMS, TypeError),
        (np.zeros((1, 3, 3, 1, 4, 4)), np.zeros((1, 1, 4, 4))[..., :3], DIMS, TypeError),
        (np.zeros(143), np.zeros((1, 1, 4, 4)), DIMS, ValueError),
        (np.zeros((1, 3, 3, 1, 4, 4)), np.zeros(15), DIMS, ValueError),
        (np.zeros((1, 3, 3, 1, 4, 4)), _read_only(np.zeros((1, 1, 4, 4))), DIMS, TypeError),
        (np.zeros((1, 3, 3, 1, 4, 4)), np.zeros((1, 1, 4, 4)), (0, *DIMS[1:]), ValueError),
    ],
)
def test_col2im_refuses_unsafe_buffers(grads, grad_x, dims, error):
    with pytest.raises(error):
        NET.col2im(grads, grad_x, dims)


def test_pool_loops_refuse_unsafe_buffers():
    x, maximum = np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 2, 2))
    first = np.zeros((1, 1, 2, 2), dtype=np.int64)
    dims = (1, 1, 2, 2, 2, 2)
    assert NET.max_pool_tiled(x, maximum, first, dims) is True
    with pytest.raises(TypeError):
        NET.max_pool_tiled(x, maximum, first.astype(np.int32), dims)
    with pytest.raises(TypeError):
        NET.max_pool_tiled(x, maximum, first.astype(float), dims)
    with pytest.raises(ValueError):
        NET.max_pool_tiled(x, maximum, first, (1, 1, 2, 3, 2, 2))
    with pytest.raises(ValueError):
        NET.max_pool_tiled(x, maximum, first, (1, 1, 2, 2, 0, 2))
    with pytest.raises(TypeError):
        NET.max_pool_tiled(x, _read_only(maximum), first, dims)
    grid = np.zeros((1, 1, 4, 4))
    NET.max_pool_route(maximum, first, grid, dims)
    for bad in (4, -1, 2**40):  # a tap outside the window would write outside it
        wrong = first.copy()
        wrong[0, 0, 1, 1] = bad
        with pytest.raises(ValueError, match="outside the window"):
            NET.max_pool_route(maximum, wrong, grid, dims)
    with pytest.raises(ValueError):
        NET.max_pool_route(maximum, first, grid.ravel()[:15], dims)
    with pytest.raises(TypeError):
        NET.relu(x, _read_only(x), np.zeros_like(x), x.size)
    with pytest.raises(ValueError):
        NET.relu(x, np.zeros_like(x), np.zeros(3), x.size)
    with pytest.raises(ValueError):
        NET.relu(x, np.zeros_like(x), np.zeros_like(x), -1)


def test_loops_over_no_windows_return_at_once():
    """W_out or H_out = 0 makes every product 0 (so the length checks pass) while the
    loops' other dims may reach 2^59: the kernel must not walk them (it hung before)."""
    huge = (1, 1, 1, 1, 2**30, 2**29, 1, 1, 1, 1, 0, 0)
    NET.im2col(np.zeros(1), np.zeros(0), (*huge, 1, 0))
    NET.im2col(np.zeros(1), np.zeros(0), (*huge, 0, 1))
    grad_x = np.full(2**20, 7.0)
    NET.col2im(np.zeros(0), grad_x, (2**20, 1, 1, 1, 2**20, 2**19, 1, 1, 1, 1, 0, 0, 1, 0))
    assert not grad_x.any()  # no window gradients: all 0
    no_windows = (2**30, 2**29, 1, 0, 1, 1)
    empty, first = np.zeros(0), np.zeros(0, dtype=np.int64)
    assert NET.max_pool_tiled(empty, empty, first, no_windows) is True
    NET.max_pool_route(empty, first, empty, no_windows)


def test_outputs_that_overlap_another_buffer_are_refused():
    """The loops take restrict pointers: an output aliasing an input (or another output)
    would be undefined behaviour, so it raises instead."""
    same = np.zeros(16)
    dims = (1, 1, 4, 4, 1, 1, 1, 1, 1, 1, 0, 0, 4, 4)
    with pytest.raises(ValueError, match="overlaps"):
        NET.im2col(same, same, dims)
    with pytest.raises(ValueError, match="overlaps"):
        NET.col2im(same, same, dims)
    with pytest.raises(ValueError, match="overlaps"):
        NET.relu(same, np.zeros(16), same, 16)
    pooled = np.zeros(8)  # maximum and first sharing two entries
    first = pooled[2:6].view(np.int64)
    with pytest.raises(ValueError, match="overlaps"):
        NET.max_pool_tiled(np.zeros(16), pooled[:4], first, (1, 1, 2, 2, 2, 2))
    grid = np.zeros(16)
    with pytest.raises(ValueError, match="overlaps"):  # first read from the grid it writes
        NET.max_pool_route(np.zeros(4), grid[:4].view(np.int64), grid, (1, 1, 2, 2, 2, 2))
    x = np.zeros(16)  # two inputs on one buffer are fine
    NET.max_pool_route(x[:4], np.zeros(4, dtype=np.int64), np.zeros(16), (1, 1, 2, 2, 2, 2))


# Each entry point: its buffers' lengths and formats (in argument order) and the dims after them.
_ENTRY_POINTS = (
    ("im2col", (9, 16), "dd", ((1, 1, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 2, 2),)),
    ("col2im", (16, 9), "dd", ((1, 1, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 2, 2),)),
    ("max_pool_tiled", (16, 4, 4), "ddq", ((1, 1, 2, 2, 2, 2),)),
    ("max_pool_route", (4, 4, 16), "dqd", ((1, 1, 2, 2, 2, 2),)),
    ("relu", (5, 5, 5), "ddd", (5,)),
    ("relu_forward", (5, 5), "dd", (5,)),
    ("relu_backward", (5, 5, 5), "ddd", (5,)),
)


@pytest.mark.parametrize(("name", "lengths", "formats", "dims"), _ENTRY_POINTS)
def test_a_refused_call_releases_every_buffer_it_took(name, lengths, formats, dims):
    """Whichever argument is refused (too short, or an output on an input's memory), the
    buffers taken before it are released: the bytearray behind each can grow after the call
    (it cannot while a buffer of it is held)."""
    kernel = getattr(NET, name)
    for refused in range(len(lengths) + 1):  # the last round: the first input as the output
        memory = [bytearray(8 * length) for length in lengths]
        arrays = [np.frombuffer(m, dtype=f) for m, f in zip(memory, formats, strict=True)]
        if refused < len(lengths):
            arrays[refused], why = arrays[refused][:-1], "entries"
        elif lengths[0] >= lengths[-1]:  # the output on the first input's memory
            arrays[-1], why = np.frombuffer(memory[0], formats[-1])[: lengths[-1]], "overlaps"
        else:  # the first input on the output's memory
            arrays[0], why = np.frombuffer(memory[-1], formats[0])[: lengths[0]], "overlaps"
        with pytest.raises(ValueError, match=why):
            kernel(*arrays, *dims)
        del arrays
        for m in memory:
            m.extend(bytes(8))


def test_a_window_with_nan_or_negative_zero_is_left_to_numpy():
    x = np.zeros((1, 1, 2, 4))
    maximum, first = np.zeros((1, 1, 1, 2)), np.zeros((1, 1, 1, 2), dtype=np.int64)
    dims = (1, 1, 1, 2, 2, 2)
    assert NET.max_pool_tiled(x, maximum, first, dims) is True
    x[0, 0, 1, 3] = -0.0
    assert NET.max_pool_tiled(x, maximum, first, dims) is False
    x[0, 0, 1, 2], x[0, 0, 1, 3] = 1.0, -0.0  # -0.0 beside a maximum above 0 decides nothing
    assert NET.max_pool_tiled(x, maximum, first, dims) is True
    for odd in (np.nan, np.inf, -np.inf):
        x[0, 0, 1, 3] = odd
        assert NET.max_pool_tiled(x, maximum, first, dims) is False


def test_a_net_conv_adds_its_bias_in_place_with_the_same_bits():
    rng = np.random.default_rng(2)
    x, bias = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal(3)
    expected, cache = conv.bias_forward(x, {"bias": bias})
    fresh = x.copy()
    got, overwritten = conv.bias_forward(fresh, {"bias": bias, "overwrite": True})
    assert got is fresh and same_bits(got, expected) and overwritten == cache


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(test_conv_transpose.geometries())
def test_conv_transpose_matches_the_numpy_path(case):
    """conv_transpose runs conv2d's forward_columns, col2im and ∂L/∂w (also grouped)."""
    t = test_conv_transpose._geometry(case)
    rng = np.random.default_rng(case["seed"])
    x, w, up = (a + rng.standard_normal(a.shape) for a in test_conv_transpose._operands(case))
    params = {"kernel": w, "geometry": t}

    def run():
        y, cache = CONV_TRANSPOSE2D.forward(x, params)
        grads = CONV_TRANSPOSE2D.backward(up, cache)
        return y, grads["kernel"], grads["input"]

    fast, plain = both_paths(run)
    for got, expected in zip(fast, plain, strict=True):
        assert same_bits(got, expected)


@settings(max_examples=40, deadline=None)
@given(conv_cases(), st.integers(1, 3))
def test_stacked_kernels_and_grad_kernel_alone_match_the_numpy_path(case, points):
    """conv2d_forward_kernels (a net's finite differences) and conv2d_grad_kernel without
    the forward pass's columns both take im2col."""
    g, seed = case
    rng = np.random.default_rng(seed)
    x, grad_y = rng.standard_normal(g.input_shape), rng.standard_normal(g.output_shape)
    kernels = rng.standard_normal((points, *g.kernel_shape))

    def run():
        stacked = conv.conv2d_forward_kernels(x, kernels, g, flipped=bool(seed % 2))
        return stacked, conv.conv2d_grad_kernel(grad_y, x, g)

    fast, plain = both_paths(run)
    for got, expected in zip(fast, plain, strict=True):
        assert same_bits(got, expected)
