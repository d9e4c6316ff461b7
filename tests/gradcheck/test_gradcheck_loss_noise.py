"""A loss that rounds far more than its value says (confident softmax cross-entropy): no false
alarm, and wrong gradients still fail (gradcheck.loss_noise)."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck.loss_noise
from gradcheck import check_model
from gradcheck.loss_noise import measured_loss_noise
from gradcheck.model_layers import find_layers
from gradcheck.settings import resolve_settings
from reference_nets import Dense, Sequential
from reference_nets.losses import MSE, SoftmaxCrossEntropy


def confident(seed: int, gap: float, n: int = 1):
    """Two Dense layers whose prediction is right with a logit gap of about ``gap``: the
    cross-entropy is about exp(-gap), its rounding about eps_mach (the sum of exponentials
    is rounded to the ulp of 1)."""
    rng = np.random.default_rng(seed)
    model = Sequential([Dense(5, 6, seed=seed), Dense(6, 3, seed=seed + 1)])
    x = rng.normal(size=(n, 5))
    model.layers[1].params["W"] *= gap / np.ptp(model.forward(x))
    return model, x, model.forward(x).argmax(1)


class LossOff(SoftmaxCrossEntropy):
    """dL/dpred 0.1 % too large."""

    def backward(self):
        return super().backward() * (1 + 1e-3)


class FirstLayerOff(Dense):
    """dW 1e-4 relative too large."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] = self.grads["W"] * (1 + 1e-4)
        return dx


def test_the_measured_round_off_of_a_confident_cross_entropy_is_far_above_its_bound():
    model, x, y = confident(1, 20)
    bound, measured = measured_loss_noise(model, find_layers(model), SoftmaxCrossEntropy(),
                                          x, y, _settings())
    eps = np.finfo(float).eps
    assert bound < 1e-3 * eps   # eps * (L + sum|dL/dpred * pred|): L is about 1e-9
    assert eps / 20 < measured < 4 * eps   # the sum of exponentials rounds to eps / 2


def test_a_smooth_loss_measures_no_more_round_off_than_its_bound():
    rng = np.random.default_rng(0)
    model = Sequential([Dense(4, 3, seed=0)])
    x, y = rng.normal(size=(8, 4)), rng.normal(size=(8, 3))
    bound, measured = measured_loss_noise(model, find_layers(model), MSE(), x, y, _settings())
    assert measured <= bound


@pytest.mark.parametrize("gap", [10, 20, 30, 40, 60])
def test_confident_correct_predictions_pass(gap):
    """Before the measurement 5, 12, 13 and 6 of 20 such seeds failed their end-to-end rows
    at gaps 10 to 40 (at 40 the loss takes a few values a few ulps apart along the line, at
    60 it is exactly 0)."""
    failed = [seed for seed, (model, x, y) in ((k, confident(k, gap)) for k in range(20))
              if not check_model(model, SoftmaxCrossEntropy(), x, y).passed]
    assert failed == []


@pytest.mark.parametrize("gap", [10, 20])
def test_wrong_gradients_still_fail_at_confident_predictions(gap):
    for seed in range(5):
        model, x, y = confident(seed, gap, n=4)
        assert not check_model(model, LossOff(), x, y).passed
        model.layers[0].__class__ = FirstLayerOff
        report = check_model(model, SoftmaxCrossEntropy(), x, y)
        failing = report.table[report.table.status == "fail"]
        assert ("0:FirstLayerOff", "W") in set(zip(failing.layer, failing.tensor, strict=True))


def test_a_passing_check_never_measures_the_loss(monkeypatch):
    calls = []
    monkeypatch.setattr(gradcheck.loss_noise, "measured_loss_noise",
                        lambda *a: calls.append(a) or (0.0, 0.0))
    model, x, y = confident(0, 4)
    assert check_model(model, SoftmaxCrossEntropy(), x, y).passed
    assert calls == []


def test_the_model_and_the_loss_are_left_as_they_were():
    """The measurement runs the model at another input and the loss along a line: the
    layers' caches and parameters, and the loss's saved state, are put back."""
    model, x, y = confident(1, 20)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    expected = loss.backward()
    params = {k: v.copy() for k, v in model.params.items()}
    caches = [layer._x.copy() for layer in model.layers]
    measured_loss_noise(model, find_layers(model), loss, x + 1.0, y, _settings())
    assert all(np.array_equal(model.params[k], v) for k, v in params.items())
    assert all(np.array_equal(layer._x, a) for layer, a in zip(model.layers, caches, strict=True))
    np.testing.assert_array_equal(loss.backward(), expected)


def _settings():
    return resolve_settings(mode="auto", method="central", eps=None, atol=None, rtol=None,
                            seed=0, where="check_model")


class L1Off:
    """Mean absolute error whose backward is 1.5 times too large; its kinks lie a few steps
    from the prediction, so a line through it crosses many of them."""

    def forward(self, pred, y):
        self._d = pred - y
        return float(np.abs(self._d).mean())

    def backward(self):
        return 1.5 * np.sign(self._d) / self._d.size


class RoundingMSE:
    """A forward that rounds the prediction (flat at the check's steps) and MSE's backward:
    the backward is wrong (the forward's gradient is 0)."""

    def forward(self, pred, y):
        self._d = pred - y
        return float(np.mean((np.round(pred, 2) - y) ** 2))

    def backward(self):
        return 2 * self._d / self._d.size


class PowerOneAndAHalf:
    """mean(pred ** 1.5), correct, defined for pred >= 0 only: a line through a ReLU's exact
    zeros leaves its domain."""

    def forward(self, pred, y):
        self._p = pred
        with np.errstate(invalid="ignore"):
            return float(np.mean(pred ** 1.5))

    def backward(self):
        return 1.5 * np.sqrt(np.maximum(self._p, 0)) / self._p.size


def test_a_kinked_loss_does_not_silence_its_own_wrong_backward():
    rng = np.random.default_rng(0)
    model = Sequential([Dense(5, 8, seed=0), Dense(8, 4, seed=1)])
    x = rng.normal(size=(16, 5))
    pred = model.forward(x)
    step = _settings().step * (np.abs(pred) + np.sqrt(np.mean(pred ** 2)))
    y = pred + rng.choice([-1, 1], pred.shape) * rng.uniform(2, 10, pred.shape) * step
    model = Sequential([Dense(5, 8, seed=0), Dense(8, 4, seed=1)])
    bound, measured = measured_loss_noise(model, find_layers(model), L1Off(), x, y,
                                          _settings())
    assert measured > 4 * bound   # the kinks look like round-off to the line...
    assert measured <= 16 * max(np.finfo(float).eps, bound)   # ... but at most CAP ulps
    report = check_model(model, L1Off(), x, y)
    e2e = report.table[report.table.check == "end_to_end"]
    assert not report.passed and (e2e.status == "fail").sum() >= 2


def test_a_loss_flat_along_the_line_does_not_silence_a_wrong_backward():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4)), rng.normal(size=(8, 3))
    report = check_model(Sequential([Dense(4, 3, seed=0)]), RoundingMSE(), x, y)
    e2e = report.table[report.table.check == "end_to_end"]
    assert set(e2e.status) == {"fail"}


def test_a_line_that_leaves_the_loss_s_domain_measures_nothing_and_the_failure_stands():
    from reference_nets import ReLU
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4))
    model = Sequential([FirstLayerOff(4, 3, seed=0), ReLU()])
    report = check_model(model, PowerOneAndAHalf(), x, rng.normal(size=(8, 3)))
    assert not report.passed
    assert check_model(Sequential([Dense(4, 3, seed=0), ReLU()]), PowerOneAndAHalf(), x,
                       rng.normal(size=(8, 3))).passed
