"""on_non_finite="raise" stops at the first NaN/Inf, naming step, layer and tensor."""

import numpy as np
import pandas as pd
import pytest

from diagnostics import Monitor, NonFiniteError
from diagnostics.health import findings
from reference_nets import train
from reference_nets.losses import MSE
from reference_nets.optim import SGD
from reference_nets.train import HookError
from reference_nets.zoo import mlp

from . import toy_nets as t


class PoisonedDense(t.Dense):
    """A Dense whose backward writes a NaN into grads["W"] from call ``at`` on."""

    def __init__(self, *args, at, **kwargs):
        super().__init__(*args, **kwargs)
        self.at, self.calls = at, 0

    def backward(self, dy):
        dx = super().backward(dy)
        if self.calls >= self.at:
            self.grads["W"][0, 0] = np.nan
        self.calls += 1
        return dx


def test_raise_names_the_step_layer_and_gradient_tensor():
    X, y = t.blobs(128, 8, 3)
    rng = np.random.default_rng(0)
    model = t.Net([t.Dense(8, 16, rng), t.ReLU(), PoisonedDense(16, 3, rng, at=5)])
    with pytest.raises(NonFiniteError, match=r"W\.grad in layer 2:PoisonedDense at step 5 ") as e:
        t.fit(model, t.CrossEntropy(), t.SGD(0.1), X, y, epochs=3,
              hooks=[Monitor(on_non_finite="raise")])
    assert (e.value.step, e.value.layer, e.value.tensor) == (5, "2:PoisonedDense", "W.grad")
    assert "1 NaN, 0 Inf of 48 values" in str(e.value)
    assert np.isfinite(model.layers[2].params["W"]).all()  # stopped before the update


def test_record_mode_records_the_first_occurrence_and_carries_on():
    X, y = t.blobs(128, 8, 3)
    rng = np.random.default_rng(0)
    model = t.Net([t.Dense(8, 16, rng), t.ReLU(), PoisonedDense(16, 3, rng, at=5)])
    monitor = Monitor(every=2)
    with np.errstate(invalid="ignore"):
        t.fit(model, t.CrossEntropy(), t.SGD(0.1), X, y, epochs=2, hooks=[monitor])
    frame = monitor.frame
    flagged = frame[frame.metric == "non_finite"]
    # step 5 is not recorded with every=2: the gradient is caught at step 6, the weights
    # it poisoned (updated at step 5) at step 6 too, the loss when it turns NaN.
    first = flagged.groupby("tensor")["step"].min()
    assert first["W.grad"] == 6 and first["W"] == 6
    assert flagged.duplicated(["layer", "tensor"]).sum() == 0
    by_discovery = flagged.sort_values("value")
    assert by_discovery.value.tolist() == list(range(1, len(flagged) + 1))
    assert by_discovery.step.is_monotonic_increasing


def test_overflow_in_train_raises_at_the_first_non_finite_loss(digits):
    onehot = np.eye(10)[digits.y_train]

    def run(hooks):
        with np.errstate(all="ignore"):
            train(mlp((64, 10)), MSE(), SGD(3.0), digits.X_train, onehot, epochs=10,
                  batch_size=32, hooks=hooks)

    class Losses:
        values: list

        def on_train_begin(self, model, optimizer):
            self.values = []

        def on_backward_end(self, step, model, loss_value):
            self.values.append(loss_value)

    truth = Losses()
    run([truth])
    first_bad = int(np.flatnonzero(~np.isfinite(truth.values))[0])
    with pytest.raises(HookError, match=f"non-finite loss in layer model at step {first_bad} "):
        clock = t.StepClock()  # the default schedule, whatever the load
        run([clock, Monitor(on_non_finite="raise", clock=clock)])


def test_a_nan_gradient_in_an_own_loop_is_one_finding_naming_the_tensor_and_step():
    X, y = t.blobs(256, 8, 3)
    rng = np.random.default_rng(0)
    model = t.Net([t.Dense(8, 16, rng), t.ReLU(), t.Dense(16, 16, rng), t.ReLU(),
                   PoisonedDense(16, 3, rng, at=5)])
    monitor = Monitor()
    with np.errstate(invalid="ignore"):
        t.fit(model, t.CrossEntropy(), t.SGD(0.1), X, y, epochs=2, hooks=[monitor])
    frame = monitor.frame
    flagged = frame[frame.metric == "non_finite"]
    assert len(flagged) > 5  # many tensors went non-finite after the poisoned one
    found = monitor.findings()
    incident = found[found.check.isin(["non_finite", "loss_divergence"])]
    assert incident.index.tolist() == [0]
    message = incident.message.iloc[0]
    nan_loss = frame[(frame.metric == "loss") & frame.value.isna()].step.min()
    assert message.startswith(f"loss diverged at step {nan_loss} ")
    assert "first non-finite value in 4:PoisonedDense.W.grad at step 5 " in message
    assert f"then in {len(flagged) - 1} more" in message
    assert "vanishing_gradient" not in set(found.check)


def test_non_finite_values_without_a_divergence_are_one_finding_naming_the_first():
    loss = pd.DataFrame({"step": range(30), "epoch": 1, "layer": "model", "tensor": "loss",
                         "metric": "loss", "value": 1.0})
    # discovery order (the value) decides within step 7: 0:Dense b.grad came first
    flagged = pd.DataFrame({"step": [7, 7, 9], "epoch": 1,
                            "layer": ["2:Dense", "0:Dense", "2:Dense"],
                            "tensor": ["W.grad", "b.grad", "W"], "metric": "non_finite",
                            "value": [2.0, 1.0, 3.0]})
    found = findings(pd.concat([loss, flagged], ignore_index=True),
                     {"layers": ["0:Dense", "1:ReLU", "2:Dense"]})
    assert found.check.tolist() == ["non_finite"]
    assert found.layer.iloc[0] == "0:Dense"
    assert found.message.iloc[0].startswith(
        "first non-finite value in 0:Dense.b.grad at step 7 (epoch 1), then in 2 more "
        "(2 tensor(s) of 1 layer(s)) by step 9. Look for overflow")
