"""Update norms from the optimizer's reports against those measured from copies.

Tolerances are derived, not tuned: a float64 dot product of n terms is off by at most
about ``n * eps`` times the product of the norms (naive summation bound), so a squared
norm formed as ``a.a - 2 a.b + b.b`` is off by at most ``2 n eps (a.a + b.b)``; the
reported update ``u`` is exact up to its own dot product (``n eps u.u``) and its rounded
effect on ``p`` (``fl(p - u) - p`` differs from ``-u`` by at most ``eps |p|`` per element,
so its squared norm by at most ``2 eps |p| |u| + n eps^2 p.p``).
"""

import numpy as np
import pytest

from diagnostics import Monitor
from diagnostics.hooks import call_hooks
from reference_nets import train
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.optim import SGD, Adam
from reference_nets.zoo import mlp

from . import toy_nets as t

EPS = np.finfo(np.float64).eps
SIZES = (12, 200, 200, 3)  # 2:Dense.W has 40,000 elements: copies multiply it row by row
MEASURED = "measured from copies of the parameters"
REPORTED = "reported by the optimizer"
OPTIMIZERS = {
    "sgd": lambda: SGD(0.05),
    "momentum": lambda: SGD(0.05, momentum=0.9),
    "nesterov+wd": lambda: SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda: Adam(1e-3),
}


class Spy:
    """Copies of the parameters before (after backward) and after each step."""

    def __init__(self):
        self.before, self.after = {}, {}

    def on_train_begin(self, model, optimizer):
        self.init = {k: v.copy() for k, v in model.params.items()}

    def on_backward_end(self, step, model, loss_value):
        self.before[step] = {k: v.copy() for k, v in model.params.items()}

    def on_step_end(self, step, model):
        self.after[step] = {k: v.copy() for k, v in model.params.items()}


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(160, 12)), rng.integers(0, 3, 160)


def _run(optimizer, hooks=(), dtype=np.float64, **monitor):
    """Monitor, spy and trained model of a ``SIZES`` MLP, 2 epochs of 5 batches."""
    monitor, spy = Monitor(**{"every": 1, **monitor}), Spy()
    model = mlp(SIZES, seed=1, dtype=dtype)
    train(model, SoftmaxCrossEntropy(), optimizer, *_data(), epochs=2, batch_size=32,
          hooks=[*hooks, spy, monitor], progress=False)
    return monitor, spy, model


def _series(monitor, metric):
    """``{(step, "<index>.<key>"): value}`` of a per-tensor metric."""
    frame = monitor.frame[monitor.frame.metric == metric]
    return {(s, f"{layer.split(':')[0]}.{key}"): v
            for s, layer, key, v in zip(frame.step, frame.layer, frame.tensor, frame.value,
                                        strict=True)}


def _exact(spy, step, name):
    """p.p, q.q, p0.p0 and the squared norms of the update and of the distance."""
    p, q, p0 = spy.after[step][name], spy.before[step][name], spy.init[name]
    return (np.vdot(p, p), np.vdot(q, q), np.vdot(p0, p0), np.vdot(p - q, p - q),
            np.vdot(p - p0, p - p0))


def _assert_update_ratios(monitor, spy, reported=False, steps=None):
    """Every recorded update ratio (on ``steps``, default all) against the exact change,
    within the tolerance of its source: reported by the optimizer if ``reported``."""
    ratios = _series(monitor, "update_ratio")
    assert ratios
    for (step, name), ratio in ratios.items():
        if steps is not None and step not in steps:
            continue
        pp, qq, _, uu, _ = _exact(spy, step, name)
        n = spy.after[step][name].size
        got = (ratio * np.sqrt(pp)) ** 2
        tol = (4 * EPS * np.sqrt(pp * uu) + 2 * n * EPS * uu + n * EPS ** 2 * pp
               if reported else 2 * n * EPS * (pp + qq))
        assert abs(got - uu) <= tol, (step, name, got, uu, tol)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_both_sources_record_the_same_numbers_and_training_is_unchanged(name):
    make = OPTIMIZERS[name]
    rep, rep_spy, rep_model = _run(make())
    mea, mea_spy, mea_model = _run(t.OwnOptimizer(make()))
    bare = mlp(SIZES, seed=1)
    train(bare, SoftmaxCrossEntropy(), make(), *_data(), epochs=2, batch_size=32,
          progress=False)
    for model in (rep_model, mea_model):
        for key, value in bare.params.items():
            np.testing.assert_array_equal(model.params[key], value)
    assert (rep.meta["update_norms"], mea.meta["update_norms"]) == (REPORTED, MEASURED)
    a, b = rep.frame, mea.frame
    assert a[["step", "layer", "tensor", "metric"]].equals(b[["step", "layer", "tensor", "metric"]])
    computed_alike = ~a.metric.isin(["weight_norm", "dist_from_init", "update_ratio"])
    np.testing.assert_array_equal(a.value[computed_alike], b.value[computed_alike])
    _assert_update_ratios(rep, rep_spy, reported=True)
    _assert_update_ratios(mea, mea_spy)
    for monitor, spy in ((rep, rep_spy), (mea, mea_spy)):
        weights, dists = _series(monitor, "weight_norm"), _series(monitor, "dist_from_init")
        assert {step for step, _ in dists} == {0, 8}  # of steps 0-9: the first, every 8th
        for (step, key), weight in weights.items():
            pp, _, p0p0, _, dd = _exact(spy, step, key)
            n = spy.after[step][key].size
            assert abs(weight ** 2 - pp) <= n * EPS * pp
            if step in (0, 8):
                assert abs(dists[step, key] ** 2 - dd) <= 2 * n * EPS * (pp + p0p0)


def test_reports_are_refused_when_something_else_changes_the_weights():
    class Constraint:  # e.g. a max-norm projection applied after each optimizer step
        def on_step_end(self, step, model):
            model.layers[2].params["W"] *= 0.999

    monitor, spy, _ = _run(SGD(0.05, momentum=0.9), hooks=[Constraint()])
    assert monitor.meta["update_norms"] == MEASURED
    _assert_update_ratios(monitor, spy)


def _own_loop(stepping, given, skip=()):
    """8 steps of a hand-written loop whose optimizer ``stepping`` is not called on the
    steps in ``skip``; the hooks' ``on_train_begin`` gets ``given``."""
    X, y = _data()
    model, loss = mlp(SIZES, seed=1), SoftmaxCrossEntropy()
    monitor, spy = Monitor(every=1), Spy()
    hooks = [spy, monitor]
    stepping.bind(model)
    call_hooks(hooks, "on_train_begin", model, given)
    for step in range(8):
        batch = slice(32 * (step % 5), 32 * (step % 5 + 1))
        call_hooks(hooks, "on_batch_begin", step, X[batch], y[batch])
        value = loss.forward(model.forward(X[batch]), y[batch])
        model.backward(loss.backward())
        call_hooks(hooks, "on_backward_end", step, model, value)
        if step not in skip:
            stepping.step()
        call_hooks(hooks, "on_step_end", step, model)
    call_hooks(hooks, "on_epoch_end", 1, {"epoch": 1, "train_loss": value})
    call_hooks(hooks, "on_train_end", model)
    return monitor, spy


@pytest.mark.parametrize("case", ["float32 model", "optimizer of another model"])
def test_reports_are_not_used_when_they_cannot_match_the_copies(case):
    if case == "float32 model":
        monitor, _, _ = _run(SGD(0.05), dtype=np.float32)
        steps = set(range(10))
    else:
        other = SGD(0.05).bind(mlp(SIZES, seed=2))
        monitor, spy = _own_loop(SGD(0.05), given=other)
        _assert_update_ratios(monitor, spy)
        steps = set(range(8))
    assert monitor.meta["update_norms"] == MEASURED
    assert {s for s, name in _series(monitor, "update_ratio") if name == "2.W"} == steps


def test_a_step_without_a_report_records_no_update_and_then_measures():
    opt = SGD(0.05, momentum=0.9)
    monitor, spy = _own_loop(opt, given=opt, skip={3})  # e.g. gradients accumulated
    ratios, weights = _series(monitor, "update_ratio"), _series(monitor, "weight_norm")
    for tensor in ("0.W", "0.b", "2.W", "4.b"):
        assert {s for s, name in ratios if name == tensor} == {0, 1, 2, 4, 5, 6, 7}
    assert {s for s, _ in weights} == set(range(8))
    assert monitor.meta["update_norms"] == ("reported by the optimizer, then measured from "
                                            "copies of the parameters (a step without a report)")
    _assert_update_ratios(monitor, spy, reported=True, steps={0, 1, 2})
    _assert_update_ratios(monitor, spy, steps=set(range(3, 8)))


def test_the_initial_copies_are_passed_only_on_the_steps_that_take_the_distance():
    class Asked(SGD):  # which steps were asked for inner products with references
        def report_next_update(self, references=None):
            self.asked = [*getattr(self, "asked", []), bool(references)]
            super().report_next_update(references)

    optimizer = Asked(0.05, momentum=0.9)
    monitor, spy, _ = _run(optimizer, distance_every=4)
    assert monitor.meta["update_norms"] == REPORTED
    assert optimizer.asked == [step % 4 == 0 for step in range(10)]
    dists = _series(monitor, "dist_from_init")
    assert {step for step, _ in dists} == {0, 4, 8}
    for (step, key), dist in dists.items():
        pp, _, p0p0, _, dd = _exact(spy, step, key)
        assert abs(dist ** 2 - dd) <= 2 * spy.init[key].size * EPS * (pp + p0p0)


def test_reported_updates_on_steps_apart_match_the_exact_change():
    monitor, spy, _ = _run(Adam(1e-3), every=3)
    assert monitor.meta["update_norms"] == REPORTED
    assert sorted({s for s, _ in _series(monitor, "update_ratio")}) == [0, 3, 6, 9]
    _assert_update_ratios(monitor, spy, reported=True)


@pytest.mark.parametrize("make", [lambda: SGD(0.05, momentum=0.9),
                                  lambda: t.OwnOptimizer(SGD(0.05))], ids=["reported", "measured"])
def test_reading_the_frame_in_the_middle_of_a_step_changes_no_record(make):
    class Reader:  # a hook after the Monitor, reading its records before the update
        def on_backward_end(self, step, model, loss_value):
            assert len(monitor.frame)

    monitor = Monitor(every=1)
    train(mlp(SIZES, seed=1), SoftmaxCrossEntropy(), make(), *_data(), epochs=2,
          batch_size=32, hooks=[monitor, Reader()], progress=False)
    undisturbed, _, _ = _run(make())
    a, b = monitor.frame, undisturbed.frame
    assert a.drop(columns="value").equals(b.drop(columns="value"))
    moments = a.metric.isin(["act_mean", "act_std"])  # one batch's sums alone or with others
    np.testing.assert_array_equal(a.value[~moments], b.value[~moments])
    np.testing.assert_allclose(a.value[moments], b.value[moments], rtol=4 * EPS, atol=0)
