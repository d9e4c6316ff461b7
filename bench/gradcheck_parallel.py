"""An exhaustive check on two cores: serial against ``n_jobs=2`` on loky and on a Dask cluster.

Network: a 784-600-64-10 tanh MLP (reference_nets, 510,114 parameters), batch 2, float64,
softmax cross-entropy; ``check_model(mode="full")``: every element of every parameter and
layer input, layer by layer and end to end. Rows, one after another in one process:

- serial (``n_jobs=None``);
- ``n_jobs=2`` on joblib's default backend (loky processes);
- ``n_jobs=-1`` inside ``joblib.parallel_config(backend="dask")`` on a
  ``distributed.LocalCluster`` of 2 single-threaded worker processes, started as
  ``gradcheck.dask_cluster`` recommends (under its ``WORKER_SETTINGS``); with
  ``--dask-defaults`` then also on one started under Dask's defaults (last: a nanny leaves
  its workers' environment, ``MALLOC_TRIM_THRESHOLD_`` included, in this process, where any
  later cluster would inherit it).

Every process computes with ``--threads`` BLAS threads (the workers take the caller's
counts, so that the reports can match). The pools are started before the clock runs (their
start-up is printed apart: a user starts a cluster once for many checks). Each parallel
report is asserted identical to the serial one (every row and number, bit for bit). Each
row also gives the CPU seconds it took in this process (the check's own serial part; on a
``LocalCluster`` also the scheduler, the nannies and the client), in the workers, and in
every other process on the machine meanwhile (other users' jobs: a ratio is only meaningful
when that is small).
Last, the ceiling: what two processes can gain on the machine as loaded at the time.

Run: ``.venv/bin/python bench/gradcheck_parallel.py [--threads 1] [--batch 2]
[--sizes 784,600,64,10] [--dask-defaults]``
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import contextmanager

import joblib
import numpy as np
import pandas as pd
import psutil
from threadpoolctl import threadpool_limits

from gradcheck import check_model
from gradcheck.dask_cluster import WORKER_SETTINGS
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.zoo import mlp


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def cpu_seconds() -> np.ndarray:
    """CPU seconds so far of this process, of its live children and of the whole machine."""
    me = psutil.Process()
    t = psutil.cpu_times()
    busy = t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0) \
        + getattr(t, "steal", 0)
    return np.array([sum(me.cpu_times()[:2]),
                     sum(sum(p.cpu_times()[:2]) for p in me.children(recursive=True)), busy])


def measured(name: str, fn, rows: list):
    """``fn()``, its row added to ``rows``: name, seconds, and the CPU seconds it took in
    this process, in its children (the workers) and in every other process."""
    before = cpu_seconds()
    seconds, result = timed(fn)
    here, children, machine = cpu_seconds() - before
    rows.append((name, seconds, here, children, machine - here - children))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads per process")
    parser.add_argument("--batch", type=int, default=2, help="samples in the checked batch")
    parser.add_argument("--sizes", default="784,600,64,10", help="MLP widths")
    parser.add_argument("--dask-defaults", action="store_true",
                        help="also run on a LocalCluster under Dask's default settings")
    args = parser.parse_args()
    with threadpool_limits(args.threads):
        compare(tuple(int(s) for s in args.sizes.split(",")), args.batch, args.threads,
                args.dask_defaults)


@contextmanager
def local_cluster(settings: dict):
    """A 2-worker ``LocalCluster`` started under the Dask configuration ``settings``, its
    client, and joblib's Dask backend; yields the seconds its start took."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set(settings):
        seconds, cluster = timed(lambda: LocalCluster(n_workers=2, threads_per_worker=1,
                                                      processes=True, dashboard_address=None))
    with cluster, Client(cluster), joblib.parallel_config(backend="dask"):
        yield seconds


def compare(sizes: tuple, batch: int, threads: int, dask_defaults: bool) -> None:
    """Time the runs, assert their reports identical, print the table."""
    model = mlp(sizes, activation="tanh")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(batch, sizes[0])), rng.integers(0, sizes[-1], batch)
    loss = SoftmaxCrossEntropy()
    n_params = sum(p.size for p in model.params.values())
    print(f"MLP {'-'.join(map(str, sizes))} ({n_params:,} parameters), batch {batch}, "
          f"{threads} BLAS thread(s) per process, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f} at the start")

    def check(n_jobs=None):
        return check_model(model, loss, x, y, mode="full", n_jobs=n_jobs)

    rows, reports, starts = [], {}, {}
    serial = measured("serial", check, rows)
    starts["loky"], _ = timed(lambda: joblib.Parallel(n_jobs=2)(joblib.delayed(abs)(-i)
                                                               for i in range(2)))
    reports["loky"] = measured("n_jobs=2, loky", lambda: check(2), rows)
    clusters = [("Dask defaults", {})] if dask_defaults else []
    for name, settings in [("Dask WORKER_SETTINGS", WORKER_SETTINGS), *clusters]:
        with local_cluster(settings) as starts[name]:
            reports[name] = measured(f"n_jobs=-1, {name}, LocalCluster (2 workers)",
                                     lambda: check(-1), rows)
    for name, report in reports.items():
        pd.testing.assert_frame_equal(report.table, serial.table, check_exact=True)
        assert report.options == serial.options, name
    print(f"reports identical to the serial one: yes ({len(serial.table)} rows, "
          f"passed={serial.passed}); pool start-up not timed: "
          + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in starts.items()) + "\n")
    print("| run | seconds | serial / run | CPU s: this process | CPU s: workers | CPU s: "
          "other processes |\n| --- | --- | --- | --- | --- | --- |")
    for name, seconds, *cpu in rows:
        print(f"| {name} | {seconds:.1f} | {rows[0][1] / seconds:.2f} | "
              + " | ".join(f"{c:.1f}" for c in cpu) + " |")
    print(f"\nceiling now (two serial checks of a 784-64-10 MLP at once on two loky workers "
          f"against one alone, 2.00 on two idle cores): {ceiling(threads):.2f}; load "
          f"average {os.getloadavg()[0]:.2f} at the end")


def _small_check(threads: int) -> float:
    """Seconds of one serial full check of a 784-64-10 MLP, in the process it runs in."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 784)), rng.integers(0, 10, 8)
    with threadpool_limits(threads):
        start = time.perf_counter()
        check_model(mlp((784, 64, 10), activation="tanh"), SoftmaxCrossEntropy(), x, y,
                    mode="full")
    return time.perf_counter() - start


def ceiling(threads: int) -> float:
    """``2 * alone / together``: the speed-up two processes get on this machine now."""
    with joblib.Parallel(n_jobs=2) as pool:
        alone = pool([joblib.delayed(_small_check)(threads)])[0]
        together = max(pool([joblib.delayed(_small_check)(threads)] * 2))
    return 2 * alone / together


if __name__ == "__main__":
    main()
