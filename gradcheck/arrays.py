"""Comparisons of whole arrays that make no temporary of their size.

A check compares tensors many times (did a forward change its input, does a second forward
repeat the first, did a backward touch its parameters). ``np.array_equal(a, b,
equal_nan=True)`` copies every non-NaN value of both arrays to compare them, and a fresh
array of a large tensor's size costs a page fault per 4 KiB on first touch, which on a
virtual machine is several microseconds each: more than the comparison itself. These work in
blocks of ``BLOCK`` elements, whose boolean temporaries (64 KiB) stay below glibc's initial
mmap threshold, so the allocator keeps reusing them; a tensor of up to ``BLOCK`` elements is
compared in one call (blocks of 8,192 cost twice the time of one comparison at 50,000).
"""

from __future__ import annotations

import numpy as np

__all__ = ["BLOCK", "close_to_multiple", "holds_floats", "same_values"]

BLOCK = 1 << 16   # elements compared at a time (64 KiB of booleans: served from the heap)
_FLOAT_BLOCK = 1 << 13   # elements scaled at a time by close_to_multiple (64 KiB of float64)
_NUMBERS = "biufc"   # dtype kinds np.equal compares as numbers


def holds_floats(a) -> bool:
    """Whether ``a`` holds real or complex floats (not integers or booleans: token ids,
    indices and masks are constants to a check)."""
    return np.asarray(a).dtype.kind in "fc"


def _flat_pairs(a: np.ndarray, b: np.ndarray, block: int = BLOCK):
    """Matching blocks of ``block`` elements of ``a`` and ``b`` (same shape), as flat views
    where possible."""
    a, b = np.ravel(a), np.ravel(b)
    for start in range(0, a.size, block):
        yield a[start:start + block], b[start:start + block]


def same_values(a, b) -> bool:
    """True when ``a`` and ``b`` have one shape and equal values, NaN equal to NaN (dtypes
    may differ, as for ``np.array_equal``)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    numbers = a.dtype.kind in _NUMBERS and b.dtype.kind in _NUMBERS
    if a.size <= BLOCK:   # one block: no temporary worth avoiding
        return _equal(a, b, numbers)
    return all(_equal(x, y, numbers) for x, y in _flat_pairs(a, b))


def _equal(x: np.ndarray, y: np.ndarray, numbers: bool) -> bool:
    """Equal values (NaN equal to NaN) of two arrays of one shape: for numbers one
    comparison when no NaN differs (the common case), else ``np.array_equal``'s."""
    if numbers and np.equal(x, y).all():
        return True
    return np.array_equal(x, y, equal_nan=numbers)   # objects (a None) have no NaN


def close_to_multiple(a, b, factor: float, rtol: float) -> bool:
    """``a == factor * b`` or ``|a - factor * b| <= rtol * |factor * b| + tiny`` everywhere
    (same shapes; NaN never matches). Equality is tried first, in one comparison: scaling by
    a power of two is exact, so a linear backward of ``2 dy`` gives exactly twice that of
    ``dy``, except below the smallest normal number ``tiny`` of the dtype, where subnormal
    values keep fewer digits (``2 * (dy * p)`` and ``(2 * dy) * p`` may differ there)."""
    a, b = np.asarray(a), np.asarray(b)
    dtype = np.result_type(a, b)
    tiny = float(np.finfo(dtype).tiny) if dtype.kind in "fc" else 0.0
    for x, y in _flat_pairs(a, b, _FLOAT_BLOCK):
        scaled = factor * y
        if np.equal(x, scaled).all():
            continue
        bound = np.abs(scaled)
        bound *= rtol
        bound += tiny
        if not (np.abs(x - scaled) <= bound).all():
            return False
    return True
