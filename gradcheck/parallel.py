"""The plan's moves, measured here or by joblib workers (``n_jobs``), with the same result.

A check given ``n_jobs`` runs with a set of workers (:func:`uses_workers`), and every value
set it measures (:func:`gradcheck.measure.check_values`) goes through :func:`move_changes`.
The first move is measured here and timed. When the rest would take at least two chunks of
``CHUNK_MIN_SECONDS`` (and ``MIN_MOVES_PER_CHUNK`` moves each), it is cut into contiguous
chunks of decreasing size (guided: each takes ``1 / (CHUNK_SHARE * workers)`` of the moves
left, so that the workers, each taking the next chunk when it is done, finish together),
which joblib runs on its workers: loky processes by default, or any backend a
``joblib.parallel_config`` names (Dask, Ray on a cluster). The point is cloudpickled once per
value set sent (its tensors, the ``evaluate`` closure with the layer and, inside a model, the
rest of the model and the loss), as an array of bytes that a cluster backend ships once (on
Dask it is scattered to every worker up front: :mod:`gradcheck.dask_cluster`, which also
gives the worker settings for CPU-bound checks), and every chunk unpickles its own copy and
perturbs it in place: the caller's arrays are never sent back or touched.

Identical reports. A move's objective changes depend on the point and the move alone, as
long as the process computing them gets the same bits as this one. So a worker computes with
this process's BLAS and OpenMP thread counts (OpenBLAS sums some products in another order
with another count), and each worker process measures the value set's first move again
before its first chunk of it: when that does not match this process's result bit for bit
(arrays that pickling separates, such as ones sharing memory with another library's tensors;
another CPU on a cluster), or when the point cannot be pickled, the check warns once and
measures the rest here. Workers on this machine that would want
more threads than it has cores get a warning too: BLAS threads that wait spin, so
oversubscribed workers can be slower than none; give the caller one thread.
"""

from __future__ import annotations

import functools
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from gradcheck import dask_cluster
from gradcheck.engine import Move
from gradcheck.joblib_pool import (
    effective_n_jobs,
    ordered_parallel,
    require_n_jobs,
    thread_limits,
    warn_if_oversubscribed,
)
from gradcheck.user_warning import warn_user
from gradcheck.worker_chunks import (
    MoveJob,
    changes_per_move,
    chunk_bounds,
    measure_chunk,
    unpacked,
)

# joblib, cloudpickle and threadpoolctl are imported on first use: a serial check never
# pays for them (joblib alone takes 0.1 to 0.2 s to import)
if TYPE_CHECKING:
    import joblib

__all__ = ["move_changes", "uses_workers", "workers"]


def _stop(results) -> None:
    """Cancel what a joblib result generator has left (quietly: the results are not needed
    when a check stops early); a list has nothing left."""
    if hasattr(results, "close"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # "... tasks ... not used"
            results.close()


class _Workers:
    """The joblib workers of one check (the pool is made on first use, reused after)."""

    def __init__(self, n_jobs: int, where: str, size: int, stack: ExitStack):
        self.n_jobs, self.where, self.size, self._stack = n_jobs, where, size, stack
        self._parallel = None
        self.serial = False   # True once a worker's copy could not stand in for the point

    def _pool(self) -> joblib.Parallel:
        if self._parallel is None:
            warn_if_oversubscribed(self.size, self.where)
            self._parallel = self._stack.enter_context(ordered_parallel(
                self.n_jobs, max_nbytes=None, batch_size=1))   # the chunks are sized here
        return self._parallel

    def _give_up(self, label: str, why: str) -> None:
        self.serial = True
        warn_user(f"{self.where}: n_jobs={self.n_jobs}: {why}; {label} and the rest of "
                      "the check run in this process (n_jobs must not change the report); "
                      "pass n_jobs=None to check serially without this warning", RuntimeWarning)

    def _pickled(self, point) -> np.ndarray | None:
        """``point`` pickled, as an array of bytes: a cluster backend sends an array once
        (Dask scatters it) where it would put bytes into every task."""
        import cloudpickle

        try:   # the workers need neither side's analytic gradients
            return np.frombuffer(cloudpickle.dumps(replace(point, analytic={}, e2e={})),
                                 np.uint8)
        except Exception as exc:   # a lock, a file, a C object inside the layer
            self._give_up(point.label, f"{point.label} cannot be pickled for the workers "
                                       f"({type(exc).__name__}: {exc})")
            return None

    def changes(self, job: MoveJob, progress) -> Iterator[np.ndarray]:
        """As :func:`changes_per_move`, the moves after the first on the workers when the
        first one's time says that they are worth it."""
        start = time.perf_counter()
        (first,) = job.here(0, 1, progress)   # unpacked to the end: the tensors restored
        yield first
        bounds = [] if self.serial else chunk_bounds(len(job.moves) - 1,
                                                time.perf_counter() - start, self.size)
        blob = self._pickled(job.point) if bounds else None
        if blob is None:
            yield from job.here(1, None, progress)
        else:
            yield from self._spread(job, first, bounds, blob, progress)

    def _spread(self, job: MoveJob, first: np.ndarray, bounds, blob: np.ndarray, progress):
        """The chunks ``bounds`` of ``job`` measured by the workers, whose copies of the
        point must measure the first move as ``first``; from the first chunk of a copy that
        differs on, measured here."""
        from joblib import delayed

        limits, token, sent = thread_limits(), uuid.uuid4().hex, dask_cluster.sent(blob)
        results = self._pool()(delayed(measure_chunk)(sent, job.part(a, b), first, token, limits)
                               for a, b in bounds)
        try:
            for (a, b), packed in zip(bounds, results, strict=True):
                if packed is None:
                    self._give_up(job.point.label, f"a worker's copy of {job.point.label} "
                                  "computed other values than the original (arrays that share "
                                  "memory, as with another library's tensors, are parted by "
                                  "pickling; another CPU or library version gives other bits)")
                    yield from job.here(a, None, progress)
                    return
                yield from unpacked(*packed)
                if progress is not None:
                    progress.update(sum(m.size for m in job.moves[a:b]))
        finally:
            _stop(results)


_WORKERS: ContextVar[_Workers | None] = ContextVar("gradcheck_workers", default=None)


def move_changes(point, moves: Sequence[Move], regions: Sequence, offsets, ends: bool,
                 progress=None) -> Iterator[np.ndarray]:
    """:func:`changes_per_move`, on the current check's workers when it has any."""
    pool = _WORKERS.get()
    if pool is None or len(moves) < 2:
        return changes_per_move(point, moves, regions, offsets, ends, progress)
    return pool.changes(MoveJob(point, moves, regions, tuple(offsets), ends), progress)


@contextmanager
def workers(n_jobs, where: str):
    """Run the block's checks with ``n_jobs`` joblib workers (None or 1: here, serially)."""
    n_jobs = require_n_jobs(n_jobs, where)
    with ExitStack() as stack:
        size = 1 if n_jobs in (None, 1) else effective_n_jobs(n_jobs)
        token = _WORKERS.set(_Workers(n_jobs, where, size, stack) if size > 1 else None)
        try:
            yield
        finally:
            _WORKERS.reset(token)


def uses_workers(where: str):
    """Decorate a check whose keyword ``n_jobs`` says where its measurements run."""
    def decorate(check):
        @functools.wraps(check)
        def run(*args, **kwargs):
            with workers(kwargs.get("n_jobs"), where):
                return check(*args, **kwargs)
        return run
    return decorate
