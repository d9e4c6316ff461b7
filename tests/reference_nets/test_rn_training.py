"""Reference nets really learn: digits and two spirals."""

import numpy as np
import pytest

import reference_nets as rn
from reference_nets.data import load_digits, two_spirals
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.optim import SGD, Adam
from reference_nets.zoo import cnn, mlp


def accuracy(model, X, y) -> float:
    model.eval()
    return float(np.mean(model.forward(X).argmax(axis=1) == y))


def test_digits_mlp_with_sgd_momentum_reaches_96_percent_test_accuracy():
    pytest.importorskip("sklearn", reason="load_digits needs scikit-learn")
    d = load_digits()
    model = mlp((64, 64, 10), activation="relu")
    history = rn.train(model, SoftmaxCrossEntropy(), SGD(0.05, momentum=0.9), d.X_train,
                       d.y_train, epochs=20, batch_size=32, validation=(d.X_test, d.y_test))
    assert accuracy(model, d.X_test, d.y_test) >= 0.96
    assert history["val_accuracy"].iloc[-1] == accuracy(model, d.X_test, d.y_test)
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0] / 10


def test_digits_cnn_learns():
    pytest.importorskip("sklearn", reason="load_digits needs scikit-learn")
    d = load_digits(images=True)
    model = cnn()
    rn.train(model, SoftmaxCrossEntropy(), SGD(0.05, momentum=0.9), d.X_train, d.y_train,
             epochs=4, batch_size=32)
    assert accuracy(model, d.X_test, d.y_test) >= 0.9


def test_small_mlp_fits_two_spirals_where_a_linear_model_cannot():
    X, y = two_spirals()
    linear = rn.Sequential([rn.Dense(2, 2)])
    rn.train(linear, SoftmaxCrossEntropy(), Adam(0.01), X, y, epochs=100, batch_size=32)
    assert accuracy(linear, X, y) < 0.75
    model = mlp((2, 32, 32, 2), activation="tanh")
    rn.train(model, SoftmaxCrossEntropy(), Adam(0.01), X, y, epochs=100, batch_size=32)
    assert accuracy(model, X, y) >= 0.95
