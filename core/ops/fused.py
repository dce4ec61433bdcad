"""When the float64 ops take the compiled loops of core/ops/_net.c (im2col, col2im, tiled max
pooling, ReLU) instead of their NumPy passes.

The loops compute the same entries in the same order as the NumPy code they replace
(see _net.c), so the results are the same bit for bit; they pay from a few thousand
entries, where one pass replaces several (or a fancy-indexed gather or scatter).  Exact
(object) and integer arrays always take the NumPy path.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from gradcalc.core.ops import kernels

# Below this many entries NumPy's passes cost a few microseconds: the kernel saves nothing
# worth a second code path.
MIN_ENTRIES = 1 << 12


def net_kernel(*arrays: np.ndarray) -> ModuleType | None:
    """The _net kernel module when every array is float64 and the first holds at least
    MIN_ENTRIES entries; None for the NumPy path (or when the kernel is off or not built)."""
    if arrays[0].size < MIN_ENTRIES or any(array.dtype != np.float64 for array in arrays):
        return None
    return kernels.load("_net")
