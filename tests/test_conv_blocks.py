"""conv2d and conv_transpose2d in float64 run in blocks of the batch on core/parallel.py's
threads: every result is the same to the bit for GRADCALC_THREADS=1, 2 and 4, and the same
as the whole batch in one block (no split at all)."""

from __future__ import annotations

import numpy as np
import pytest

from gradcalc.core import parallel
from gradcalc.core.ops import adapter
from gradcalc.core.ops.conv import BIAS_ADD, CONV2D, ConvGeometry
from gradcalc.core.ops.conv_transpose import CONV_TRANSPOSE2D, ConvTransposeGeometry

CONVS = [  # batch, in, out, H, W, kernel, stride, padding, dilation, groups
    (8, 3, 16, 32, 32, 3, 1, (1, 1, 1, 1), 1, 1),
    (6, 4, 8, 20, 24, 3, 2, (0, 1, 1, 2), 1, 2),
    (5, 6, 6, 24, 24, 3, 1, (2, 2, 2, 2), 2, 6),
]


def conv_results(case: tuple, flip: bool) -> list[np.ndarray]:
    n, c, o, h, w, k, s, padding, d, groups = case
    g = ConvGeometry(
        batch=n,
        in_channels=c,
        out_channels=o,
        in_h=h,
        in_w=w,
        kernel_h=k,
        kernel_w=k,
        stride=(s, s),
        padding=padding,
        dilation=(d, d),
        groups=groups,
    )
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, c, h, w))
    kernel = rng.standard_normal((o, c // groups, k, k))
    upstream = rng.standard_normal((n, o, g.out_h, g.out_w))
    params = {"kernel": kernel, "geometry": g, "flip": flip}
    y, trace = adapter.forward(CONV2D, x, params, exact=False)
    y, bias_trace = adapter.forward(BIAS_ADD, y, {"bias": rng.standard_normal(o)}, exact=False)
    bias_grads = adapter.backward(upstream, bias_trace)
    grads = adapter.backward(bias_grads["input"], trace)
    return [y, grads["input"], grads["kernel"], bias_grads["bias"]]


def transpose_results(groups: int) -> list[np.ndarray]:
    t = ConvTransposeGeometry(
        batch=8,
        in_channels=32,
        out_channels=16,
        groups=groups,
        in_h=16,
        in_w=16,
        kernel_h=3,
        kernel_w=3,
        stride=(2, 2),
        padding=(1, 1, 1, 1),
        dilation=(1, 1),
        output_padding=(1, 1),
    )
    rng = np.random.default_rng(groups)
    x = rng.standard_normal((8, 32, 16, 16))
    kernel = rng.standard_normal((32, 16 // groups, 3, 3))
    upstream = rng.standard_normal((8, 16, t.out_h, t.out_w))
    y, trace = adapter.forward(CONV_TRANSPOSE2D, x, {"kernel": kernel, "geometry": t}, exact=False)
    grads = adapter.backward(upstream, trace)
    return [y, grads["input"], grads["kernel"]]


def every_result() -> list[bytes]:
    results = [r for case in CONVS for flip in (False, True) for r in conv_results(case, flip)]
    results += [r for groups in (1, 4) for r in transpose_results(groups)]
    return [np.ascontiguousarray(r).tobytes() for r in results]


def test_the_benchmark_conv_is_split() -> None:
    assert len(parallel.spans(8, (16 + 27) * 32 * 32)) > 1


@pytest.mark.parametrize("threads", ["1", "2", "4"])
def test_blocks_give_the_bits_of_one_block(monkeypatch, threads: str) -> None:
    monkeypatch.setenv("GRADCALC_THREADS", "1")
    monkeypatch.setattr(parallel, "MIN_BLOCK_ENTRIES", 2**60)  # one block: no split
    whole = every_result()
    monkeypatch.undo()
    monkeypatch.setenv("GRADCALC_THREADS", threads)
    assert every_result() == whole
