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

# Below this many entries NumPy's passes cost a few microseconds: the kernel saves nothing
# worth a second code path.
MIN_ENTRIES = 1 << 12
# The kernel refuses a dim above 2^30 (its index arithmetic stays far from overflow): a
# larger array (8 GiB, beyond any --max-elements) takes NumPy's path.
MOST_ENTRIES = 1 << 30


def net_kernel(*arrays: np.ndarray) -> ModuleType | None:
    """The _net kernel module when every array is float64 and the first holds from
    MIN_ENTRIES to MOST_ENTRIES entries; None for the NumPy path (or when the kernel is off
    or not built)."""
    if not MIN_ENTRIES <= arrays[0].size <= MOST_ENTRIES:
        return None
    if any(array.dtype != np.float64 for array in arrays):
        return None
    from gradcalc.core.ops import kernels  # here: problems too small for the kernel never load it

    return kernels.load("_net")
