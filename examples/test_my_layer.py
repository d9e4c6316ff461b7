"""Check your own layer's backward pass from your test suite: copy this file.

With gradkit installed the ``gradcheck`` fixture is available in every test (no
conftest needed). Replace ``MyLayer`` by your layer and run::

    pytest examples/test_my_layer.py -v

A wrong gradient fails the test with a table naming the tensor, the worst index and
the analytic and numeric values. Options (``mode``, ``method``, ``eps``, ``atol``,
``rtol``, ``seed``, ``strict``) go as keywords, into ``@pytest.mark.gradcheck(...)``,
on the command line (``--gradcheck-atol 1e-6``) or into the ini file
(``gradcheck_atol = 1e-6``); ``--gradcheck-report reports/gradcheck.html`` writes a
page with every check of the session, ``--gradcheck-json`` the same as JSON.
``pytest -m gradcheck`` runs only the tests using the fixture; ``--gradcheck-disable``
skips them.
"""

import numpy as np
import pytest

from gradcheck import assert_gradients
from reference_nets import Dense, Sequential
from reference_nets.losses import MSE


class MyLayer:
    """Your layer: y = tanh(x @ W + b), x of shape (batch, n_in), y (batch, n_out)."""

    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W": rng.normal(0, n_in**-0.5, (n_in, n_out)), "b": np.zeros(n_out)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}

    def forward(self, x):
        self.x = x
        self.y = np.tanh(x @ self.params["W"] + self.params["b"])
        return self.y

    def backward(self, dy):
        dz = dy * (1.0 - self.y**2)
        self.grads["W"][...] = self.x.T @ dz
        self.grads["b"][...] = dz.sum(axis=0)
        return dz @ self.params["W"].T


# The five lines: a layer, an input batch, one call.
def test_my_layer_gradients(gradcheck):
    x = np.random.default_rng(0).normal(size=(4, 5))
    gradcheck(MyLayer(5, 3), x)


# Inside a model, under a loss: every layer is checked and a failure names the layer.
@pytest.mark.gradcheck(seed=1)
def test_my_layer_inside_a_model(gradcheck):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 5)), rng.normal(size=(8, 2))
    model = Sequential([MyLayer(5, 4), Dense(4, 2)])
    report = gradcheck(model, x, loss=MSE(), y=y)
    assert report.passed


# Without pytest fixtures (a script, a notebook, another test runner).
def test_without_the_fixture():
    x = np.random.default_rng(0).normal(size=(4, 5))
    assert_gradients(MyLayer(5, 3), x, atol=1e-6)
