"""Local clusters for the tests that run checks and sweeps on joblib's cluster backends.

Each helper yields the name of a joblib backend (for ``joblib.parallel_config``) and skips,
with the reason shown, where the package is missing (the test extra installs both).
"""

from __future__ import annotations

import atexit
import os
from contextlib import contextmanager

import pytest


@contextmanager
def dask_cluster(n_workers: int = 2, settings: dict | None = None):
    """A ``distributed.LocalCluster`` of ``n_workers`` single-threaded worker processes,
    started under the Dask configuration ``settings`` (None: Dask's defaults).

    A nanny puts the worker environment it sets into this process's own, where a later
    cluster inherits it: an environment variable the settings drop is kept out while the
    workers start.
    """
    distributed = pytest.importorskip("distributed", reason="needs dask.distributed "
                                      "(pip install -e '.[dask]')")
    import dask

    settings = settings or {}
    environ = "distributed.nanny.pre-spawn-environ."
    with dask.config.set(settings), pytest.MonkeyPatch.context() as patch:
        for key in (k for k, v in settings.items() if k.startswith(environ) and v is None):
            patch.delenv(key[len(environ):], raising=False)
        cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
    with cluster, distributed.Client(cluster):
        yield "dask"


@contextmanager
def ray_cluster(num_cpus: int = 2):
    """A local Ray instance of ``num_cpus`` CPUs with its joblib backend registered.

    Started once per test process and shut down when it exits (a start takes 3 to 12 s
    here); every joblib pool on it is made anew, so the tests that share it do not meet.
    """
    ray = pytest.importorskip("ray", reason="needs ray (pip install -e '.[ray]')")
    from ray.util.joblib import register_ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")   # no report to Ray's servers
    if not ray.is_initialized():
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        atexit.register(ray.shutdown)
    register_ray()
    yield "ray"
