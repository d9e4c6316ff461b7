"""joblib for the checks and the sweeps: ``n_jobs`` as joblib takes it, pools that stream
their results where the backend can, and the thread counts a worker must compute with to
give the caller's bits (:mod:`gradcheck.parallel`, :mod:`diagnostics.lr`).

joblib and threadpoolctl are imported on first use: a serial check never pays for them.
"""

from __future__ import annotations

import numbers
import os
from typing import TYPE_CHECKING

from gradcheck.user_warning import warn_user

if TYPE_CHECKING:
    import joblib

__all__ = ["effective_n_jobs", "ordered_parallel", "require_n_jobs", "thread_limits",
           "warn_if_oversubscribed", "with_thread_limits"]


def require_n_jobs(n_jobs, where: str) -> int | None:
    """``n_jobs`` as joblib takes it (None, an int >= 1, or -1 for every core, -2 for all but
    one, ...); a clear error naming ``where`` otherwise."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise TypeError(f"{where}: n_jobs must be None or an int (1: serial, -1: every core), "
                        f"got {n_jobs!r}")
    if n_jobs == 0:
        raise ValueError(f"{where}: n_jobs must be an int >= 1, or negative as in joblib (-1: "
                         "every core, -2: all but one); got 0")
    return int(n_jobs)


def ordered_parallel(n_jobs, **options) -> joblib.Parallel:
    """A ``joblib.Parallel`` under the active backend whose results come in task order as
    they finish (``return_as="generator"``) where the backend can stream them, else all at
    once as a list (Ray's joblib backend, for one, cannot stream)."""
    import joblib

    try:
        return joblib.Parallel(n_jobs=n_jobs, return_as="generator", **options)
    except ValueError:   # "Backend ... does not support return_as=generator"
        return joblib.Parallel(n_jobs=n_jobs, **options)   # any other error raises again


def thread_limits() -> dict[str, int]:
    """This process's thread count per loaded BLAS/OpenMP library (threadpoolctl prefixes)."""
    from threadpoolctl import threadpool_info

    return {lib["prefix"]: lib["num_threads"] for lib in threadpool_info()}


_LOCAL = ("LokyBackend", "MultiprocessingBackend", "ThreadingBackend")   # on this machine


def warn_if_oversubscribed(n_workers: int, where: str) -> None:
    """Warn when ``n_workers`` workers of a backend on this machine, each at this process's
    thread counts, want more threads than it has cores (BLAS threads that wait spin, so an
    exhaustive check on two cores ran 0.8x as fast as serially: bench/README.md)."""
    from joblib.parallel import get_active_backend

    threads, cores = max(thread_limits().values(), default=1), os.cpu_count() or 1
    if type(get_active_backend()[0]).__name__ in _LOCAL and n_workers * threads > cores:
        warn_user(f"{where}: {n_workers} workers with {threads} BLAS/OpenMP threads each "
                      f"on {cores} cores oversubscribe them (slower than n_jobs=None, maybe): "
                      "the workers compute with this process's thread counts, so that the "
                      "results are the serial ones bit for bit; limit them to "
                      f"{max(1, cores // n_workers)}, e.g. with "
                      "threadpoolctl.threadpool_limits or OPENBLAS_NUM_THREADS", RuntimeWarning)


def with_thread_limits(limits: dict[str, int], fn, *args):
    """``fn(*args)`` with the thread counts ``limits`` (a worker computing as its caller)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=limits):
        return fn(*args)


def effective_n_jobs(n_jobs: int) -> int:
    """Workers that ``n_jobs`` stands for under the active joblib backend."""
    import joblib

    return joblib.effective_n_jobs(n_jobs)
