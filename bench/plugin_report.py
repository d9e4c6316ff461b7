"""What ``--gradcheck-report`` costs a pytest session of many gradient checks.

Generates, in a temporary folder, a pytest project whose tests call the ``gradcheck``
fixture ``--checks`` times (default 300): reference_nets layers (Dense, Tanh, Sigmoid,
LeakyReLU, BatchNorm, Conv2D) of varied sizes, a small model under a loss, one check in
thirty on a layer whose dL/dW is wrong (a failing check), and two tests that raise
(one before its check, one inside it). Runs that session in a subprocess,
``python -m pytest -q -p no:cacheprovider``, alternating without and with
``--gradcheck-report`` (``--repeat`` times each after one warm-up of each), and prints the
median times, their ratios (target <= 1.3x) and the page size (target < 1 MB). Two clocks:
wall time, and the CPU time (user + system) of the pytest process, which other jobs on a
shared machine disturb much less.

Usage (from the repository root, so that the subprocess imports this checkout)::

    PYTHONPATH=$PWD .venv/bin/python bench/plugin_report.py [--checks 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO, TARGET_MB = 1.3, 1.0
FAILING_EVERY = 30

SESSION = '''
import numpy as np
import pytest
from reference_nets import BatchNorm, Conv2D, Dense, LeakyReLU, Sequential, Sigmoid, Tanh
from reference_nets.losses import MSE


class WrongDense(Dense):
    """Dense whose dL/dW is twice too large."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] *= 2.0
        return dx


def batch(seed, shape):
    return np.random.default_rng(seed).normal(size=shape)


def make(kind, k):
    n = 3 + k % 5
    if kind == "dense":
        return Dense(n, n + 1, seed=k), batch(k, (4, n))
    if kind == "wrong":
        return WrongDense(n, 2, seed=k), batch(k, (4, n))
    if kind == "batchnorm":
        return BatchNorm(n), batch(k, (6, n))
    if kind == "conv":
        return Conv2D(1, 2, 3, padding=1, seed=k), batch(k, (2, 1, 5, 5))
    layer = {{"tanh": Tanh, "sigmoid": Sigmoid, "leaky": LeakyReLU}}[kind]()
    return layer, batch(k, (4, n))


KINDS = ["dense", "tanh", "sigmoid", "leaky", "batchnorm", "conv"]
CASES = [("wrong" if k % {failing} == {failing} - 1 else KINDS[k % len(KINDS)], k)
         for k in range({n_layer})]


@pytest.mark.parametrize(("kind", "k"), CASES, ids=[f"{{kind}}-{{k}}" for kind, k in CASES])
def test_layer(gradcheck, kind, k):
    layer, x = make(kind, k)
    gradcheck(layer, x)


def test_model(gradcheck):
    model = Sequential([Dense(4, 5, seed=1), Tanh(), Dense(5, 2, seed=2)])
    gradcheck(model, batch(0, (6, 4)), loss=MSE(), y=batch(1, (6, 2)))


def test_raises_before_its_check(gradcheck):
    raise RuntimeError("the test's own set-up broke")


def test_raises_inside_its_check(gradcheck):
    gradcheck(Dense(3, 2), batch(0, (4, 5)))
'''


def make_project(folder: Path, n_checks: int) -> tuple[Path, int]:
    """Write the session into ``folder``; return its test file and its number of failures."""
    n_layer = n_checks - 1  # plus test_model
    test_file = folder / "test_session.py"
    test_file.write_text(SESSION.format(failing=FAILING_EVERY, n_layer=n_layer))
    (folder / "pytest.ini").write_text("[pytest]\n")
    return test_file, n_layer // FAILING_EVERY


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(folder: Path, extra: list[str], expected_failures: int) -> tuple[float, float]:
    """Wall time and CPU time (seconds) of one pytest run of the session in ``folder``."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra]
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=os.environ)
    seconds = time.perf_counter() - start, _children_cpu() - cpu
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if f"{expected_failures + 2} failed" not in tail:  # + the two tests that raise
        raise RuntimeError(f"unexpected outcome (exit {done.returncode}):\n"
                           f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return seconds


def measure(n_checks: int, repeat: int) -> tuple[dict[str, list[tuple[float, float]]], float]:
    """Alternate both variants ``repeat`` times; return the times and the page size (MB)."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        _, failures = make_project(folder, n_checks)
        page = folder / "out" / "session.html"
        variants = {"without --gradcheck-report": [],
                    "with --gradcheck-report": ["--gradcheck-report", str(page)]}
        times: dict[str, list[tuple[float, float]]] = {label: [] for label in variants}
        for extra in variants.values():  # warm-up: imports compiled, disk cache filled
            run_once(folder, extra, failures)
        for _ in range(repeat):
            for label, extra in variants.items():
                times[label].append(run_once(folder, extra, failures))
        return times, page.stat().st_size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=300, help="checks in the session")
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (default 3)")
    args = parser.parse_args()
    times, megabytes = measure(args.checks, args.repeat)
    print(f"{args.checks} checks, {args.repeat} runs per variant")
    print(f"{'variant':<30}{'wall s median':>15}{'wall s min':>12}{'CPU s median':>14}"
          f"{'CPU s min':>11}")
    medians = {}
    for label, values in times.items():
        wall, cpu = ([v[i] for v in values] for i in (0, 1))
        medians[label] = (statistics.median(wall), statistics.median(cpu))
        print(f"{label:<30}{medians[label][0]:>15.2f}{min(wall):>12.2f}"
              f"{medians[label][1]:>14.2f}{min(cpu):>11.2f}")
    for i, clock in enumerate(("wall", "CPU")):
        ratio = medians["with --gradcheck-report"][i] / medians["without --gradcheck-report"][i]
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        print(f"{f'{clock} time ratio (medians)':<30}{ratio:>15.2f}   "
              f"(target <= {TARGET_RATIO}: {verdict})")
    verdict = "met" if megabytes < TARGET_MB else "NOT met"
    print(f"{'page size MB':<30}{megabytes:>15.3f}   (target < {TARGET_MB:g}: {verdict})")


if __name__ == "__main__":
    main()
