"""Weight norms, distances and update ratios from the optimizer's reports against the exact
values over long runs, the fallback to copies, and findings unchanged by the source.

Tolerances as in ``test_diag_update_reports``: a float64 dot product of n terms is off by
at most about ``n * eps`` times the product of the norms; a distance formed as ``a.a -
2 a.b + b.b`` by at most ``2 n eps (a.a + b.b)``; the reported update ``u`` differs from
the rounded change of ``p`` by at most ``eps |p|`` per element.
"""

import re

import numpy as np
import pytest

from diagnostics import Monitor, param_stats
from reference_nets import train
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.optim import SGD
from reference_nets.zoo import mlp

from . import toy_nets as t
from .test_diag_findings import SICK_RUNS
from .test_diag_update_reports import OPTIMIZERS, _series

EPS = np.finfo(np.float64).eps
NUMBER = r"\d+(\.\d+)?(e[-+]\d+)?"


class Exact:
    """Per step and tensor, from float64 copies and difference vectors: ``p.p``,
    ``||p - p0||^2``, ``||p - q||^2``, ``q.q`` (q: before the step), ``p0.p0`` and the
    size."""

    def on_train_begin(self, model, optimizer):
        self.init = {k: v.astype(np.float64) for k, v in model.params.items()}
        self.values = {}

    def on_backward_end(self, step, model, loss_value):
        self.before = {k: v.astype(np.float64) for k, v in model.params.items()}

    def on_step_end(self, step, model):
        for key, value in model.params.items():
            p, q, p0 = value.astype(np.float64), self.before[key], self.init[key]
            self.values[step, key] = (np.vdot(p, p), np.vdot(p - p0, p - p0),
                                      np.vdot(p - q, p - q), np.vdot(q, q), np.vdot(p0, p0),
                                      p.size)


def _long_run(optimizer, dtype=np.float64, epochs=40, distance_every=8):
    """Monitor and exact values of a 12-256-160-3 MLP (2:Dense.W has 40,960 elements:
    enough to take reports) trained for 10 steps an epoch."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(160, 12)).astype(dtype), rng.integers(0, 3, 160)
    monitor, exact = Monitor(every=1, distance_every=distance_every), Exact()
    train(mlp((12, 256, 160, 3), seed=1, dtype=dtype), SoftmaxCrossEntropy(), optimizer, X, y,
          epochs=epochs, batch_size=16, hooks=[exact, monitor], progress=False)
    return monitor, exact.values


def _assert_exact(monitor, exact, reported):
    """Every recorded weight norm, distance and update ratio within its bound; the
    distances on the multiples of ``distance_every`` (every step recorded)."""
    weights, dists = _series(monitor, "weight_norm"), _series(monitor, "dist_from_init")
    ratios = _series(monitor, "update_ratio")
    assert set(weights) == set(ratios) == set(exact)
    every = monitor.meta["distance_every"]
    assert set(dists) == {(step, key) for step, key in exact if step % every == 0}
    for step_key, (pp, dd, uu, qq, p0p0, n) in exact.items():
        assert abs(weights[step_key] ** 2 - pp) <= n * EPS * pp, step_key
        if step_key in dists:
            assert abs(dists[step_key] ** 2 - dd) <= 2 * n * EPS * (pp + p0p0), step_key
        got = (ratios[step_key] * np.sqrt(pp)) ** 2
        tol = (4 * EPS * np.sqrt(pp * uu) + 2 * n * EPS * uu + n * EPS ** 2 * pp if reported
               else 2 * n * EPS * (pp + qq))
        assert abs(got - uu) <= tol, (step_key, got, uu, tol)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_reported_norms_stay_exact_over_many_steps(name):
    monitor, exact = _long_run(OPTIMIZERS[name](), distance_every=1 if name == "adam" else 8)
    assert monitor.meta["update_norms"] == "reported by the optimizer"
    assert max(step for step, _ in exact) == 399
    _assert_exact(monitor, exact, reported=True)


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_float32_models_are_measured_from_float64_copies_as_exactly(name):
    monitor, exact = _long_run(OPTIMIZERS[name](), dtype=np.float32, epochs=10)
    assert monitor.meta["update_norms"] == "measured from copies of the parameters"
    _assert_exact(monitor, exact, reported=False)


@pytest.mark.parametrize("distance_every", [1, 8])
def test_an_optimizer_without_reports_is_measured_with_the_same_bounds(distance_every):
    monitor, exact = _long_run(t.OwnOptimizer(SGD(0.05, momentum=0.9)), epochs=10,
                               distance_every=distance_every)
    assert monitor.meta["update_norms"] == "measured from copies of the parameters"
    _assert_exact(monitor, exact, reported=False)


class Skewed(SGD):
    """Reports weight norms twice too large from its second step on."""

    steps = 0

    def step(self):
        super().step()
        self.steps += 1

    def _report_update(self, *args):
        report = super()._report_update(*args)
        return report._replace(param_sq=4 * report.param_sq) if self.steps else report


def test_trusted_reports_are_what_the_monitor_records_after_the_trial_step():
    monitor, exact = _long_run(Skewed(0.05), epochs=1)
    weights = _series(monitor, "weight_norm")
    assert monitor.meta["update_norms"] == "reported by the optimizer"
    np.testing.assert_allclose(weights[0, "2.W"] ** 2, exact[0, "2.W"][0], rtol=1e-12)
    for step in range(1, 10):  # the Monitor read no parameter after the step
        np.testing.assert_allclose(weights[step, "2.W"] ** 2, 4 * exact[step, "2.W"][0],
                                   rtol=1e-12)


def test_reports_that_disagree_on_the_trial_step_are_not_used():
    class SkewedFromTheStart(Skewed):
        steps = 1

    monitor, exact = _long_run(SkewedFromTheStart(0.05), epochs=1)
    assert monitor.meta["update_norms"] == "measured from copies of the parameters"
    _assert_exact(monitor, exact, reported=False)


@pytest.mark.parametrize("sick", SICK_RUNS)
def test_sick_runs_give_the_same_findings_with_and_without_reports(digits, sick, monkeypatch):
    monkeypatch.setattr(param_stats, "ROW_BY_ROW", 0)  # reports for these small models too
    make, options = SICK_RUNS[sick]
    options = {"epochs": 2, "momentum": 0.9, **options}
    targets = options.pop("y", lambda split: digits.y_train)(digits)
    findings = {}
    for wrap in (lambda opt: opt, t.OwnOptimizer):
        monitor = Monitor(every=1)
        optimizer = wrap(SGD(options["lr"], momentum=options["momentum"]))
        with np.errstate(all="ignore"):
            train(make(), options.get("loss", SoftmaxCrossEntropy()), optimizer,
                  digits.X_train, targets, epochs=options["epochs"], batch_size=32,
                  hooks=[monitor], progress=False)
        findings[wrap] = monitor.findings()
        assert monitor.meta["update_norms"].startswith(
            "measured" if wrap is t.OwnOptimizer else "reported")
    reported, measured = findings.values()
    assert not reported.empty
    columns = ["severity", "check", "layer"]
    assert reported[columns].equals(measured[columns])
    # the same words; the numbers may differ where the copies resolve less (update
    # ratios near 1e-7: the vanishing run's 2.16e-07 reads 2.14e-07 from copies)
    words = [[re.sub(NUMBER, "#", m) for m in f.message] for f in (reported, measured)]
    assert words[0] == words[1]
