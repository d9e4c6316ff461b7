"""``n_jobs``: checks measured by joblib workers give the serial report, bit for bit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import gradcheck.parallel
import gradcheck.worker_chunks
from gradcheck import check_function, check_layer, check_model
from gradcheck.dask_cluster import WORKER_SETTINGS
from gradcheck.joblib_pool import thread_limits
from reference_nets import Sequential
from reference_nets.losses import SoftmaxCrossEntropy
from tests.clusters import dask_cluster, ray_cluster
from tests.gradcheck import zoo_layers as z

# a worker whose copy cannot stand in for the layer warns: here that is a failure (two
# workers at this machine's default thread counts oversubscribe its cores: that warning is
# expected, and tested on its own)
pytestmark = [pytest.mark.filterwarnings("error::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:.*oversubscribe:RuntimeWarning")]
RNG = np.random.default_rng(5)
X = RNG.normal(size=(5, 40))


class Noting(z.Linear):
    """A correct affine layer that notes, in ``path``, each other process it runs in."""

    def __init__(self, path, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.path, self.home = str(path), os.getpid()

    def forward(self, x):
        if os.getpid() != self.home:
            with open(self.path, "a") as f:
                f.write(f"{os.getpid()}\n")
        return super().forward(x)


class NotingWrongRow(Noting, z.OneWrongRow):
    """Noting, with row 2 of dW dropped."""


class FlatParams(z.Linear):
    """W and b are views of one flat buffer, and forward reads the buffer: pickling a copy
    for a worker separates the views (what gradcheck perturbs) from it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        W = self.params["W"]
        self.flat = np.concatenate([W.ravel(), self.params["b"]])
        self.params = {"W": self.flat[:W.size].reshape(W.shape), "b": self.flat[W.size:]}

    def forward(self, x):
        self.x = x
        n_in, n_out = self.params["W"].shape
        return x @ self.flat[:n_in * n_out].reshape(n_in, n_out) + self.flat[n_in * n_out:]


class Locked(z.Linear):
    """A layer holding a lock: it cannot be pickled for the workers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()


@pytest.fixture
def everywhere(monkeypatch):
    """Send every value set of two or more moves to the workers, however small."""
    monkeypatch.setattr(gradcheck.worker_chunks, "CHUNK_MIN_SECONDS", 0.0)
    monkeypatch.setattr(gradcheck.worker_chunks, "MIN_MOVES_PER_CHUNK", 1)


@pytest.fixture
def no_pool(monkeypatch):
    """Fail on any attempt to start joblib workers."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("a joblib pool was started")
    monkeypatch.setattr(gradcheck.parallel, "ordered_parallel", refuse)


def assert_same(report, serial):
    pd.testing.assert_frame_equal(report.table, serial.table, check_exact=True)
    assert report.options == serial.options


def workers_seen(path) -> set[str]:
    return set(path.read_text().split()) if path.exists() else set()


@pytest.mark.parametrize("method", ["central", "forward", "complex_step"])
def test_check_layer_full_on_loky_is_the_serial_report(everywhere, tmp_path, method):
    layer = Noting(tmp_path / "pids", 40, 30, seed=1)
    serial = check_layer(layer, X, mode="full", method=method)
    assert_same(check_layer(layer, X, mode="full", method=method, n_jobs=2), serial)
    assert workers_seen(tmp_path / "pids")   # measured in other processes


def test_a_failing_layer_gets_the_same_rows_and_likely_cause(everywhere, tmp_path):
    layer = NotingWrongRow(tmp_path / "pids", 40, 30, seed=2)
    serial = check_layer(layer, X, mode="full")
    assert not serial.passed and serial.table.likely_cause.str.len().max() > 0
    assert_same(check_layer(layer, X, mode="full", n_jobs=-1), serial)
    assert workers_seen(tmp_path / "pids")


def test_auto_mode_locates_the_wrong_element_on_the_workers(everywhere, tmp_path):
    layer, x = NotingWrongRow(tmp_path / "pids", 300, 40, seed=3), RNG.normal(size=(6, 300))
    serial = check_layer(layer, x)
    assert serial.table.query("tensor == 'W'").worst_index.iloc[0].startswith("(2,")
    assert_same(check_layer(layer, x, n_jobs=2), serial)
    assert workers_seen(tmp_path / "pids")


def small_model(path):
    return Sequential([z.Linear(20, 16, seed=1), z.Tanh(), Noting(path, 16, 5, seed=2)])


def test_check_model_full_on_loky_is_the_serial_report(everywhere, tmp_path):
    model, loss = small_model(tmp_path / "pids"), SoftmaxCrossEntropy()
    x, y = RNG.normal(size=(7, 20)), RNG.integers(0, 5, 7)
    serial = check_model(model, loss, x, y, mode="full")
    assert serial.passed and set(serial.table.check) == {"gradient", "end_to_end"}
    assert_same(check_model(model, loss, x, y, mode="full", n_jobs=2), serial)
    assert workers_seen(tmp_path / "pids")


def test_check_function_full_on_loky_is_the_serial_report(everywhere):
    def f(a, b):
        return np.tanh(a) * b

    def vjp(inputs, G):
        a, b = inputs
        return G * b / np.cosh(a) ** 2, G * np.tanh(a)

    inputs = (RNG.normal(size=(6, 8)), RNG.normal(size=(6, 8)))
    serial = check_function(f, vjp, inputs, mode="full")
    assert serial.passed
    assert_same(check_function(f, vjp, inputs, mode="full", n_jobs=2), serial)


@pytest.mark.parametrize("settings", [None, WORKER_SETTINGS], ids=["defaults", "settings"])
def test_check_model_on_a_dask_local_cluster_is_the_serial_report(everywhere, tmp_path,
                                                                  settings):
    model, loss = small_model(tmp_path / "pids"), SoftmaxCrossEntropy()
    x, y = RNG.normal(size=(7, 20)), RNG.integers(0, 5, 7)
    serial = check_model(model, loss, x, y, mode="full")
    with dask_cluster(2, settings) as backend, joblib.parallel_config(backend=backend):
        report = check_model(model, loss, x, y, mode="full", n_jobs=-1)
    assert_same(report, serial)
    assert workers_seen(tmp_path / "pids")


def test_check_layer_on_ray_is_the_serial_report(everywhere, tmp_path):
    layer = Noting(tmp_path / "pids", 40, 30, seed=1)
    serial = check_layer(layer, X, mode="full")
    with ray_cluster(2) as backend, joblib.parallel_config(backend=backend):
        report = check_layer(layer, X, mode="full", n_jobs=2)
    assert_same(report, serial)
    assert workers_seen(tmp_path / "pids")


@pytest.mark.parametrize(("layer", "why"), [
    (FlatParams(40, 30, seed=4), "a worker's copy of FlatParams computed other values"),
    (Locked(40, 30, seed=4), "Locked cannot be pickled for the workers"),
])
def test_a_layer_the_workers_cannot_copy_is_checked_here_with_a_warning(everywhere, layer,
                                                                         why):
    serial = check_layer(layer, X, mode="full")
    with pytest.warns(RuntimeWarning, match=f"n_jobs=2: {why}.*run in this process"):
        report = check_layer(layer, X, mode="full", n_jobs=2)
    assert_same(report, serial)


class SumsByThreads(z.Linear):
    """A correct affine layer whose sums run in another order on one BLAS thread than on
    more, as OpenBLAS's do on some CPUs (on a Zen 2 core it summed a (2, 512) @ (512, 512)
    product in another order on 2 threads than on 1): same values to round-off, other
    bits."""

    def forward(self, x):
        W, b = self.params["W"], self.params["b"]
        if min(thread_limits().values(), default=1) > 1:
            return super().forward(x)
        self.x, half = x, len(W) // 2
        return (x[:, half:] @ W[half:] + x[:, :half] @ W[:half]) + b


def test_workers_compute_with_the_callers_thread_counts(everywhere, monkeypatch):
    """Workers at their own thread counts (loky gives each one thread here) would change
    the bits of a computation whose sums depend on them."""
    layer, x = SumsByThreads(512, 512, seed=6), RNG.normal(size=(2, 512))
    options = {"mode": "sample", "second_point": False}   # 8 elements a tensor: 8 moves
    with threadpool_limits(2):
        serial = check_layer(layer, x, **options)
        assert_same(check_layer(layer, x, **options, n_jobs=2), serial)
        with threadpool_limits(1):   # the control: one thread sums in another order
            assert not np.array_equal(layer.forward(x), z.Linear.forward(layer, x))
        monkeypatch.setattr(gradcheck.parallel, "thread_limits",
                            lambda: {lib: 1 for lib in thread_limits()})
        with pytest.warns(RuntimeWarning, match="computed other values"):
            report = check_layer(layer, x, **options, n_jobs=2)
    assert_same(report, serial)   # measured here after the warning


def oversubscription_warnings(threads: int) -> list[str]:
    with threadpool_limits(threads), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        check_layer(z.Linear(40, 30), X, mode="full", n_jobs=2)
    return [str(w.message) for w in seen if "oversubscribe" in str(w.message)]


def test_workers_that_oversubscribe_the_cores_are_named_in_a_warning(everywhere):
    cores = os.cpu_count() or 1
    assert oversubscription_warnings(cores) == [
        f"check_layer: 2 workers with {cores} BLAS/OpenMP threads each on {cores} cores "
        "oversubscribe them (slower than n_jobs=None, maybe): the workers compute with this "
        "process's thread counts, so that the results are the serial ones bit for bit; limit "
        f"them to {max(1, cores // 2)}, e.g. with threadpoolctl.threadpool_limits or "
        "OPENBLAS_NUM_THREADS"]
    if cores >= 2:
        assert oversubscription_warnings(1) == []


@pytest.mark.parametrize("n_jobs", [None, 1])
def test_n_jobs_none_or_1_starts_no_workers(no_pool, everywhere, n_jobs):
    layer = z.Linear(40, 30)
    assert_same(check_layer(layer, X, mode="full", n_jobs=n_jobs), check_layer(layer, X,
                                                                            mode="full"))


def test_small_value_sets_stay_in_this_process(no_pool, tmp_path):
    """Under the default chunk sizes a quick check is not worth sending anywhere."""
    layer = Noting(tmp_path / "pids", 40, 30)
    assert_same(check_layer(layer, X, mode="full", n_jobs=2), check_layer(layer, X,
                                                                          mode="full"))
    assert not workers_seen(tmp_path / "pids")


class Counting(z.Linear):
    calls = 0

    def forward(self, x):
        Counting.calls += 1
        return super().forward(x)


@pytest.mark.parametrize(("n_jobs", "error"), [(0, ValueError), (2.0, TypeError),
                                               (True, TypeError), ("4", TypeError)])
def test_a_bad_n_jobs_is_refused_before_any_work(n_jobs, error):
    Counting.calls = 0
    layer = Counting(4, 3)
    calls = [lambda: check_layer(layer, X[:, :4], n_jobs=n_jobs),
             lambda: check_model(Sequential([layer]), z.MSE(), X[:, :4], X[:, :3],
                                 n_jobs=n_jobs),
             lambda: check_function(np.tanh, lambda x, G: G, X, n_jobs=n_jobs)]
    for where, call in zip(["check_layer", "check_model", "check_function"], calls,
                           strict=True):
        with pytest.raises(error, match=f"{where}: n_jobs must be"):
            call()
    assert Counting.calls == 0


def test_a_serial_check_does_not_import_joblib():
    """joblib, cloudpickle and threadpoolctl load only for workers (joblib: 0.1-0.2 s)."""
    code = ("import sys, numpy as np; from gradcheck import check_layer; "
            "from tests.gradcheck.zoo_layers import Linear; "
            "check_layer(Linear(), np.ones((2, 4)), mode='full', n_jobs=1); "
            "print(sorted(m for m in ('joblib', 'cloudpickle', 'threadpoolctl') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__)))))
    assert out.stdout.strip() == "[]"
