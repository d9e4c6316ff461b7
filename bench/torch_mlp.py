"""A reference_nets MLP (Dense and one activation alternating) as a torch function, for the
benchmarks that run ``torch.autograd.gradcheck`` on the same network, weights and data."""

from __future__ import annotations

from reference_nets.layers.dense import Dense


def torch_mlp(model, x, y, activation: str):
    """``(f, params)``: ``f(*params)`` is the softmax cross-entropy of ``model`` on ``(x, y)``
    (torch, float64), ``params`` copies of its Dense weights and biases in order
    (``requires_grad``). ``activation``: a ``torch`` function name, e.g. ``"tanh"``."""
    import torch

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    act = getattr(torch, activation)
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    params = tuple(torch.from_numpy(layer.params[k].copy()).requires_grad_()
                   for layer in dense for k in ("W", "b"))

    def f(*flat):
        h = xt
        for i in range(0, len(flat), 2):
            h = h @ flat[i] + flat[i + 1]
            h = act(h) if i + 2 < len(flat) else h
        return torch.nn.functional.cross_entropy(h, yt)

    return f, params
