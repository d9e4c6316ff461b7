"""What a check's joblib workers run: a value set's moves, cut into chunks and measured on
a copy of the point (:mod:`gradcheck.parallel` sends them and reads the results back).

:func:`changes_per_move` is the one loop that measures moves (here or in a worker);
:func:`chunk_bounds` cuts the moves after the first into guided chunks; :func:`measure_chunk`
is a worker's share, which measures the value set's first move again once per process and
gives up (None) when its copy of the point computes other bits than the caller's.
"""

from __future__ import annotations

import math
import pickle
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from gradcheck.arrays import same_values
from gradcheck.engine import Move, perturbed_outputs
from gradcheck.joblib_pool import with_thread_limits

__all__ = ["CHUNK_MIN_SECONDS", "CHUNK_SHARE", "MIN_MOVES_PER_CHUNK", "MoveJob",
           "changes_per_move", "chunk_bounds", "measure_chunk", "unpacked"]

CHUNK_MIN_SECONDS = 0.1    # work per chunk, at least (a chunk's transfer costs milliseconds)
MIN_MOVES_PER_CHUNK = 2    # moves per chunk, at least (a worker measures one more per value set)
CHUNK_SHARE = 2            # a chunk takes 1 / (CHUNK_SHARE * workers) of the moves left


def changes_per_move(point, moves: Sequence[Move], regions: Sequence, offsets, ends: bool,
                     progress=None) -> Iterator[np.ndarray]:
    """Per move, in order: the objective changes of its values at every offset.

    Each is an array of shape (len(offsets), k, 1 or 2): the move's ``k`` values (one, or a
    group's elements read back from their own output ``regions``), local then end-to-end.
    """
    blocks = []
    for j, _, y in perturbed_outputs(point.tensors, moves, offsets, point.evaluate, progress):
        blocks.append(point.changes(y, regions[j], ends))
        if len(blocks) == len(offsets):
            yield np.stack(blocks)
            blocks = []


@dataclass(frozen=True)
class MoveJob:
    """The moves of one value set, to measure at ``point`` (None: sent to a worker without
    it; the point travels apart, pickled)."""

    point: object
    moves: Sequence[Move]
    regions: Sequence
    offsets: tuple
    ends: bool

    def here(self, start: int = 0, stop: int | None = None, progress=None):
        """:func:`changes_per_move` of moves ``start:stop``, in this process."""
        return changes_per_move(self.point, self.moves[start:stop], self.regions[start:stop],
                                self.offsets, self.ends, progress)

    def part(self, start: int, stop: int) -> MoveJob:
        """What a worker gets: the first move (measured again by each worker process, to
        compare) and moves ``start:stop``, without the point."""
        return replace(self, point=None, moves=[self.moves[0], *self.moves[start:stop]],
                       regions=[self.regions[0], *self.regions[start:stop]])


_VERDICTS: dict[str, bool] = {}   # in a worker: value set -> its copies measure as the caller
_VERDICTS_KEPT = 1024
_VERDICTS_LOCK = threading.Lock()   # threads of one process measure a value set's first once


def measure_chunk(blob: np.ndarray, part: MoveJob, first: np.ndarray, token: str,
           limits: dict) -> tuple[np.ndarray, list[int]] | None:
    """A worker's share: the moves of ``part`` after its first, measured at this process's
    copy of the point (:func:`packed`); None when the copy measures the first move other
    than the caller did (``first``), which each process checks once per value set
    (``token``)."""
    job = replace(part, point=pickle.loads(blob))   # first: its libraries get the limits too

    def measure():
        with _VERDICTS_LOCK:
            same = _VERDICTS.get(token)
            if same is None:
                (again,) = job.here(0, 1)
                if len(_VERDICTS) >= _VERDICTS_KEPT:
                    _VERDICTS.clear()   # at worst, a value set's first move measured again
                same = _VERDICTS[token] = _identical(again, first)
        return packed(list(job.here(1))) if same else None
    return with_thread_limits(limits, measure)


def packed(blocks: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """Per-move blocks (len(offsets), k_j, n_objectives) as one array, joined along the
    values, and the ``k_j``: one buffer to send back (Dask frames every array apart)."""
    return np.concatenate(blocks, axis=1), [len(b[0]) for b in blocks]


def unpacked(values: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """The per-move blocks of :func:`packed` (views of ``values``)."""
    return np.split(values, np.cumsum(sizes)[:-1], axis=1)


def chunk_bounds(n: int, seconds: float, size: int) -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` chunks of moves ``1..n``, largest first (none when under
    two), at ``seconds`` a move on ``size`` workers.

    Guided sizes: each chunk takes ``1 / (CHUNK_SHARE * size)`` of the moves left, and at
    least the smallest chunk worth sending (``MIN_MOVES_PER_CHUNK`` moves and
    ``CHUNK_MIN_SECONDS`` of work), so that the workers, which take the next chunk as they
    finish one, end together within the time of a smallest chunk.
    """
    least = max(MIN_MOVES_PER_CHUNK, _moves_in(CHUNK_MIN_SECONDS, seconds))
    if n < 2 * least:
        return []
    bounds, start = [], 1
    while start <= n:
        left = n + 1 - start
        take = max(least, -(-left // (CHUNK_SHARE * size)))
        take = left if left - take < least else take   # no runt at the end
        bounds.append((start, start + take))
        start += take
    return bounds


def _moves_in(period: float, seconds: float) -> int:
    """Moves of ``seconds`` each that fill ``period``, rounded up (one at least)."""
    if period <= 0:
        return 1
    return math.ceil(period / seconds) if seconds > 0 else sys.maxsize


def _identical(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and same_values(a, b)
