"""Custom ``torch.autograd.Function``s and modules for the torch adapter tests: correct ones
and subtly wrong twins. Imported only after ``pytest.importorskip("torch")``."""

from __future__ import annotations

import torch


def function(name: str, forward, backward):
    """A ``torch.autograd.Function`` subclass called ``name``."""
    return type(name, (torch.autograd.Function,), {"forward": staticmethod(forward),
                                                   "backward": staticmethod(backward)})


def elementwise(name: str, f, df):
    """A ``Function`` computing ``f(x)`` whose backward is ``dy * df(x)``."""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return f(x)

    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return dy * df(x)

    return function(name, forward, backward)


Softplus = elementwise("Softplus", torch.nn.functional.softplus, torch.sigmoid)
Relu = elementwise("Relu", lambda x: x.clamp(min=0), lambda x: (x > 0).to(x.dtype))
Abs = elementwise("Abs", torch.abs,   # the subgradient +1 at 0 (torch.sign's 0 is the
                  lambda x: torch.where(x >= 0, 1.0, -1.0).to(x.dtype))   # central slope)
SoftplusOff = elementwise("SoftplusOff", torch.nn.functional.softplus,   # 1 % too large
                          lambda x: torch.sigmoid(x) * 1.01)


def _one_row_wrong(x):
    """``sigmoid(x)``, with row 2 scaled by 1.05: one wrong row of dx."""
    scale = torch.ones_like(x)
    scale[2] = 1.05
    return torch.sigmoid(x) * scale


SoftplusRow = elementwise("SoftplusRow", torch.nn.functional.softplus, _one_row_wrong)


class LayerNorm(torch.autograd.Function):
    """Layer normalisation over the last axis (no affine), with its textbook backward."""

    @staticmethod
    def forward(ctx, x):
        mu = x.mean(-1, keepdim=True)
        inv = (x.var(-1, unbiased=False, keepdim=True) + 1e-5).rsqrt()
        xhat = (x - mu) * inv
        ctx.save_for_backward(xhat, inv)
        return xhat

    @staticmethod
    def backward(ctx, dy):
        xhat, inv = ctx.saved_tensors
        mean_dy = dy.mean(-1, keepdim=True)
        mean_dy_xhat = (dy * xhat).mean(-1, keepdim=True)
        return inv * (dy - mean_dy - xhat * mean_dy_xhat)


class LayerNormNoCross(LayerNorm):
    """Layer normalisation whose backward forgets the ``xhat * mean(dy * xhat)`` term."""

    @staticmethod
    def backward(ctx, dy):
        _, inv = ctx.saved_tensors
        return inv * (dy - dy.mean(-1, keepdim=True))


def linear_fn(name: str, bias_bug: int | None = None):
    """A ``Function`` computing ``x @ w.T + b`` with a hand-written backward; ``bias_bug``:
    that element of the bias gradient is 2 % too large."""

    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x @ w.T + b

    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        db = dy.sum(0)
        if bias_bug is not None:
            db = db.clone()
            db[bias_bug] *= 1.02
        return dy @ w, dy.T @ x, db

    return function(name, forward, backward)


LinearFn = linear_fn("LinearFn")
LinearBiasBug = linear_fn("LinearBiasBug", bias_bug=1)


class CustomLinear(torch.nn.Module):
    """A module whose forward is a custom ``Function`` of its input and parameters."""

    def __init__(self, n_in: int, n_out: int, fn=LinearFn, dtype=torch.float64):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.weight = torch.nn.Parameter(torch.randn(n_out, n_in, generator=gen, dtype=dtype))
        self.bias = torch.nn.Parameter(torch.randn(n_out, generator=gen, dtype=dtype))
        self.fn = fn

    def forward(self, x):
        return self.fn.apply(x, self.weight, self.bias)
