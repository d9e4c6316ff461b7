"""Every reference layer passes gradkit's own finite-difference check (float64)."""

import numpy as np
import pytest

import reference_nets as rn
from gradcheck import check_layer, check_model
from reference_nets.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy
from reference_nets.zoo import cnn, mlp

RNG = np.random.default_rng(0)
IMAGES = RNG.standard_normal((2, 2, 6, 6))
ROWS = RNG.standard_normal((5, 4))

LAYERS = [
    (rn.Dense(4, 3, init="xavier"), ROWS),
    (rn.Conv2D(2, 3, 3, stride=2, padding=1), IMAGES),
    (rn.MaxPool2D(2), IMAGES),
    (rn.MaxPool2D(3, stride=1), IMAGES),
    (rn.Flatten(), IMAGES),
    (rn.BatchNorm(2), IMAGES),
    (rn.BatchNorm(4).eval(), ROWS),
    (rn.Dropout(0.5).eval(), ROWS),
    (rn.ReLU(), ROWS),
    (rn.LeakyReLU(0.2), ROWS),
    (rn.Sigmoid(), 5 * ROWS),
    (rn.Tanh(), ROWS),
    (rn.Softmax(), ROWS),
]


@pytest.mark.parametrize(("layer", "x"), LAYERS, ids=repr)
def test_layer_passes_gradcheck(layer, x):
    report = check_layer(layer, x)
    assert report.passed, str(report)
    assert set(report.table["tensor"]) == {"input", *layer.params}


@pytest.mark.parametrize(("model", "loss", "x", "y"), [
    (cnn(image_size=6), SoftmaxCrossEntropy(), RNG.random((3, 1, 6, 6)), np.array([0, 3, 9])),
    (mlp((4, 6, 2), activation="tanh"), MSE(), ROWS, RNG.standard_normal((5, 2))),
    (mlp((4, 6, 1), activation="sigmoid"), BinaryCrossEntropy(), ROWS,
     RNG.integers(0, 2, (5, 1)).astype(float)),
], ids=["cnn-cross-entropy", "mlp-mse", "mlp-bce"])
def test_models_pass_gradcheck_under_each_loss(model, loss, x, y):
    report = check_model(model, loss, x, y)
    assert report.passed, str(report)
    assert set(report.table["layer"]) == {f"{i}:{type(layer).__name__}"
                                          for i, layer in enumerate(model.layers)}


def test_gradcheck_catches_a_broken_reference_layer():
    class WrongTanh(rn.Tanh):
        def backward(self, dy):
            return self._grad_output(dy) * (1.0 - self._y)        # should be 1 - y**2

    report = check_layer(WrongTanh(), ROWS)
    assert not report.passed
