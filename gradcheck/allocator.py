"""Serve a check's large temporaries from memory the process already holds.

glibc's ``malloc`` gives a request of at least its *mmap threshold* (128 KiB when a process
starts) fresh pages from the kernel and hands them back on ``free``; and it hands the top of
its heap back once more than its *trim threshold* of it is free. Its dynamic rule raises both
when the program frees a block above the mmap threshold: to that block's size, and to twice
it. A check makes many temporaries the size of its tensors (random directions, saved values,
moved copies, and the layers' own outputs and gradients), so until the process has freed a
block that large, each of them costs a page fault per 4 KiB the first time it is written: on
this project's virtual machine about 5 µs a fault and 1,100 faults per default check of a
784-64-10 MLP, a fifth of the check (``bench/README.md``).

:func:`warm_allocator` tells the allocator that size before a check starts, exactly as the
free of any array that large would: one block is allocated and freed, no page of it touched.
It never lowers a threshold. The cost to the process: it may keep up to twice that size of
freed memory for reuse instead of returning it to the kernel at once. Other allocators
(macOS, musl, Windows) are not affected by it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_WARMED", "warm_allocator"]

MAX_WARMED = 32 << 20     # glibc's largest dynamic mmap threshold on 64-bit systems
_INITIAL = 128 << 10      # glibc's mmap threshold at process start
TEMPORARIES_PER_TENSOR = 16   # the largest temporary, in sizes of the largest tensor


def warm_allocator(arrays) -> int:
    """Have the allocator reuse memory for temporaries up to a few times the largest of
    ``arrays`` (an iterable of arrays, or anything else, which is skipped).

    Returns
    -------
    int
        The size of the block allocated and freed, in bytes (0 when none was needed).
    """
    largest = max((a.nbytes for a in arrays if isinstance(a, np.ndarray)), default=0)
    size = min(MAX_WARMED, TEMPORARIES_PER_TENSOR * largest)
    if size <= _INITIAL:
        return 0
    np.empty(size, np.uint8)   # allocated and freed at once, never written
    return size
