"""Small numpy layers for the gradcheck tests: correct ones and deliberately broken ones.

Each broken layer differs from its correct parent by one classic backprop bug, named in its
docstring; the tests assert that gradcheck catches it on the right tensor.
"""

from __future__ import annotations

import numpy as np


class Linear:
    """Correct affine layer ``y = x @ W + b``; W (n_in, n_out), b (n_out,)."""

    def __init__(self, n_in=4, n_out=3, seed=0, dtype=np.float64, scale=1.0):
        rng = np.random.default_rng(seed)
        self.params = {"W": (rng.normal(size=(n_in, n_out)) * scale).astype(dtype),
                       "b": (rng.normal(size=n_out) * scale).astype(dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def weight_grad(self, dy):
        return self.x.T @ dy

    def input_grad(self, dy):
        return dy @ self.params["W"].T

    def backward(self, dy):
        self.grads["W"][...] = self.weight_grad(dy)
        self.grads["b"][...] = dy.sum(axis=0)
        return self.input_grad(dy)


class WrongTranspose(Linear):
    """Bug: dW = dy.T @ x (the transpose; same shape for a square layer)."""

    def weight_grad(self, dy):
        return dy.T @ self.x


class MeanBias(Linear):
    """Bug: db = mean over the batch instead of the sum."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"][...] = dy.mean(axis=0)
        return dx


class OneWrongRow(Linear):
    """Bug: row 2 of dW is dropped."""

    def weight_grad(self, dy):
        g = self.x.T @ dy
        g[2] = 0.0
        return g


class SlightlyOff(Linear):
    """Bug: dW is 0.1 % too large (a 1e-3 relative error)."""

    def weight_grad(self, dy):
        return (self.x.T @ dy) * (1 + 1e-3)


class DoubleInputGrad(Linear):
    """Bug: dx is twice the truth (caught in float32 too)."""

    def input_grad(self, dy):
        return 2 * (dy @ self.params["W"].T)


class Accumulating(Linear):
    """Bug: grads are added to (+=) instead of overwritten."""

    def backward(self, dy):
        self.grads["W"] += self.weight_grad(dy)
        self.grads["b"][...] = dy.sum(axis=0)
        return self.input_grad(dy)


class WrongShapeGrad(Linear):
    """Bug: db keeps the batch axis."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"] = dy.copy()
        return dx


class MissingBiasGrad(Linear):
    """Bug: grads has no entry for b."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.grads["b"]

    def backward(self, dy):
        self.grads["W"][...] = self.weight_grad(dy)
        return self.input_grad(dy)


class Float32Grads(Linear):
    """Bug: grads allocated as float32 for float64 parameters."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.grads = {k: np.zeros(v.shape, np.float32) for k, v in self.params.items()}


class SquaredUpstream(Linear):
    """Bug: dx uses dy * |dy| (not linear in the upstream gradient)."""

    def input_grad(self, dy):
        return (dy * np.abs(dy)) @ self.params["W"].T


class Elementwise:
    """Parameterless elementwise layer ``y = f(x)``, ``dx = dy * f'(x)``."""

    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, x):
        self.x = x
        return self.f(x)

    def backward(self, dy):
        return dy * self.df(self.x)


class ReLU(Elementwise):
    """Correct ReLU (subgradient 0 at 0)."""

    def f(self, x):
        return np.maximum(x, 0)

    def df(self, x):
        return (x > 0).astype(x.dtype)


class Abs(Elementwise):
    """Correct absolute value (subgradient 0 at 0)."""

    def f(self, x):
        return np.abs(x)

    def df(self, x):
        return np.sign(x)


class Tanh(Elementwise):
    """Correct tanh."""

    def f(self, x):
        return np.tanh(x)

    def df(self, x):
        return 1 - np.tanh(x) ** 2


class InPlaceReLU(ReLU):
    """Bug: forward overwrites its input (np.maximum(x, 0, out=x))."""

    def forward(self, x):
        self.x = x.copy()
        return np.maximum(x, 0, out=x)


class RandomDropout(Elementwise):
    """Bug: an unseeded, always-on dropout (two forwards differ)."""

    def forward(self, x):
        self.mask = np.random.default_rng().random(x.shape) > 0.5
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask


class PairMax(Elementwise):
    """Correct max-pool over adjacent pairs of the last axis (ties go to the first)."""

    def forward(self, x):
        self.x = x
        pairs = x.reshape(*x.shape[:-1], -1, 2)
        self.first = pairs[..., 0] >= pairs[..., 1]
        return pairs.max(axis=-1)

    def backward(self, dy):
        dx = np.zeros((*self.x.shape[:-1], self.x.shape[-1] // 2, 2))
        dx[..., 0] = dy * self.first
        dx[..., 1] = dy * ~self.first
        return dx.reshape(self.x.shape)


class Softmax(Elementwise):
    """Correct softmax over the last axis."""

    def forward(self, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        self.s = e / e.sum(axis=-1, keepdims=True)
        return self.s

    def backward(self, dy):
        return self.s * (dy - (dy * self.s).sum(axis=-1, keepdims=True))


class DiagonalSoftmax(Softmax):
    """Bug: the cross terms of the softmax Jacobian are missing (dx = dy * s * (1 - s))."""

    def backward(self, dy):
        return dy * self.s * (1 - self.s)


class BatchNorm:
    """Correct batch normalisation over axis 0 (training-mode statistics); gamma, beta (F,)."""

    def __init__(self, n=3, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"gamma": rng.uniform(0.5, 1.5, n), "beta": rng.normal(size=n)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        self.std = np.sqrt(x.var(axis=0) + 1e-5)
        self.xhat = (x - x.mean(axis=0)) / self.std
        return self.params["gamma"] * self.xhat + self.params["beta"]

    def backward(self, dy):
        self.grads["gamma"][...] = (dy * self.xhat).sum(axis=0)
        self.grads["beta"][...] = dy.sum(axis=0)
        return self.input_grad(dy * self.params["gamma"])

    def input_grad(self, g):
        return (g - g.mean(axis=0) - self.xhat * (g * self.xhat).mean(axis=0)) / self.std


class ConstantStatsBatchNorm(BatchNorm):
    """Bug: mean and variance treated as constants in backward (dx = dy * gamma / std)."""

    def input_grad(self, g):
        return g / self.std


class Conv1D:
    """Correct 'valid' 1-D cross-correlation: x (n, L), kernel W (k,), y (n, L - k + 1)."""

    def __init__(self, k=3, seed=0):
        self.params = {"W": np.random.default_rng(seed).normal(size=k)}
        self.grads = {"W": np.zeros(k)}

    def forward(self, x):
        self.x = x
        k = len(self.params["W"])
        self.windows = np.lib.stride_tricks.sliding_window_view(x, k, axis=1)
        return self.windows @ self.params["W"]

    def backward(self, dy):
        self.grads["W"][...] = self.kernel_grad(dy)
        k = len(self.params["W"])
        padded = np.pad(dy, ((0, 0), (k - 1, k - 1)))
        return np.lib.stride_tricks.sliding_window_view(padded, k, axis=1) @ self.params["W"][::-1]

    def kernel_grad(self, dy):
        return np.einsum("nlk,nl->k", self.windows, dy)


class FlippedConv1D(Conv1D):
    """Bug: the kernel gradient comes out flipped."""

    def kernel_grad(self, dy):
        return super().kernel_grad(dy)[::-1]


class MSE:
    """Mean squared error loss (mean over all elements)."""

    def forward(self, pred, target):
        if np.shape(pred) != np.shape(target):
            raise ValueError(f"target has shape {np.shape(target)}, pred {np.shape(pred)}")
        self.diff = pred - target
        return float(np.mean(self.diff ** 2))

    def backward(self):
        return 2 * self.diff / self.diff.size
