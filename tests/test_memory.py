"""core/memory.py: a large float64 op asks glibc's malloc once to keep freed memory (or
nothing, where there is no glibc); small problems never ask (nor import ctypes)."""

from __future__ import annotations

import numpy as np

from gradcalc.core import memory
from gradcalc.core.ops import adapter
from gradcalc.core.ops.elementwise import ELEMENTWISE


def test_a_large_float_op_keeps_freed_memory_once(monkeypatch) -> None:
    monkeypatch.setattr(memory, "_memory_kept", [False])
    relu = ELEMENTWISE["relu"]
    small = np.linspace(-1, 1, 10)
    y, _ = adapter.forward(relu, small, {"subgradient": None}, exact=False)
    assert memory._memory_kept == [False]
    large = np.linspace(-1, 1, adapter.LARGE_ENTRIES)
    y, _ = adapter.forward(relu, large, {"subgradient": None}, exact=False)
    assert memory._memory_kept == [True]
    assert np.array_equal(y, np.maximum(large, 0.0))
    memory.keep_freed_memory()  # a second call does nothing
