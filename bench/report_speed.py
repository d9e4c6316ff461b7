"""How long ``write_report`` takes and how big the page gets for a long run.

Trains a 10-Dense-layer ReLU MLP on two spirals with a ``Monitor`` recording every
step (10,000 steps by default), then renders the report a few times and prints a
table against the targets (under 5 s, under 3 MB). Training time is not counted.

    .venv/bin/python bench/report_speed.py [--steps 10000] [--layers 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
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
        start = time.perf_counter()
        path = write_report(Path(folder) / f"report{i}.html", monitor={"long run": monitor})
        times.append(time.perf_counter() - start)
    return min(times), path.stat().st_size / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    monitor = record_run(args.steps, args.layers)
    frame = monitor.frame
    print(f"recorded {frame['step'].nunique():,} steps, {len(frame):,} rows, "
          f"{args.layers} Dense layers in {time.perf_counter() - start:.1f} s (not counted)")
    with tempfile.TemporaryDirectory() as folder:
        seconds, megabytes = best_render(monitor, folder, args.repeats)
    print(f"\n{'measure':<22}{'value':>10}{'target':>10}{'ratio':>8}")
    print(f"{'write_report (s)':<22}{seconds:>10.2f}{TARGET_SECONDS:>10.1f}"
          f"{seconds / TARGET_SECONDS:>8.2f}")
    print(f"{'report size (MB)':<22}{megabytes:>10.2f}{TARGET_MB:>10.1f}"
          f"{megabytes / TARGET_MB:>8.2f}")
    print(f"(best of {args.repeats}; ratio < 1 meets the target)")


if __name__ == "__main__":
    main()
