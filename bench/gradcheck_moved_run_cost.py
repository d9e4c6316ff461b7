"""What the check of a chain's moved run costs: default ``check_model`` with and without it.

Tanh MLPs (reference_nets, float64, batch 64, softmax cross-entropy, one thread). Each round
times ``--checks`` checks with the moved run's check switched off
(``gradcheck.chain_second_point.moved_run_disagrees`` replaced by one that says "agrees") and as
it is, in turn; the table gives the fastest round's median of each and the share it adds.

Run: ``.venv/bin/python bench/gradcheck_moved_run_cost.py [--rounds 15] [--checks 31]
[--sizes 10-32-10 64-128-10 784-64-10]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402  (thread settings must precede the imports)

import gradcheck.chain_second_point as second_point  # noqa: E402
from gradcheck import check_model  # noqa: E402
from reference_nets.losses import SoftmaxCrossEntropy  # noqa: E402
from reference_nets.zoo import mlp  # noqa: E402


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="alternations of the two")
    parser.add_argument("--checks", type=int, default=31, help="checks timed per round")
    parser.add_argument("--sizes", nargs="+", default=["10-32-10", "64-128-10", "784-64-10"])
    return parser.parse_args()


def _median_ms(model, loss, x, y, checks: int) -> float:
    times = []
    for _ in range(checks):
        start = time.perf_counter()
        check_model(model, loss, x, y)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> int:
    args = _parse()
    screen, loss = second_point.moved_run_disagrees, SoftmaxCrossEntropy()
    print(f"{'sizes':<16} {'without ms':>11} {'with ms':>9} {'added':>7}")
    for label in args.sizes:
        sizes = tuple(map(int, label.split("-")))
        rng = np.random.default_rng(0)
        model = mlp(sizes, activation="tanh", init="xavier", seed=0)
        x, y = rng.normal(size=(64, sizes[0])), rng.integers(0, sizes[-1], 64)
        best = {"without": [], "with": []}
        for _ in range(args.rounds):
            for name, fn in (("without", lambda *a, **k: False), ("with", screen)):
                second_point.moved_run_disagrees = fn
                best[name].append(_median_ms(model, loss, x, y, args.checks))
        second_point.moved_run_disagrees = screen
        off, on = min(best["without"]), min(best["with"])
        print(f"{label:<16} {off:>11.2f} {on:>9.2f} {100 * (on / off - 1):>6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
