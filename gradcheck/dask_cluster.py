"""Checks on a Dask cluster: worker settings for CPU-bound checks, and the point on every worker.

How to run a check on a Dask cluster: start the workers under :data:`WORKER_SETTINGS`, one
thread each, and run the check under joblib's Dask backend::

    import dask, joblib
    from distributed import Client, LocalCluster
    from gradcheck.dask_cluster import WORKER_SETTINGS

    with dask.config.set(WORKER_SETTINGS):   # before the workers start: they keep them
        client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
    with joblib.parallel_config(backend="dask"):
        report = check_model(model, loss, x, y, mode="full", n_jobs=-1)

Workers that another machine starts (``dask worker tcp://...``) read the same keys from
their own Dask configuration: a YAML file in ``~/.config/dask/`` or ``DASK_*`` environment
variables (e.g. ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False``); for
``MALLOC_TRIM_THRESHOLD_``, leave the variable unset in the worker's environment. The
report is the serial one whatever the settings: they change only the speed.

Why these settings. A check's chunks are numpy work on small arrays, thousands of
evaluations a second, each allocating its outputs afresh. Under Dask's defaults a worker of a
2-core ``LocalCluster`` measured the same moves with 30 to 37 % more CPU time than a loky
worker in the thread that runs them, and over 50 % more counting its other threads
(``bench/README.md``), for three reasons, each undone by a setting:

- the nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536``, which (as any
  explicit malloc threshold) stops glibc from raising its mmap threshold: each array over
  128 KiB is mapped afresh and faulted in page by page (47 times the page faults of a loky
  worker, a sixth of the chunk's CPU time in the kernel). The setting drops the variable;
  the worker then returns freed memory to the system less eagerly;
- the statistical profiler samples every thread's stack every 10 ms (the dashboard's
  profile page, which goes blank);
- the event loop's health check every 20 ms and the memory monitor every 100 ms wake the
  worker's (and, on a ``LocalCluster``, the scheduler's and nannies') event loop: 1 s each
  is enough for a check, whose tasks run for seconds (the memory limits are then enforced
  within a second rather than 0.1 s).
"""

from __future__ import annotations

import numpy as np

__all__ = ["WORKER_SETTINGS", "sent"]

WORKER_SETTINGS = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def sent(blob: np.ndarray):
    """``blob`` as the active joblib backend should ship it to the chunks: on Dask, scattered
    to every worker up front (joblib's Dask backend would scatter it to one worker, where the
    scheduler then runs chunks while the others fetch it); elsewhere the array itself."""
    from joblib.parallel import get_active_backend

    backend = get_active_backend()[0]
    if type(backend).__name__ != "DaskDistributedBackend":
        return blob
    return backend.client.scatter(blob, broadcast=True, hash=False)
