"""The numeric engine, the tolerance rule, grouping and check_function."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck import check_function, check_layer, numerical_gradient
from gradcheck.engine import Tensor
from gradcheck.finite_diff import METHODS, Estimate, default_eps, step_sizes
from gradcheck.grouping import detect_structure, expand, group_elements
from gradcheck.judge import Rule, judge
from tests.gradcheck import zoo_layers as z


@pytest.mark.parametrize("method", METHODS)
def test_numerical_gradient_of_a_cubic(method):
    x = np.array([[0.5, -1.5], [2.0, 3.0]])
    grad = numerical_gradient(lambda v: (v**3).sum() + np.sin(v).sum(), x, method=method)
    expected = 3 * x**2 + np.cos(x)
    assert np.allclose(grad, expected, rtol=1e-7 if method != "forward" else 1e-5)


def test_numerical_gradient_leaves_x_alone_and_rejects_ints():
    x = np.array([1.0, 2.0])
    numerical_gradient(lambda v: float(v @ v), x)
    assert np.array_equal(x, [1.0, 2.0])
    with pytest.raises(TypeError, match="float"):
        numerical_gradient(lambda v: 0.0, np.array([1, 2]))
    with pytest.raises(ValueError, match="method"):
        numerical_gradient(lambda v: 0.0, x, method="backward")


def test_steps_are_powers_of_two_scaled_to_the_value():
    values = np.array([0.0, 0.3, 1.0, 3.0, -1e6])
    steps = step_sizes(values, 2.0**-17)
    assert np.array_equal(steps, 2.0**-17 * np.array([1, 1, 1, 4, 2.0**20]))
    assert np.array_equal((values + steps) - values, steps)   # the step taken is exact
    assert default_eps(np.float32) > default_eps(np.float64)


def test_tolerance_scale_comes_from_the_tensor():
    numeric = Estimate(np.array([1000.0, 1e-3]))
    base = Rule(atol=0, rtol=1e-5, noise=0).base(np.ones(2), 1000.0)
    # an absolute error of 1e-6 on the small element is tiny next to the tensor's scale
    ok = judge(numeric.value + np.array([0, 1e-6]), numeric, base, 1000.0, str)
    assert ok.status == "pass"
    bad = judge(numeric.value * (1 + 1e-3), numeric, base, 1000.0, str)
    assert bad.status == "fail" and bad.worst == 0
    assert bad.max_rel_err == pytest.approx(1e-3)


def test_grouping_puts_elements_of_different_slices_together():
    shape = (3, 4)
    groups = group_elements(np.arange(12), shape, [(1, 1)])
    assert len(groups) == 3
    for group in groups:
        assert sorted(np.unravel_index(group, shape)[1]) == [0, 1, 2, 3]


def test_structure_of_a_dense_weight_is_its_output_column():
    layer = z.Linear(5, 3)
    x = np.random.default_rng(0).normal(size=(3, 5))   # batch 3 == n_out: a decoy axis pair
    tensor = Tensor("W", layer.params["W"])
    y0 = layer.forward(x)
    before = layer.params["W"].copy()
    found = detect_structure(tensor, lambda: layer.forward(x), y0, step_sizes(tensor.live, 1e-3),
                             np.random.default_rng(0))
    assert found == [(1, 1)]
    assert np.array_equal(layer.params["W"], before)
    # a group's output equals, slice by slice, the outputs of its single perturbations
    group = np.array([0, 4, 8])   # W[0, 0], W[1, 1], W[2, 2]
    layer.params["W"].flat[group] += 0.5
    y = layer.forward(x)
    layer.params["W"][...] = before
    for k, single in enumerate(expand(y, y0, group, (5, 3), found)):
        layer.params["W"].flat[group[k]] += 0.5
        assert np.allclose(single, layer.forward(x), rtol=1e-13, atol=1e-13)
        layer.params["W"][...] = before


def test_check_function_passes_and_names_the_wrong_input():
    def f(a, b):
        return a * np.sin(b)

    def vjp(inputs, G):
        a, b = inputs
        return G * np.sin(b), G * a * np.cos(b)

    def bad_vjp(inputs, G):
        a, b = inputs
        return G * np.sin(b), G * a * np.sin(b)

    rng = np.random.default_rng(3)
    inputs = (rng.normal(size=(3, 2)), rng.normal(size=(3, 2)))
    assert check_function(f, vjp, inputs, mode="full").passed
    report = check_function(f, bad_vjp, inputs, mode="full")
    failed = report.table[report.table.status == "fail"]
    assert list(zip(failed.layer, failed.tensor, strict=True)) == [("f", "input1")]


def test_check_function_single_input_and_complex_step():
    x = np.linspace(-1, 1, 6)
    report = check_function(np.exp, lambda v, G: G * np.exp(v), x, method="complex_step",
                            mode="full")
    assert report.passed and report.table.tensor.tolist() == ["input"]
    assert report.table.max_rel_err.iloc[0] < 1e-14   # complex step has no cancellation


@pytest.mark.parametrize("method", ["forward", "richardson"])
def test_other_methods_pass_correct_and_catch_broken(method):
    x = np.random.default_rng(2).normal(size=(5, 4))
    assert check_layer(z.Linear(), x, method=method, mode="full").passed
    assert not check_layer(z.MeanBias(), x, method=method, mode="full").passed


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 6), n_in=st.integers(1, 5), n_out=st.integers(1, 5),
       seed=st.integers(0, 2**16), log_scale=st.floats(-4, 4))
def test_property_correct_linear_layers_pass(n, n_in, n_out, seed, log_scale):
    layer = z.Linear(n_in, n_out, seed=seed, scale=10.0**log_scale)
    x = np.random.default_rng(seed).normal(size=(n, n_in)) * 10.0**log_scale
    assert check_layer(layer, x, mode="full").passed


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), factor=st.sampled_from([1e-3, -1e-3, 0.5, 2.0]))
def test_property_scaled_weight_gradient_fails_on_w(seed, factor):
    class Scaled(z.Linear):
        def weight_grad(self, dy):
            return (self.x.T @ dy) * (1 + factor)

    x = np.random.default_rng(seed).normal(size=(4, 4))
    report = check_layer(Scaled(seed=seed), x, mode="full")
    failed = report.table[report.table.status == "fail"]
    assert failed.tensor.tolist() == ["W"]


def test_complex_step_on_a_real_only_layer_says_so():
    from reference_nets import Dense

    with pytest.raises(TypeError, match="complex_step' needs a forward that accepts complex"):
        check_layer(Dense(3, 2), np.ones((2, 3)), method="complex_step")
    assert check_layer(z.Linear(), np.ones((2, 4)), method="complex_step", mode="full").passed


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), rows=st.integers(1, 4), pairs=st.integers(1, 4),
       mode=st.sampled_from(["full", "auto", "directional"]))
def test_property_kinks_never_fail(seed, rows, pairs, mode):
    # small integers: many exact zeros (ReLU kinks) and many ties (max-pool kinks)
    x = np.random.default_rng(seed).integers(-2, 3, (rows, 2 * pairs)).astype(float)
    for layer in (z.ReLU(), z.PairMax(), z.Abs()):
        report = check_layer(layer, x, mode=mode, seed=seed)
        assert report.passed, str(report)
