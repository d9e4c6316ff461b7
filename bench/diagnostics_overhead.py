"""Training-time overhead of ``diagnostics.Monitor`` on the digits MLP.

Trains ``reference_nets.zoo.mlp()`` (64-64-10, ReLU) on the digits training split
with SGD (lr 0.05, momentum 0.9), batch 32, in one process:

* no hooks (the baseline),
* ``Monitor()`` recording every step,
* ``Monitor(every=10)``.

Configurations are interleaved, each run from the same fresh model, ``--repeats``
times after one warm-up round; the table shows the best and the median seconds per
run and the ratio of each to the baseline's (goals: every step <= 1.10x, every 10
steps <= 1.03x). Usage::

    .venv/bin/python bench/diagnostics_overhead.py [--epochs 10] [--repeats 9]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from diagnostics import Monitor
from reference_nets import train
from reference_nets.data import load_digits
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.optim import SGD
from reference_nets.zoo import mlp

CONFIGS = {
    "no hooks": lambda: (),
    "Monitor() every step": lambda: (Monitor(),),
    "Monitor(every=10)": lambda: (Monitor(every=10),),
}


def run(split, hooks, epochs: int) -> float:
    """Seconds of one training run of a fresh digits MLP with ``hooks``."""
    model = mlp(seed=0)
    start = time.perf_counter()
    train(model, SoftmaxCrossEntropy(), SGD(0.05, momentum=0.9), split.X_train, split.y_train,
          epochs=epochs, batch_size=32, hooks=hooks, progress=False)
    return time.perf_counter() - start


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    split = load_digits()
    for make in CONFIGS.values():
        run(split, make(), 1)
    times = {name: [] for name in CONFIGS}
    for _ in range(args.repeats):
        for name, make in CONFIGS.items():
            times[name].append(run(split, make(), args.epochs))
    steps = args.epochs * -(-len(split.X_train) // 32)
    base_best, base_median = min(times["no hooks"]), float(np.median(times["no hooks"]))
    table = pd.DataFrame([{
        "configuration": name, "best s": min(t), "median s": float(np.median(t)),
        "us/step (best)": 1e6 * min(t) / steps, "ratio (best)": min(t) / base_best,
        "ratio (median)": float(np.median(t)) / base_median} for name, t in times.items()])
    print(f"digits MLP 64-64-10, batch 32, {args.epochs} epochs ({steps} steps), "
          f"{args.repeats} interleaved repeats")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return table


if __name__ == "__main__":
    main()
