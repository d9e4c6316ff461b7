"""How long ``write_report`` takes and how big the page gets for long runs.

For each ``--steps`` value, trains a 10-Dense-layer ReLU MLP on two spirals with a
``Monitor`` recording every step, then renders the report a few times (each render from a
fresh deep copy of the monitor, so no frame built by an earlier render is reused) and
prints a row against the targets (under 5 s and 3 MB at 10,000 steps) with the time each
further 10,000 steps added since the row before: it stays flat (or falls) when render time
grows no faster than linearly with the run. Training and copying are not counted.

    .venv/bin/python bench/report_speed.py [--steps 10000 100000] [--layers 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

from diagnostics import Monitor, write_report
from reference_nets import train, zoo
from reference_nets.data import two_spirals
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.optim import SGD

TARGET_SECONDS, TARGET_MB = 5.0, 3.0
BATCH = 8


def record_run(n_steps, n_layers):
    """A Monitor holding ``n_steps`` recorded steps of an ``n_layers``-Dense MLP."""
    X, y = two_spirals(n_per_class=200, seed=0)
    model = zoo.mlp((2, *[32] * (n_layers - 1), 2), seed=0)
    monitor = Monitor(every=1)
    steps_per_epoch = -(-len(X) // BATCH)
    train(model, SoftmaxCrossEntropy(), SGD(0.02, momentum=0.9), X, y,
          epochs=-(-n_steps // steps_per_epoch), batch_size=BATCH, hooks=[monitor])
    return monitor


def best_render(monitor, folder, repeats):
    """Fastest of ``repeats`` renders (seconds) and the page size (MB)."""
    times = []
    for i in range(repeats):
        fresh = copy.deepcopy(monitor)
        start = time.perf_counter()
        path = write_report(Path(folder) / f"report{i}.html", monitor={"long run": fresh})
        times.append(time.perf_counter() - start)
    return min(times), path.stat().st_size / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10_000])
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(f"{'steps':>8}{'records':>12}{'write_report (s)':>18}{'added s per 10k steps':>23}"
          f"{'size (MB)':>11}")
    before = None
    for n_steps in sorted(args.steps):
        monitor = record_run(n_steps, args.layers)
        with tempfile.TemporaryDirectory() as folder:
            seconds, megabytes = best_render(monitor, folder, args.repeats)
        n_records = len(monitor.frame)  # after the renders: their copies start uncached
        added = "" if before is None else \
            f"{(seconds - before[1]) / (n_steps - before[0]) * 1e4:.2f}"
        print(f"{n_steps:>8,}{n_records:>12,}{seconds:>18.2f}{added:>23}{megabytes:>11.2f}")
        before = n_steps, seconds
    print(f"(best of {args.repeats}; {args.layers} Dense layers; targets at 10,000 steps: "
          f"{TARGET_SECONDS:g} s, {TARGET_MB:g} MB)")


if __name__ == "__main__":
    main()
