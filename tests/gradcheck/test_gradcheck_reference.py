"""The reference_nets layers pass check_layer in float64 and float32; the zoo models pass
check_model; parameters and state come back exactly."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_layer, check_model
from reference_nets import (
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from reference_nets.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy
from reference_nets.zoo import cnn, deep_sigmoid, mlp

RNG = np.random.default_rng(7)


def layers(dtype):
    """(layer, input) pairs covering every reference layer type."""
    kw = {"dtype": dtype}
    return [
        (Dense(6, 4, **kw), RNG.normal(size=(5, 6))),
        (Conv2D(2, 3, 3, padding=1, **kw), RNG.normal(size=(2, 2, 5, 5))),
        (Conv2D(1, 2, 3, stride=2, **kw), RNG.normal(size=(2, 1, 7, 7))),
        (MaxPool2D(2), RNG.normal(size=(2, 2, 4, 4))),
        (Flatten(), RNG.normal(size=(3, 2, 2, 2))),
        (BatchNorm(4, **kw), RNG.normal(size=(6, 4))),
        (BatchNorm(3, **kw).eval(), RNG.normal(size=(6, 3))),
        (Dropout(0.3).eval(), RNG.normal(size=(4, 5))),
        (ReLU(), RNG.normal(size=(4, 5))),
        (LeakyReLU(0.1), RNG.normal(size=(4, 5))),
        (Sigmoid(), RNG.normal(size=(4, 5))),
        (Tanh(), RNG.normal(size=(4, 5))),
        (Softmax(), RNG.normal(size=(4, 5))),
    ]


def cases(dtype) -> list:
    """``layers(dtype)`` as pytest params with readable ids."""
    return [pytest.param(layer, x, id=f"{i}-{type(layer).__name__}")
            for i, (layer, x) in enumerate(layers(dtype))]


@pytest.mark.parametrize(("layer", "x"), cases(np.float64))
def test_reference_layer_passes_in_float64(layer, x):
    report = check_layer(layer, x, mode="full")
    assert report.passed, str(report)
    assert report.n_nondifferentiable == 0
    assert set(report.table.tensor) == {"input", *layer.params}


@pytest.mark.parametrize(("layer", "x"), cases(np.float32))
def test_reference_layer_passes_in_float32(layer, x):
    with pytest.warns(UserWarning, match="float32"):
        report = check_layer(layer, x.astype(np.float32), mode="full")
    assert report.passed, str(report)
    assert report.options["dtype"] == "float32"


def test_maxpool_with_ties_passes():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 2:, 2:] = [[1.0, 1.0], [0.5, 1.0]]
    report = check_layer(MaxPool2D(2), x, mode="full")
    assert report.passed and report.n_nondifferentiable == 1


def test_dropout_in_training_mode_is_reported_as_random():
    report = check_layer(Dropout(0.5), RNG.normal(size=(4, 5)))
    assert not report.passed
    row = report.table.iloc[0]
    assert (row.tensor, row.check) == ("output", "determinism")
    assert "eval" in row.message


def test_parameters_and_state_are_restored_exactly():
    layer = BatchNorm(4)
    layer.params["gamma"][:] = RNG.uniform(0.5, 2, 4)
    before = {k: v.copy() for k, v in layer.params.items()}
    objects = dict(layer.params)
    running = {k: v.copy() for k, v in vars(layer).items() if isinstance(v, np.ndarray)}
    grads = {k: v.copy() for k, v in layer.grads.items()}
    x = RNG.normal(size=(6, 4))
    x_before = x.copy()
    check_layer(layer, x, mode="full")
    for key in before:
        assert layer.params[key] is objects[key]
        assert np.array_equal(layer.params[key], before[key])
        assert np.array_equal(layer.grads[key], grads[key])
    for key, value in running.items():
        assert np.array_equal(getattr(layer, key), value), key
    assert np.array_equal(x, x_before)


MODELS = [
    ("mlp-relu", lambda: mlp((6, 8, 3), activation="relu"), SoftmaxCrossEntropy()),
    ("mlp-tanh", lambda: mlp((6, 8, 3), activation="tanh"), SoftmaxCrossEntropy()),
    ("mlp-sigmoid", lambda: mlp((6, 8, 3), activation="sigmoid"), SoftmaxCrossEntropy()),
    ("mlp-leaky", lambda: mlp((6, 8, 3), activation="leaky_relu"), SoftmaxCrossEntropy()),
    ("deep-sigmoid", lambda: deep_sigmoid(n_in=6, width=5, depth=4, n_out=3),
     SoftmaxCrossEntropy()),
]


@pytest.mark.parametrize(("name", "make", "loss"), MODELS, ids=[m[0] for m in MODELS])
def test_zoo_models_pass_check_model(name, make, loss):
    model = make()
    x, y = RNG.normal(size=(7, 6)), RNG.integers(0, 3, 7)
    before = {k: v.copy() for k, v in model.params.items()}
    report = check_model(model, loss, x, y, mode="full")
    assert report.passed, str(report)
    assert set(report.table.check) == {"gradient", "end_to_end"}
    assert all(np.array_equal(model.params[k], v) for k, v in before.items())


def test_cnn_passes_check_model():
    model = cnn(in_channels=1, image_size=6, n_classes=4)
    x, y = RNG.normal(size=(3, 1, 6, 6)), RNG.integers(0, 4, 3)
    report = check_model(model, SoftmaxCrossEntropy(), x, y, mode="full")
    assert report.passed, str(report)
    assert [name for name in dict.fromkeys(report.table.layer)] == [
        f"{i}:{type(layer).__name__}" for i, layer in enumerate(model.layers)]


@pytest.mark.parametrize("loss", [MSE(), BinaryCrossEntropy()], ids=["mse", "bce"])
def test_regression_losses_pass(loss):
    model = mlp((3, 5, 2), activation="tanh")
    x = RNG.normal(size=(6, 3))
    y = RNG.integers(0, 2, (6, 2)).astype(float)
    assert check_model(model, loss, x, y, mode="full").passed
