"""A reference_nets MLP (Dense and one activation alternating) as a torch function, for the
benchmarks that run ``torch.autograd.gradcheck`` on the same network, weights and data."""

from __future__ import annotations

from reference_nets.layers.dense import Dense


def torch_mlp(model, x, y, activation: str, with_input: bool = False):
    """``(f, params)``: ``f(*params)`` is the softmax cross-entropy of ``model`` on ``(x, y)``
    (torch, float64), ``params`` copies of its Dense weights and biases in order
    (``requires_grad``). ``activation``: a ``torch`` function name, e.g. ``"tanh"``.

    ``with_input``: ``params`` starts with a copy of ``x`` (``requires_grad``) and ``f`` takes
    it first, so that a gradcheck of ``f`` checks the input's gradient too, as
    ``gradcheck.check_model`` does.
    """
    import torch

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    act = getattr(torch, activation)
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    params = tuple(torch.from_numpy(layer.params[k].copy()).requires_grad_()
                   for layer in dense for k in ("W", "b"))
    if with_input:
        params = (torch.from_numpy(x.copy()).requires_grad_(), *params)

    def f(*flat):
        h, flat = (flat[0], flat[1:]) if with_input else (xt, flat)
        for i in range(0, len(flat), 2):
            h = h @ flat[i] + flat[i + 1]
            h = act(h) if i + 2 < len(flat) else h
        return torch.nn.functional.cross_entropy(h, yt)

    return f, params
