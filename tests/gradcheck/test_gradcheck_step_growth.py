"""Values whose tolerance round-off dominates get larger steps where the function allows.

A Dense layer fed inputs of 1e-8 beside a bias of 0.1 changes its objective by 1e-13 of it
along a weight's step: its weights' round-off allowance was 0.5 % of their values, and a
0.1 % error in dW passed (gradcheck.step_growth).
"""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_layer
from gradcheck.finite_diff import Estimate
from gradcheck.judge import Rule
from gradcheck.measure import ValueSet
from gradcheck.step_growth import (
    MAX_GROWN_STEP,
    MAX_GROWTH,
    grown_where_round_off_limits,
    growth_limit,
)
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
        lambda share: [base / np.asarray(share)])


def test_a_linear_value_takes_the_grown_estimate():
    calls = []

    def deltas_at(offsets, moves):   # f(x + s) - f(x) = 1.5 s: a slope of 1.5
        calls.append(offsets)
        return 1.5 * np.array(offsets)[:, None, None]

    (est,), (base,) = _one_value(deltas_at, first_value=1.5 + 5e-4)
    assert calls == [tuple(MAX_GROWTH * o for o in (1.0, -1.0, 0.5, -0.5))]
    assert est.value[0] == 1.5 and base[0] == 1e-3 / MAX_GROWTH


@pytest.mark.parametrize(("cubic", "first"), [
    (1e-12, 1.5 + 1e-4),   # the two grown steps differ by 1.3e-5, above their 2.4e-7
    (0.0, 1.5 - 2e-3),     # exact, but 2e-3 from the first estimate, beyond its 1e-3
])
def test_a_grown_estimate_that_is_not_clean_leaves_the_first(cubic, first):
    def deltas_at(offsets, moves):
        s = np.array(offsets)
        return (1.5 * s + cubic * s**3)[:, None, None]

    (est,), (base,) = _one_value(deltas_at, first_value=first)
    assert est.value[0] == first and base[0] == 1e-3


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
