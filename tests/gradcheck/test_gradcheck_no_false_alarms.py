"""No false alarm: every correct reference layer passes at any scale, in either dtype, on
kinks, in auto and full mode (the zoo of the gradcheck v2 issue)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gradcheck import check_layer, check_model
from reference_nets import (
    BatchNorm,
    Conv2D,
    Dense,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from reference_nets.losses import MSE, SoftmaxCrossEntropy
from reference_nets.zoo import cnn, deep_sigmoid, mlp

LAYERS = {   # name: (factory, input shape)
    "dense": (lambda: Dense(6, 4), (5, 6)),
    "dense_fan_in_3000": (lambda: Dense(3000, 5), (4, 3000)),
    "conv": (lambda: Conv2D(2, 3, 3, padding=1), (2, 2, 6, 6)),
    "conv_stride_2": (lambda: Conv2D(2, 3, 3, stride=2), (2, 2, 7, 7)),
    "max_pool": (lambda: MaxPool2D(2), (2, 2, 6, 6)),
    "max_pool_overlapping": (lambda: MaxPool2D(3, stride=1), (2, 2, 6, 6)),
    "batch_norm": (lambda: BatchNorm(5), (8, 5)),
    "batch_norm_4d": (lambda: BatchNorm(3), (4, 3, 4, 4)),
    "relu": (ReLU, (5, 6)),
    "leaky_relu": (LeakyReLU, (5, 6)),
    "sigmoid": (Sigmoid, (5, 6)),
    "tanh": (Tanh, (5, 6)),
    "softmax": (Softmax, (5, 6)),
}


def _cast(layer, dtype):
    for key in layer.params:
        layer.params[key] = layer.params[key].astype(dtype)
        layer.grads[key] = layer.grads[key].astype(dtype)
    return layer


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1e-6, 1.0, 30.0, 1e6])   # 30: saturated activations
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_correct_layers_pass_at_any_scale_and_dtype(name, scale, dtype):
    make, shape = LAYERS[name]
    x = (np.random.default_rng(1).normal(size=shape) * scale).astype(dtype)
    modes = ("auto",) if "3000" in name else ("auto", "full")
    for mode in modes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            report = check_layer(_cast(make(), dtype), x, mode=mode, seed=1)
        assert report.passed, str(report)


@pytest.mark.parametrize("name", ["relu", "max_pool", "max_pool_overlapping", "conv"])
@pytest.mark.parametrize("seed", range(3))
def test_integer_valued_inputs_full_of_kinks_pass(name, seed):
    make, shape = LAYERS[name]
    x = np.random.default_rng(seed).integers(-1, 3, shape).astype(float)
    assert check_layer(make(), x, seed=seed).passed


def test_reference_models_pass_end_to_end():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 4, (4, 1, 8, 8)).astype(float)   # ties, zero background
    assert check_model(cnn(), SoftmaxCrossEntropy(), images, rng.integers(0, 10, 4)).passed
    x = rng.normal(size=(6, 64)) * 5
    report = check_model(deep_sigmoid(), SoftmaxCrossEntropy(), x, rng.integers(0, 10, 6))
    assert report.passed, str(report)


@pytest.mark.filterwarnings("ignore:check_model. checking in float32")
@pytest.mark.parametrize("sizes", [(8, 16, 4), (5, 64, 3), (20, 32, 16, 5)])
def test_a_float32_relu_net_with_tiny_inputs_and_zero_biases_passes(sizes):
    # pre-activations of about 1e-4: an all-zero bias stepped by float32's eps (2**-8) moved
    # them across their ReLU kinks and failed end to end in 9 nets of 10
    from reference_nets.zoo import mlp

    failed = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        model = mlp(sizes, activation="relu", seed=seed)
        for layer in model.layers:
            for key in layer.params:
                layer.params[key] = layer.params[key].astype(np.float32)
                layer.grads[key] = layer.grads[key].astype(np.float32)
        x = (1e-3 * rng.normal(size=(16, sizes[0]))).astype(np.float32)
        report = check_model(model, SoftmaxCrossEntropy(), x, rng.integers(0, sizes[-1], 16))
        failed += [seed] if (report.table.status == "fail").any() else []
    assert failed == []


@pytest.mark.parametrize("scale", [1e-9, 1e-7, 1e-5])
@pytest.mark.parametrize("sizes", [(8, 16, 4), (5, 64, 3), (20, 32, 16, 5)])
def test_a_float64_relu_net_with_inputs_near_zero_passes(sizes, scale):
    # inputs of 1e-7 give pre-activations of 1e-8 to 1e-10: the end-to-end steps cross the
    # later layers' ReLU kinks on both sides, which biases both step sizes' estimates
    # without a one-sided gap (before the step halving: 9 false failures in 60 nets at
    # 1e-7, 9 in 100 at 1e-9 and at 1e-5)
    from reference_nets.zoo import mlp

    failed = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x, y = scale * rng.normal(size=(16, sizes[0])), rng.integers(0, sizes[-1], 16)
        report = check_model(mlp(sizes, activation="relu", seed=seed), SoftmaxCrossEntropy(),
                             x, y, seed=seed)
        failed += [seed] if (report.table.status == "fail").any() else []
    assert failed == []


class LogSumExpPool:
    """``log(sum(exp(x)))`` over the last axis; backward ``dy * softmax(x)``."""

    params, grads = {}, {}

    def forward(self, x):
        m = x.max(-1, keepdims=True)
        z = np.exp(x - m)
        self.p = z / z.sum(-1, keepdims=True)
        return np.log(z.sum(-1)) + m[..., 0]

    def backward(self, dy):
        return dy[..., None] * self.p


def test_a_backward_with_subnormal_values_is_linear_in_dy():
    # softmax entries near 1e-320 are subnormal: 2 * (dy * p) and (2 * dy) * p differ in
    # their last digits there, which the linearity probe must not call a nonlinear backward
    x = np.array([[0.0, 1.0, *(-735.0 - 0.1 * i - j for i in range(8))] for j in range(4)])
    p = np.exp(x - x.max(-1, keepdims=True))
    assert ((p > 0) & (p < np.finfo(float).tiny)).any()
    report = check_layer(LogSumExpPool(), x)
    assert report.passed and set(report.table.check) == {"gradient"}, str(report)


@pytest.mark.filterwarnings("ignore:check_model. checking in float32")
@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy, MSE])
def test_a_float32_sigmoid_net_whose_gradients_are_subnormal_passes(loss):
    # inputs of 1e4: the sigmoid's pre-activations reach -90, where float32's exp is
    # subnormal and good to a few parts in a thousand (analytic 7.580e-41 against numeric
    # 7.605e-41 failed); values below the smallest normal number agree, and a tensor of
    # only such values proves nothing
    model = mlp((6, 10, 4), activation="sigmoid", seed=6, dtype=np.float32)
    biases = np.random.default_rng(13)
    for layer in model.layers[::2]:
        layer.params["b"][...] = biases.normal(size=layer.params["b"].shape) * 0.1
    rng = np.random.default_rng(1006)
    x = (rng.normal(size=(8, 6)) * 1e4).astype(np.float32)
    y = (rng.integers(0, 4, 8) if loss is SoftmaxCrossEntropy
         else rng.normal(size=(8, 4)).astype(np.float32))
    report = check_model(model, loss(), x, y, seed=6)
    assert report.passed, str(report)
    sigmoid = report.table.query("layer == '1:Sigmoid'")
    assert list(sigmoid.status) == ["vacuous"]


class Log:
    """``log(x)``; backward ``dy / x`` times ``1 + error``."""

    params, grads = {}, {}

    def __init__(self, error=0.0):
        self.error = error

    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, dy):
        return dy / self.x * (1 + self.error)


@pytest.mark.parametrize("small", [1e-9, 1e-7, 1e-4])
def test_a_step_that_leaves_the_domain_is_no_failure(small):
    # the tensor's step (relative to its scale, ~1e-6) takes log below 0 at `small`: that
    # value's NaN must not make every tolerance NaN (a false fail on all of them)
    x = np.array([[1.0, 0.5, small, 0.3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # no numpy warning from those steps
        report = check_layer(Log(), x)
        wrong = check_layer(Log(error=1e-3), x * [[1, 1, 1e4, 1]])   # off the domain's edge
    assert report.passed and set(report.table.status) <= {"pass", "nondifferentiable"}
    row = report.table.iloc[0]
    if row.status == "nondifferentiable":
        assert "leave the function's domain" in row.message and row.worst_index == "(0, 2)"
        assert np.isfinite(row.max_rel_err)
    assert not wrong.passed
