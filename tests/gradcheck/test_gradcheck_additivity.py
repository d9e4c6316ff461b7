"""Partial derivatives that do not add up (a median's ties of three or more): nondifferentiable,
never a failure, while a wrong backward at such a point still fails (gradcheck.additivity)."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_layer, check_model
from reference_nets import Dense, Flatten, MaxPool2D, ReLU, Sequential
from reference_nets.losses import MSE


class RowMedian:
    """The lower median of each row, its gradient given to one of the tied values (as
    ``torch.median`` does: a valid subgradient); ``scale`` != 1 makes the backward wrong."""

    def __init__(self, scale: float = 1.0):
        self.params, self.grads, self.scale = {}, {}, scale

    def forward(self, x):
        middle = (x.shape[1] - 1) // 2
        self.at = np.argsort(x, axis=1, kind="stable")[:, middle:middle + 1]
        self.shape = x.shape
        return np.take_along_axis(x, self.at, 1)

    def backward(self, dy):
        dx = np.zeros(self.shape)
        np.put_along_axis(dx, self.at, dy * self.scale, 1)
        return dx


def tied(seed: int) -> np.ndarray:
    """Integer-valued rows of five values in 0..2: most rows tie three or more values."""
    return np.random.default_rng(seed).integers(0, 3, size=(4, 5)).astype(float)


def test_three_tied_values_have_partials_that_do_not_add_up():
    """Each tied value moved alone leaves the median; all moved together move it."""
    x = np.array([[0.0, 1.0, 1.0, 1.0, 2.0]])
    layer = RowMedian()
    base = layer.forward(x)[0, 0]
    for i in (1, 2, 3):
        for h in (1e-3, -1e-3):
            moved = x.copy()
            moved[0, i] += h
            assert layer.forward(moved)[0, 0] == base
    assert layer.forward(x + np.array([[0, 1e-3, 2e-3, 3e-3, 0]]))[0, 0] == base + 2e-3


@pytest.mark.parametrize("seed", range(12))
def test_a_correct_median_at_ties_is_never_failed(seed):
    """Before, 14 of 20 such inputs failed: the tied value the backward picks had analytic
    dy and numeric 0."""
    report = check_layer(RowMedian(), tied(seed))
    row = report.table.iloc[0]
    assert row.status in ("pass", "nondifferentiable")
    if row.status == "nondifferentiable" and "partial derivatives" in row.message:
        assert "no gradient" in row.message


def test_the_ties_are_named_as_partials_without_a_gradient():
    found = [check_layer(RowMedian(), tied(seed)).table.iloc[0] for seed in range(12)]
    messages = [row.message for row in found if row.status == "nondifferentiable"]
    assert any("partial derivatives but no gradient" in m for m in messages)


@pytest.mark.parametrize("seed", range(6))
def test_a_wrong_median_backward_still_fails_at_ties_and_elsewhere(seed):
    rng = np.random.default_rng(seed)
    assert not check_layer(RowMedian(scale=1.05), tied(seed)).passed
    assert not check_layer(RowMedian(scale=1.05), rng.normal(size=(4, 5))).passed
    model = Sequential([RowMedian(scale=1.05), Dense(1, 2, seed=seed)])
    assert not check_model(model, MSE(), tied(seed), rng.normal(size=(4, 2))).passed


@pytest.mark.parametrize("seed", range(6))
def test_a_model_with_a_correct_median_at_ties_passes(seed):
    rng = np.random.default_rng(seed)
    model = Sequential([RowMedian(), Dense(1, 2, seed=seed)])
    assert check_model(model, MSE(), tied(seed), rng.normal(size=(4, 2))).passed


class PoolOff(MaxPool2D):
    """Max-pooling whose backward is 10 % too large at every window."""

    def backward(self, dy):
        return super().backward(dy) * 1.1


@pytest.mark.parametrize("seed", range(4))
def test_ties_that_survive_the_second_point_do_not_hide_a_wrong_pool(seed):
    """A dead window after a ReLU: four tied zeros at the pool's input at every point. The
    pool's failing elements are smooth ones (numeric values of their own): its failure
    stands, while a correct pool passes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 2, 4, 4))
    x[0, 0, :2, :2] = -1.0 - rng.random((2, 2))
    y = rng.normal(size=(2, 3))
    for pool, ok in ((MaxPool2D, True), (PoolOff, False)):
        model = Sequential([ReLU(), pool(2), Flatten(), Dense(8, 3, seed=seed)])
        assert check_model(model, MSE(), x, y).passed is ok
