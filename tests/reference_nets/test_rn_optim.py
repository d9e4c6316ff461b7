"""Optimizers update in place and match PyTorch; clipping; schedules."""

import math

import numpy as np
import pytest

import reference_nets as rn
from reference_nets.optim import SGD, Adam, CosineLR, StepLR, clip_grad_norm, clip_grad_value


def model_with_grads(seed=0):
    model = rn.Sequential([rn.Dense(3, 2, seed=seed)])
    rng = np.random.default_rng(seed)
    model.layers[0].grads["W"][...] = rng.standard_normal((3, 2))
    model.layers[0].grads["b"][...] = rng.standard_normal(2)
    return model


@pytest.mark.parametrize("opt", [SGD(0.1), SGD(0.1, momentum=0.9, nesterov=True), Adam()],
                         ids=repr)
def test_step_updates_parameter_arrays_in_place(opt):
    model = model_with_grads()
    W = model.layers[0].params["W"]
    before = W.copy()
    opt.bind(model).step()
    assert model.layers[0].params["W"] is W and not np.array_equal(W, before)


def test_step_before_bind_is_an_error():
    with pytest.raises(RuntimeError, match=r"SGD.step: call bind\(model\) first"):
        SGD(0.1).step()


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), [
    (SGD, "SGD", {"lr": 0.1, "momentum": 0.9}),
    (SGD, "SGD", {"lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    (Adam, "Adam", {"lr": 0.01, "weight_decay": 0.01}),
])
def test_optimizers_match_torch_over_several_steps(ours, theirs, kwargs):
    torch = pytest.importorskip("torch", reason="PyTorch is needed for the optimizer cross-check")
    model = model_with_grads()
    p = torch.tensor(model.layers[0].params["W"].copy(), requires_grad=True)
    opt, topt = ours(**kwargs).bind(model), getattr(torch.optim, theirs)([p], **kwargs)
    rng = np.random.default_rng(1)
    for _ in range(4):
        g = rng.standard_normal((3, 2))
        model.layers[0].grads["W"][...] = g
        p.grad = torch.tensor(g)
        opt.step()
        topt.step()
    np.testing.assert_allclose(model.layers[0].params["W"], p.detach().numpy(), rtol=1e-12)


def test_optimizer_state_is_kept_on_rebind_and_cleared_for_another_model():
    model, opt = model_with_grads(), SGD(0.1, momentum=0.9)
    opt.bind(model).step()
    assert set(opt.state) == {"0.W", "0.b"}
    opt.bind(model)
    assert set(opt.state) == {"0.W", "0.b"}
    opt.bind(model_with_grads(1))
    assert opt.state == {}


def test_clip_grad_norm_scales_in_place_and_returns_the_norm_before():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    a = grads["a"]
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    assert grads["a"] is a
    total = math.sqrt(sum(float((g ** 2).sum()) for g in grads.values()))
    assert total == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(grads["a"], [0.6, 0.0], rtol=1e-6)
    small = {"a": np.array([0.1])}
    assert clip_grad_norm(small, 1.0) == pytest.approx(0.1)
    assert small["a"][0] == 0.1                                 # under the limit: untouched


def test_clip_grad_value_clips_in_place():
    g = np.array([-3.0, 0.5, 2.0])
    clip_grad_value({"g": g}, 1.0)
    np.testing.assert_array_equal(g, [-1.0, 0.5, 1.0])


def test_step_lr_and_cosine_lr():
    opt = SGD(1.0)
    step = StepLR(opt, step_size=2, gamma=0.1)
    assert [step.step() for _ in range(5)] == pytest.approx([1, 0.1, 0.1, 0.01, 0.01])
    opt = SGD(1.0)
    cosine = CosineLR(opt, t_max=4, lr_min=0.2)
    lrs = [cosine.step() for _ in range(6)]
    expected = [0.2 + 0.8 * (1 + math.cos(math.pi * t / 4)) / 2 for t in (1, 2, 3, 4, 4, 4)]
    assert lrs == pytest.approx(expected)
    assert opt.lr == pytest.approx(0.2)


@pytest.mark.parametrize("make", [
    lambda: SGD(0.1), lambda: SGD(0.1, momentum=0.9, weight_decay=0.01),
    lambda: SGD(0.1, momentum=0.9, nesterov=True), lambda: Adam(0.01)],
    ids=["sgd", "momentum+wd", "nesterov", "adam"])
def test_a_reported_step_gives_the_squared_norms_of_its_updates_and_the_same_weights(make):
    reporting, plain = model_with_grads(), model_with_grads()
    opt, twin = make().bind(reporting), make().bind(plain)
    eps = np.finfo(np.float64).eps
    for step in range(3):
        before = {k: v.copy() for k, v in reporting.params.items()}
        if step != 1:
            opt.report_next_update()
        opt.step()
        twin.step()
        report = opt.update_sq_norms()
        for key, value in reporting.params.items():
            np.testing.assert_array_equal(value, plain.params[key])  # the request changes nothing
        if step == 1:
            assert report is None
            continue
        assert set(report) == {id(v) for v in reporting.params.values()}
        for key, value in reporting.params.items():
            change = value - before[key]
            # fl(p - u) - p is -u up to eps/2 |p| per element, so ||change||^2 is ||u||^2 up
            # to eps |p| |u|; each of the two dot products adds up to n eps ||u||^2
            tol = (eps * np.linalg.norm(value) * np.linalg.norm(change)
                   + 2 * value.size * eps * np.vdot(change, change))
            assert abs(report[id(value)] - np.vdot(change, change)) <= tol
        assert opt.update_sq_norms() == report  # read again: the same


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make", [
    lambda: SGD(0.1), lambda: SGD(0.1, momentum=0.9, weight_decay=0.01),
    lambda: SGD(0.1, momentum=0.9, nesterov=True), lambda: Adam(0.01)],
    ids=["sgd", "momentum+wd", "nesterov", "adam"])
def test_a_reported_step_gives_the_inner_products_of_the_updated_parameters(make, dtype):
    model = rn.Sequential([rn.Dense(3, 2, seed=0, dtype=dtype)])
    model.layers[0].grads["W"][...] = np.random.default_rng(0).standard_normal((3, 2))
    opt = make().bind(model)
    W, b = model.layers[0].params["W"], model.layers[0].params["b"]
    reference = np.linspace(-1.0, 1.0, 6).reshape(3, 2).astype(dtype)
    for _ in range(3):
        before = W.copy()
        opt.report_next_update({id(W): reference})
        opt.step()
        report = opt.update_report()
        assert set(report) == {id(W), id(b)}
        # the same vdot calls on the same arrays: the same numbers
        assert report[id(W)].param_sq == float(np.vdot(W, W))
        assert report[id(W)].reference_dot == float(np.vdot(W, reference))
        assert np.isnan(report[id(b)].reference_dot)  # no reference asked for
        change, eps = (W - before).astype(np.float64), float(np.finfo(dtype).eps)
        # as above: fl(p - u) - p is -u up to eps/2 |p| per element; two dots of 6 terms
        tol = (eps * np.linalg.norm(W) * np.linalg.norm(change)
               + 2 * W.size * eps * np.vdot(change, change))
        assert abs(report[id(W)].update_sq - np.vdot(change, change)) <= tol
        assert opt.update_sq_norms() == {k: r.update_sq for k, r in report.items()}


def test_bad_references_are_refused_naming_the_parameter():
    model = model_with_grads()
    opt = SGD(0.1).bind(model)
    with pytest.raises(TypeError, match=r"SGD.report_next_update: references must be a dict "
                                        r"\{id\(param\): numpy array\}, got list"):
        opt.report_next_update([np.zeros((3, 2))])
    W = model.layers[0].params["W"]
    with pytest.raises(TypeError, match="got dict"):
        opt.report_next_update({id(W): [0.0] * 6})
    opt.report_next_update({id(W): np.zeros(6)})
    with pytest.raises(ValueError, match=r"SGD.step: the reference of parameter '0.W' has shape "
                                         r"\(6,\), the parameter \(3, 2\)"):
        opt.step()


def test_a_report_covers_one_step_and_a_new_request_discards_the_last():
    model = model_with_grads()
    opt = SGD(0.1).bind(model)
    assert opt.update_sq_norms() is None
    opt.report_next_update()
    opt.step()
    assert opt.update_sq_norms() is not None
    opt.report_next_update()
    assert opt.update_sq_norms() is None  # asked for the coming step, which has not run
    opt.step()
    opt.step()
    assert opt.update_sq_norms() is None
