"""Custom ``torch.autograd.Function``s with hand-written backwards: correct ones and subtly
wrong twins (the torch adapter's tests and ``bench/gradcheck_torch.py``). Imported only where
torch is installed."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


def _one_row_wrong(x):
    """``sigmoid(x)``, with row 2 scaled by 1.05: one wrong row of dx."""
    scale = torch.ones_like(x)
    scale[2] = 1.05
    return torch.sigmoid(x) * scale


Softplus = elementwise("Softplus", F.softplus, torch.sigmoid)
SoftplusOff = elementwise("SoftplusOff", F.softplus, lambda x: torch.sigmoid(x) * 1.01)
SoftplusOff1e3 = elementwise("SoftplusOff1e3", F.softplus, lambda x: torch.sigmoid(x) * 1.001)
SoftplusRow = elementwise("SoftplusRow", F.softplus, _one_row_wrong)
Relu = elementwise("Relu", lambda x: x.clamp(min=0), lambda x: (x > 0).to(x.dtype))
Abs = elementwise("Abs", torch.abs,   # the subgradient +1 at 0 (torch.sign's 0 is the
                  lambda x: torch.where(x >= 0, 1.0, -1.0).to(x.dtype))   # central slope)


def linear_fn(name: str, *, dw_scale: float = 1.0, last_row: bool = True,
              bias_bug: int | None = None):
    """``x @ w.T + b``. Bugs: ``dw_scale`` scales dw (the second input only); without
    ``last_row`` the last row of dx stays 0 (a loop bound off by one); ``bias_bug``: that
    element of db is 2 % too large."""

    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x @ w.T + b

    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        dx = dy @ w
        if not last_row:
            dx[-1] = 0
        db = dy.sum(0)
        if bias_bug is not None:
            db[bias_bug] *= 1.02
        return dx, dw_scale * (dy.T @ x), db

    return function(name, forward, backward)


Linear = linear_fn("Linear")
LinearDwOff = linear_fn("LinearDwOff", dw_scale=1 + 1e-3)
LinearLastRow = linear_fn("LinearLastRow", last_row=False)
LinearBiasBug = linear_fn("LinearBiasBug", bias_bug=1)


def layer_norm_fn(name: str, *, cross_term: bool = True, dbeta_mean: bool = False):
    """Layer normalisation over the last axis, ``xhat * gamma + beta``. Bugs: without
    ``cross_term`` dx forgets ``- xhat * mean(dxhat * xhat)``; ``dbeta_mean`` averages dbeta
    over the batch instead of summing (the third input only)."""

    def forward(ctx, x, gamma, beta):
        mu = x.mean(-1, keepdim=True)
        inv = (x.var(-1, unbiased=False, keepdim=True) + 1e-5).rsqrt()
        xhat = (x - mu) * inv
        ctx.save_for_backward(xhat, inv, gamma)
        return xhat * gamma + beta

    def backward(ctx, dy):
        xhat, inv, gamma = ctx.saved_tensors
        dxhat = dy * gamma
        dx = dxhat - dxhat.mean(-1, keepdim=True)
        if cross_term:
            dx = dx - xhat * (dxhat * xhat).mean(-1, keepdim=True)
        dbeta = dy.mean(0) if dbeta_mean else dy.sum(0)
        return inv * dx, (dy * xhat).sum(0), dbeta

    return function(name, forward, backward)


LayerNorm = layer_norm_fn("LayerNorm")
LayerNormNoCross = layer_norm_fn("LayerNormNoCross", cross_term=False)
LayerNormDbetaMean = layer_norm_fn("LayerNormDbetaMean", dbeta_mean=True)


def bilinear_fn(name: str, *, swapped_corner: bool = False):
    """Deformable-convolution-style sampling: ``out[n, c]`` is the feature map ``fmap``
    (C, H, W) read at the continuous position ``pos[n] = (y, x)`` by bilinear interpolation
    (positions inside the map). Bug ``swapped_corner``: d out / d x reads the lower-left
    corner where the upper-right one belongs (the positions' gradient only)."""

    def corners(fmap, pos):
        y0, x0 = pos[:, 0].floor().long(), pos[:, 1].floor().long()
        fy, fx = (pos[:, 0] - y0)[:, None], (pos[:, 1] - x0)[:, None]
        v = [fmap[:, y0 + i, x0 + j].T for i in (0, 1) for j in (0, 1)]   # (N, C) each
        return y0, x0, fy, fx, v

    def forward(ctx, fmap, pos):
        ctx.save_for_backward(fmap, pos)
        _, _, fy, fx, (v00, v01, v10, v11) = corners(fmap, pos)
        return ((1 - fy) * ((1 - fx) * v00 + fx * v01) + fy * ((1 - fx) * v10 + fx * v11))

    def backward(ctx, dy):
        fmap, pos = ctx.saved_tensors
        y0, x0, fy, fx, (v00, v01, v10, v11) = corners(fmap, pos)
        dfmap = torch.zeros_like(fmap)
        channels = torch.arange(fmap.shape[0])[:, None]
        for (i, j), w in {(0, 0): (1 - fy) * (1 - fx), (0, 1): (1 - fy) * fx,
                          (1, 0): fy * (1 - fx), (1, 1): fy * fx}.items():
            dfmap.index_put_((channels, (y0 + i)[None], (x0 + j)[None]), (dy * w).T,
                             accumulate=True)
        upper_right = v10 if swapped_corner else v01
        d_y = (((1 - fx) * (v10 - v00) + fx * (v11 - v01)) * dy).sum(1)
        d_x = (((1 - fy) * (upper_right - v00) + fy * (v11 - v10)) * dy).sum(1)
        return dfmap, torch.stack([d_y, d_x], 1)

    return function(name, forward, backward)


Bilinear = bilinear_fn("Bilinear")
BilinearSwapped = bilinear_fn("BilinearSwapped", swapped_corner=True)


def row_max_fn(name: str):
    """The maximum of each row; the gradient goes to the first maximal element."""

    def forward(ctx, x):
        values, index = x.max(-1)
        ctx.save_for_backward(index)
        ctx.shape = x.shape
        return values

    def backward(ctx, dy):
        (index,) = ctx.saved_tensors
        return dy.new_zeros(ctx.shape).scatter_(-1, index[:, None], dy[:, None])

    return function(name, forward, backward)


RowMax = row_max_fn("RowMax")


def gather_fn(name: str, *, accumulate: bool = True):
    """Rows ``table[ids]`` (an integer input). Bug: without ``accumulate`` the backward
    writes each row's gradient instead of adding it, so an id taken twice gets one share."""

    def forward(ctx, table, ids):
        ctx.save_for_backward(ids)
        ctx.rows = table.shape[0]
        return table[ids]

    def backward(ctx, dy):
        (ids,) = ctx.saved_tensors
        grad = dy.new_zeros((ctx.rows, dy.shape[-1]))
        return grad.index_put_((ids,), dy, accumulate=accumulate), None

    return function(name, forward, backward)


Gather = gather_fn("Gather")
GatherOverwrites = gather_fn("GatherOverwrites", accumulate=False)


def sin_cos_fn(name: str, use_second: bool = True):
    """Two outputs ``(sin x, cos x)``; without ``use_second`` the backward ignores ``dy2``."""

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sin(x), torch.cos(x)

    def backward(ctx, dy1, dy2):
        (x,) = ctx.saved_tensors
        return dy1 * torch.cos(x) - (dy2 * torch.sin(x) if use_second else 0)

    return function(name, forward, backward)


SinCos = sin_cos_fn("SinCos")
SinCosFirstOnly = sin_cos_fn("SinCosFirstOnly", use_second=False)


class CustomLinear(torch.nn.Module):
    """A module whose forward is a custom ``Function`` of its input and parameters."""

    def __init__(self, n_in: int, n_out: int, fn=Linear, dtype=torch.float64):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.weight = torch.nn.Parameter(torch.randn(n_out, n_in, generator=gen, dtype=dtype))
        self.bias = torch.nn.Parameter(torch.randn(n_out, generator=gen, dtype=dtype))
        self.fn = fn

    def forward(self, x):
        return self.fn.apply(x, self.weight, self.bias)
