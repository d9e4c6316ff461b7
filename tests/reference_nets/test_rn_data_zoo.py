"""Data sets and ready-made networks."""

import sys

import numpy as np
import pytest

import reference_nets as rn
from reference_nets import data
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.zoo import cnn, deep_sigmoid, mlp


@pytest.mark.parametrize(("make", "n"), [(data.two_spirals, 400), (data.moons, 400)])
def test_classification_sets_are_seeded_and_balanced(make, n):
    X, y = make(seed=1)
    assert X.shape == (n, 2) and y.shape == (n,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [n // 2, n // 2]
    np.testing.assert_array_equal(X, make(seed=1)[0])
    assert not np.array_equal(X, make(seed=2)[0])


def test_regression_curve_shapes_and_noise():
    X, y = data.regression_curve(n=50, noise=0.0)
    assert X.shape == y.shape == (50, 1)
    np.testing.assert_allclose(y, np.sin(3 * X) + 0.5 * X)
    assert (np.diff(X[:, 0]) >= 0).all()


def test_load_digits_split_scaling_and_images():
    pytest.importorskip("sklearn", reason="load_digits needs scikit-learn")
    split = data.load_digits(test_fraction=0.25)
    assert len(split.X_train) + len(split.X_test) == 1797
    assert len(split.X_test) == pytest.approx(0.25 * 1797, abs=1)
    assert split.X_train.shape[1] == 64 and split.y_train.dtype == np.int64
    assert split.X_train.min() == 0.0 and split.X_train.max() == 1.0
    images = data.load_digits(images=True)
    assert images.X_test.shape[1:] == (1, 8, 8)
    np.testing.assert_array_equal(images.X_test.reshape(-1, 64), split.X_test)


def test_load_digits_names_the_extra_when_scikit_learn_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "gradkit\[data\]"'):
        data.load_digits()


def test_mlp_layout_and_seeds():
    model = mlp((5, 7, 6, 2), activation="tanh", seed=3)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "Tanh", "Dense", "Tanh", "Dense"]
    assert model.forward(np.zeros((4, 5))).shape == (4, 2)
    np.testing.assert_array_equal(model.params["0.W"], mlp((5, 7, 6, 2), seed=3).params["0.W"])
    assert not np.array_equal(model.params["0.W"], mlp((5, 7, 6, 2), seed=4).params["0.W"])
    assert mlp(dtype=np.float32).params["2.W"].dtype == np.float32


def test_cnn_and_deep_sigmoid_shapes():
    net = cnn(in_channels=3, image_size=10, n_classes=4)
    assert isinstance(net.layers[0], rn.Conv2D) and isinstance(net.layers[-1], rn.Dense)
    assert net.forward(np.zeros((2, 3, 10, 10))).shape == (2, 4)
    deep = deep_sigmoid(depth=10)
    assert sum(isinstance(layer, rn.Sigmoid) for layer in deep.layers) == 10
    assert deep.forward(np.zeros((2, 64))).shape == (2, 10)


def test_deep_sigmoid_gradients_vanish_towards_the_input():
    model, loss = deep_sigmoid(), SoftmaxCrossEntropy()
    rng = np.random.default_rng(0)
    loss.forward(model.forward(rng.random((32, 64))), rng.integers(0, 10, 32))
    model.backward(loss.backward())
    first, last = np.linalg.norm(model.grads["0.W"]), np.linalg.norm(model.grads["20.W"])
    assert first < 1e-4 * last
