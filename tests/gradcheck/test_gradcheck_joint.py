""""auto" mode checks a layer's large tensors along one joint direction without losing power."""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradcheck.chain_second_point
import gradcheck.joint_looks
import gradcheck.model_check
import gradcheck.model_second_point
from gradcheck import TOLERANCES, check_layer, check_model
from gradcheck.engine import Tensor
from gradcheck.finite_diff import default_eps, step_sizes
from gradcheck.joint_direction import LOW_PROJECTION, measured_jointly, plan_joint, reweighed
from gradcheck.judge import COARSE, NOISE_FACTOR
from gradcheck.point import Point
from gradcheck.selection import rng_for
from gradcheck.settings import Settings
from reference_nets import Sequential
from reference_nets.layers.activations import Tanh
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.zoo import mlp
from tests.gradcheck import zoo_layers as z

RNG = np.random.default_rng(5)
X_BIG = RNG.normal(size=(4, 5000)) * 300   # large inputs, small weights: dW dwarfs db


class Counted(z.Linear):
    """Affine layer that counts its forwards; ``off`` scales one gradient by ``1 + error``.

    The count lives outside the instance (gradcheck restores a layer's attributes after a
    check, counters included).
    """

    forwards: ClassVar[dict] = {}

    def __init__(self, *args, off=None, error=1e-3, **kwargs):
        super().__init__(*args, **kwargs)
        self.off, self.error = off, error
        Counted.forwards[id(self)] = 0   # a freed instance's id may be reused

    @property
    def calls(self) -> int:
        return Counted.forwards.get(id(self), 0)

    def forward(self, x):
        Counted.forwards[id(self)] = self.calls + 1
        return super().forward(x)

    def backward(self, dy):
        dx = super().backward(dy)
        if self.off in self.grads:
            self.grads[self.off] *= 1 + self.error
        return dx * (1 + self.error) if self.off == "input" else dx


def _naive_share_of_b(layer, x) -> float:
    """b's share of the joint derivative if every tensor moved by its own step (no balancing)."""
    G = rng_for(0, "upstream").standard_normal((len(x), layer.params["b"].size))
    grads = {"input": G @ layer.params["W"].T, "W": x.T @ G, "b": G.sum(axis=0)}
    values = {"input": x, **layer.params}
    size = {k: float(step_sizes(np.abs(values[k]).max(), default_eps(np.float64))
                     * np.sqrt(np.mean(g**2))) for k, g in grads.items()}
    return size["b"] / sum(size.values())


def test_a_correct_layer_costs_two_perturbed_forwards_per_direction_in_auto_mode():
    layer = Counted(5000, 10, scale=0.01)
    report = check_layer(layer, X_BIG, second_point=False)
    assert report.passed, str(report)
    directions = set(report.table.worst_index)
    # the probe's two forwards, then a pair per direction: the joint one over input and W
    # (b joins it when its share of the objective can resolve a 1e-6 error, else it keeps
    # its own direction)
    assert "joint direction (input, W" in " ".join(directions)
    assert layer.calls == 2 + 2 * len(directions)


@pytest.mark.parametrize("tensor", ["input", "W", "b"])
def test_a_small_error_in_any_one_tensor_is_caught_jointly(tensor):
    # premise: unbalanced, b's 1e-3 error would be judged against a scale > 100x its own
    assert _naive_share_of_b(z.Linear(5000, 10, scale=0.01), X_BIG) < 1e-2
    report = check_layer(Counted(5000, 10, off=tensor, scale=0.01), X_BIG)
    failed = report.table[report.table.status == "fail"]
    assert list(failed.tensor) == [tensor]
    assert failed.max_rel_err.iloc[0] == pytest.approx(1e-3, rel=0.05)


@pytest.mark.parametrize("tensor", ["input", "W", "b"])
def test_the_joint_check_is_as_strict_as_a_direction_per_tensor(tensor):
    # an error of twice the resolution: a tensor's own direction catches it, so the joint one
    # must too
    layer = Counted(5000, 10, off=tensor, error=2 * TOLERANCES["float64"]["resolution"], scale=0.01)
    report = check_layer(layer, X_BIG)
    assert list(report.table[report.table.status == "fail"].tensor) == [tensor]


@pytest.mark.parametrize("seed", range(10))
def test_an_error_of_twice_the_resolution_is_caught_at_any_large_input(seed):
    # inputs of about 300: the moved inputs' own round-off swells the joint direction's
    # tolerance past the resolution's share of a tensor's term (it passed 5 of these 30
    # errors), and one tensor's own direction is now and then too coarse for them as well
    x = np.random.default_rng(100 + seed).normal(size=(4, 2000)) * 300
    error = 2 * TOLERANCES["float64"]["resolution"]
    for tensor in ("input", "W", "b"):
        report = check_layer(Counted(2000, 10, off=tensor, error=error, scale=0.01), x,
                             seed=seed)
        assert list(report.table[report.table.status == "fail"].tensor) == [tensor], tensor


@pytest.mark.parametrize("rtol", [None, 1e-6, 1e-5])
def test_a_wide_user_rtol_still_settles_the_tensors_jointly(rtol):
    # the rtol share of a tolerance is the user's choice, not round-off: it must not send
    # every tensor to its own direction and elements (a 2000-256-256-10 MLP took 11x)
    x = np.random.default_rng(0).normal(size=(8, 2000))
    report = check_layer(z.Linear(2000, 10, scale=0.03, seed=1), x, rtol=rtol)
    assert report.passed
    assert all(w.startswith("joint direction") for w in report.table.worst_index)


def test_a_wrong_end_to_end_bias_gradient_is_caught_next_to_a_large_weight():
    class OffBackward(Sequential):
        def backward(self, dy):
            dx = super().backward(dy)
            self.layers[0].grads["b"] *= 1 + 1e-3   # model.backward leaves a wrong db
            return dx

    model = OffBackward([Counted(5000, 10, scale=0.01), z.Tanh(), z.Linear(10, 3, seed=2)])
    report = check_model(model, z.MSE(), X_BIG / 300, RNG.normal(size=(4, 3)))
    failed = report.table[report.table.status == "fail"]
    assert list(zip(failed.layer, failed.tensor, failed.check, strict=True)) == [
        ("0:Counted", "b", "end_to_end")]


def forwards_of_a_check(**options) -> list[int]:
    """Forward calls of each layer of a passing 100-32-10 tanh MLP's check_model."""
    model = mlp((100, 32, 10), activation="tanh", init="xavier")
    calls = [0] * len(model.layers)
    for i, layer in enumerate(model.layers):
        def counting(x, forward=layer.forward, i=i):
            calls[i] += 1
            return forward(x)
        layer.forward = counting
    x, y = RNG.normal(size=(16, 100)), RNG.integers(0, 10, 16)
    assert check_model(model, SoftmaxCrossEntropy(), x, y, **options).passed
    return calls


def test_check_model_costs_two_perturbed_forwards_per_layer():
    # one unperturbed (model.forward, recorded), then the chain screen's one joint
    # direction: a pair of runs of the chain, which give both its local objective and the
    # loss (per layer, a pair of its own plus one for each later layer, would be [4, 6, 6],
    # with far more calls of the check's machinery)
    assert forwards_of_a_check(second_point=False) == [1 + 2, 1 + 2, 1 + 2]


def test_stale_caches_cost_one_run_of_the_model_at_a_moved_point_first():
    # the model forward and backward at a moved point, then the given point as above, then
    # one forward along the screen's direction from the moved point (its gradients agree
    # with its loss); a given point on no kink that saw no zeros needs no second point
    assert forwards_of_a_check() == [1 + 3 + 1, 1 + 3 + 1, 1 + 3 + 1]


def test_the_second_point_costs_one_run_of_the_model_and_one_per_direction(monkeypatch):
    # as when the given point sits on kinks: the model at the second point (its forward
    # before the backward there) and one one-sided run along its joint direction: the loss
    # at the second point is known, and a correct model settles on the first estimate
    monkeypatch.setattr(gradcheck.chain_second_point, "unsettled", lambda *a: True)
    assert forwards_of_a_check() == [1 + 3 + 1 + 1, 1 + 3 + 1 + 1, 1 + 3 + 1 + 1]


def test_a_kink_on_the_joint_direction_falls_back_to_each_tensor():
    class LinearReLU(z.Linear):
        def forward(self, x):
            self.pre = super().forward(x)
            return np.maximum(self.pre, 0)

        def backward(self, dy):
            return super().backward(dy * (self.pre > 0))

    layer, x = LinearReLU(12, 6, seed=3), RNG.normal(size=(5, 12))
    layer.params["b"][2] = -(x @ layer.params["W"])[0, 2]   # unit 2 of sample 0: on its kink
    report = check_layer(layer, x)
    assert report.passed, str(report)
    assert not report.table.worst_index.str.startswith("joint").any()


def test_non_contiguous_parameters_are_perturbed_and_restored_jointly():
    layer = Counted(30, 20, seed=4)
    layer.params["W"] = np.asfortranarray(layer.params["W"])   # column-major
    layer.params["b"] = np.repeat(layer.params["b"], 2)[::2]   # a strided view
    assert not (layer.params["W"].flags.c_contiguous or layer.params["b"].flags.c_contiguous)
    before = {k: v.copy() for k, v in layer.params.items()}
    report = check_layer(layer, RNG.normal(size=(6, 30)), second_point=False)
    assert report.passed, str(report)
    assert layer.calls == 2 + 2   # the joint perturbation reached both (else: a fallback)
    assert all(np.array_equal(layer.params[k], v) for k, v in before.items())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(3, 8), n_in=st.integers(3, 40),
       n_out=st.integers(9, 30), log_w=st.floats(-3, 3), log_x=st.floats(-3, 3),
       off=st.sampled_from([None, "input", "W", "b"]), error=st.sampled_from([1e-3, -1e-3]))
def test_property_auto_mode_finds_exactly_the_wrong_tensor(seed, n, n_in, n_out, log_w, log_x,
                                                           off, error):
    layer = Counted(n_in, n_out, seed=seed, scale=10.0**log_w, off=off, error=error)
    x = np.random.default_rng(seed).normal(size=(n, n_in)) * 10.0**log_x
    report = check_layer(layer, x, seed=seed)
    assert report.table[report.table.status == "fail"].tensor.tolist() == ([off] if off else [])


def test_an_error_near_atol_is_caught_as_each_tensors_own_direction_catches_it(monkeypatch):
    # a saturated tanh leaves every gradient of the first layer tiny: W's 0.1 % error is then
    # an absolute error a little above atol (judged against the smallest weight's atol)
    def failing_rows():
        rng = np.random.default_rng(122)
        model = Sequential([Counted(50, 22, seed=122, scale=3.0, off="W"), z.Tanh(),
                            z.Linear(22, 17, seed=123, scale=0.6)])
        report = check_model(model, z.MSE(), rng.normal(size=(3, 50)) * 30,
                             rng.normal(size=(3, 17)))
        failed = report.table[report.table.status == "fail"]
        return list(zip(failed.layer, failed.tensor, failed.check, strict=True))

    joint = failing_rows()
    monkeypatch.setattr(gradcheck.joint_looks, "plan_joint", lambda *args: None)
    assert joint == failing_rows() == [("0:Counted", "W", "gradient")]


class ScaledUpstream(Counted):
    """Bug: backward starts from ``dy * (1 + error)``: every gradient off by the same factor."""

    def backward(self, dy):
        return super().backward(dy * (1 + self.error))


# seeds whose raw random directions make the three contributions nearly cancel (the joint
# derivative is then far smaller than each of them): found by a search over 300 seeds
@pytest.mark.parametrize("seed", [34, 57, 125])
def test_the_same_small_error_in_every_tensor_does_not_cancel_out(seed):
    layer = ScaledUpstream(40, 30, seed=seed, error=3 * TOLERANCES["float64"]["resolution"])
    report = check_layer(layer, np.random.default_rng(seed).normal(size=(5, 40)), seed=seed)
    assert set(report.table[report.table.status == "fail"].tensor) == {"input", "W", "b"}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 8), n_in=st.integers(2, 60),
       n_out=st.integers(2, 30), log_w=st.floats(-4, 4), log_x=st.floats(-4, 4),
       off=st.sampled_from([None, "input", "W", "b"]), log_error=st.floats(-4.7, -3))
def test_property_the_joint_check_never_changes_a_verdict(seed, n, n_in, n_out, log_w, log_x,
                                                          off, log_error):
    def failing():
        layer = Counted(n_in, n_out, seed=seed, scale=10.0**log_w, off=off,
                        error=10.0**log_error)
        x = np.random.default_rng(seed).normal(size=(n, n_in)) * 10.0**log_x
        report = check_layer(layer, x, seed=seed)
        return report.table[report.table.status == "fail"].tensor.tolist()

    joint = failing()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gradcheck.joint_looks, "plan_joint", lambda *args: None)
        assert joint == failing()   # each tensor on its own direction: the same verdicts


def _two_tensor_point():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=64), rng.normal(size=32)
    tensors = (Tensor("a", a), Tensor("b", b))
    grads = {"a": rng.normal(size=64), "b": rng.normal(size=32)}
    return Point("two", tensors, lambda: np.concatenate([a, b]), np.zeros(96), np.ones(96),
                 grads, 1e-16)


def test_a_direction_nearly_orthogonal_to_its_gradient_is_redrawn():
    point = _two_tensor_point()
    settings = Settings("auto", "central", None, None, None, seed=0)
    g = point.analytic["a"]
    given = np.random.default_rng(1).normal(size=64)
    orthogonal = given - (given @ g) / (g @ g) * g   # contributes nothing as it is
    drawn = {"a": orthogonal / np.linalg.norm(orthogonal)}
    joint = plan_joint(point, ["a", "b"], settings, drawn=drawn)
    assert joint is not None and joint.names == ["a", "b"]   # kept in the joint direction
    v = joint.directions[0]
    assert not np.array_equal(v, drawn["a"]) and np.isclose(np.linalg.norm(v), 1.0)
    assert abs(v @ g) >= LOW_PROJECTION * np.linalg.norm(g) / np.sqrt(g.size)
    assert joint.projections[0] == v @ g


def test_a_direction_with_a_fair_projection_is_kept_as_drawn():
    point = _two_tensor_point()
    settings = Settings("auto", "central", None, None, None, seed=0)
    g = point.analytic["a"]
    drawn = {"a": g / np.linalg.norm(g)}
    joint = plan_joint(point, ["a", "b"], settings, drawn=drawn)
    assert joint.directions[0] is drawn["a"]


def test_a_joint_direction_serves_a_nearby_point_while_it_stays_balanced():
    point = _two_tensor_point()
    settings = Settings("auto", "central", None, None, None, seed=0)
    joint = plan_joint(point, ["a", "b"], settings)
    nearby = replace(point, analytic={k: g * 1.01 for k, g in point.analytic.items()})
    again = reweighed(nearby, joint).scaled(0.5)
    assert again.names == joint.names and again.directions == joint.directions
    assert np.array_equal(again.weights, joint.weights * 0.5)
    assert np.allclose(again.projections, joint.projections * 1.01, rtol=1e-14, atol=0)
    flipped = replace(point, analytic={"a": -point.analytic["a"], "b": point.analytic["b"]})
    assert reweighed(flipped, joint) is None   # a contribution changed sign: plan afresh
    faded = replace(point, analytic={"a": point.analytic["a"] / 10, "b": point.analytic["b"]})
    assert reweighed(faded, joint) is None     # below a quarter of the largest
    assert reweighed(replace(point, analytic={"a": point.analytic["a"]}), joint) is None


@pytest.mark.parametrize(("dtype", "rtol", "eps", "method", "step"), [
    ("float64", None, None, "forward", 2.0**-24),    # the largest power of two <= 1e-7
    ("float64", 1e-7, None, "forward", 2.0**-24),    # a user rtol below the second point's
    ("float64", 1e-5, None, "forward", 2.0**-20),    # a looser one: within a tenth of it
    ("float64", 1e-4, None, "forward", 2.0**-17),    # within a tenth of 1e-4: 2**-17
    ("float64", 1e-2, None, "forward", 2.0**-17),    # never coarser than the central step
    ("float64", float("inf"), None, "forward", 2.0**-17),   # any rtol the check accepts
    ("float32", 1e-2, None, "forward", 2.0**-10),    # a loose float32 rtol: one-sided too
    ("float64", None, 1e-6, "central", 1e-6),        # a user's eps keeps central differences
    ("float32", None, None, "central", 2.0**-8),     # float32: 2**-12 is above its rtol / 10
])
def test_the_second_points_one_sided_step_stays_within_a_tenth_of_its_rtol(
        dtype, rtol, eps, method, step):
    there = Settings("auto", "central", eps, None, rtol, seed=0, dtype=dtype).at_second_point()
    assert (there.method, there.step) == (method, step)
    assert there.one_sided == (method == "forward")
    if there.one_sided:
        assert there.step <= there.tolerances[1] / 10
        central = default_eps(dtype, "central")   # the default, not the one-sided step
        assert there.step <= central and there.centrally().step == central


def test_an_infinite_rtol_checks_a_model_without_errors_or_warnings():
    # the check accepts rtol=inf (everything within tolerance); its second point's step and
    # the step growth's round-off (inf - inf) must take it without an error or a warning
    model = Sequential([z.Linear(6, 8, seed=1), Tanh(), z.Linear(8, 3, seed=2)])
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = check_model(model, SoftmaxCrossEntropy(), rng.normal(size=(5, 6)),
                             rng.integers(0, 3, 5), rtol=float("inf"))
    assert report.passed


@pytest.mark.parametrize("noise_share", [0.4, 0.6])
def test_a_one_sided_second_point_measures_centrally_where_its_round_off_is_too_coarse(
        noise_share):
    # the joint value one-sided weights give, and a round-off allowance of that share of
    # COARSE of it: above half, the central differences it replaced (2**-17 steps, 2**7
    # times the one-sided 2**-24)
    there = Settings("auto", "central", None, None, None, seed=0).at_second_point()
    assert there.method == "forward" and there.one_sided and there.step == 2.0**-24
    point = _two_tensor_point()
    one_sided = plan_joint(point, ["a", "b"], there)
    value = abs(float(one_sided.weights @ one_sided.projections))
    noisy = replace(point, noise=noise_share * COARSE["float64"] * value / NOISE_FACTOR)
    joint, by = measured_jointly(noisy, lambda t: plan_joint(noisy, ["a", "b"], t), there)
    if noise_share < 0.5:
        assert by is there and np.array_equal(joint.weights, one_sided.weights)
    else:
        assert (by.method, by.one_sided, by.rtol) == ("central", False, there.rtol)
        assert np.array_equal(joint.weights, plan_joint(noisy, ["a", "b"], by).weights)
        assert by.step == 2.0**-17
        assert abs(float(joint.weights @ joint.projections)) >= by.step / there.step / 2 * value


def test_a_model_whose_one_sided_second_point_is_too_coarse_is_not_checked_tensor_by_tensor(
        monkeypatch):
    # small weights: the loss (about log 10) dwarfs its change along one-sided steps
    model = Sequential([z.Linear(12, 16, seed=1), Tanh(), z.Linear(16, 10, seed=2)])
    for layer in model.layers[::2]:
        layer.params["W"] *= 0.03
    methods, fallbacks = [], []
    monkeypatch.setattr(gradcheck.chain_second_point, "unsettled", lambda *a: True)
    measured = gradcheck.model_second_point.check_jointly
    monkeypatch.setattr(gradcheck.model_second_point, "check_jointly",
                        lambda point, joint, s: methods.append(s.method) or measured(
                            point, joint, s))
    monkeypatch.setattr(gradcheck.model_second_point, "check_point",
                        lambda *a, **k: fallbacks.append(a) or {})
    rng = np.random.default_rng(23)
    x, y = rng.normal(size=(8, 12)), rng.integers(0, 10, 8)
    assert check_model(model, SoftmaxCrossEntropy(), x, y).passed
    assert methods == ["central"] and fallbacks == []
