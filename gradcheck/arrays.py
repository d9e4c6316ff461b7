"""Comparisons of whole arrays that make no temporary of their size.

A check compares tensors many times (did a forward change its input, does a second forward
repeat the first, did a backward touch its parameters). ``np.array_equal(a, b,
equal_nan=True)`` copies every non-NaN value of both arrays to compare them, and a fresh
array of a large tensor's size costs a page fault per 4 KiB on first touch, which on a
virtual machine is several microseconds each: more than the comparison itself. These work in
blocks of ``BLOCK`` elements, whose temporaries the allocator keeps reusing.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BLOCK", "close_to_multiple", "same_values"]

BLOCK = 1 << 13   # elements compared at a time (64 KiB of float64: served from the heap)


def _flat_pairs(a: np.ndarray, b: np.ndarray):
    """Matching blocks of ``a`` and ``b`` (same shape), as flat views where possible."""
    a, b = np.ravel(a), np.ravel(b)
    for start in range(0, a.size, BLOCK):
        yield a[start:start + BLOCK], b[start:start + BLOCK]


def same_values(a, b) -> bool:
    """True when ``a`` and ``b`` have one shape and equal values, NaN equal to NaN (dtypes
    may differ, as for ``np.array_equal``)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.size <= BLOCK:   # one block: no temporary worth avoiding
        return np.array_equal(a, b) or np.array_equal(a, b, equal_nan=True)
    return all(np.array_equal(x, y) or np.array_equal(x, y, equal_nan=True)
               for x, y in _flat_pairs(a, b))


def close_to_multiple(a, b, factor: float, rtol: float) -> bool:
    """``|a - factor * b| <= rtol * |factor * b|`` everywhere (same shapes; NaN never
    matches)."""
    for x, y in _flat_pairs(np.asarray(a), np.asarray(b)):
        y = factor * y
        if not (np.array_equal(x, y) or np.all(np.abs(x - y) <= rtol * np.abs(y))):
            return False
    return True
