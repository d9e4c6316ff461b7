"""How ``n_jobs`` cuts a value set into chunks, and how often a worker repeats the first move."""

from __future__ import annotations

import itertools
import math

import joblib
import numpy as np
import pandas as pd
import pytest

import gradcheck.parallel
import gradcheck.worker_chunks
from gradcheck import check_layer
from gradcheck.worker_chunks import (
    CHUNK_MIN_SECONDS,
    CHUNK_SHARE,
    MIN_MOVES_PER_CHUNK,
    chunk_bounds,
)
from tests.gradcheck import zoo_layers as z

# a worker's copy that cannot stand in for the layer warns: a failure here; two workers at
# this machine's default thread counts oversubscribe its cores (tested elsewhere)
pytestmark = [pytest.mark.filterwarnings("error::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:.*oversubscribe:RuntimeWarning")]
CASES = [(783, 0.025, 2), (783, 0.07, 2), (783, 0.0007, 2), (199, 0.01, 2), (5000, 0.001, 8),
         (10, 1.0, 2), (40, 0.2, 3)]


def smallest(seconds: float) -> int:
    return max(MIN_MOVES_PER_CHUNK, math.ceil(CHUNK_MIN_SECONDS / seconds))


@pytest.mark.parametrize(("n", "seconds", "size"), CASES)
def test_chunks_cover_the_moves_in_order_and_none_is_too_small(n, seconds, size):
    bounds = chunk_bounds(n, seconds, size)
    assert bounds[0][0] == 1 and bounds[-1][1] == n + 1
    assert all(stop == start for (_, stop), (start, _) in itertools.pairwise(bounds))
    assert min(b - a for a, b in bounds) >= smallest(seconds)


@pytest.mark.parametrize(("n", "seconds", "size"), CASES)
def test_each_chunk_takes_a_share_of_the_moves_left_so_that_the_ends_are_small(n, seconds,
                                                                                size):
    """Guided sizes: a chunk holds 1 / (CHUNK_SHARE * workers) of the moves left (or the
    smallest chunk), plus what would have been a runt after the last one."""
    bounds, least = chunk_bounds(n, seconds, size), smallest(seconds)
    for start, stop in bounds:
        left = n + 1 - start
        share = max(least, math.ceil(left / (CHUNK_SHARE * size)))
        assert stop - start == (left if left - share < least else share)
    sizes = [b - a for a, b in bounds]
    assert sizes[:-1] == sorted(sizes[:-1], reverse=True)
    assert sizes[-1] < 2 * least or len(sizes) < CHUNK_SHARE * size   # ends small


@pytest.mark.parametrize("seconds", [0.001, 0.05, 1.0])
def test_a_value_set_short_of_two_smallest_chunks_stays_here(seconds):
    least = smallest(seconds)
    assert chunk_bounds(2 * least - 1, seconds, 2) == []
    assert len(chunk_bounds(2 * least, seconds, 2)) == 2


class Counting(z.Linear):
    """A correct affine layer that counts its forward calls (its copies too: the class is
    pickled by reference, and the threading backend runs them in this process)."""

    calls = 0

    def forward(self, x):
        Counting.calls += 1
        return super().forward(x)


def test_a_process_measures_the_first_move_again_once_per_value_set(monkeypatch):
    """On threads, every chunk of a value set runs in this one process: the first move is
    measured again once per value set (two evaluations: central differences), not once per
    chunk, and the report is the serial one."""
    monkeypatch.setattr(gradcheck.worker_chunks, "CHUNK_MIN_SECONDS", 0.0)
    monkeypatch.setattr(gradcheck.worker_chunks, "MIN_MOVES_PER_CHUNK", 1)
    chunks, tokens = [], set()
    chunk = gradcheck.worker_chunks.measure_chunk

    def noted(blob, part, first, token, limits):
        chunks.append(token)
        tokens.add(token)
        return chunk(blob, part, first, token, limits)

    monkeypatch.setattr(gradcheck.parallel, "measure_chunk", noted)
    layer, x = Counting(40, 30, seed=1), np.random.default_rng(3).normal(size=(5, 40))
    Counting.calls = 0
    serial = check_layer(layer, x, mode="full")
    serial_calls, Counting.calls = Counting.calls, 0
    with joblib.parallel_config(backend="threading"):
        report = check_layer(layer, x, mode="full", n_jobs=2)
    pd.testing.assert_frame_equal(report.table, serial.table, check_exact=True)
    assert len(chunks) > 2 * len(tokens) > 0   # several chunks per value set
    assert Counting.calls - serial_calls == 2 * len(tokens)
