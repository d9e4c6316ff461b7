"""A chain model runs once forward and backward at a moved point before its given point
(gradcheck.moved_first): stale caches of every kind fail at the given point and are named,
the layers are left as found, and a second point runs only where the given point cannot
judge (kinks, zeros)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import gradcheck.chain_moved_first
import gradcheck.chain_second_point
import gradcheck.model_check
import gradcheck.model_walk
from gradcheck import check_layer, check_model
from gradcheck.chain_moved_first import _loss_gradient
from gradcheck.restore import Snapshot
from reference_nets import Sequential
from reference_nets.losses import SoftmaxCrossEntropy
from tests.gradcheck import zoo_layers as z
from tests.gradcheck.test_gradcheck_model import _FirstUpstream
from tests.gradcheck.test_gradcheck_verdicts import (
    InputTransposeKeyedById,
    StaleInput,
    StaleTranspose,
    WeightTransposeKeyedById,
)

RNG = np.random.default_rng(41)
X, Y = RNG.normal(size=(6, 4)), RNG.integers(0, 3, 6)
STALE = [StaleInput, StaleTranspose, InputTransposeKeyedById, WeightTransposeKeyedById]


def chain(first, second=None):
    return Sequential([first, z.Tanh(), second or z.Linear(4, 3, seed=2)])


def local_failures(report):
    return report.table.query("status == 'fail' and check == 'gradient'")


@pytest.mark.parametrize("make", STALE)
def test_a_stale_cache_fails_at_the_given_point_and_is_named(make):
    report = check_model(chain(make(4, 4, seed=1)), SoftmaxCrossEntropy(), X, Y)
    local = local_failures(report)
    assert set(local.layer) == {f"0:{make.__name__}"}, str(report)
    assert set(local.cause_label) == {"stale_cache"}
    assert local.likely_cause.iloc[0].startswith("a stale cache")
    # without the moved run first the given point is the layer's first call: it passes
    assert check_model(chain(make(4, 4, seed=1)), SoftmaxCrossEntropy(), X, Y,
                       second_point=False).passed


def test_a_stale_cache_after_the_first_layer_is_named_too():
    report = check_model(chain(z.Linear(4, 4, seed=1), StaleTranspose(4, 3, seed=2)),
                         SoftmaxCrossEntropy(), X, Y)
    local = local_failures(report)
    assert list(zip(local.layer, local.tensor, local.cause_label, strict=True)) == [
        ("2:StaleTranspose", "input", "stale_cache")]


def test_a_backward_that_keeps_its_first_dy_fails_and_its_probe_says_why():
    report = check_model(chain(z.Linear(4, 4, seed=1), _FirstUpstream(4, 3, seed=2)),
                         SoftmaxCrossEntropy(), X, Y)
    failed = report.table.query("status == 'fail' and layer == '2:_FirstUpstream'")
    assert "linearity" in set(failed.check)   # the probe names it; no second cause
    assert "stale_cache" not in set(failed.cause_label)


def test_a_layer_that_keeps_its_first_dy_is_told_so_and_not_that_it_accumulates():
    # its three backwards (dy, 2 dy, dy) give the same grads: no call added anything
    failed = check_layer(_FirstUpstream(4, 3, seed=2), X).table.query("status == 'fail'")
    assert set(failed.check) == {"linearity"}, failed[["tensor", "check", "message"]]
    assert failed.message.str.contains("dy of an earlier call").all()


def test_a_wrong_gradient_is_not_called_a_stale_cache():
    report = check_model(chain(z.OneWrongRow(4, 4, seed=1)), SoftmaxCrossEntropy(), X, Y)
    local = local_failures(report)
    assert set(local.layer) == {"0:OneWrongRow"} and "stale_cache" not in set(
        local.cause_label)


def test_the_check_leaves_the_layers_and_the_input_as_found():
    layers = [StaleInput(4, 4, seed=1), z.Tanh(), WeightTransposeKeyedById(4, 3, seed=2)]
    params = [{k: v.copy() for k, v in layer.params.items()} for layer in layers]
    given = X.copy()
    check_model(Sequential(layers), SoftmaxCrossEntropy(), X, Y)
    assert np.array_equal(X, given)
    for layer, before in zip(layers, params, strict=True):
        assert all(np.array_equal(layer.params[k], v) for k, v in before.items())
    # the caches the check's calls made are gone: the layers' next call is their first
    assert not hasattr(layers[0], "first_x") and layers[2].key is None


def test_a_bug_hidden_behind_a_kink_is_caught_at_the_second_point():
    # unit 2 of the first layer is exactly 0 on every sample: the ReLU sits on its kink,
    # and the dropped row 2 of the last layer's dW multiplies that unit's zeros
    first = z.Linear(4, 4, seed=1)
    first.params["W"][:, 2], first.params["b"][2] = 0.0, 0.0
    model = Sequential([first, z.ReLU(), z.OneWrongRow(4, 3, seed=2)])
    report = check_model(model, SoftmaxCrossEntropy(), X, Y)
    failed = report.table.query("status == 'fail'")
    assert ("2:OneWrongRow", "W", "second_point") in set(
        zip(failed.layer, failed.tensor, failed.check, strict=True)), str(report)
    assert "nondifferentiable" in set(report.table.status)


@pytest.mark.filterwarnings("ignore:check_model. checking in float32")
@pytest.mark.parametrize("make", [StaleInput, StaleTranspose])
def test_a_stale_float32_cache_in_a_chain_fails_at_every_random_point(make):
    # float32 resolves about 1e-3 of the joint direction's value: a 20 % move to the point
    # run first left a stale input passing 2 of 150 random points (10 with a 5 % move); a
    # float32 chain is checked at a second point too, along three random directions
    def passes(seed):
        rng = np.random.default_rng(seed)
        model = Sequential([z.Linear(4, 4), z.Tanh(), make(4, 4), z.Tanh(), z.Linear(4, 3)])
        for layer in model.layers:
            layer.params = {k: v.astype(np.float32) for k, v in layer.params.items()}
            layer.grads = {k: np.zeros_like(v) for k, v in layer.params.items()}
        return check_model(model, SoftmaxCrossEntropy(), rng.normal(size=(6, 4)).astype(
            np.float32), rng.integers(0, 3, 6), seed=seed).passed
    assert not any(passes(seed) for seed in range(150))


@pytest.mark.filterwarnings("ignore:check_layer. checking in float32")
@pytest.mark.parametrize("make", [StaleInput, StaleTranspose, InputTransposeKeyedById])
def test_a_stale_float32_layer_fails_check_layer_at_every_random_point(make):
    # one joint direction at a 5 % second point saw too little of the error 6 to 11 times in
    # 150 (float32 resolves about 1e-3 of its value), and when it did fail, the tensors' own
    # directions passed it: three directions there, and a failed one backed by elements
    def passes(seed):
        rng = np.random.default_rng(100 + seed)
        layer = make(8, 6, seed=seed, dtype=np.float32)
        return check_layer(layer, rng.normal(size=(16, 8)).astype(np.float32), seed=seed).passed
    assert not any(passes(seed) for seed in range(150))


def failing_rows(report):
    failed = report.table.query("status == 'fail'")
    return set(zip(failed.layer, failed.tensor, failed.check, strict=True))


def test_a_bug_behind_an_input_feature_that_is_always_zero_is_caught_at_the_second_point():
    # dW's row 2 is 0 at the given point, right or wrong: an exact zero sends the model to
    # its second point, where every value moves off 0
    x = X.copy()
    x[:, 2] = 0.0
    report = check_model(chain(z.OneWrongRow(4, 4, seed=1)), SoftmaxCrossEntropy(), x, Y)
    assert ("0:OneWrongRow", "W", "second_point") in failing_rows(report), str(report)


def test_a_bug_behind_a_dead_unit_is_caught_at_the_second_point():
    # unit 2 is below 0 on every sample (no kink): the next layer's input column is 0
    first = z.Linear(4, 4, seed=1)
    first.params["W"][:, 2], first.params["b"][2] = 0.0, -1e-3
    model = Sequential([first, z.ReLU(), z.OneWrongRow(4, 3, seed=2)])
    report = check_model(model, SoftmaxCrossEntropy(), X, Y)
    assert ("2:OneWrongRow", "W", "second_point") in failing_rows(report), str(report)


@pytest.mark.filterwarnings("ignore:check_model. checking in float32")
def test_accumulation_is_caught_at_any_scale_of_the_loss_and_named_by_its_probe():
    # the moved backward's dy is the loss's gradient there, of the given point's size: with
    # a standard normal dy instead, 7 of these 40 float32 checks passed
    def report(seed):
        rng = np.random.default_rng(seed)
        model = Sequential([z.Accumulating(4, 4, seed=1, dtype=np.float32), z.Tanh(),
                            z.Linear(4, 3, seed=2, dtype=np.float32)])
        return check_model(model, z.MSE(), rng.normal(size=(6, 4)).astype(np.float32),
                           (rng.normal(size=(6, 3)) * 1e4).astype(np.float32), seed=seed)
    reports = [report(seed) for seed in range(40)]
    assert not any(r.passed for r in reports)
    for r in reports:
        assert ("0:Accumulating", "W", "accumulation") in failing_rows(r)
        assert "stale_cache" not in set(r.table.cause_label)



def test_a_relus_zeros_on_some_samples_leave_no_second_point():
    calls = []

    class Counted(z.Linear):
        def forward(self, x):
            calls.append(1)
            return super().forward(x)

    x = np.random.default_rng(7).normal(size=(32, 4))
    model = Sequential([Counted(4, 8, seed=2), z.ReLU(), z.Linear(8, 3, seed=2)])
    ran = copy.deepcopy(model)   # a model that ran before the check gets a second point
    hidden = ran.layers[1].forward(ran.layers[0].forward(x))
    assert (hidden == 0).any() and (hidden != 0).any(axis=0).all()   # no dead unit
    calls.clear()
    y = np.random.default_rng(8).integers(0, 3, 32)
    assert check_model(model, SoftmaxCrossEntropy(), x, y).passed
    assert len(calls) == 1 + 1 + 2 + 1   # the moved run, the walk, the screen's pair, the
    #                                       moved run's check along the screen's direction


class GammaLeftOutOfDx(z.BatchNorm):
    """Bug: dx misses its factor gamma (invisible where gamma is 1, as it starts)."""

    def backward(self, dy):
        self.grads["gamma"][...] = (dy * self.xhat).sum(axis=0)
        self.grads["beta"][...] = dy.sum(axis=0)
        return self.input_grad(dy)


class UntransposedIdentity(z.Linear):
    """Bug: dx = dy @ W, without the transpose (invisible where W is symmetric)."""

    def input_grad(self, dy):
        return dy @ self.params["W"]


def test_a_bug_hidden_by_a_batchnorm_at_its_initialisation_is_caught_at_the_second_point():
    norm = GammaLeftOutOfDx(4)
    norm.params["gamma"][...], norm.params["beta"][...] = 1.0, 0.0
    report = check_model(chain(z.Linear(4, 4, seed=3), norm), SoftmaxCrossEntropy(), X, Y)
    assert ("2:GammaLeftOutOfDx", "input", "second_point") in failing_rows(report), str(report)


def test_a_missing_transpose_hidden_by_an_identity_weight_is_caught_at_the_second_point():
    layer = UntransposedIdentity(4, 4, seed=1)
    layer.params["W"][...] = np.eye(4)
    report = check_model(chain(z.Linear(4, 4, seed=3), layer), SoftmaxCrossEntropy(), X, Y)
    assert ("2:UntransposedIdentity", "input", "second_point") in failing_rows(report)


def test_a_model_whose_moved_backward_could_not_run_gets_a_second_point_and_probes(
        monkeypatch):
    # as when the forward is not finite at the moved point: no cache was set by a moved
    # backward and no grads were left there, so the second point and every layer's
    # accumulation probe stand in
    moved = gradcheck.chain_moved_first.moved_call_first
    monkeypatch.setattr(gradcheck.chain_moved_first, "moved_call_first",
                        lambda *a: (moved(*a)[0], False))
    report = check_model(chain(z.Accumulating(4, 4, seed=1)), SoftmaxCrossEntropy(), X, Y)
    assert ("0:Accumulating", "W", "accumulation") in failing_rows(report)
    calls = []

    class Counted(z.Linear):
        def forward(self, x):
            calls.append(1)
            return super().forward(x)

    assert check_model(chain(Counted(4, 4, seed=1)), SoftmaxCrossEntropy(), X, Y).passed
    # the moved run, the walk, the screen's pair, the second point's run and its one-sided
    # run along the joint direction, and the forward of the layer's linearity probe
    assert len(calls) == 1 + 1 + 2 + 1 + 1 + 1


def test_a_loss_that_refuses_the_moved_prediction_gives_no_dy_and_is_put_back():
    class Refusing(z.MSE):
        def forward(self, pred, target):
            self.seen = True
            raise ValueError("not this prediction")

    loss, pred = Refusing(), np.ones((6, 3))
    assert _loss_gradient(loss, pred, pred, Snapshot(loss))[1] is None
    assert not hasattr(loss, "seen")


class ScaleLeftOutOfDx:
    """``y = s * x`` with one scalar ``s``; bug: dx misses its factor ``s``."""

    def __init__(self):
        self.params, self.grads = {"s": np.ones(1)}, {"s": np.zeros(1)}

    def forward(self, x):
        self.x = x
        return self.params["s"] * x

    def backward(self, dy):
        self.grads["s"][...] = (dy * self.x).sum()
        return dy


def test_a_missing_factor_of_a_scale_that_starts_at_one_is_caught_at_the_second_point():
    report = check_model(chain(z.Linear(4, 4, seed=3), ScaleLeftOutOfDx()),
                         SoftmaxCrossEntropy(), X, Y)
    assert ("2:ScaleLeftOutOfDx", "input", "second_point") in failing_rows(report)


def test_the_models_own_state_is_put_back():
    class KeepsItsFirstInput(Sequential):
        def forward(self, x):
            self.__dict__.setdefault("first", x.copy())   # the moved input, in a check
            return super().forward(x)

    model = KeepsItsFirstInput([z.Linear(4, 4, seed=1), z.Tanh(), z.Linear(4, 3, seed=2)])
    check_model(model, SoftmaxCrossEntropy(), X, Y)
    assert "first" not in vars(model)


@pytest.mark.parametrize("mode, runs", [("auto", 0), ("sample", 1)])
def test_sample_mode_checks_a_smooth_chain_at_its_second_point_too(monkeypatch, mode, runs):
    # sampled elements miss most of a tensor; the second point's directions see them all
    calls = []
    second = gradcheck.chain_second_point.model_second_point
    monkeypatch.setattr(gradcheck.chain_second_point, "model_second_point",
                        lambda *a, **k: calls.append(1) or second(*a, **k))
    model = chain(z.Linear(4, 4, seed=1))
    assert check_model(model, SoftmaxCrossEntropy(), X, Y, mode=mode).passed
    assert len(calls) == runs


def test_a_half_precision_parameter_is_refused_by_its_layers_name():
    model = chain(z.Linear(4, 4, seed=1))
    model.layers[0].params["W"] = model.layers[0].params["W"].astype(np.float16)
    with pytest.raises(TypeError, match=r"0:Linear\.W float16"):
        check_model(model, SoftmaxCrossEntropy(), X, Y)


class _ReturnsNone(z.Linear):
    """Bug: backward returns None instead of dx."""

    def backward(self, dy):
        super().backward(dy)


def test_a_middle_layer_returning_none_is_named_by_the_error():
    model = Sequential([z.Linear(4, 4), z.Tanh(), _ReturnsNone(4, 3, seed=2)])
    with pytest.raises(TypeError, match=r"1:Tanh.backward got dy=None from the model: "
                                        r"2:_ReturnsNone.backward returned None"):
        check_model(model, SoftmaxCrossEntropy(), X, Y)


class TransposeKeptFromTheFirstForward(z.Linear):
    """Caches W.T at its first forward ever and never refreshes it: right while W is the
    weight of that forward, wrong after any change of W."""

    def forward(self, x):
        if not hasattr(self, "kept_transpose"):
            self.kept_transpose = self.params["W"].T.copy()
        return super().forward(x)

    def backward(self, dy):
        super().backward(dy)
        return dy @ self.kept_transpose


@pytest.mark.parametrize("seed", range(6))
def test_a_cache_filled_by_a_forward_before_the_check_fails_in_a_chain(seed):
    """The model ran once before the check (its initial loss printed): the cache is right
    at the given point and wrong at the moved one, so a layer holding arrays before the
    check makes the chain take a second point. Before, 20 of 20 such models passed."""
    rng = np.random.default_rng(seed)
    model = Sequential([z.Linear(6, 5, seed=seed), z.Tanh(),
                        TransposeKeptFromTheFirstForward(5, 5, seed=seed + 1),
                        z.Linear(5, 3, seed=seed + 2)])
    x, y = rng.normal(size=(8, 6)), rng.integers(0, 3, 8)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    report = check_model(model, loss, x, y)
    failing = report.table[report.table.status == "fail"]
    assert "2:TransposeKeptFromTheFirstForward" in set(failing.layer)


def test_a_second_point_that_reaches_its_layers_does_not_restart_the_check(monkeypatch):
    """The repeat's forward runs with the given parameters, not the second point's moved
    ones (which always differed: the check then started again with two forwards)."""
    restarts = []
    confirm = gradcheck.model_walk.Repeat.confirm

    def counted(self):
        try:
            confirm(self)
        except gradcheck.model_walk.Undetermined:
            restarts.append(1)
            raise

    monkeypatch.setattr(gradcheck.model_walk.Repeat, "confirm", counted)
    rng = np.random.default_rng(0)
    model = Sequential([z.Linear(6, 5, seed=0), z.Tanh(),
                        TransposeKeptFromTheFirstForward(5, 5, seed=1), z.Linear(5, 3, seed=2)])
    x, y = rng.normal(size=(8, 6)), rng.integers(0, 3, 8)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), y)
    assert not check_model(model, loss, x, y).passed
    assert restarts == []
