"""Checks on a Dask cluster: the documented worker settings are Dask's own keys and reach the
workers of a cluster started as the docs say; a check's point is on every worker up front."""

from __future__ import annotations

import os

import joblib
import numpy as np
import pytest

from gradcheck.dask_cluster import WORKER_SETTINGS, sent
from tests.clusters import dask_cluster

ENVIRON = "distributed.nanny.pre-spawn-environ."


def test_every_setting_is_a_key_of_dasks_configuration():
    """``dask.config.set`` takes any key: a misspelt one would be silently ignored."""
    dask = pytest.importorskip("dask", reason="needs dask (pip install -e '.[dask]')")
    pytest.importorskip("distributed", reason="needs dask.distributed")   # its defaults
    for key in WORKER_SETTINGS:
        dask.config.get(key)   # KeyError for a key Dask does not have


def seen_by_worker(keys: list[str]) -> dict:
    """Each key as a worker sees it: its environment for the nanny's variables, else its
    Dask configuration."""
    import dask

    return {key: os.environ.get(key[len(ENVIRON):]) if key.startswith(ENVIRON)
            else dask.config.get(key) for key in keys}


def test_workers_started_under_the_settings_run_with_them():
    distributed = pytest.importorskip("distributed", reason="needs dask.distributed")
    keys = list(WORKER_SETTINGS)
    with dask_cluster(2, WORKER_SETTINGS):
        seen = distributed.get_client().run(seen_by_worker, keys)
    assert len(seen) == 2
    assert all(view == WORKER_SETTINGS for view in seen.values())
    with dask_cluster(2):   # the control: Dask's defaults differ in every key
        seen = distributed.get_client().run(seen_by_worker, keys)
    assert all(view[key] != WORKER_SETTINGS[key] for view in seen.values() for key in keys)


def test_the_point_is_scattered_to_every_worker_before_the_chunks_run():
    distributed = pytest.importorskip("distributed", reason="needs dask.distributed")
    blob = np.arange(50_000, dtype=np.uint8)
    with dask_cluster(2) as backend, joblib.parallel_config(backend=backend):
        future = sent(blob)
        holders = distributed.get_client().who_has([future])[future.key]
        assert len(holders) == 2
        assert np.array_equal(future.result(), blob)


def test_other_backends_get_the_array_itself():
    blob = np.arange(10, dtype=np.uint8)
    assert sent(blob) is blob
    with joblib.parallel_config(backend="threading"):
        assert sent(blob) is blob
