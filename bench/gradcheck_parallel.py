"""An exhaustive check on two cores: serial against ``n_jobs=2`` on loky and on a Dask cluster.

Network: a 784-600-64-10 tanh MLP (reference_nets, 510,114 parameters), batch 2, float64,
softmax cross-entropy; ``check_model(mode="full")``: every element of every parameter and
layer input, layer by layer and end to end. Rows, one after another in one process:

- serial (``n_jobs=None``);
- ``n_jobs=2`` on joblib's default backend (loky processes);
- ``n_jobs=-1`` inside ``joblib.parallel_config(backend="dask")`` on a
  ``distributed.LocalCluster`` of 2 single-threaded worker processes.

Every process computes with ``--threads`` BLAS threads (the workers take the caller's
counts, so that the reports can match). The pools are started before the clock runs (their
start-up is printed apart: a user starts a cluster once for many checks). Each parallel
report is asserted identical to the serial one (every row and number, bit for bit). Last,
the ceiling: what two processes can gain on the machine as loaded at the time.

Run: ``.venv/bin/python bench/gradcheck_parallel.py [--threads 1] [--batch 2]``
"""

from __future__ import annotations

import argparse
import os
import time

import joblib
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from gradcheck import check_model
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.zoo import mlp


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads per process")
    parser.add_argument("--batch", type=int, default=2, help="samples in the checked batch")
    parser.add_argument("--sizes", default="784,600,64,10", help="MLP widths")
    args = parser.parse_args()
    with threadpool_limits(args.threads):
        compare(tuple(int(s) for s in args.sizes.split(",")), args.batch, args.threads)


def compare(sizes: tuple, batch: int, threads: int) -> None:
    """Time the three runs, assert their reports identical, print the table."""
    from distributed import Client, LocalCluster

    model = mlp(sizes, activation="tanh")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(batch, sizes[0])), rng.integers(0, sizes[-1], batch)
    loss = SoftmaxCrossEntropy()
    n_params = sum(p.size for p in model.params.values())
    print(f"MLP {'-'.join(map(str, sizes))} ({n_params:,} parameters), batch {batch}, "
          f"{threads} BLAS thread(s) per process, {os.cpu_count()} cores")

    def check(n_jobs=None):
        return check_model(model, loss, x, y, mode="full", n_jobs=n_jobs)

    rows = []
    seconds, serial = timed(check)
    rows.append(("serial", seconds))
    start, _ = timed(lambda: joblib.Parallel(n_jobs=2)(joblib.delayed(abs)(-i)
                                                       for i in range(2)))
    seconds, loky = timed(lambda: check(2))
    rows.append(("n_jobs=2, loky", seconds))
    dask_start, cluster = timed(lambda: LocalCluster(n_workers=2, threads_per_worker=1,
                                                     processes=True, dashboard_address=None))
    with cluster, Client(cluster), joblib.parallel_config(backend="dask"):
        seconds, dask = timed(lambda: check(-1))
    rows.append(("n_jobs=-1, Dask LocalCluster (2 workers)", seconds))
    for name, report in (("loky", loky), ("dask", dask)):
        pd.testing.assert_frame_equal(report.table, serial.table, check_exact=True)
        assert report.options == serial.options, name
    print(f"reports identical to the serial one: yes ({len(serial.table)} rows, "
          f"passed={serial.passed}); pool start-up not timed: loky {start:.1f} s, "
          f"Dask {dask_start:.1f} s\n")
    print("| run | seconds | serial / run |\n| --- | --- | --- |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} | {rows[0][1] / seconds:.2f} |")
    print(f"\nceiling now (two serial checks of a 784-64-10 MLP at once on two loky workers "
          f"against one alone, 2.00 on two idle cores): {ceiling(threads):.2f}")


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
