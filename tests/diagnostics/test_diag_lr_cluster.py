"""Sweeps on joblib's other backends (loky, Dask, Ray, one that cannot stream) equal the
serial sweep exactly, and run in the workers."""

from __future__ import annotations

import functools
import os

import joblib
import pandas as pd
import pytest
from joblib._parallel_backends import ThreadingBackend

from diagnostics import lr_range_test, lr_sensitivity
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.optim import SGD
from reference_nets.zoo import mlp
from tests.clusters import dask_cluster, ray_cluster

# loky's two workers at this machine's default thread counts oversubscribe its two cores:
# expected here (the sweep must equal the serial one at those counts)
pytestmark = pytest.mark.filterwarnings("ignore:.*oversubscribe:RuntimeWarning")
GRID = {"lrs": [0.01, 0.1, 1.0], "epochs": 2, "seeds": (0, 1), "batch_size": 64}


def recording_mlp(path, seed=0):
    """The sweep's model, after noting which process builds it."""
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")
    return mlp((64, 32, 10), seed=seed)


def momentum(lr):
    return SGD(lr, momentum=0.9)


class NoStreaming(ThreadingBackend):
    """A backend that, like Ray's, cannot return a generator."""

    supports_return_generator = False


def sweep(data, path, **options):
    return lr_sensitivity(functools.partial(recording_mlp, path), SoftmaxCrossEntropy(),
                          data.X_train, data.y_train, optimizer=momentum, **GRID, **options)


def range_test(data):
    return lr_range_test(functools.partial(mlp, (64, 32, 10)), SoftmaxCrossEntropy(),
                         data.X_train, data.y_train, optimizer=momentum, steps=30)


@pytest.fixture(scope="module")
def serial(digits, tmp_path_factory):
    path = tmp_path_factory.mktemp("serial") / "pids"
    result = sweep(digits, path)
    assert set(path.read_text().split()) == {str(os.getpid())}
    return result, range_test(digits)


def assert_same(result, expected):
    pd.testing.assert_frame_equal(result.runs, expected.runs, check_exact=True)
    pd.testing.assert_frame_equal(result.summary, expected.summary, check_exact=True)
    assert (result.stable_range, result.best_lr) == (expected.stable_range, expected.best_lr)


def run_on(backend, digits, serial, path, n_jobs=2):
    """The sweep and the range test under ``backend``: the serial results, from workers."""
    with joblib.parallel_config(backend=backend):
        result = sweep(digits, path, n_jobs=n_jobs)
        curve = range_test(digits).curve
    assert_same(result, serial[0])
    pd.testing.assert_frame_equal(curve, serial[1].curve, check_exact=True)
    return set(path.read_text().split()) - {str(os.getpid())}


def test_sweep_on_loky_equals_serial(digits, serial, tmp_path):
    assert len(run_on("loky", digits, serial, tmp_path / "pids")) >= 1


def test_sweep_on_a_backend_without_streaming_falls_back_to_a_list(digits, serial, tmp_path):
    joblib.register_parallel_backend("no_streaming", NoStreaming)
    with pytest.raises(ValueError, match="does not support return_as=generator"), \
            joblib.parallel_config(backend="no_streaming"):
        joblib.Parallel(n_jobs=2, return_as="generator")
    run_on("no_streaming", digits, serial, tmp_path / "pids")   # threads: the same pid


def test_sweep_on_a_dask_local_cluster_equals_serial(digits, serial, tmp_path):
    with dask_cluster(2) as backend:
        workers = run_on(backend, digits, serial, tmp_path / "pids")
    assert len(workers) >= 1   # built in the cluster's worker processes


def test_sweep_on_ray_equals_serial(digits, serial, tmp_path):
    with ray_cluster(2) as backend:
        workers = run_on(backend, digits, serial, tmp_path / "pids", n_jobs=-1)
    assert len(workers) >= 1


@pytest.mark.parametrize(("n_jobs", "error"), [(0, ValueError), (1.5, TypeError),
                                               (True, TypeError), ("2", TypeError)])
def test_sweep_rejects_a_bad_n_jobs_before_any_run(digits, tmp_path, n_jobs, error):
    path = tmp_path / "pids"
    with pytest.raises(error, match="lr_sensitivity: n_jobs must be"):
        sweep(digits, path, n_jobs=n_jobs)
    assert not path.exists()
