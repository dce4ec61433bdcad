"""core.parallel: block splits are independent of the thread count and results keep block order."""

import numpy as np
import pytest

from core import parallel


@pytest.mark.parametrize("threads", ["1", "2", "4"])
def test_block_sums_are_identical_for_every_thread_count(monkeypatch, threads):
    monkeypatch.setenv("GRADCALC_THREADS", threads)
    rng = np.random.default_rng(0)
    values = rng.standard_normal((64, 5000))
    blocks = parallel.spans(64, 5000)
    assert len(blocks) > 1
    parts = parallel.run_blocks(lambda a, b: values[a:b].sum(axis=0), blocks)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    reference = values[0 : blocks[0][1]].sum(axis=0)
    for a, b in blocks[1:]:
        reference = reference + values[a:b].sum(axis=0)
    assert np.array_equal(total, reference)


def test_spans_cover_the_range_in_order_and_small_work_is_one_block():
    assert parallel.spans(0, 10) == []
    assert parallel.spans(10, 3) == [(0, 10)]
    blocks = parallel.spans(1000, 1000, max_blocks=8)
    assert blocks[0][0] == 0 and blocks[-1][1] == 1000
    assert all(stop == start for (_, stop), (start, _) in zip(blocks, blocks[1:], strict=False))
    assert len(blocks) == 8


def test_an_exception_in_a_block_reaches_the_caller(monkeypatch):
    monkeypatch.setenv("GRADCALC_THREADS", "2")

    def work(start, stop):
        if start > 0:
            raise ValueError("block failed")
        return start

    with pytest.raises(ValueError, match="block failed"):
        parallel.run_blocks(work, [(0, 1), (1, 2)])


def test_bad_thread_settings_fall_back_to_the_default(monkeypatch):
    monkeypatch.setenv("GRADCALC_THREADS", "zero")
    assert parallel.workers() >= 1
    monkeypatch.setenv("GRADCALC_THREADS", "0")
    assert parallel.workers() >= 1


@pytest.mark.parametrize("threads", ["1", "2"])
def test_blocks_follow_the_callers_errstate(monkeypatch, threads):
    """np.errstate (a context variable) holds in every block, on whichever thread it runs."""
    monkeypatch.setenv("GRADCALC_THREADS", threads)
    values = np.zeros(8)

    def divide(start, stop):
        return np.ones(stop - start) / values[start:stop]

    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        parallel.run_blocks(divide, [(0, 4), (4, 8)])
    with np.errstate(divide="ignore"):
        parts = parallel.run_blocks(divide, [(0, 4), (4, 8)])
    assert all(np.isinf(part).all() for part in parts)
