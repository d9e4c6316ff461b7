"""Layer behaviours beyond gradient values: modes, stability, dtypes, no input mutation."""

import warnings

import numpy as np
import pytest

import reference_nets as rn
from reference_nets.losses import BinaryCrossEntropy, SoftmaxCrossEntropy

RNG = np.random.default_rng(0)


def layer_cases():
    """(layer, input) pairs covering every layer type."""
    return [
        (rn.Dense(4, 3), RNG.standard_normal((5, 4))),
        (rn.Conv2D(2, 3, 3, stride=2, padding=1), RNG.standard_normal((2, 2, 6, 6))),
        (rn.MaxPool2D(2), RNG.standard_normal((2, 2, 6, 6))),
        (rn.Flatten(), RNG.standard_normal((2, 2, 3, 3))),
        (rn.BatchNorm(3), RNG.standard_normal((4, 3, 2, 2))),
        (rn.Dropout(0.5), RNG.standard_normal((5, 4))),
        (rn.ReLU(), RNG.standard_normal((5, 4))),
        (rn.LeakyReLU(), RNG.standard_normal((5, 4))),
        (rn.Sigmoid(), RNG.standard_normal((5, 4))),
        (rn.Tanh(), RNG.standard_normal((5, 4))),
        (rn.Softmax(), RNG.standard_normal((5, 4))),
    ]


@pytest.mark.parametrize(("layer", "x"), layer_cases(), ids=lambda v: type(v).__name__)
def test_layers_do_not_mutate_inputs_and_backward_overwrites_grads(layer, x):
    x_before = x.copy()
    y = layer.forward(x)
    dy = np.ones_like(y)
    dy_before = dy.copy()
    dx = layer.backward(dy)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dy, dy_before)
    assert dx.shape == x.shape
    assert layer.grads.keys() == layer.params.keys()
    first = {k: g.copy() for k, g in layer.grads.items()}
    layer.backward(dy)
    for key, grad in layer.grads.items():
        np.testing.assert_array_equal(grad, first[key])     # overwritten, not accumulated


@pytest.mark.parametrize(("layer", "x"), layer_cases(), ids=lambda v: type(v).__name__)
def test_float32_layers_stay_float32(layer, x):
    if isinstance(layer, rn.Dense | rn.Conv2D | rn.BatchNorm):
        layer = type(layer)(*_args(layer), dtype=np.float32)
    y = layer.forward(x.astype(np.float32))
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())


def _args(layer):
    if isinstance(layer, rn.Dense):
        return layer.n_in, layer.n_out
    if isinstance(layer, rn.Conv2D):
        return layer.in_channels, layer.out_channels, layer.kernel_size
    return (layer.num_features,)


def test_float32_dense_casts_float64_input():
    layer = rn.Dense(4, 3, dtype=np.float32)
    assert layer.forward(np.ones((2, 4))).dtype == np.float32


def test_dropout_is_inverted_seeded_and_identity_in_eval():
    x = np.ones((200, 50))
    a, b = rn.Dropout(0.3, seed=7), rn.Dropout(0.3, seed=7)
    ya = a.forward(x)
    np.testing.assert_array_equal(ya, b.forward(x))
    assert set(np.unique(ya)) == {0.0, 1 / 0.7}
    assert abs(ya.mean() - 1.0) < 0.02                         # expectation preserved
    np.testing.assert_array_equal(a.backward(x), ya)           # same mask in backward
    assert not np.array_equal(a.forward(x), ya)                # a fresh mask each call
    a.eval()
    np.testing.assert_array_equal(a.forward(x), x)
    np.testing.assert_array_equal(a.backward(2 * x), 2 * x)


def test_batchnorm_running_stats_and_eval_mode():
    bn = rn.BatchNorm(2, momentum=0.5)
    x = RNG.standard_normal((64, 2)) * [1.0, 3.0] + [5.0, -2.0]
    y = bn.forward(x)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-3)
    np.testing.assert_allclose(bn.running_mean, 0.5 * x.mean(axis=0))
    np.testing.assert_allclose(bn.running_var, 0.5 + 0.5 * x.var(axis=0, ddof=1))
    bn.eval()
    mean, var = bn.running_mean.copy(), bn.running_var.copy()
    np.testing.assert_allclose(bn.forward(x), (x - mean) / np.sqrt(var + bn.eps))
    np.testing.assert_array_equal(bn.running_mean, mean)       # eval does not update


def test_sigmoid_is_stable_for_huge_inputs():
    x = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]])
    layer = rn.Sigmoid()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = layer.forward(x)
        dx = layer.backward(np.ones_like(x))
    np.testing.assert_allclose(y, [[0.0, np.exp(-50), 0.5, 1.0, 1.0]], rtol=1e-12, atol=1e-300)
    assert np.isfinite(dx).all()


def test_log_sum_exp_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0]])
    loss = SoftmaxCrossEntropy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss.forward(logits, np.array([0, 2]))
        grad = loss.backward()
    assert value == pytest.approx(1000.0 / 2)        # row 1 costs 0, row 2 costs 1000
    np.testing.assert_allclose(grad, [[0, 0, 0], [0, 0.5, -0.5]], atol=1e-300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bce = BinaryCrossEntropy().forward(np.array([1000.0, -1000.0]), np.array([0.0, 0.0]))
    assert bce == pytest.approx(500.0)


def test_softmax_rows_sum_to_one_and_backward_is_full_jacobian_product():
    x = RNG.standard_normal((3, 4))
    layer = rn.Softmax()
    s = layer.forward(x + 1000.0)
    np.testing.assert_allclose(s.sum(axis=1), 1.0)
    dy = RNG.standard_normal((3, 4))
    jacobians = [np.diag(row) - np.outer(row, row) for row in s]
    expected = np.stack([jac.T @ g for jac, g in zip(jacobians, dy, strict=True)])
    np.testing.assert_allclose(layer.backward(dy), expected, atol=1e-15)


def test_maxpool_tie_gradient_goes_to_the_first_maximum_in_row_major_order():
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])
    pool = rn.MaxPool2D(2)
    assert pool.forward(x).item() == 3.0
    np.testing.assert_array_equal(pool.backward(np.ones((1, 1, 1, 1))), [[[[0, 1], [0, 0]]]])


def test_maxpool_overlapping_windows_add_their_gradients():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0          # the centre is the max of all four 2x2 windows (stride 1)
    pool = rn.MaxPool2D(2, stride=1)
    dx = pool.backward(np.ones_like(pool.forward(x)))
    assert dx[0, 0, 1, 1] == 4.0 and dx.sum() == 4.0


def test_conv_output_shape_follows_stride_and_padding():
    conv = rn.Conv2D(3, 5, 3, stride=2, padding=1)
    assert conv.forward(np.zeros((2, 3, 7, 8))).shape == (2, 5, 4, 4)
    assert conv.params["W"].shape == (5, 3, 3, 3) and conv.params["b"].shape == (5,)


def test_dense_init_schemes_have_their_scale_and_seed():
    big = {init: rn.Dense(400, 300, init=init, seed=1).params["W"]
           for init in ("he", "xavier", "normal")}
    assert big["he"].std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert big["xavier"].std() == pytest.approx(np.sqrt(2 / 700), rel=0.02)
    assert big["normal"].std() == pytest.approx(0.01, rel=0.02)
    np.testing.assert_array_equal(rn.Dense(4, 3, seed=5).params["W"],
                                  rn.Dense(4, 3, seed=5).params["W"])
    assert not np.array_equal(rn.Dense(4, 3, seed=5).params["W"],
                              rn.Dense(4, 3, seed=6).params["W"])


def test_sequential_exposes_the_layers_own_arrays_and_switches_modes():
    model = rn.Sequential([rn.Dense(4, 3), rn.Dropout(0.5), rn.BatchNorm(3), rn.Dense(3, 2)])
    assert list(model.params) == ["0.W", "0.b", "2.gamma", "2.beta", "3.W", "3.b"]
    assert model.params["3.W"] is model.layers[3].params["W"]
    assert model.grads["2.gamma"] is model.layers[2].grads["gamma"]
    model.eval()
    assert not any(layer.training for layer in model.layers) and not model.training
    model.train()
    assert all(layer.training for layer in model.layers)
    nested = rn.Sequential([model, rn.ReLU()])
    assert nested.params["0.3.W"] is model.layers[3].params["W"]
