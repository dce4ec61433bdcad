"""Large float64 normalizations run a block of rows at a time over several threads
(core/ops/normalization_rows.py), or by the compiled kernel (core/ops/normalization_kernel.py):
the results must not depend on the thread count, and batch norm 2d's blocked path gives the
whole-array path's numbers bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from gradcalc.core.ops import adapter
from gradcalc.core.ops import normalization_rows as rows
from gradcalc.core.ops.normalization import NORMALIZE, x_hat_of

# (x's shape, the statistic's axes, γ's broadcast shape): batch norm 2d, layer norm, group norm
LAYOUTS = {
    "batchnorm2d": ((8, 16, 24, 40), (0, 2, 3), (1, 16, 1, 1)),
    "batchnorm2d long rows": ((3, 5, 70, 80), (0, 2, 3), (1, 5, 1, 1)),
    "layernorm": ((12, 40, 320), (2,), (1, 1, 320)),
    "layernorm wide": ((3, 5000, 9), (1, 2), (1, 5000, 9)),
    "groupnorm": ((4, 4, 8, 1200), (2, 3), (1, 4, 8, 1)),
}


def run(shape, axes, param_shape, *, affine: bool = True) -> dict[str, np.ndarray]:
    """Every array the float op gives: y, its cache's statistics and x̂, and the gradients."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape) * 2 + 0.5
    upstream = rng.standard_normal(shape)
    params = {"axes": axes, "eps": 1e-5, "weight": None, "bias": None, "mean": None, "var": None}
    if affine:
        params.update(
            weight=rng.standard_normal(param_shape), bias=rng.standard_normal(param_shape)
        )
    y, trace = adapter.forward(NORMALIZE, x, params, exact=False)
    found = {"y": y, **{k: np.asarray(trace.cache[k]) for k in ("mean", "var", "sigma")}}
    found["x_hat"] = x_hat_of(trace.cache)
    found.update({f"grad {k}": v for k, v in adapter.backward(upstream, trace).items()})
    return found


def identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(
        a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes() for k in a
    )


@pytest.mark.parametrize("kernels", ["on", "off"])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_results_are_the_same_bytes_for_any_thread_count(monkeypatch, layout, affine, kernels):
    shape, axes, param_shape = LAYOUTS[layout]
    monkeypatch.setenv("GRADCALC_KERNELS", kernels)  # the compiled path where it is built
    found = {}
    for threads in ("1", "2", "4"):
        monkeypatch.setenv("GRADCALC_THREADS", threads)
        found[threads] = run(shape, axes, param_shape, affine=affine)
    assert identical(found["1"], found["2"]) and identical(found["1"], found["4"])


@pytest.mark.parametrize("block", [50, rows.BLOCK])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize(
    "shape",
    [(8, 16, 24, 40), (3, 5, 70, 80), (5, 7, 9, 11), (2, 3, 4, 5, 6), (9, 4, 2, 8000)]
    + [(3, 3, 2, 4500), (3, 3, 150, 150)],  # rows of more than 8192, an odd number of them
)
def test_batch_norm_2d_blocks_give_the_whole_array_paths_numbers(monkeypatch, shape, affine, block):
    """The channels path (made to run at every size, with blocks of ``block`` entries)
    against the whole-array path (made to run at every size): the same bytes."""
    axes = (0, *range(2, len(shape)))
    param_shape = (1, shape[1]) + (1,) * (len(shape) - 2)
    monkeypatch.setenv("GRADCALC_KERNELS", "off")  # the NumPy paths, not the compiled one
    monkeypatch.setattr(rows, "SMALLEST", 1)
    monkeypatch.setattr(rows, "BLOCK", block)
    monkeypatch.setenv("GRADCALC_THREADS", "2")
    blocked = run(shape, axes, param_shape, affine=affine)
    monkeypatch.setattr(rows, "SMALLEST", 1 << 62)
    whole = run(shape, axes, param_shape, affine=affine)
    assert identical(blocked, whole)


def test_the_paths_apply_where_they_are_meant_to():
    big = (8, 16, 24, 40)
    assert rows.fits_channels(big, (0, 2, 3), (1, 16, 1, 1))
    assert rows.fits_channels(big, (0, 2, 3), None)
    assert not rows.fits_channels(big, (0, 2, 3), (1, 16, 24, 1))  # γ not per channel
    assert not rows.fits_channels((4096, 32, 1, 1), (0, 2, 3), (1, 32, 1, 1))  # H·W of 1
    assert not rows.fits_channels((2048, 256), (0,), (1, 256))  # batch norm 1d
    assert not rows.fits_channels((5, 7, 9, 11), (0, 2, 3), (1, 7, 1, 1))  # small
    assert rows.fits((12, 40, 320), (2,), (1, 1, 320))
    assert not rows.fits((4, 4, 8, 1200), (2, 3), (1, 4, 8, 1))  # group norm's γ per channel
