"""Run NumPy work on blocks of an array on a few threads at once.

NumPy's ufuncs, reductions and BLAS calls release the GIL while they work on
large arrays, so blocks of one big float64 problem can run concurrently on
several cores, as PyTorch's CPU kernels do. Results never depend on how many
threads there are: the blocks are chosen from the array's size alone and
their partial results are combined in block order, so a reduction adds the
same numbers in the same order on a 1-core and a 16-core machine.

`GRADCALC_THREADS=1` turns the pool off (everything runs in the calling
thread); the default is the number of cores, at most 4.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

# Below this many float64 entries a block is not worth a thread hand-off
# (about 0.1 ms of work); such arrays run as one block.
MIN_BLOCK_ENTRIES = 1 << 16

_pool = None
_pool_lock = threading.Lock()


def workers() -> int:
    """How many threads block work may use (GRADCALC_THREADS, else cores, at most 4)."""
    text = os.environ.get("GRADCALC_THREADS", "").strip()
    if text.isdigit() and int(text) >= 1:
        return int(text)
    return max(1, min(os.cpu_count() or 1, 4))


def spans(length: int, entries_per_item: int, max_blocks: int = 8) -> list[tuple[int, int]]:
    """Split range(length) into consecutive (start, stop) spans of at least MIN_BLOCK_ENTRIES.

    `entries_per_item` is how many array entries one index of the range stands
    for (a row of a matrix, a sample of a batch). The split depends only on
    these sizes, never on the thread count, so block results are reproducible.
    """
    if length <= 0:
        return []
    total = length * max(entries_per_item, 1)
    count = int(min(max_blocks, length, max(1, total // MIN_BLOCK_ENTRIES)))
    edges = [length * i // count for i in range(count + 1)]
    return [(edges[i], edges[i + 1]) for i in range(count)]


def run_blocks(work: Callable[[int, int], T], blocks: Sequence[tuple[int, int]]) -> list[T]:
    """`[work(start, stop) for (start, stop) in blocks]`, the calls spread over the threads.

    The list is in block order whatever order the threads finish in. An
    exception in any block is raised here, in the caller's thread.
    """
    if len(blocks) <= 1 or workers() <= 1:
        return [work(start, stop) for start, stop in blocks]
    results: list = [None] * len(blocks)
    next_index = iter(range(len(blocks)))
    index_lock = threading.Lock()

    def drain() -> None:
        # Every thread, the caller's too, takes the next undone block until none is left,
        # so uneven blocks or a busy core do not leave one thread with most of the work.
        while True:
            with index_lock:
                index = next(next_index, None)
            if index is None:
                return
            results[index] = work(*blocks[index])

    # Each helper runs in a copy of the caller's context: NumPy's np.errstate lives there,
    # and a block must warn, ignore or raise as the caller's own code would.
    context = contextvars.copy_context()
    helpers = [
        _shared_pool().submit(context.copy().run, drain)
        for _ in range(min(workers(), len(blocks)) - 1)
    ]
    try:
        drain()
    finally:
        for helper in helpers:
            helper.result()  # waits, and raises here an exception from a block that helper ran
    return results


def _shared_pool():
    # Imported and built on first use: most problems are tiny and never get here,
    # and gradcalc's start-up time is measured against the bare import floor.
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(
                max_workers=max(workers() - 1, 1), thread_name_prefix="gradcalc-block"
            )
        return _pool
