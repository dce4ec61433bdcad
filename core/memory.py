"""Memory for large float64 work: have glibc's malloc reuse freed memory.

By default glibc's malloc gives an array of more than 128 KiB fresh pages from the kernel
(mmap) and hands them back when the array is freed, so every new large array page-faults
in zeroed pages.  A float64 net of the net benchmark's size (8×16×32×32 activations) spent
about as long in those faults (2,100 per run, 2.5 ms of system time) as in its arithmetic;
PyTorch's allocator avoids them.  ``keep_freed_memory`` asks malloc, once per process, to
take blocks up to 32 MiB from its heap and keep up to 128 MiB of freed memory there.
core/ops/adapter.py asks from its ``LARGE_ENTRIES`` float64 entries on, and only then imports
this module.
"""

from __future__ import annotations

# glibc's mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_MMAP_THRESHOLD.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_memory_kept = [False]


def keep_freed_memory() -> None:
    """Have glibc's malloc keep freed memory for the next arrays (once per process; nothing
    happens where there is no glibc: mallopt is looked up in the running process)."""
    if _memory_kept[0]:
        return
    _memory_kept[0] = True
    try:
        import ctypes  # here: a few ms of import that small problems never pay

        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 128 << 20)
