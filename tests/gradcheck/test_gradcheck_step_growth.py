"""Values whose tolerance round-off dominates get larger steps where the function allows.

A Dense layer fed inputs of 1e-8 beside a bias of 0.1 changes its objective by 1e-13 of it
along a weight's step: its weights' round-off allowance was 0.5 % of their values, and a
0.1 % error in dW passed (gradcheck.step_growth).
"""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_layer, check_model
from gradcheck.finite_diff import Estimate
from gradcheck.judge import Rule
from gradcheck.measure import ValueSet
from gradcheck.step_growth import (
    MAX_GROWN_STEP,
    MAX_GROWTH,
    grown_where_round_off_limits,
    growth_limit,
)
from reference_nets import Dense, Sequential, Tanh
from reference_nets.losses import MSE
from tests.gradcheck import zoo_layers as z


class ScaledWeightGrad(z.Linear):
    """Affine layer whose dW is ``1 + error`` times the true one."""

    def __init__(self, *args, error=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.error = error

    def weight_grad(self, dy):
        return super().weight_grad(dy) * (1 + self.error)


class WavyWeights(z.Linear):
    """``y = x @ W + b + 1e-8 * sin(50 W).sum(0)``: a weight's own term is tiny beside the
    bias (round-off dominates its check) and far from linear over a grown step."""

    def forward(self, x):
        return super().forward(x) + 1e-8 * np.sin(50 * self.params["W"]).sum(axis=0)

    def weight_grad(self, dy):
        return super().weight_grad(dy) + 5e-7 * np.cos(50 * self.params["W"]) * dy.sum(0)


def _tiny_input_layer(cls, scale, seed, **kwargs):
    layer = cls(16, 8, seed=seed, **kwargs)
    layer.params["b"][:] = 0.1
    x = np.random.default_rng(seed).normal(size=(32, 16)) * scale
    return layer, x


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("scale", [1e-8, 1e-6])
@pytest.mark.parametrize("error", [1e-3, 1e-4])
def test_a_small_error_in_weights_fed_tiny_inputs_is_caught(error, scale, seed):
    layer, x = _tiny_input_layer(ScaledWeightGrad, scale, seed, error=error)
    table = check_layer(layer, x).table
    failed = table[table.status == "fail"]
    assert set(failed.tensor) == {"W"}, table[["tensor", "status", "max_rel_err", "tolerance"]]


class OffDense(Dense):
    """reference_nets Dense whose dW is ``1 + error`` times the true one."""

    def __init__(self, *args, error=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.error = error

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] *= 1 + self.error
        return dx


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("error", [1e-3, 0.0])
def test_a_model_whose_first_layer_is_fed_tiny_inputs_is_judged_by_grown_steps(error, seed):
    # the screen's direction does not settle W (its share is round-off), so the layer's own
    # point checks it element by element, with grown steps: a 0.1 % dW error fails there
    # (it passed before step growth), a correct model passes
    rng = np.random.default_rng(seed)
    first = OffDense(16, 8, seed=seed, error=error)
    first.params["b"][:] = 0.1
    model = Sequential([first, Tanh(), Dense(8, 4, seed=seed + 1)])
    x, y = rng.normal(size=(32, 16)) * 1e-8, rng.normal(size=(32, 4))
    table = check_model(model, MSE(), x, y).table
    failed = table[table.status == "fail"]
    expected = [("0:OffDense", "W", "gradient")] if error else []
    assert list(zip(failed.layer, failed.tensor, failed.check, strict=True)) == expected


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("scale", [1e-8, 1e-6, 1e-3])
@pytest.mark.parametrize("cls", [ScaledWeightGrad, WavyWeights])
def test_correct_layers_fed_tiny_inputs_pass(cls, scale, seed):
    layer, x = _tiny_input_layer(cls, scale, seed)
    report = check_layer(layer, x)
    assert report.passed, report.table[["tensor", "status", "max_rel_err", "tolerance"]]


def _one_value(deltas_at, first_value, base=1e-3, analytic=1.5):
    """grown_where_round_off_limits on one value of step 1 whose fixed tolerance is all
    round-off, 1e-3 of it against rtol 1e-8: it grows by the most, MAX_GROWTH."""
    values = ValueSet((), (np.array([0]),), (None,), np.ones(1), str,
                      growth_limit=np.array([MAX_GROWTH]))
    return grown_where_round_off_limits(
        [np.array([analytic])], [Estimate(np.array([first_value]))], [np.array([base])],
        [Rule(0.0, 1e-8, 0.0)], [1e-12], values, deltas_at,
        lambda share: [np.array([base]) / share])


def test_a_linear_value_takes_the_grown_estimate():
    calls = []

    def deltas_at(offsets, moves):   # f(x + s) - f(x) = 1.5 s: a slope of 1.5
        calls.append(offsets)
        return 1.5 * np.array(offsets)[:, None, None]

    (est,), (base,) = _one_value(deltas_at, first_value=1.5 + 5e-4)
    ladder = [sign * 2.0**k for k in range(12, 0, -1) for sign in (1.0, -1.0)]
    assert MAX_GROWTH == 2.0**12 and calls == [tuple(ladder)]   # central pairs 4096 ... 2
    assert est.value[0] == 1.5 and base[0] == 1e-3 / MAX_GROWTH


_RIPPLE = 5e-4 * 512 / (2 * np.pi)   # a derivative of 5e-4 at small steps


@pytest.mark.parametrize(("change", "first"), [
    # the two grown steps differ by 1.3e-5, above their 2.4e-7
    (lambda s: 1.5 * s + 1e-12 * s**3, 1.5 + 1e-4),
    # a ripple of period 512 steps: invisible to the grown steps (whole periods: their two
    # estimates agree exactly), seen by the small ones (5e-4 at a step of 4, above that
    # step's 2.5e-4) and below the first step's tolerance of 1e-3
    (lambda s: 1.5 * s + _RIPPLE * np.sin(2 * np.pi * s / 512),
     1.5 + _RIPPLE * np.sin(2 * np.pi / 512)),
])
def test_a_grown_estimate_that_is_not_confirmed_leaves_the_first(change, first):
    (est,), (base,) = _one_value(lambda offsets, moves: change(np.array(offsets))[:, None, None],
                                 first_value=first)
    assert est.value[0] == first and base[0] == 1e-3


@pytest.mark.parametrize("first", [1.5 + 2e-3, 1e-4])
def test_a_first_estimate_that_fails_or_cannot_tell_the_value_from_zero_is_not_grown(first):
    # 2e-3 from the analytic 1.5, beyond the tolerance 1e-3: a growth could only loosen it;
    # an analytic value of 1e-3 under a tolerance of 1e-3: the first steps cannot tell it
    # from 0, so nothing could confirm a grown estimate
    calls = []
    analytic = 1.5 if first > 1 else 1e-3

    def deltas_at(offsets, moves):
        calls.append(offsets)
        return analytic * np.array(offsets)[:, None, None]

    (est,), _ = _one_value(deltas_at, first_value=first, analytic=analytic)
    assert calls == [] and est.value[0] == first


def test_a_function_that_refuses_a_grown_step_keeps_the_first_estimate():
    def deltas_at(offsets, moves):
        raise IndexError("index 8 is out of bounds for dimension 1 with size 8")

    (est,), (base,) = _one_value(deltas_at, first_value=1.5 + 5e-4)
    assert est.value[0] == 1.5 + 5e-4 and base[0] == 1e-3


def test_a_grown_step_stays_within_a_share_of_the_value_or_its_tensors_scale():
    tensor = np.array([1.0, -1.0, 1e-6, 0.0])
    steps = np.full(4, 2.0**-17)   # float64's central step of a value of 1
    limit = growth_limit(tensor, tensor, steps)
    # |v| = 1, and the rms (0.707) for the small values: 2**12 and 2**11 steps
    assert list(limit) == [MAX_GROWTH, MAX_GROWTH, MAX_GROWTH / 2, MAX_GROWTH / 2]
    assert (limit * steps <= MAX_GROWN_STEP * np.maximum(np.abs(tensor), 0.7)).all()
    assert list(growth_limit(tensor, tensor, np.full(4, 2.0**-8))) == [8, 8, 4, 4]
