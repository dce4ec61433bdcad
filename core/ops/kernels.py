"""Optional compiled kernels: C loops that fuse several NumPy passes into one.

A kernel module is `core/ops/_NAME.c`, built by setup.py into `gradcalc.core.ops._NAME`
when gradcalc is installed and a C compiler is at hand (one C file per module; the
headers `core/ops/_*.h` hold what several share, such as the buffer checks of
_kernel_buffers.h, and are no modules). Each op that has one keeps its NumPy path as
well, and uses the kernel only where it pays (large float64 arrays); the
kernel computes the same quantities, so results differ from the NumPy path at most by
rounding order (the tests hold both paths to each other and to finite differences).

The kernels take C-contiguous float64 buffers and check every shape they are given:
they never read or write outside the arrays they receive.

Environment:
- `GRADCALC_KERNELS=off` runs the NumPy paths even where a kernel is built (the tests
  use it to cover both paths).
- `GRADCALC_REQUIRE_KERNELS=1` makes a kernel that failed to build an error instead of
  a silent fallback (CI sets it, so that a broken build cannot hide behind the fallback).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

_loaded: dict[str, ModuleType | None] = {}


def available() -> list[str]:
    """The kernel modules this source tree defines (`_NAME` for each core/ops/_NAME.c)."""
    from pathlib import Path  # here: the commands never ask, and pathlib costs start-up

    return sorted(source.stem for source in Path(__file__).parent.glob("_*.c"))


def load(name: str) -> ModuleType | None:
    """The compiled kernel module `_NAME`, or None to use the NumPy path.

    None when `GRADCALC_KERNELS=off` or when the module was not built; with
    `GRADCALC_REQUIRE_KERNELS=1` a module that was not built raises ImportError.
    """
    if os.environ.get("GRADCALC_KERNELS", "").strip().lower() in ("off", "0", "no"):
        return None
    if name not in _loaded:
        try:
            _loaded[name] = importlib.import_module(f"{__package__}.{name}")
        except ImportError:
            if os.environ.get("GRADCALC_REQUIRE_KERNELS", "").strip() == "1":
                raise ImportError(
                    f"gradcalc's compiled kernel {name} is not built (GRADCALC_REQUIRE_KERNELS=1):"
                    " reinstall with a C compiler, `pip install -e .`"
                ) from None
            _loaded[name] = None
    return _loaded[name]
