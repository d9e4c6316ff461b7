"""Run a reference_nets Sequential through PyTorch autograd with the same float64 weights.

Imported only by tests that have already called ``pytest.importorskip("torch")``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import reference_nets as rn


def max_rel_err(ours, ref) -> float:
    """max |ours - ref| / max |ref|: the relative error of a whole tensor."""
    ref = np.asarray(ref)
    return float(np.abs(np.asarray(ours) - ref).max() / max(np.abs(ref).max(), 1e-300))


def torch_params(model: rn.Sequential) -> dict[str, torch.Tensor]:
    """Leaf tensors (requires_grad) holding copies of the model's parameters."""
    return {name: torch.tensor(value, requires_grad=True) for name, value in model.params.items()}


def _apply(i: int, layer, x: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
    """Torch equivalent of one reference layer."""
    w = p.get(f"{i}.W")
    if isinstance(layer, rn.Dense):
        return F.linear(x, w.T, p[f"{i}.b"])
    if isinstance(layer, rn.Conv2D):
        return F.conv2d(x, w, p[f"{i}.b"], stride=layer.stride, padding=layer.padding)
    if isinstance(layer, rn.MaxPool2D):
        return F.max_pool2d(x, layer.size, layer.stride)
    if isinstance(layer, rn.BatchNorm):
        return F.batch_norm(x, torch.tensor(layer.running_mean), torch.tensor(layer.running_var),
                            p[f"{i}.gamma"], p[f"{i}.beta"], training=layer.training,
                            momentum=layer.momentum, eps=layer.eps)
    if isinstance(layer, rn.LeakyReLU):
        return F.leaky_relu(x, layer.negative_slope)
    if isinstance(layer, rn.Softmax):
        return F.softmax(x, dim=layer.axis)
    simple = {rn.Flatten: lambda t: t.flatten(1), rn.ReLU: F.relu, rn.Sigmoid: torch.sigmoid,
              rn.Tanh: torch.tanh}
    return simple[type(layer)](x)


def torch_forward(model: rn.Sequential, x: torch.Tensor,
                  p: dict[str, torch.Tensor]) -> torch.Tensor:
    """Forward ``x`` through the torch twin of ``model`` with parameters ``p``."""
    for i, layer in enumerate(model.layers):
        x = _apply(i, layer, x, p)
    return x


def compare_gradients(model: rn.Sequential, loss, torch_loss, x: np.ndarray, target) -> dict:
    """Loss, parameter and input gradients of ours and torch's; returns relative errors.

    ``torch_loss(pred_t, target)`` computes the loss in torch (target as given).
    """
    p = torch_params(model)
    x_t = torch.tensor(x, requires_grad=True)
    value_t = torch_loss(torch_forward(model, x_t, p), target)
    value_t.backward()
    value = loss.forward(model.forward(x), target if isinstance(target, np.ndarray)
                         else target.numpy())
    dx = model.backward(loss.backward())
    errors = {name: max_rel_err(model.grads[name], p[name].grad.numpy()) for name in p}
    errors["input"] = max_rel_err(dx, x_t.grad.numpy())
    errors["loss"] = abs(value - value_t.item()) / abs(value_t.item())
    return errors
