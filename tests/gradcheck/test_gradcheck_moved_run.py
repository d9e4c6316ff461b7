"""A chain's run at a moved point, checked along the screen's joint direction: a bug the
given point hides (a bias of 0 left out of a fused layer's backward) sends the model to its
second point (gradcheck.moved_run_check)."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck.chain_second_point
import gradcheck.model_check
from gradcheck import check_model
from reference_nets import Dense, Sequential, Tanh
from reference_nets.losses import SoftmaxCrossEntropy


class DenseTanh:
    """tanh(x @ W + b) in one layer; biases start at 0. ``forgets_bias``: the backward
    recomputes the tanh from ``x @ W`` alone, right while b is 0 and wrong after."""

    def __init__(self, n_in: int, n_out: int, seed: int, forgets_bias: bool = False):
        rng = np.random.default_rng(seed)
        self.params = {"W": rng.normal(size=(n_in, n_out)) / np.sqrt(n_in),
                       "b": np.zeros(n_out)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.forgets_bias = forgets_bias

    def forward(self, x):
        self.x = x
        return np.tanh(x @ self.params["W"] + self.params["b"])

    def backward(self, dy):
        z = self.x @ self.params["W"] + (0.0 if self.forgets_bias else self.params["b"])
        dz = dy * (1 - np.tanh(z) ** 2)
        self.grads["W"] = self.x.T @ dz
        self.grads["b"] = dz.sum(0)
        return dz @ self.params["W"].T


def chain(seed: int, forgets_bias: bool):
    rng = np.random.default_rng(seed)
    model = Sequential([Dense(6, 5, seed=seed), Tanh(),
                        DenseTanh(5, 5, seed=seed, forgets_bias=forgets_bias),
                        Dense(5, 3, seed=seed + 1)])
    return model, rng.normal(size=(8, 6)), rng.integers(0, 3, 8)


def test_a_bias_of_zero_left_out_of_a_fused_backward_fails_in_a_chain():
    """Before, 20 of 20 such chains passed: the given point, where b is 0, cannot tell."""
    caught = 0
    for seed in range(10):
        model, x, y = chain(seed, forgets_bias=True)
        report = check_model(model, SoftmaxCrossEntropy(), x, y, seed=seed)
        caught += "2:DenseTanh" in set(report.table[report.table.status == "fail"].layer)
    assert caught >= 9


@pytest.mark.parametrize("seed", range(5))
def test_a_correct_fused_layer_passes_and_its_parameters_are_restored(seed):
    model, x, y = chain(seed, forgets_bias=False)
    before = {k: v.copy() for k, v in model.params.items()}
    assert check_model(model, SoftmaxCrossEntropy(), x, y, seed=seed).passed
    assert all(np.array_equal(model.params[k], v) for k, v in before.items())


def test_the_moved_run_agrees_on_a_correct_chain_and_disagrees_on_the_wrong_one(monkeypatch):
    screen = gradcheck.chain_second_point.moved_run_disagrees
    for forgets_bias in (False, True):
        said = []
        monkeypatch.setattr(gradcheck.chain_second_point, "moved_run_disagrees",
                            lambda *a, said=said, **k: said.append(screen(*a, **k)) or said[-1])
        model, x, y = chain(3, forgets_bias)
        check_model(model, SoftmaxCrossEntropy(), x, y, seed=3)
        assert said and set(said) == {forgets_bias}


def test_a_loss_that_refuses_the_screen_s_point_sends_the_model_to_its_second_point(
        monkeypatch):
    """The screen's point is the check's choice: a refusal there is no error of the user's
    (before, check_model raised it); the second point decides, and a correct model passes."""
    import gradcheck.moved_run_check

    def refuses(*args):
        raise ValueError("pred below the loss's domain")

    second = []
    rows = gradcheck.model_check.second_point_rows
    monkeypatch.setattr(gradcheck.moved_run_check, "loss_value", refuses)
    monkeypatch.setattr(gradcheck.model_check, "second_point_rows",
                        lambda *a: second.append(1) or rows(*a))
    model, x, y = chain(0, forgets_bias=False)
    assert check_model(model, SoftmaxCrossEntropy(), x, y).passed
    assert second == [1]
