"""The normalization op's compiled kernels (core/ops/_norm_channels.c, _norm_rows.c, driven by
core/ops/normalization_kernel.py): made to run at every size, it gives the NumPy path's
numbers up to rounding order (1e-12), the plain-loop reference's and finite differences'
through the kinds, the same bytes for any thread count, and it refuses any buffer it was
not made for instead of reading or writing outside it."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_norm import (
    SETTINGS,
    batchnorm_cases,
    groupnorm_cases,
    layernorm_cases,
    reference_of,
)

from gradcalc.core import parallel, registry
from gradcalc.core.ops import adapter, kernels
from gradcalc.core.ops import normalization_kernel as compiled
from gradcalc.core.ops.normalization import NORMALIZE, x_hat_of
from gradcalc.core.spec import Limits, SolveOptions

pytestmark = pytest.mark.skipif(
    kernels.load("_norm_channels") is None or kernels.load("_norm_rows") is None,
    reason="the compiled kernel is not built or is turned off",
)


@contextlib.contextmanager
def kernel(on: bool, smallest: int = 1) -> Iterator[None]:
    """The kernel at every size (``on``), or the NumPy paths (GRADCALC_KERNELS=off)."""
    saved = os.environ.get("GRADCALC_KERNELS"), compiled.SMALLEST
    os.environ["GRADCALC_KERNELS"] = "on" if on else "off"
    compiled.SMALLEST = smallest
    try:
        yield
    finally:
        compiled.SMALLEST = saved[1]
        if saved[0] is None:
            del os.environ["GRADCALC_KERNELS"]
        else:
            os.environ["GRADCALC_KERNELS"] = saved[0]


def near(got: Any, want: Any, tol: float = 1e-12) -> bool:
    """Equal up to rounding order: within tol of the larger of 1 and the array's largest."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    return got.shape == want.shape and bool(np.all(np.abs(got - want) <= tol * scale))


def run_op(x, up, params) -> tuple[dict[str, np.ndarray], bool]:
    """Every array of the float op (y, μ, σ², σ, x̂, the gradients); whether the kernel ran."""
    y, trace = adapter.forward(NORMALIZE, x, params, exact=False)
    found = {"y": y, **{k: np.asarray(trace.cache[k]) for k in ("mean", "var", "sigma")}}
    found.update({f"grad {k}": v for k, v in adapter.backward(up, trace).items()})
    found["x_hat"] = x_hat_of(trace.cache)
    return found, "kernel" in trace.cache


@st.composite
def op_cases(draw) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """x, ∂L/∂y and the op's params for one of the kernel's layouts, of odd and 1-entry
    sizes and rows long enough for the pairwise sums to split."""
    layout = draw(st.sampled_from(["channels", "layer", "group"]))
    small, long = st.integers(1, 5), st.sampled_from([1, 2, 7, 9, 130, 300, 701])
    if layout == "channels":
        # many samples with short rows (batch norm 1d: summed by columns, in blocks of 128),
        # or few with long ones
        batch = draw(st.sampled_from([1, 2, 3, 5, 130, 260]))
        spatial = st.sampled_from([1, 2, 3, 7, 17]) if batch > 5 else long
        shape = (batch, draw(small), *draw(st.lists(spatial, max_size=2)))
        axes = (0, *range(2, len(shape)))
        param = (1, shape[1]) + (1,) * (len(shape) - 2)
    elif layout == "layer":
        # at most 2^18 entries: three long axes (701·701·300) would take gigabytes per array
        dims = st.lists(st.one_of(small, long), min_size=2, max_size=4)
        shape = tuple(draw(dims.filter(lambda dims: math.prod(dims) <= 1 << 18)))
        axes = tuple(range(draw(st.integers(0, len(shape) - 1)), len(shape)))  # 0: one row
        param = tuple(1 if a not in axes else n for a, n in enumerate(shape))
    else:  # group norm's N×G×(C/G)×S
        shape = (draw(small), draw(small), draw(small), draw(long))
        axes, param = (2, 3), (1, shape[1], shape[2], 1)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3 + rng.integers(-5, 5)
    params = {"axes": axes, "eps": draw(st.sampled_from([1e-5, 0.25, 3.0]))}
    params.update(weight=None, bias=None, mean=None, var=None)
    if draw(st.booleans()):
        params.update(weight=rng.standard_normal(param), bias=rng.standard_normal(param))
    if layout == "channels" and draw(st.booleans()):  # evaluation: given statistics
        params.update(mean=rng.standard_normal(param), var=rng.random(param) + 0.1)
    return x, rng.standard_normal(shape), params


@SETTINGS
@given(op_cases())
def test_the_kernel_gives_the_numpy_paths_numbers(case) -> None:
    x, up, params = case
    with kernel(True):
        fused, ran = run_op(x, up, params)
    with kernel(False):
        plain, plain_ran = run_op(x, up, params)
    assert ran and not plain_ran
    assert fused.keys() == plain.keys()
    for name in fused:
        assert near(fused[name], plain[name]), name


@SETTINGS
@given(st.one_of(batchnorm_cases(), layernorm_cases(), groupnorm_cases()))
def test_the_kinds_on_the_kernel_match_the_loops_and_finite_differences(spec) -> None:
    """A float64 run (exact_work 0) on the kernel: the gradient check (central differences)
    passes, the explanation builds, and the results are the NumPy path's and the reference's."""
    options = SolveOptions(limits=Limits(exact_work=0))
    with kernel(True):
        solution = registry.solve(spec, options)
    with kernel(False):
        plain = registry.solve(spec, options)
    assert solution.gradient_check is not None and solution.gradient_check.ok
    assert solution.results.keys() == plain.results.keys()
    for name, value in solution.results.items():
        assert near(value, plain.results[name]), name
    want = reference_of(spec)
    for name in ("output", "x_hat", "grad_input", "grad_weight", "grad_bias"):
        if name in want and name in solution.results:
            assert near(solution.results[name], want[name], 1e-9), name


@pytest.mark.parametrize(
    ("shape", "axes", "param", "frozen"),
    [
        ((6, 24, 16, 32), (0, 2, 3), (1, 24, 1, 1), False),
        ((6, 24, 16, 32), (0, 2, 3), (1, 24, 1, 1), True),
        ((300, 40), (0,), (1, 40), False),  # batch norm 1d: short rows, taken by columns
        ((300, 40, 3), (0, 2), (1, 40, 1), True),
        ((40, 30, 77), (2,), (1, 1, 77), False),
        ((5, 4, 6, 300), (2, 3), (1, 4, 6, 1), False),
    ],
)
def test_the_kernel_gives_the_same_bytes_for_any_thread_count(
    monkeypatch, shape, axes, param, frozen
):
    monkeypatch.setattr(parallel, "MIN_BLOCK_ENTRIES", 1 << 10)  # many blocks at this size
    monkeypatch.setattr(compiled, "BLOCK", 1 << 10)
    rng = np.random.default_rng(3)
    x, up = rng.standard_normal(shape), rng.standard_normal(shape)
    params = {"axes": axes, "eps": 1e-5, "weight": rng.standard_normal(param)}
    params.update(bias=rng.standard_normal(param), mean=None, var=None)
    if frozen:
        params.update(mean=rng.standard_normal(param), var=rng.random(param) + 0.5)
    found = {}
    for threads in ("1", "2", "4"):
        monkeypatch.setenv("GRADCALC_THREADS", threads)
        with kernel(True):
            found[threads], ran = run_op(x, up, params)
        assert ran
    for threads in ("2", "4"):
        assert all(found[threads][k].tobytes() == found["1"][k].tobytes() for k in found["1"])


def test_the_kernel_runs_where_it_is_meant_to():
    x = np.zeros((32, 64, 32, 32))
    per_channel = {"axes": (0, 2, 3), "eps": 1e-5, "weight": np.ones((1, 64, 1, 1))}
    per_channel.update(bias=None, mean=None, var=None)
    assert compiled.layout(x, per_channel)[1:3] == ("channels", (32, 64, 1024))
    small = {**per_channel, "weight": np.ones((1, 4, 1, 1))}
    assert compiled.layout(x[:2, :4], small) is None  # small: the NumPy path
    assert compiled.layout(x.astype(object), per_channel) is None  # exact values
    assert compiled.layout(x, {**per_channel, "weight": np.ones((1, 64, 32, 1))}) is None
    rows = {"axes": (2,), "eps": 1e-5, "weight": np.ones((1, 1, 512)), "bias": None}
    rows.update(mean=None, var=None)
    assert compiled.layout(np.zeros((64, 128, 512)), rows)[1:3] == ("rows", (8192, 1, 512, 1))
    whole = {**rows, "axes": (0, 1, 2), "weight": np.ones((64, 128, 512))}
    assert compiled.layout(np.zeros((64, 128, 512)), whole)[1:3] == ("rows", (1, 1, 1 << 22, 1))
    groups = {**rows, "axes": (2, 3), "weight": np.ones((1, 8, 4, 1))}
    assert compiled.layout(np.zeros((4, 8, 4, 1024)), groups)[1:3] == ("rows", (32, 8, 4, 1024))
    one_d = {**per_channel, "axes": (0,), "weight": None}
    assert compiled.layout(np.zeros((4096, 64)), one_d)[1:3] == ("channels", (4096, 64, 1))


# -- the kernel refuses what it was not made for --------------------------------------------------


def forward_args(**change) -> list:
    """channels_forward's arguments for a 2×3×4 x, with ``change`` replacing some."""
    args = {"x": np.zeros(24), "y": np.empty(24), "x_hat": None, "mean": np.empty(3)}
    args.update(var=np.empty(3), weight=np.ones(3), bias=None, n=2, c=3, l=4, eps=1e-5)
    args.update(frozen=False, c0=0, c1=3)
    args.update(change)
    return list(args.values())


@pytest.mark.parametrize(
    "change",
    [
        {"x": np.zeros(24, dtype=np.float32)},  # another dtype
        {"x": np.zeros(24, dtype=np.int64)},
        {"x": np.zeros(48)[::2]},  # not contiguous
        {"x": np.zeros(23)},  # short
        {"x": [0.0] * 24},  # not a buffer
        {"x": None},
        {"weight": np.ones(2)},
        {"mean": np.empty(4)},
        {"y": np.zeros(24).view()},  # made read-only below
        {"c1": 4},  # a channel range beyond C
        {"c0": -1},
        {"c0": 2, "c1": 1},
        {"n": 0},
        {"n": 2**40, "c": 2**40},  # n·c·l overflows
    ],
)
def test_bad_buffers_raise_instead_of_crashing(change):
    module = kernels.load("_norm_channels")
    if "y" in change:
        change["y"].flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError, OverflowError)):
        module.channels_forward(*forward_args(**change))
    module.channels_forward(*forward_args())  # and the unchanged call runs


def test_outputs_may_not_overlap_inputs():
    channels, rows = kernels.load("_norm_channels"), kernels.load("_norm_rows")
    x = np.zeros(24)
    with pytest.raises(ValueError, match="overlap"):
        channels.channels_forward(*forward_args(x=x, y=x))
    grad = np.zeros(24)
    with pytest.raises(ValueError, match="overlap"):  # rows_backward: grad_y written over
        rows.rows_backward(
            grad, x, np.zeros(6), np.ones(6), None, grad, np.empty((1, 4)), np.empty((1, 4)),
            6, 1, 4, 1, 1e-5, 8, 0, 6,
        )  # fmt: skip


def test_rows_backward_checks_its_blocks():
    module = kernels.load("_norm_rows")
    x, grad = np.zeros(24), np.empty(24)
    parts = np.empty((2, 4)), np.empty((2, 4))
    common = (x, x, np.zeros(6), np.ones(6), None, grad, *parts, 6, 1, 4, 1, 1e-5)
    module.rows_backward(*common, 3, 0, 6)
    with pytest.raises(ValueError):
        module.rows_backward(*common, 3, 1, 6)  # a range starting inside a block
    with pytest.raises(ValueError):
        module.rows_backward(*common, 2, 0, 6)  # 3 blocks of 2 rows, partial sums for 2
    with pytest.raises(ValueError):
        module.rows_backward(*common, 0, 0, 6)
    one_block = np.empty((1, 4)), np.empty((1, 4))  # ⌈R/block⌉ must not overflow on the way
    huge = (x, x, np.zeros(6), np.ones(6), None, grad, *one_block, 6, 1, 4, 1, 1e-5, 2**63 - 1)
    module.rows_backward(*huge, 0, 6)
