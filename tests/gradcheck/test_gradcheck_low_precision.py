"""Forwards that compute in less precision than their float64 arrays are judged by float32's
rules (gradcheck.low_precision), and only they."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_layer, check_model
from gradcheck.low_precision import layer_rounded_away
from reference_nets import Sequential
from reference_nets.losses import SoftmaxCrossEntropy
from tests.gradcheck import zoo_layers as z


class ProductInFloat32(z.Linear):
    """Correct: float64 arrays, the product computed in float32 (the backward is exact)."""

    def forward(self, x):
        self.x = x
        W = self.params["W"].astype(np.float32)
        return (x.astype(np.float32) @ W).astype(np.float64) + self.params["b"]


class OffsetThatCancels(z.Tanh):
    """Correct: ``tanh((x + 1e8) - 1e8)``, which rounds x to multiples of 1.5e-8."""

    def forward(self, x):
        return super().forward((x + 1e8) - 1e8)


class WrongProductInFloat32(ProductInFloat32):
    """Bug: dW 1 % too large."""

    def weight_grad(self, dy):
        return 1.01 * super().weight_grad(dy)


X = np.random.default_rng(1000).normal(size=(4, 50))


@pytest.mark.parametrize("layer", [ProductInFloat32(50, 5), OffsetThatCancels()])
def test_a_forward_that_rounds_float64_steps_away_passes_by_float32s_rules(layer):
    with pytest.warns(UserWarning, match="rounds away float64 moves"):
        report = check_layer(layer, X)
    assert report.passed and report.options["dtype"] == "float32", str(report)


def test_a_wrong_gradient_of_such_a_forward_still_fails():
    with pytest.warns(UserWarning, match="rounds away float64 moves"):
        report = check_layer(WrongProductInFloat32(50, 5), X)
    assert set(report.table.query("status == 'fail'").tensor) == {"W"}, str(report)


@pytest.mark.filterwarnings("ignore:check_model. checking in float32")
@pytest.mark.parametrize("wrong", [False, True])
def test_such_a_layer_in_a_chain_is_judged_by_float32s_rules(wrong):
    first = (WrongProductInFloat32 if wrong else ProductInFloat32)(50, 8)
    model = Sequential([first, z.Tanh(), z.Linear(8, 3, seed=2)])
    report = check_model(model, SoftmaxCrossEntropy(), X, np.array([0, 1, 2, 1]))
    assert report.options["dtype"] == "float32" and report.passed is not wrong, str(report)


@pytest.mark.parametrize("layer", [z.Linear(50, 5), z.Tanh()])
def test_a_float64_forward_rounds_no_move_away(layer):
    # its outputs follow moves of 1, 2 and 4 of the check's steps in a line
    failing = {"input", *getattr(layer, "params", {})}
    assert layer_rounded_away(layer, X, failing, seed=0, step=2.0 ** -17) == []


def test_a_wrong_float64_gradient_is_still_judged_by_float64s_rules():
    class OffByAMillionth(z.Linear):
        def weight_grad(self, dy):
            return (1 + 1e-6) * super().weight_grad(dy)
    report = check_layer(OffByAMillionth(50, 5), X)
    assert not report.passed and report.options["dtype"] == "float64", str(report)


class _DenseReLU:
    """Correct: ``relu(x @ W + b)`` in float64."""

    def __init__(self, W, b):
        self.params = {"W": W, "b": b}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        return np.maximum(x @ self.params["W"] + self.params["b"], 0)


@pytest.mark.parametrize("gap", [1e-3, 1e-6])
@pytest.mark.parametrize("batch", [1, 4])
def test_moves_of_weights_that_cross_relu_kinks_are_not_called_rounded(gap, batch):
    # every pre-activation of the first sample sits ``gap`` from its kink: the probe's moves
    # of W cross them, bending outputs as no smooth forward does, yet nothing is rounded
    rng = np.random.default_rng(0)
    x, W = rng.normal(size=(4, 20)), rng.normal(size=(20, 10))
    b = -(x[0] @ W) + gap * rng.normal(size=10)
    layer = _DenseReLU(W, b)
    assert layer_rounded_away(layer, x[:batch], {"W", "b"}, seed=0, step=2.0 ** -17) == []
