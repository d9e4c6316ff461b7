"""Likely cause: how often the bug zoo gets the right cause, and what the analysis costs.

1. Every bug of ``tests/gradcheck/bug_zoo.py``: the evidence of its failing tensor (full
   central differences, the verdict's tolerance, the context reruns), then
   ``likely_causes``. A bug counts as *right* when its expected label is among the causes
   (for a bug with no simple pattern: when no cause is given), *wrong* when a cause is given
   but not the expected one, *no simple pattern* when no cause is given for a bug that has
   one. Targets: right >= 75 %, wrong 0. The correct twins must get no cause.
2. Cost on the 784-64-10 tanh MLP (batch 64, float64, softmax cross-entropy) whose first
   Dense layer has a broken weight gradient: the time of ``likely_causes`` on that layer's
   W (50,176 elements) and of ``rerun_evidence`` (with a directional ``check_layer``),
   against a failing default ``check_model`` of the model (one run: it computes the numeric
   gradient of every element of the failing W) and against the least a full numeric W
   costs (central differences grouped one element per output column: 1,568 forwards of
   the layer). Target: the analysis adds under 20 % to the failing check.
   Two bugs: W's gradient missing the 1/N (a pattern found early) and W's gradient with a
   fixed 1e-3 noise (no simple pattern: every test runs to the end).

Run: ``.venv/bin/python bench/likely_cause.py [--repeat 5]``
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests.gradcheck.bug_zoo

import numpy as np

from gradcheck import check_layer, check_model
from gradcheck.causes import Evidence, likely_causes, rerun_evidence
from reference_nets import Dense, Sequential
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.zoo import mlp
from tests.gradcheck.bug_zoo import BUGS, CORRECT, STEP, evidence, tolerance


def zoo_outcomes() -> dict[str, list[str]]:
    """``{"right" | "wrong" | "no simple pattern": [bug names]}`` over the zoo."""
    out = {"right": [], "wrong": [], "no simple pattern": []}
    for name, bug in BUGS.items():
        found = [c.label for c in likely_causes(evidence(bug.make, bug.inputs(), bug.tensor))]
        if (bug.expected in found) or (bug.expected is None and not found):
            out["right"].append(name)
        else:
            out["wrong" if found else "no simple pattern"].append(f"{name} (got {found})")
    return out


def correct_with_causes() -> list[str]:
    """Correct zoo layers (any tensor) that get a cause."""
    flagged = []
    for name, (make, shape) in CORRECT.items():
        x = np.random.default_rng(11).normal(size=shape)
        tensors = evidence(make, x, "input", reruns=False).statuses
        flagged += [f"{name}:{t}" for t in tensors if likely_causes(evidence(make, x, t))]
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


def upstream(model, loss, x, y) -> np.ndarray:
    """dL/dy of the first layer (its true upstream gradient in the model)."""
    loss.forward(model.forward(x), y)
    d = loss.backward()
    for layer in model.layers[:0:-1]:
        d = layer.backward(d)
    return d


def grouped_numeric(layer, x, G) -> np.ndarray:
    """Central differences of ``<G, layer.forward(x)>`` in W, one element per output column
    at a time (each column's contribution is read separately: 784 groups, not 50,176)."""
    W = layer.params["W"]
    cols, out = np.arange(W.shape[1]), np.empty_like(W)
    for g in range(W.shape[0]):
        rows = (g + cols) % W.shape[0]
        kept = W[rows, cols].copy()
        sides = []
        for s in (STEP, -STEP):
            W[rows, cols] = kept + s
            sides.append((G * layer.forward(x)).sum(axis=0))
        W[rows, cols] = kept
        out[rows, cols] = (sides[0] - sides[1]) / (2 * STEP)
    return out


def best(fn, repeat: int) -> tuple[float, object]:
    """Best wall time of ``repeat`` calls and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def cost(kind: type, repeat: int) -> dict[str, float | str]:
    """Seconds of the failing default check, the grouped numeric W, the analysis and the
    reruns, and the causes found."""
    model, x, y = broken_model(kind)
    loss = SoftmaxCrossEntropy()
    t_check, report = best(lambda: check_model(model, loss, x, y), 1)
    assert not report.passed
    layer, G = model.layers[0], upstream(model, loss, x, y)
    layer.forward(x)
    layer.backward(G)
    analytic = layer.grads["W"].copy()
    t_numeric, numeric = best(lambda: grouped_numeric(layer, x, G), repeat)
    e = Evidence("0:" + kind.__name__, "W", analytic, numeric,
                 tolerance(numeric, layer.params["W"], float(np.sum(np.abs(G * layer.forward(x))))),
                 value=layer.params["W"], upstream=G, batch_size=len(x))
    t_analysis, causes = best(lambda: likely_causes(e), repeat)
    directional = functools.partial(check_layer, mode="directional")
    t_reruns, _ = best(lambda: rerun_evidence(layer, x, directional, "W"), repeat)
    return {"check": t_check, "numeric": t_numeric, "analysis": t_analysis, "reruns": t_reruns,
            "causes": "; ".join(c.label for c in causes) or "no simple pattern"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    repeat = parser.parse_args().repeat
    outcomes, total = zoo_outcomes(), len(BUGS)
    print(f"bug zoo: {total} bugs")
    for kind, names in outcomes.items():
        print(f"  {kind:<18} {len(names):3d}  {len(names) / total:6.1%}")
        if kind != "right":
            print("".join(f"      {n}\n" for n in names), end="")
    flagged = correct_with_causes()
    print(f"correct layers given a cause: {len(flagged)} of {len(CORRECT)} {flagged or ''}")
    print(f"\n784-64-10 MLP, first-layer W broken (50,176 elements), best of {repeat}:")
    print(f"{'bug':<12} {'check_model s':>13} {'numeric W s':>11} {'analysis s':>10} "
          f"{'/check':>7} {'/numeric':>8} {'reruns s':>9} {'/check':>7}  causes")
    for kind in (MissingMean, Noisy):
        c = cost(kind, repeat)
        print(f"{kind.__name__:<12} {c['check']:13.2f} {c['numeric']:11.3f} "
              f"{c['analysis']:10.4f} {c['analysis'] / c['check']:7.2%} "
              f"{c['analysis'] / c['numeric']:8.2%} {c['reruns']:9.4f} "
              f"{c['reruns'] / c['check']:7.2%}  {c['causes']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
