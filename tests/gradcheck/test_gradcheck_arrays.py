"""Block-wise comparisons (gradcheck.arrays) and the allocator warm-up (gradcheck.allocator)."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck.allocator import MAX_WARMED, TEMPORARIES_PER_TENSOR, warm_allocator
from gradcheck.arrays import BLOCK, close_to_multiple, same_values
from gradcheck.selection import random_directions, random_directions_of, rng_for

ROOT = Path(__file__).resolve().parents[2]
SIZES = [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 5]


@pytest.mark.parametrize("size", SIZES)
def test_same_values_agrees_with_array_equal_nan_aware(size):
    rng = np.random.default_rng(size)
    a = rng.normal(size=size)
    a[::7] = np.nan
    assert same_values(a, a.copy())
    assert same_values(a, a.astype(np.float32).astype(np.float64)) == np.array_equal(
        a, a.astype(np.float32).astype(np.float64), equal_nan=True)
    if size:
        b = a.copy()
        b[-1] = 1.5 if np.isnan(b[-1]) else np.nan   # the last block differs in one value
        assert not same_values(a, b)
        assert not np.array_equal(a, b, equal_nan=True)


def test_same_values_needs_one_shape_and_takes_views_and_ints():
    a = np.arange(12.0).reshape(3, 4)
    assert not same_values(a, a.reshape(4, 3))
    assert same_values(a.T, a.T.copy())            # non-contiguous views
    assert same_values(np.arange(5), np.arange(5.0))
    assert not same_values(np.array([1, 2]), np.array([1, 3]))


@pytest.mark.parametrize("size", SIZES[1:])
def test_close_to_multiple_is_elementwise(size):
    rng = np.random.default_rng(size)
    b = rng.normal(size=size)
    assert close_to_multiple(2 * b, b, 2.0, 1e-12)
    off = 2 * b
    off[size // 2] *= 1 + 1e-6
    assert not close_to_multiple(off, b, 2.0, 1e-8)
    assert close_to_multiple(off, b, 2.0, 1e-5)
    off[0] = np.nan
    assert not close_to_multiple(off, b, 2.0, 1.0)


def test_warm_allocator_sizes_its_block_from_the_largest_array():
    small = [np.zeros(10), "not an array", None]
    assert warm_allocator(small) == 0
    big = np.zeros(50_000)
    assert warm_allocator([small[0], big]) == TEMPORARIES_PER_TENSOR * big.nbytes
    assert warm_allocator([np.zeros(1, np.uint8)] * 2) == 0
    huge = np.lib.stride_tricks.as_strided(np.zeros(1), (10**8,), (0,))   # no memory
    assert warm_allocator([huge]) == MAX_WARMED


_CYCLES = """
import resource, sys
import numpy as np
from gradcheck.allocator import warm_allocator
n = 60_000   # 480 KB: above glibc's initial 128 KiB mmap threshold
if sys.argv[1] == "warm":
    warm_allocator([np.zeros(n)])
def cycle():   # four tensor-sized temporaries alive at once, then freed together
    held = [np.ones(n) for _ in range(4)]
    del held
cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    cycle()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="the dynamic mmap and trim thresholds are glibc's")
def test_after_warming_temporaries_of_the_tensors_size_reuse_memory():
    """In a fresh process, freeing four 480 KB arrays together hands the heap top back to the
    kernel, so every cycle faults its pages in again; after the warm-up it keeps them (glibc's
    tuning variables, which Dask's nanny sets, are left out of the child's environment)."""
    def faults(mode):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
        done = subprocess.run([sys.executable, "-c", _CYCLES, mode], capture_output=True,
                              text=True, check=True, cwd=ROOT, env=env)
        return int(done.stdout)
    pages = 20 * 4 * 60_000 * 8 // 4096
    assert faults("cold") > pages // 2
    assert faults("warm") < pages // 20


def test_directions_drawn_together_are_unit_vectors_like_one_at_a_time():
    sizes = [1, 10, 4096, 3]
    together = random_directions_of(rng_for(0, "together"), sizes)
    assert [v.shape for v in together] == [(n,) for n in sizes]
    for v in together:
        assert np.isclose(np.linalg.norm(v), 1.0)
        magnitudes = np.abs(v) / np.abs(v).max()
        assert magnitudes.min() > 0.5   # magnitudes in [1, 2): bounded away from 0
    alone = random_directions(rng_for(0, "alone"), 1, 4096)[0]
    assert (alone > 0).mean() == pytest.approx(0.5, abs=0.05)
    assert (together[2] > 0).mean() == pytest.approx(0.5, abs=0.05)
    assert random_directions_of(rng_for(0, "none"), []) == []
    with pytest.raises(ValueError, match="at least 1"):
        random_directions_of(rng_for(0, "empty"), [3, 0])


def test_probes_compare_arrays_with_nans_as_equal_values():
    """A dy holding NaN that backward leaves alone is not reported as changed in place, and a
    forward that leaves a NaN input alone did not mutate it (NaN != NaN elementwise)."""
    from gradcheck.probe_calls import first_backward
    from gradcheck.probes import forward_keeps_its_input
    from reference_nets.layers.activations import Tanh

    layer = Tanh()
    x = np.array([[0.5, np.nan, -1.0]])
    _, mutated, rows = forward_keeps_its_input("tanh", layer, x)
    assert not mutated and rows == []
    dy = np.array([[1.0, np.nan, 2.0]])
    (_, _, _, problems), _ = first_backward("tanh", layer, dy, dy.copy())
    assert [r["check"] for r in problems] == []
    dy[0, 0] = 3.0   # a real change is still seen
    (_, _, _, problems), _ = first_backward("tanh", layer, dy, np.array([[1.0, np.nan, 2.0]]))
    assert [r["check"] for r in problems] == ["mutation"]


def test_close_to_multiple_allows_subnormal_round_off_only():
    tiny = np.finfo(float).tiny
    b = np.array([1.0, 3e-321])          # the second is subnormal
    off = 2 * b
    off[1] += 5e-324                      # one subnormal step
    assert close_to_multiple(off, b, 2.0, 1e-12)
    off[1] = 2 * b[1] + 2 * tiny          # beyond the subnormal range
    assert not close_to_multiple(off, b, 2.0, 1e-12)
