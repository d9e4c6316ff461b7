"""Built-in sick runs are diagnosed, healthy runs are clean (reference_nets.train)."""

import numpy as np
import pytest

from diagnostics import Monitor
from diagnostics.health import CHECKS
from diagnostics.labels import LabelCounts
from reference_nets import train
from reference_nets.losses import MSE, SoftmaxCrossEntropy
from reference_nets.optim import SGD
from reference_nets.zoo import deep_sigmoid, mlp

from . import toy_nets as t


class Losses:
    """Keeps every step's loss value (the ground truth for the non-finite step)."""

    def __init__(self):
        self.values = []

    def on_backward_end(self, step, model, loss_value):
        self.values.append(loss_value)


def fit(model, split, lr, epochs=4, every=1, loss=None, y=None, momentum=0.9):
    clock = t.StepClock()  # every="auto" as on an idle machine, whatever the load
    monitor = Monitor(every=every, clock=clock)
    train(model, loss or SoftmaxCrossEntropy(), SGD(lr, momentum=momentum), split.X_train,
          split.y_train if y is None else y, epochs=epochs, batch_size=32,
          hooks=[clock, monitor])
    return monitor


def serious(findings):
    return findings[findings.severity.isin(["warning", "critical"])]


@pytest.mark.parametrize("every", [1, 10])
def test_healthy_digits_mlp_has_no_warning(digits, every):
    findings = fit(mlp(), digits, lr=0.05, epochs=5, every=every).findings()
    assert serious(findings).empty, findings.to_string()
    assert list(findings.columns) == ["severity", "check", "layer", "message"]


def test_ten_layer_sigmoid_mlp_shows_vanishing_gradient(digits):
    monitor = fit(deep_sigmoid(), digits, lr=0.1, epochs=2)
    found = monitor.findings()
    vanishing = found[found.check == "vanishing_gradient"]
    assert len(vanishing) == 1 and vanishing.severity.iloc[0] == "warning"
    assert vanishing.layer.iloc[0] == "0:Dense"
    frame = monitor.frame
    grads = frame[(frame.metric == "grad_norm") & (frame.tensor == "W")]
    medians = grads.groupby("layer")["value"].median()
    assert medians["0:Dense"] < 1e-3 * medians["20:Dense"]  # the run really vanishes
    assert "20:Dense" in vanishing.message.iloc[0]
    slow = found[found.check == "update_ratio"]
    assert len(slow) == 1   # one finding listing every slow weight tensor
    ratios = frame[(frame.metric == "update_ratio") & (frame.tensor == "W")]
    slowest = ratios.groupby("layer")["value"].median().idxmin()
    assert slow.layer.iloc[0] == slowest
    message = slow.message.iloc[0]
    assert "barely move" in message and "0:Dense W" in message and "20:Dense" not in message


def _dead_findings(monitor):
    found = monitor.findings()
    dead = found[found.check == "dead_relu"]
    frame = monitor.frame
    last = (frame[frame.metric == "dead_fraction"].groupby("layer")["value"].last())
    return dead, last


def test_far_too_large_learning_rate_kills_relus(digits):
    dead, last = _dead_findings(fit(mlp(), digits, lr=5.0, epochs=2))
    assert dead.layer.tolist() == ["1:ReLU"]
    assert last["1:ReLU"] >= 0.4
    assert f"{last['1:ReLU']:.0%} of 64 units are dead" in dead.message.iloc[0]


def test_large_negative_bias_init_kills_relus_per_layer(digits):
    model = mlp((64, 64, 64, 10))
    model.layers[0].params["b"][:32] = -20.0  # half of the first layer's units
    model.layers[2].params["b"][:] = -20.0    # all of the second's
    dead, last = _dead_findings(fit(model, digits, lr=0.05, epochs=2))
    by_layer = dict(zip(dead.layer, dead.severity, strict=True))
    assert by_layer == {"1:ReLU": "warning", "3:ReLU": "critical"}
    assert 0.5 <= last["1:ReLU"] < 0.9  # the 32 killed units, maybe a few more
    assert last["3:ReLU"] == 1.0
    assert f"{last['1:ReLU']:.0%} of 64 units" in dead[dead.layer == "1:ReLU"].message.iloc[0]


def test_dead_relu_threshold_is_a_parameter(digits):
    model = mlp()
    model.layers[0].params["b"][:32] = -20.0
    monitor = fit(model, digits, lr=0.05, epochs=1)
    assert "dead_relu" in set(serious(monitor.findings()).check)
    assert "dead_relu" not in set(serious(monitor.findings(dead_fraction=0.6)).check)


def test_overflowing_learning_rate_leads_with_one_divergence_finding(digits):
    onehot = np.eye(10)[digits.y_train]
    truth, clock = Losses(), t.StepClock()
    monitor = Monitor(clock=clock)
    with np.errstate(all="ignore"):
        train(mlp((64, 10)), MSE(), SGD(3.0), digits.X_train, onehot, epochs=10, batch_size=32,
              hooks=[truth, clock, monitor])
    first_bad = int(np.flatnonzero(~np.isfinite(truth.values))[0])
    frame = monitor.frame
    flagged = frame[frame.metric == "non_finite"]
    assert flagged[flagged.tensor == "loss"].step.tolist() == [first_bad]
    found = monitor.findings()
    lead = found.iloc[0]
    assert (lead.severity, lead.check) == ("critical", "loss_divergence")
    assert "non_finite" not in set(found.check)  # the per-tensor rows are folded into it
    assert flagged.step.min() == first_bad  # no tensor went bad before the loss overflowed
    assert f"first non-finite value in the loss at step {first_bad} " in lead.message
    assert f"then in {len(flagged) - 1} more" in lead.message and "Try a learning rate" in (
        lead.message)
    diverged_at = int(lead.message.split("at step ")[1].split()[0])
    assert diverged_at <= first_bad
    smoothed_rise = np.asarray(truth.values[:diverged_at + 1])
    assert smoothed_rise[-1] > 4 * smoothed_rise.min()  # the loss really had grown by then
    assert "exploding_gradient" in set(found.check)


def test_run_at_chance_accuracy_is_critical_and_names_the_likely_cause(digits):
    clock = t.StepClock()
    monitor = Monitor(clock=clock)
    train(deep_sigmoid(), SoftmaxCrossEntropy(), SGD(0.1, momentum=0.9), digits.X_train,
          digits.y_train, epochs=2, batch_size=32, hooks=[clock, monitor],
          validation=(digits.X_test, digits.y_test))
    shares = np.bincount(digits.y_train) / len(digits.y_train)
    assert shares.min() <= monitor.meta["chance_accuracy"] <= shares.max() + 0.02
    found = monitor.findings()
    lead = found.iloc[0]
    assert (lead.severity, lead.check) == ("critical", "no_learning")
    best = monitor.history["val_accuracy"].max()
    assert f"best val_accuracy over 2 epoch(s) is {best:.3f}" in lead.message
    assert "vanishing_gradient (0:Dense)" in lead.message and "Try lr_range_test" in (
        lead.message)
    assert "no_learning" not in set(fit(mlp(), digits, lr=0.05, epochs=2).findings().check)


def test_label_counts_are_the_class_counts_of_the_first_labels():
    counts = LabelCounts(limit=7)
    for y in (np.array([0, 1, 1]), np.array([3, 0]), np.eye(5)[[4, 4]], np.array([2])):
        if counts.counting:  # as the Monitor asks
            counts.add(y)
    assert counts.counts.tolist() == [2, 2, 0, 1, 2] and not counts.counting
    assert counts.chance == 2 / 7


def test_saturated_tanh_layer_is_found(digits):
    model = mlp(activation="tanh")
    model.layers[0].params["W"] *= 30.0  # pre-activations far beyond tanh's linear range
    monitor = fit(model, digits, lr=0.01, epochs=2)
    found = monitor.findings()
    saturation = found[found.check == "saturation"]
    assert saturation.layer.tolist() == ["1:Tanh"]
    frame = monitor.frame
    share = frame[frame.metric == "saturation_fraction"]["value"]
    assert share.median() > 0.5
    healthy = fit(mlp(activation="tanh"), digits, lr=0.01, epochs=1).findings()
    assert "saturation" not in set(healthy.check)


def test_check_names_are_the_documented_ones():
    assert CHECKS == ("vanishing_gradient", "exploding_gradient", "dead_relu", "saturation",
                      "update_ratio", "non_finite", "loss_divergence", "no_learning")


def _negative_bias_mlp():
    model = mlp((64, 64, 64, 10))
    model.layers[0].params["b"][:32] = -20.0
    model.layers[2].params["b"][:] = -20.0
    return model


def _saturated_tanh_mlp():
    model = mlp(activation="tanh")
    model.layers[0].params["W"] *= 30.0
    return model


#: The sick runs of the tests above: (model factory, fit options; y: targets from digits).
SICK_RUNS = {
    "vanishing": (deep_sigmoid, dict(lr=0.1, epochs=2)),
    "dead by learning rate": (mlp, dict(lr=5.0, epochs=2)),
    "dead by bias": (_negative_bias_mlp, dict(lr=0.05, epochs=2)),
    "overflow": (lambda: mlp((64, 10)), dict(lr=3.0, epochs=10, loss=MSE(), momentum=0.0,
                                             y=lambda split: np.eye(10)[split.y_train])),
    "saturated": (_saturated_tanh_mlp, dict(lr=0.01, epochs=2)),
}


@pytest.mark.parametrize("sick", SICK_RUNS)
def test_sick_runs_give_the_same_checks_under_the_default_schedule_as_every_step(digits,
                                                                                   sick):
    make, options = SICK_RUNS[sick]
    checks = {}
    for every in ("auto", 1):
        targets = options.get("y", lambda split: None)(digits)
        with np.errstate(all="ignore"):
            monitor = fit(make(), digits, every=every, **{**options, "y": targets})
        checks[every] = set(monitor.findings().check)
        recorded = len(monitor.recorded_steps)
    steps = len(monitor.frame.query("metric == 'loss'"))
    assert recorded == steps  # every=1 (the last run) recorded every step
    assert checks["auto"] == checks[1] and checks[1] - {"update_ratio"}
