"""Training-time overhead of ``diagnostics.Monitor`` on the digits MLP.

Trains ``reference_nets.zoo.mlp()`` (64-64-10, ReLU) on the digits training split
with SGD (lr 0.05, momentum 0.9), batch 32, in one process:

* no hooks (the baseline),
* no hooks again (its ratios to the baseline show the noise of the measurement),
* ``Monitor()`` recording every step,
* ``Monitor(every=10)``,
* ``NormFloor``: a hook doing only the arithmetic that the per-tensor norms of one
  recorded step cannot avoid (one gradient inner product, one parameter snapshot and
  three parameter inner products per tensor; no activations, no bookkeeping): the
  floor of any numpy recorder of these metrics.

Configurations are interleaved, each run from the same fresh model, ``--repeats``
times after one warm-up round. BLAS is limited to one thread (threadpoolctl; the
matrices are tiny) and both the process CPU time and the wall time are measured: on a
shared machine CPU time is the steadier of the two. The table shows per configuration
the best CPU seconds, microseconds per step, and the ratios of the best and median
CPU and wall times to the baseline's (goals: every step <= 1.10x, every 10 steps
<= 1.03x). Usage::

    .venv/bin/python bench/diagnostics_overhead.py [--epochs 20] [--repeats 15]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from diagnostics import Monitor
from reference_nets import train
from reference_nets.data import load_digits
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.optim import SGD
from reference_nets.zoo import mlp

BATCH = 32


class NormFloor:
    """Per step and parameter tensor: g.g, then p.p, p.prev, p.init and prev <- p."""

    def on_train_begin(self, model, optimizer):
        self.params = [p.ravel() for p in model.params.values()]
        self.grads = [g.ravel() for g in model.grads.values()]
        self.prev = [p.copy() for p in self.params]
        self.init = [p.copy() for p in self.params]
        self.out = np.empty((len(self.params), 4))

    def on_backward_end(self, step, model, loss_value):
        for k, g in enumerate(self.grads):
            self.out[k, 0] = g @ g

    def on_step_end(self, step, model):
        for k, (p, q, p0) in enumerate(zip(self.params, self.prev, self.init, strict=True)):
            self.out[k, 1:] = p @ p, p @ q, p @ p0
            np.copyto(q, p)


CONFIGS = {
    "no hooks": lambda: (),
    "no hooks (noise)": lambda: (),
    "Monitor() every step": lambda: (Monitor(),),
    "Monitor(every=10)": lambda: (Monitor(every=10),),
    "NormFloor (norm arithmetic only)": lambda: (NormFloor(),),
}


def run(split, hooks, epochs: int) -> tuple[float, float]:
    """CPU and wall seconds of one training run of a fresh digits MLP with ``hooks``."""
    model = mlp(seed=0)
    cpu, wall = time.process_time(), time.perf_counter()
    train(model, SoftmaxCrossEntropy(), SGD(0.05, momentum=0.9), split.X_train, split.y_train,
          epochs=epochs, batch_size=BATCH, hooks=hooks, progress=False)
    return time.process_time() - cpu, time.perf_counter() - wall


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    split = load_digits()
    times = {name: [] for name in CONFIGS}
    with threadpool_limits(limits=1, user_api="blas"):
        for make in CONFIGS.values():
            run(split, make(), 1)
        for _ in range(args.repeats):
            for name, make in CONFIGS.items():
                times[name].append(run(split, make(), args.epochs))
    steps = args.epochs * -(-len(split.X_train) // BATCH)
    cpu = {name: np.array(t)[:, 0] for name, t in times.items()}
    wall = {name: np.array(t)[:, 1] for name, t in times.items()}
    base = "no hooks"
    table = pd.DataFrame([{
        "configuration": name, "best CPU s": cpu[name].min(),
        "us/step": 1e6 * cpu[name].min() / steps,
        "CPU ratio (best)": cpu[name].min() / cpu[base].min(),
        "CPU ratio (median)": np.median(cpu[name]) / np.median(cpu[base]),
        "wall ratio (best)": wall[name].min() / wall[base].min(),
        "wall ratio (median)": np.median(wall[name]) / np.median(wall[base])}
        for name in CONFIGS])
    print(f"digits MLP 64-64-10, batch {BATCH}, {args.epochs} epochs ({steps} steps), "
          f"{args.repeats} interleaved repeats, 1 BLAS thread")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return table


if __name__ == "__main__":
    main()
