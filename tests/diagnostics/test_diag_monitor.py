"""Monitor with hand-written protocol layers and a hand-written loop: recorded values."""

import numpy as np
import pandas as pd
import pytest

from diagnostics import Monitor, units
from diagnostics.records import FRAME_COLUMNS
from diagnostics.units import ACTIVATION_KINDS
from reference_nets import train
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.optim import SGD
from reference_nets.zoo import mlp

from . import toy_nets as t

EPS = np.finfo(np.float64).eps
METRICS = {"grad_norm", "update_ratio", "weight_norm", "dist_from_init", "dead_fraction",
           "inactive_fraction", "act_mean", "act_std", "loss"}


class Spy:
    """Keeps copies of grads (after backward) and params (before/after each step)."""

    def __init__(self):
        self.grads, self.before, self.after, self.relu_out = {}, {}, {}, {}

    def on_backward_end(self, step, model, loss_value):
        self.grads[step] = {k: v.copy() for k, v in model.grads.items()}
        self.before[step] = {k: v.copy() for k, v in model.params.items()}

    def on_step_end(self, step, model):
        self.after[step] = {k: v.copy() for k, v in model.params.items()}


def _value(frame, step, layer, tensor, metric):
    rows = frame[(frame.step == step) & (frame.layer == layer) & (frame.tensor == tensor)
                 & (frame.metric == metric)]
    assert len(rows) == 1, (step, layer, tensor, metric, len(rows))
    return rows["value"].iloc[0]


@pytest.fixture(scope="module")
def run():
    X, y = t.blobs(200, 8, 3)
    model = t.mlp((8, 16, 3))
    init = {k: v.copy() for k, v in model.params.items()}
    monitor, spy = Monitor(dead_window=3), Spy()
    t.fit(model, t.CrossEntropy(), t.SGD(0.1, 0.9), X, y, epochs=2, batch_size=32,
          hooks=[spy, monitor])
    return monitor, spy, init, model


def test_frame_is_tidy_with_the_contract_metrics(run):
    monitor, *_ = run
    frame = monitor.frame
    assert list(frame.columns) == FRAME_COLUMNS
    assert set(frame.metric) == METRICS
    assert set(frame.layer) == {"0:Dense", "1:ReLU", "2:Dense", "model"}
    assert frame.step.is_monotonic_increasing
    assert set(frame[frame.metric == "loss"].step) == set(range(14))  # 7 batches x 2 epochs
    assert frame[frame.step == 13].epoch.unique().tolist() == [2]


def test_gradient_weight_and_update_values_match_direct_computation(run):
    monitor, spy, init, _ = run
    frame = monitor.frame
    for step in (0, 5, 8, 13):
        for name, layer in (("0", "0:Dense"), ("2", "2:Dense")):
            for key in ("W", "b"):
                q = f"{name}.{key}"
                g, before, after = spy.grads[step][q], spy.before[step][q], spy.after[step][q]
                assert _value(frame, step, layer, key, "grad_norm") == pytest.approx(
                    np.linalg.norm(g), rel=1e-10)
                assert _value(frame, step, layer, key, "weight_norm") == pytest.approx(
                    np.linalg.norm(after), rel=1e-10)
                assert _value(frame, step, layer, key, "update_ratio") == pytest.approx(
                    np.linalg.norm(after - before) / np.linalg.norm(after), rel=1e-8)
                if step % 8 == 0:  # the distance: the first step and every 8th
                    assert _value(frame, step, layer, key, "dist_from_init") == (
                        pytest.approx(np.linalg.norm(after - init[q]), rel=1e-8))
        total = np.sqrt(sum(np.sum(g ** 2) for g in spy.grads[step].values()))
        assert _value(frame, step, "model", "global", "grad_norm") == pytest.approx(total)
    distances = frame[frame.metric == "dist_from_init"]
    assert sorted(set(distances.step)) == [0, 8]
    assert monitor.meta["recorded"] == ("14 of 14 steps: 0-13 every step; dist_from_init on "
                                        "2 of 14 steps: 0-8 every 8th")


def test_activation_statistics_match_the_relu_outputs():
    X, y = t.blobs(80, 8, 3)  # batches of 32, 32 and 16
    model = t.mlp((8, 16, 3), bias=-3.0)
    monitor = Monitor(dead_window=3)
    outputs = []
    original = t.ReLU.forward

    def keep(self, x):
        out = original(self, x)
        outputs.append(out.copy())
        return out

    t.ReLU.forward = keep
    try:
        t.fit(model, t.CrossEntropy(), t.SGD(0.0), X, y, epochs=1, batch_size=32, hooks=[monitor])
    finally:
        t.ReLU.forward = original
    frame = monitor.frame
    for step, out in enumerate(outputs):
        assert _value(frame, step, "1:ReLU", "output", "inactive_fraction") == pytest.approx(
            np.mean(out <= 0))
        assert _value(frame, step, "1:ReLU", "output", "act_mean") == pytest.approx(out.mean())
        assert _value(frame, step, "1:ReLU", "output", "act_std") == pytest.approx(out.std())
    dead = 1.0 - np.mean(np.vstack(outputs).max(axis=0) > 0)
    assert len(outputs) == 3
    assert _value(frame, 2, "1:ReLU", "output", "dead_fraction") == pytest.approx(dead)
    assert 0 < dead < 1


@pytest.mark.parametrize("at_once", [False, True], ids=["copied", "taken at once"])
@pytest.mark.parametrize(("activation", "dtype"), [("leaky_relu", np.float64),
                                                   ("tanh", np.float64),
                                                   ("sigmoid", np.float32)])
def test_activation_statistics_are_exact_to_their_resolution(activation, dtype, at_once,
                                                              monkeypatch):
    if at_once:  # as large outputs are: mask and sums in the forward
        monkeypatch.setattr(units, "TAKEN_AT_ONCE", 1)
    X, y = t.blobs(80, 8, 3)  # batches of 32, 32 and 16
    model = mlp((8, 16, 3), activation=activation, seed=0, dtype=dtype)
    model.layers[0].params["W"] *= 4.0  # some outputs saturate
    layer, outputs = model.layers[1], []
    original = layer.forward

    def keep(x):
        outputs.append(original(x).astype(np.float64))
        return outputs[-1].astype(dtype)

    layer.forward = keep
    monitor = Monitor(every=1, dead_window=3)
    train(model, SoftmaxCrossEntropy(), SGD(0.05), X.astype(dtype), y, epochs=2,
          batch_size=32, hooks=[monitor], progress=False)
    frame, name = monitor.frame, f"1:{type(layer).__name__}"
    outputs = [out for out in outputs if len(out) > 1]  # not train's one-example probe
    for step, out in enumerate(outputs):
        if activation == "leaky_relu":
            share, metric = np.mean(out <= 0), "inactive_fraction"
        else:
            low, high = ACTIVATION_KINDS[type(layer).__name__]
            share = np.mean(np.abs(out - (low + high) / 2) >= 0.48 * (high - low))
            metric = "saturation_fraction"
        assert _value(frame, step, name, "output", metric) == share  # a count: exact
        n = out.size  # sums of n terms: off by at most n eps of the sum of |terms|
        mean, mean_sq = np.mean(out), np.mean(out * out)
        assert abs(_value(frame, step, name, "output", "act_mean") - mean) <= (
            n * EPS * np.mean(np.abs(out)))
        std = _value(frame, step, name, "output", "act_std")
        assert abs(std ** 2 - np.var(out)) <= 4 * n * EPS * mean_sq
    assert len(outputs) == 6 and 0 < share < 1
    if activation == "leaky_relu":
        for last, steps in ((2, slice(0, 3)), (5, slice(3, 6))):
            dead = 1.0 - np.mean(np.vstack(outputs[steps]).max(axis=0) > 0)
            assert _value(frame, last, name, "output", "dead_fraction") == dead


def test_every_records_norms_only_on_multiples_but_the_loss_on_every_step():
    X, y = t.blobs(320, 8, 3)
    monitor = Monitor(every=3)
    t.fit(t.mlp((8, 16, 3)), t.CrossEntropy(), t.SGD(0.1), X, y, epochs=1, hooks=[monitor])
    frame = monitor.frame
    assert sorted(set(frame[frame.metric == "grad_norm"].step)) == [0, 3, 6, 9]
    assert sorted(set(frame[frame.metric == "act_mean"].step)) == [0, 3, 6, 9]
    assert sorted(set(frame[frame.metric == "loss"].step)) == list(range(10))


def test_training_and_layers_are_unchanged_by_monitoring():
    X, y = t.blobs(200, 8, 3)
    plain, watched = t.mlp((8, 16, 3)), t.mlp((8, 16, 3))
    t.fit(plain, t.CrossEntropy(), t.SGD(0.1, 0.9), X, y)
    t.fit(watched, t.CrossEntropy(), t.SGD(0.1, 0.9), X, y, hooks=[Monitor()])
    for key, value in plain.params.items():
        np.testing.assert_array_equal(watched.params[key], value)
    assert all("forward" not in vars(layer) for layer in watched.layers)


def test_activation_kind_by_behaviour_or_by_an_extended_mapping():
    class Rectifier(t.ReLU):  # a ReLU under an unknown class name: classified by behaviour
        pass

    class Squash(t.Sigmoid):  # named in the mapping given to the Monitor
        pass

    X, y = t.blobs(128, 8, 3)
    model = t.Net([t.Dense(8, 16, np.random.default_rng(0)), Rectifier(),
                   t.Dense(16, 16, np.random.default_rng(1)), Squash(),
                   t.Dense(16, 3, np.random.default_rng(2))])
    monitor = Monitor(activations={"Squash": (0.0, 1.0)})
    t.fit(model, t.CrossEntropy(), t.SGD(0.1), X, y, epochs=1, hooks=[monitor])
    assert monitor.meta["activations"] == {"1:Rectifier": "relu", "3:Squash": (0.0, 1.0)}
    metrics = monitor.frame.groupby("layer")["metric"].unique()
    assert "dead_fraction" in metrics["1:Rectifier"]
    assert "saturation_fraction" in metrics["3:Squash"]


def test_lone_layer_is_named_by_its_class_and_history_and_meta_are_kept():
    X, y = t.blobs(64, 8, 3)
    layer = t.Dense(8, 3, np.random.default_rng(0))
    monitor = Monitor()
    t.fit(layer, t.CrossEntropy(), t.SGD(0.1), X, y, epochs=2, hooks=[monitor])
    assert set(monitor.frame.layer) == {"Dense", "model"}
    assert monitor.history["epoch"].tolist() == [1, 2]
    assert monitor.meta["n_params"] == 8 * 3 + 3
    assert monitor.meta["layers"] == ["Dense"]
    assert monitor.meta["every"] == "auto"
    assert "W (8, 3)" in monitor.meta["model"]


@pytest.mark.parametrize(("option", "value"), [("every", 0), ("every", 1.5),
                                                 ("on_non_finite", "stop"),
                                                 ("saturation_margin", 0.7),
                                                 ("dead_window", -1)])
def test_bad_options_name_the_argument(option, value):
    with pytest.raises(ValueError, match=option):
        Monitor(**{option: value})


def test_layer_with_mismatched_grads_is_rejected_clearly():
    layer = t.Dense(4, 2, np.random.default_rng(0))
    layer.grads["W"] = np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"grads\['W'\] must have the shape \(4, 2\)"):
        Monitor().on_train_begin(t.Net([layer]), None)


def test_empty_frame_has_the_columns():
    frame = Monitor().frame
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == FRAME_COLUMNS
    assert frame.empty


def test_empty_monitor_has_no_findings():
    findings = Monitor().findings()
    assert findings.empty and list(findings.columns) == ["severity", "check", "layer", "message"]


def test_a_monitor_reused_for_a_second_run_records_it_once():
    X, y = t.blobs(64, 8, 3)
    model, monitor = t.mlp((8, 16, 3)), Monitor()
    for _ in range(2):
        t.fit(model, t.CrossEntropy(), t.SGD(0.1), X, y, epochs=1, hooks=[monitor])
    frame = monitor.frame
    relu = frame[(frame.layer == "1:ReLU") & (frame.metric == "act_mean")]
    assert relu.groupby("step").size().tolist() == [2, 2]  # one value per step and run


def test_dead_windows_close_every_window_batches_even_if_read_midway():
    class ReadFrame:
        def __init__(self, monitor):
            self.monitor = monitor

        def on_step_end(self, step, model):
            if step == 2:
                assert not self.monitor.frame.empty

    X, y = t.blobs(320, 8, 3)  # 10 steps of 32
    monitor = Monitor(dead_window=4)
    t.fit(t.mlp((8, 16, 3)), t.CrossEntropy(), t.SGD(0.1), X, y, epochs=1,
          hooks=[monitor, ReadFrame(monitor)])
    frame = monitor.frame
    dead_steps = frame[frame.metric == "dead_fraction"].step.tolist()
    assert dead_steps == [3, 7, 9]  # two full windows, then the half window of steps 8-9


def test_a_forward_set_on_the_instance_is_observed_and_restored():
    class Wrapped(t.ReLU):  # the user replaced forward on the instance (e.g. to log)
        def __init__(self):
            super().__init__()
            self.calls = 0
            self.forward = self.counting

        def counting(self, x):
            self.calls += 1
            return t.ReLU.forward(self, x)

    X, y = t.blobs(64, 8, 3)
    relu = Wrapped()
    own = relu.forward
    model = t.Net([t.Dense(8, 16, np.random.default_rng(0)), relu,
                   t.Dense(16, 3, np.random.default_rng(1))])
    monitor = Monitor()
    t.fit(model, t.CrossEntropy(), t.SGD(0.1), X, y, epochs=1, hooks=[monitor])
    assert vars(relu)["forward"] == own and relu.calls == 2  # 2 batches, each seen once
    frame = monitor.frame
    assert len(frame[(frame.layer == "1:Wrapped") & (frame.metric == "act_mean")]) == 2


def test_norms_of_a_large_weight_match_direct_computation():
    X, y = t.blobs(96, 256, 3)
    model = t.mlp((256, 128, 3))  # W of 0:Dense: 32768 elements, multiplied row by row
    init = model.layers[0].params["W"].copy()
    monitor, spy = Monitor(every=2, distance_every=4), Spy()
    t.fit(model, t.CrossEntropy(), t.SGD(0.1, 0.9), X, y, epochs=2, hooks=[spy, monitor])
    frame = monitor.frame
    distances = frame[(frame.metric == "dist_from_init") & (frame.tensor == "W")]
    assert sorted(set(distances.step)) == [0, 4]  # of the recorded 0, 2, 4
    for step in (2, 4):
        before, after = spy.before[step]["0.W"], spy.after[step]["0.W"]
        if step == 4:
            assert _value(frame, step, "0:Dense", "W", "dist_from_init") == pytest.approx(
                np.linalg.norm(after - init), rel=1e-8)
        assert _value(frame, step, "0:Dense", "W", "update_ratio") == pytest.approx(
            np.linalg.norm(after - before) / np.linalg.norm(after), rel=1e-8)
        assert _value(frame, step, "0:Dense", "W", "weight_norm") == pytest.approx(
            np.linalg.norm(after), rel=1e-10)
