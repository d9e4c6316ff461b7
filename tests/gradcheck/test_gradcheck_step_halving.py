"""Failing finite differences are halved until they converge (gradcheck.step_halving).

The function below is ``s * x`` plus pairs of ReLU kinks at ``x0 - a`` and ``x0 + a`` whose
slope changes cancel in the one-sided gap at ``x0``: stepping across them biases the
estimates at ``h`` and ``h/2`` alike, and the kink test cannot see them. The derivative at
``x0`` is ``s`` all the same.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_function
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
