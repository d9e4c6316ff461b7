"""Gradients of reference nets equal PyTorch autograd's on identical float64 weights."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="PyTorch is needed for the autograd cross-check")
F = torch.nn.functional

import reference_nets as rn  # noqa: E402
from reference_nets.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy  # noqa: E402
from tests.reference_nets.rn_torch_twin import compare_gradients, max_rel_err  # noqa: E402

TOL = 1e-10


def assert_all_close(errors: dict) -> None:
    bad = {name: err for name, err in errors.items() if not err <= TOL}
    assert not bad, f"relative errors above {TOL}: {bad}"


def assert_bn_bias_grad_zero(model, errors: dict) -> None:
    """A bias right before train-mode BatchNorm has gradient 0 (the batch mean removes it):
    both sides hold rounding noise only, so check it absolutely and drop it from ``errors``."""
    assert np.abs(model.grads["0.b"]).max() < 1e-12
    errors.pop("0.b")


def labels(n: int, n_classes: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_classes, n)


def test_mlp_gradients_match_torch():
    model = rn.Sequential([rn.Dense(12, 16, seed=1), rn.ReLU(), rn.Dense(16, 8, seed=2),
                           rn.Tanh(), rn.Dense(8, 5, seed=3)])
    x = np.random.default_rng(0).standard_normal((7, 12))
    y = labels(7, 5)
    errors = compare_gradients(model, SoftmaxCrossEntropy(), F.cross_entropy, x,
                               torch.tensor(y))
    assert set(errors) == {"0.W", "0.b", "2.W", "2.b", "4.W", "4.b", "input", "loss"}
    assert_all_close(errors)


@pytest.mark.parametrize("pool", [rn.MaxPool2D(2), rn.MaxPool2D(3, stride=2)])
def test_cnn_gradients_match_torch(pool):
    model = rn.Sequential([
        rn.Conv2D(2, 4, 3, padding=1, seed=1), rn.ReLU(), pool,
        rn.Conv2D(4, 3, 3, stride=2, padding=1, seed=2), rn.Flatten(),
    ])
    x = np.random.default_rng(0).standard_normal((5, 2, 9, 9))
    n_features = model.forward(x).shape[1]
    model.layers.append(rn.Dense(n_features, 6, seed=3))
    errors = compare_gradients(model, SoftmaxCrossEntropy(), F.cross_entropy, x,
                               torch.tensor(labels(5, 6)))
    assert_all_close(errors)


@pytest.mark.parametrize("layer", [rn.Sigmoid(), rn.Tanh(), rn.LeakyReLU(0.1), rn.Softmax(),
                                   rn.BatchNorm(6)], ids=lambda layer: type(layer).__name__)
def test_layer_gradients_match_torch_with_mse(layer):
    model = rn.Sequential([rn.Dense(4, 6, seed=1), layer, rn.Dense(6, 3, seed=2)])
    rng = np.random.default_rng(0)
    x, target = 2 * rng.standard_normal((8, 4)), rng.standard_normal((8, 3))
    errors = compare_gradients(model, MSE(), F.mse_loss, x, torch.tensor(target))
    if isinstance(layer, rn.BatchNorm):
        assert_bn_bias_grad_zero(model, errors)
    assert_all_close(errors)


def test_batchnorm_4d_train_mode_and_running_stats_match_torch():
    bn = rn.BatchNorm(3, momentum=0.3)
    bn.params["gamma"][:] = [0.5, 1.5, -2.0]
    bn.params["beta"][:] = [0.1, -0.2, 0.3]
    model = rn.Sequential([rn.Conv2D(2, 3, 3, seed=4), bn, rn.Flatten()])
    x = np.random.default_rng(0).standard_normal((4, 2, 5, 5))
    target = np.random.default_rng(1).standard_normal((4, 27))
    torch_bn = torch.nn.BatchNorm2d(3, momentum=0.3, dtype=torch.float64)
    torch_bn(torch.tensor(model.layers[0].forward(x)))
    errors = compare_gradients(model, MSE(), F.mse_loss, x, torch.tensor(target))
    assert_bn_bias_grad_zero(model, errors)
    assert_all_close(errors)
    # compare_gradients ran our model forward once, like torch_bn above: one update each
    np.testing.assert_allclose(bn.running_mean, torch_bn.running_mean.numpy(), rtol=TOL)
    np.testing.assert_allclose(bn.running_var, torch_bn.running_var.numpy(), rtol=TOL)


def test_batchnorm_eval_mode_matches_torch():
    bn = rn.BatchNorm(6)
    bn.running_mean[:] = np.linspace(-1, 1, 6)
    bn.running_var[:] = np.linspace(0.5, 2, 6)
    model = rn.Sequential([rn.Dense(4, 6, seed=1), bn, rn.Dense(6, 3, seed=2)]).eval()
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((8, 4)), rng.standard_normal((8, 3))
    assert_all_close(compare_gradients(model, MSE(), F.mse_loss, x, torch.tensor(target)))


def test_one_hot_cross_entropy_matches_torch():
    model = rn.Sequential([rn.Dense(5, 4, seed=1)])
    x = np.random.default_rng(0).standard_normal((6, 5))
    one_hot = np.eye(4)[labels(6, 4)]
    errors = compare_gradients(model, SoftmaxCrossEntropy(), F.cross_entropy, x,
                               torch.tensor(one_hot))
    assert_all_close(errors)


@pytest.mark.parametrize("scale", [1.0, 300.0], ids=["moderate", "huge-logits"])
def test_binary_cross_entropy_matches_torch(scale):
    model = rn.Sequential([rn.Dense(3, 1, seed=1)])
    x = scale * np.random.default_rng(0).standard_normal((10, 3))
    target = labels(10, 2)[:, None].astype(np.float64)
    errors = compare_gradients(model, BinaryCrossEntropy(),
                               F.binary_cross_entropy_with_logits, x, torch.tensor(target))
    assert_all_close(errors)


def layer_vs_torch(layer, torch_fn, x: np.ndarray, seed: int) -> dict:
    """Relative errors of y, dx and every grad of ``layer`` against ``torch_fn(x, **params)``."""
    p = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    x_t = torch.tensor(x, requires_grad=True)
    y_t = torch_fn(x_t, **p)
    dy = np.random.default_rng(seed).standard_normal(tuple(y_t.shape))
    y_t.backward(torch.tensor(dy))
    y = layer.forward(x)
    errors = {"output": max_rel_err(y, y_t.detach().numpy()),
              "input": max_rel_err(layer.backward(dy), x_t.grad.numpy())}
    errors.update({k: max_rel_err(layer.grads[k], p[k].grad.numpy()) for k in p})
    return errors


@settings(max_examples=30, deadline=None, derandomize=True)
@given(k=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2),
       h=st.integers(4, 9), w=st.integers(4, 9), c_in=st.integers(1, 3), c_out=st.integers(1, 3))
def test_conv2d_matches_torch_for_any_stride_padding_and_size(k, stride, padding, h, w, c_in,
                                                               c_out):
    conv = rn.Conv2D(c_in, c_out, k, stride=stride, padding=padding, seed=h * w)
    x = np.random.default_rng(k).standard_normal((2, c_in, h, w))
    assert_all_close(layer_vs_torch(
        conv, lambda t, W, b: F.conv2d(t, W, b, stride=stride, padding=padding), x, seed=h))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(size=st.integers(1, 3), stride=st.integers(1, 3), h=st.integers(3, 9),
       w=st.integers(3, 9))
def test_maxpool2d_matches_torch_for_any_size_and_stride(size, stride, h, w):
    pool = rn.MaxPool2D(size, stride=stride)
    x = np.random.default_rng(h * w).standard_normal((2, 3, h, w))
    assert_all_close(layer_vs_torch(
        pool, lambda t: F.max_pool2d(t, size, stride), x, seed=size))
