"""Bad input raises TypeError/ValueError naming the argument and what was expected."""

import numpy as np
import pytest

import reference_nets as rn
from reference_nets.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy
from reference_nets.optim import SGD, Adam, CosineLR, StepLR, clip_grad_norm
from reference_nets.zoo import mlp

RNG = np.random.default_rng(0)
X = RNG.standard_normal((20, 4))
Y = RNG.integers(0, 3, 20)


def fit(X=X, y=Y, **options):
    options = {"epochs": 1, "batch_size": 5, **options}
    return rn.train(mlp((4, 8, 3)), SoftmaxCrossEntropy(), SGD(0.1), X, y, **options)


@pytest.mark.parametrize(("layer", "x", "match"), [
    (rn.Dense(64, 3), np.ones((2, 10)), r"Dense.forward: x has 10 features, expected n_in=64"),
    (rn.Dense(4, 3), np.ones(4), r"Dense.forward: x must have shape \(N, n_in\), got shape"),
    (rn.Conv2D(1, 2, 3), np.ones((2, 8, 8)), r"Conv2D.forward: x must have shape \(N, C, H, W\)"),
    (rn.Conv2D(1, 2, 3), np.ones((2, 3, 8, 8)), r"x has 3 channels, expected in_channels=1"),
    (rn.Conv2D(1, 2, 5), np.ones((2, 1, 3, 3)), r"smaller than kernel_size=5"),
    (rn.MaxPool2D(4), np.ones((2, 1, 3, 3)), r"MaxPool2D.forward: .* smaller than size=4"),
    (rn.BatchNorm(3), np.ones((2, 4)), r"x has 4 channels, expected num_features=3"),
    (rn.BatchNorm(3), np.ones((2, 3, 4)), r"x must have shape \(N, C\) or \(N, C, H, W\)"),
    (rn.BatchNorm(3), np.ones((1, 3)), r"training mode needs more than one value per channel"),
    (rn.Flatten(), np.ones(3), r"Flatten.forward: x must have a batch axis"),
])
def test_layer_forward_shape_errors_name_the_layer_and_expectation(layer, x, match):
    with pytest.raises(ValueError, match=match):
        layer.forward(x)


@pytest.mark.parametrize("x", [np.array([["a", "b"]]), np.ones((1, 2), dtype=complex),
                               np.array([[None, 1.0]], dtype=object)])
def test_non_numeric_layer_input_is_a_type_error(x):
    with pytest.raises(TypeError, match=r"Dense.forward: x must be a numeric .*array"):
        rn.Dense(2, 2).forward(x)


def test_backward_checks_dy_shape_and_order():
    layer = rn.Dense(4, 3)
    with pytest.raises(RuntimeError, match="call forward before backward"):
        layer.backward(np.ones((2, 3)))
    layer.forward(np.ones((2, 4)))
    match = r"Dense.backward: dy has shape \(2, 4\), expected \(2, 3\)"
    with pytest.raises(ValueError, match=match):
        layer.backward(np.ones((2, 4)))


@pytest.mark.parametrize(("y", "match"), [
    (np.array([0, 1, 3]), r"target holds labels in \[0, 3\], expected labels in \[0, 2\]"),
    (np.array([0, -1, 2]), r"expected labels in \[0, 2\]"),
    (np.array([0.0, np.nan, 1.0]), r"target must be finite, found 1 NaN"),
    (np.array([0.0, 0.5, 1.0]), r"target must hold integer class labels"),
    (np.array([0, 1]), r"target has shape \(2,\), expected integer labels of shape \(3,\)"),
    (np.full((3, 3), 0.5), r"one-hot or probability rows"),
])
def test_cross_entropy_target_errors(y, match):
    with pytest.raises(ValueError, match=match):
        SoftmaxCrossEntropy().forward(np.zeros((3, 3)), y)


def test_cross_entropy_pred_must_be_2d_numeric():
    with pytest.raises(ValueError, match=r"pred must have shape \(N, C\), got shape \(3,\)"):
        SoftmaxCrossEntropy().forward(np.zeros(3), np.zeros(3, dtype=int))
    with pytest.raises(TypeError, match=r"pred must be a numeric"):
        SoftmaxCrossEntropy().forward(np.array([["x"]]), np.zeros(1, dtype=int))


@pytest.mark.parametrize(("loss", "target", "match"), [
    (MSE(), np.zeros((3, 1)), r"MSE: target has shape \(3, 1\), expected \(3, 2\)"),
    (MSE(), np.array([[0, np.inf]] * 3), r"target must be finite, found 0 NaN and 3 Inf"),
    (BinaryCrossEntropy(), np.full((3, 2), 2.0), r"target must hold values in \[0, 1\]"),
])
def test_regression_and_binary_target_errors(loss, target, match):
    with pytest.raises(ValueError, match=match):
        loss.forward(np.zeros((3, 2)), target)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"X": X[:, :3]}, ValueError, r"Dense.forward: x has 3 features, expected n_in=4"),
    ({"X": X[:, 0]}, ValueError, r"train: X must have shape \(n_samples, \.\.\.\)"),
    ({"X": X.astype(str)}, TypeError, r"train: X must be a numeric"),
    ({"X": np.where(X > 2, np.nan, X)}, ValueError, r"train: X must be finite"),
    ({"y": Y[:-1]}, ValueError, r"train: y must have 20 rows \(one per row of X\)"),
    ({"y": np.where(Y == 0, np.nan, Y)}, ValueError, r"y must be finite, found \d+ NaN"),
    ({"y": Y + 1}, ValueError, r"y holds labels in \[1, 3\], expected labels in \[0, 2\]"),
    ({"batch_size": 21}, ValueError, r"batch_size=21 is larger than the data set \(X has 20"),
    ({"batch_size": 0}, ValueError, r"train: batch_size must be >= 1"),
    ({"batch_size": 2.5}, TypeError, r"train: batch_size must be a positive int"),
    ({"epochs": 0}, ValueError, r"train: epochs must be >= 1"),
    ({"clip_norm": -1.0}, ValueError, r"train: clip_norm must be a finite number > 0"),
    ({"validation": (X, Y[:3])}, ValueError, r"validation\[1\] must have 20 rows"),
    ({"validation": X}, TypeError, r"validation must be a tuple \(X_val, y_val\)"),
])
def test_train_rejects_bad_arguments_before_training(kwargs, error, match):
    with pytest.raises(error, match=match):
        fit(**kwargs)


@pytest.mark.parametrize(("build", "match"), [
    (lambda: rn.Dense(0, 3), r"Dense: n_in must be >= 1"),
    (lambda: rn.Dense(2, 3, init="glorot"), r"init must be one of \('he', 'xavier', 'normal'\)"),
    (lambda: rn.Dense(2, 3, dtype=np.int32), r"dtype must be a floating dtype"),
    (lambda: rn.Conv2D(1, 2, 3, padding=-1), r"Conv2D: padding must be an int >= 0"),
    (lambda: rn.Dropout(1.0), r"Dropout: p must be in \[0, 1\)"),
    (lambda: SGD(-0.1), r"SGD: lr must be a finite number > 0"),
    (lambda: SGD(0.1, momentum=1.5), r"SGD: momentum must be in \[0, 1\)"),
    (lambda: SGD(0.1, nesterov=True), r"nesterov=True needs momentum > 0"),
    (lambda: Adam(betas=(0.9,)), r"Adam: betas must be two numbers"),
    (lambda: StepLR(SGD(0.1), 0), r"StepLR: step_size must be >= 1"),
    (lambda: CosineLR(SGD(0.1), 10, lr_min=1.0), r"lr_min must be in \[0, initial lr=0.1\]"),
    (lambda: clip_grad_norm({}, 0.0), r"clip_grad_norm: max_norm must be a finite number > 0"),
    (lambda: mlp((4,)), r"mlp: sizes needs at least 2 widths"),
    (lambda: mlp(activation="gelu"), r"mlp: activation must be one of"),
])
def test_constructors_reject_bad_arguments(build, match):
    with pytest.raises((TypeError, ValueError), match=match):
        build()


def test_sequential_rejects_non_layers():
    with pytest.raises(TypeError, match=r"layers\[1\] \(int\) lacks forward, backward, params"):
        rn.Sequential([rn.ReLU(), 3])
