"""Time to name one wrong element of a large weight, in gradcheck's default mode.

A dense layer ``y = x @ W + b`` with a 1024 x 1024 weight (1,048,576 elements) whose
backward gets one element of dW 1 % wrong; ``check_layer`` in its default mode must fail W
and name that element. Above 100,000 elements "auto" locates it by bisection over random
directions on halves of the candidates (about 2 log2(n) evaluations), so the time is a
fraction of a second. Peers name no element at all (torch fast mode reports a mismatch of
one random projection; slow mode would need 2 million forwards).

Run: ``.venv/bin/python bench/gradcheck_locate.py [--size 1024] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from gradcheck import check_layer


class OneWrongElement:
    """A correct dense layer except one element of its weight gradient (1 % too large)."""

    def __init__(self, n: int, where: tuple[int, int], seed: int = 0):
        rng = np.random.default_rng(seed)
        self.params = {"W": rng.normal(size=(n, n)) / np.sqrt(n), "b": rng.normal(size=n)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.where = where

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dy):
        self.grads["W"] = self.x.T @ dy
        self.grads["W"][self.where] *= 1.01
        self.grads["b"] = dy.sum(axis=0)
        return dy @ self.params["W"].T


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="weight is size x size")
    parser.add_argument("--repeat", type=int, default=5, help="runs (median reported)")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    times, named = [], []
    for run in range(args.repeat):
        where = (int(rng.integers(args.size)), int(rng.integers(args.size)))
        layer = OneWrongElement(args.size, where, seed=run)
        x = rng.normal(size=(4, args.size))
        start = time.perf_counter()
        report = check_layer(layer, x)
        times.append(time.perf_counter() - start)
        row = report.table.query("tensor == 'W' and check == 'gradient'").iloc[0]
        named.append(row.status == "fail" and row.worst_index.startswith(str(where)))
    print(f"W {args.size}x{args.size} ({args.size**2:,} elements), one element 1% wrong, "
          f"default check_layer, {args.repeat} runs, 1 thread")
    print(f"element named exactly: {sum(named)} of {len(named)}")
    print(f"seconds per check: median {statistics.median(times):.3f}, max {max(times):.3f}")
    return 0 if all(named) else 1


if __name__ == "__main__":
    sys.exit(main())
