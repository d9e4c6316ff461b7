"""Likely cause: how often the checker names the right cause, and what naming it costs.

1. Every bug of ``tests/gradcheck/bug_zoo.py`` through ``check_layer`` itself (default
   mode): a bug counts as *right* when its expected label is among the ``cause_label``s of
   its failing tensor (for a bug with no simple pattern: when no cause is claimed), *wrong*
   when a cause is claimed but not the expected one, *no simple pattern* when none is
   claimed for a bug that has one. Targets: right >= 75 %, wrong 0. The correct twins must
   pass with no cause.
2. Cost on the 784-64-10 tanh MLP (batch 64, float64, softmax cross-entropy) whose first
   Dense layer has a broken weight gradient: a failing default ``check_model`` with the
   analysis (``likely_cause=True``, the default: the full numeric W the locating stage
   computed anyway, the pattern tests, the context reruns) against the same check without
   it, interleaved, medians. Target: under 20 % added. Two bugs: W's gradient missing the
   1/N (a pattern found early) and W's gradient with a fixed 1e-3 noise (no simple pattern:
   every test runs to the end).

Run: ``.venv/bin/python bench/likely_cause.py [--repeat 7]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests.gradcheck.bug_zoo

import numpy as np

from gradcheck import check_layer, check_model
from reference_nets import Dense, Sequential
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.zoo import mlp
from tests.gradcheck.bug_zoo import BUGS, CORRECT


def labels_of(report, tensor: str) -> list[str]:
    """The cause labels the checker gave ``tensor``'s local rows."""
    rows = report.table.query("tensor == @tensor and check == 'gradient'")
    return [label for text in rows.cause_label for label in text.split(",") if label]


def zoo_outcomes() -> dict[str, list[str]]:
    """``{"right" | "wrong" | "no simple pattern": [bug names]}`` over the zoo."""
    out = {"right": [], "wrong": [], "no simple pattern": []}
    for name, bug in BUGS.items():
        found = labels_of(check_layer(bug.make(), bug.inputs()), bug.tensor)
        if (bug.expected in found) or (bug.expected is None and not found):
            out["right"].append(name)
        else:
            out["wrong" if found else "no simple pattern"].append(f"{name} (got {found})")
    return out


def correct_with_causes() -> list[str]:
    """Correct zoo layers that fail or get a cause."""
    flagged = []
    for name, (make, shape) in CORRECT.items():
        report = check_layer(make(), np.random.default_rng(11).normal(size=shape))
        if not report.passed or (report.table.likely_cause != "").any():
            flagged.append(name)
    return flagged


class MissingMean(Dense):
    """dW without the forward's 1/N: N times too large."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] *= len(dy)
        return dx


class Noisy(Dense):
    """dW plus a fixed noise of 1e-3 of its largest magnitude (no simple pattern)."""

    def backward(self, dy):
        dx = super().backward(dy)
        noise = np.random.default_rng(1).standard_normal(self.grads["W"].shape)
        self.grads["W"] += 1e-3 * np.abs(self.grads["W"]).max() * noise
        return dx


def broken_model(kind: type, seed: int = 0):
    """The 784-64-10 tanh MLP with its first layer replaced by ``kind``, a batch and labels."""
    rng = np.random.default_rng(seed)
    model = mlp((784, 64, 10), activation="tanh", init="xavier", seed=seed)
    first = kind(784, 64)
    for key, value in model.layers[0].params.items():
        first.params[key][...] = value
    return Sequential([first, *model.layers[1:]]), rng.normal(size=(64, 784)), \
        rng.integers(0, 10, 64)


def cost(kind: type, repeat: int) -> tuple[float, float, str]:
    """Median seconds of the failing check with and without the analysis, and its cause."""
    model, x, y = broken_model(kind)
    loss = SoftmaxCrossEntropy()
    times = {True: [], False: []}
    report = None
    for _ in range(repeat):
        for analyse in (True, False):
            start = time.perf_counter()
            found = check_model(model, loss, x, y, likely_cause=analyse)
            times[analyse].append(time.perf_counter() - start)
            report = found if analyse else report
    assert not report.passed
    causes = ", ".join(labels_of(report, "W")) or "no simple pattern"
    return statistics.median(times[True]), statistics.median(times[False]), causes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="interleaved runs (medians)")
    repeat = parser.parse_args().repeat
    outcomes, total = zoo_outcomes(), len(BUGS)
    print(f"bug zoo through check_layer: {total} bugs")
    for kind, names in outcomes.items():
        print(f"  {kind:<18} {len(names):3d}  {len(names) / total:6.1%}")
        print("".join(f"      {n}\n" for n in names if kind != "right"), end="")
    flagged = correct_with_causes()
    print(f"correct layers failed or given a cause: {len(flagged)} of {len(CORRECT)} "
          f"{flagged or ''}")
    print(f"\n784-64-10 MLP, first-layer W broken (50,176 elements), medians of {repeat} "
          "interleaved runs, 1 thread:")
    print(f"{'bug':<12} {'with analysis s':>15} {'without s':>10} {'added':>7}  causes")
    for kind in (MissingMean, Noisy):
        with_, without, causes = cost(kind, repeat)
        print(f"{kind.__name__:<12} {with_:15.3f} {without:10.3f} "
              f"{with_ / without - 1:7.1%}  {causes}")
    return 0 if not outcomes["wrong"] and not flagged else 1


if __name__ == "__main__":
    sys.exit(main())
