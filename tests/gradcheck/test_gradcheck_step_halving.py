"""Failing finite differences are halved until they converge (gradcheck.step_halving).

The function below is ``s * x`` plus pairs of ReLU kinks at ``x0 - a`` and ``x0 + a`` whose
slope changes cancel in the one-sided gap at ``x0``: stepping across them biases the
estimates at ``h`` and ``h/2`` alike, and the kink test cannot see them. The derivative at
``x0`` is ``s`` all the same.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_function, check_layer
from gradcheck.finite_diff import default_eps, step_sizes

X0 = np.array([1.0, -2.0, 3.0])
SLOPE = np.array([0.7, -1.3, 2.1])
STEP = step_sizes(X0, default_eps(np.float64))   # the checker's step at each element


def kinked(distances, jump=1.0, error=0.0):
    """``f`` and its vjp (the vjp off by ``error``, relative) with kink pairs at ``X0 +- a``,
    ``a`` = each of ``distances`` (in units of the step)."""
    a = np.asarray(distances, float)[:, None] * STEP

    def f(x):
        d = x - X0
        return SLOPE * x + jump * (np.maximum(d - a, 0) - np.maximum(-d - a, 0)).sum(0)

    def vjp(x, G):
        return G * SLOPE * (1 + error)

    return f, vjp


@pytest.mark.parametrize("distance", [0.05, 0.1, 0.15, 0.3, 0.45, 0.7])
def test_kinks_crossed_on_both_sides_are_not_failures(distance):
    # below a sixth of the step the h, h/2 estimate fails by more than its error estimate
    f, vjp = kinked([distance])
    report = check_function(f, vjp, X0, mode="full")
    assert report.passed, report.table[["status", "analytic", "numeric", "tolerance"]]
    assert report.table.status.eq("pass").all()


@pytest.mark.parametrize("distance", [0.1, 0.4])
@pytest.mark.parametrize("error", [1e-3, 1e-6])
def test_a_wrong_gradient_with_kinks_nearby_still_fails(error, distance):
    # the kinks' bias makes a large error estimate at h, h/2, which would hide the error
    f, vjp = kinked([distance], jump=1e-3, error=error)
    row = check_function(f, vjp, X0, mode="full").table.iloc[0]
    assert row.status == "fail"
    assert row.numeric == pytest.approx(row.analytic / (1 + error), rel=1e-9)


def test_kinks_at_every_scale_are_unresolved_never_failed():
    # a kink pair inside every halving of the step: the estimate never converges
    f, vjp = kinked(0.3 * 2.0 ** -np.arange(40))
    report = check_function(f, vjp, X0, mode="full")
    row = report.table.iloc[0]
    assert row.status == "nondifferentiable"
    assert "did not converge as the step was halved" in row.message
    assert not (report.table.status == "fail").any()


def _calls(vjp_error):
    calls = []

    def f(x):
        calls.append(1)
        return np.sin(x)

    report = check_function(f, lambda x, G: G * np.cos(x) * (1 + vjp_error), X0, mode="full")
    return report, len(calls)


def test_a_smooth_wrong_gradient_costs_two_halvings():
    report, calls = _calls(1e-6)
    assert report.table.status.eq("fail").all()
    # f once at the point, then per element central differences at h, h/2, h/4 and h/8
    assert calls == 1 + 2 * 4 * X0.size


def test_a_correct_gradient_costs_no_halving():
    report, calls = _calls(0.0)
    assert report.passed and calls == 1 + 2 * X0.size


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _softmax_vjp(scale):
    def vjp(z, G):
        p = _softmax(z)
        return scale * p * (G - (G * p).sum(-1, keepdims=True))
    return vjp


LOGITS = 1e6 + 0.1 * np.random.default_rng(5).normal(size=(6, 32))


def test_a_smooth_function_at_a_large_offset_is_not_called_a_kink():
    # the steps are relative to 1e6 (about 8): far beyond the softmax's curvature, so the
    # one-sided slopes differ as at a kink until the step is halved a dozen times
    report = check_function(_softmax, _softmax_vjp(1.0), LOGITS)
    assert report.table.status.eq("pass").all(), report.table[["status", "message"]]


def test_a_wrong_gradient_at_a_large_offset_fails():
    report = check_function(_softmax, _softmax_vjp(1.01), LOGITS)
    assert report.table.status.eq("fail").all(), report.table[["status", "message"]]


class Bumps:
    """Gaussian bumps of width 1e-4 around centres near 1000: narrower than the first step."""

    def __init__(self, error=0.0, width=1e-4):
        self.params = {"c": 1000 + width * np.arange(3.0)}
        self.grads = {"c": np.zeros(3)}
        self.width, self.error = width, error

    def forward(self, x):
        self.d = (x[..., None] - self.params["c"]) / self.width
        self.y = np.exp(-self.d ** 2 / 2)
        return self.y

    def backward(self, dy):
        t = (1 + self.error) * dy * self.y * self.d / self.width
        self.grads["c"] = t.reshape(-1, 3).sum(0)
        return -t.sum(-1)


BUMP_X = 1000 + 1e-4 * np.random.default_rng(6).normal(size=(6, 4))


@pytest.mark.parametrize("seed", range(4))
def test_a_feature_narrower_than_the_step_is_resolved(seed):
    correct = check_layer(Bumps(), BUMP_X, seed=seed).table
    assert correct.status.eq("pass").all(), correct[["tensor", "status", "message"]]
    wrong = check_layer(Bumps(error=0.01), BUMP_X, seed=seed).table
    assert wrong.status.eq("fail").any(), wrong[["tensor", "status", "message"]]


def test_a_jump_inside_the_step_is_nondifferentiable_not_passed():
    # floor(x) jumps 1e-12 above a quarter of the inputs: no step resolves the jump, and the
    # huge error estimate must not pass the value
    x = 3 * np.random.default_rng(7).normal(size=(4, 8))
    x.flat[::4] = np.round(x.flat[::4]) + 1e-12

    def stairs(x):
        return 3 * x + np.floor(x)

    row = check_function(stairs, lambda x, G: 3 * G, x, mode="full").table.iloc[0]
    assert row.status == "nondifferentiable"
    assert "did not converge" in row.message
    assert check_function(stairs, lambda x, G: 3.01 * G, x, mode="full").table.status[0] == "fail"
