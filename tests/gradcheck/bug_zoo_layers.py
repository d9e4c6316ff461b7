"""Correct numpy layers of the likely-cause bug zoo (the bugs in :mod:`bug_zoo` subclass them).

Every layer follows the layer protocol (``params``, ``grads``, ``forward``, ``backward``
overwriting ``grads``) and splits its backward into small methods, so a bug overrides one.
Shapes: dense (n, F); conv and pooling NCHW; attention (n, T, d); embedding (n, T) with the
ids in a fixed table (x is a float offset added to every embedding); losses are layers with a
fixed target whose forward returns the loss as a 0-d array.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _normal(seed: int, **shapes) -> dict:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s) for k, s in shapes.items()}


class Layer:
    """Base: ``params`` from shapes, zero ``grads`` of the same shapes."""

    def __init__(self, seed: int = 1, **shapes):
        self.params = _normal(seed, **shapes)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def write(self, **grads) -> None:
        for key, value in grads.items():
            self.grads[key][...] = value


class Dense(Layer):
    """``y = x @ W + b``; W (F, F) square, b (F,)."""

    def __init__(self, features: int = 4):
        super().__init__(W=(features, features), b=(features,))

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dy):
        self.write(W=self.weight_grad(dy), b=dy.sum(axis=0))
        return self.input_grad(dy)

    def weight_grad(self, dy):
        return self.x.T @ dy

    def input_grad(self, dy):
        return dy @ self.params["W"].T


class Residual(Dense):
    """``y = x @ W + b + x`` (a skip connection)."""

    def forward(self, x):
        return super().forward(x) + x

    def input_grad(self, dy):
        return dy @ self.params["W"].T + dy


class Conv2D(Layer):
    """'valid' cross-correlation, stride 1: x (n, C, H, W), W (O, C, k, k), b (O,)."""

    def __init__(self, channels: int = 2, out: int = 3, k: int = 3):
        super().__init__(W=(out, channels, k, k), b=(out,))

    def forward(self, x):
        k = self.params["W"].shape[-1]
        self.x = x
        self.windows = sliding_window_view(x, (k, k), axis=(2, 3))   # (n, C, Ho, Wo, k, k)
        y = np.einsum("nchwij,ocij->nohw", self.windows, self.params["W"])
        return y + self.params["b"][:, None, None]

    def backward(self, dy):
        self.write(W=self.kernel_grad(dy), b=self.bias_grad(dy))
        return self.input_grad(dy)

    def kernel_grad(self, dy):
        """im2col: (C k k, n Ho Wo) @ (n Ho Wo, O) = a (C k k, O) matrix, transposed back."""
        o, c, k, _ = self.params["W"].shape
        cols = self.windows.transpose(1, 4, 5, 0, 2, 3).reshape(c * k * k, -1)
        return (cols @ dy.transpose(0, 2, 3, 1).reshape(-1, o)).T.reshape(o, c, k, k)

    def bias_grad(self, dy):
        return dy.sum(axis=(0, 2, 3))

    def input_grad(self, dy):
        _, c, k, _ = self.params["W"].shape
        _, _, ho, wo = dy.shape
        dx = np.zeros_like(self.x)
        for ch in self.channels(c):
            for i in range(k):
                for j in range(k):
                    dx[:, ch, i:i + ho, j:j + wo] += np.einsum(
                        "nohw,o->nhw", dy, self.params["W"][:, ch, i, j])
        return dx

    def channels(self, c: int):
        return range(c)


class MaxPool2D(Layer):
    """Max over ``size`` x ``size`` windows at ``stride`` (overlapping when stride < size)."""

    def __init__(self, size: int = 3, stride: int = 2):
        super().__init__()
        self.size, self.stride = size, stride

    def forward(self, x):
        self.x = x
        s = self.stride
        windows = sliding_window_view(x, (self.size, self.size), axis=(2, 3))[:, :, ::s, ::s]
        self.argmax = windows.reshape(*windows.shape[:4], -1).argmax(axis=-1)
        return windows.max(axis=(-2, -1))

    def backward(self, dy):
        dx = np.zeros_like(self.x)
        k, s = self.size, self.stride
        for i in range(dy.shape[2]):
            for j in range(dy.shape[3]):
                mask = self.mask(i, j)
                self.route(dx[:, :, i * s:i * s + k, j * s:j * s + k], mask, dy[:, :, i, j])
        return dx

    def mask(self, i: int, j: int):
        """(n, C, k, k): True at each window's maximum."""
        flat = np.arange(self.size * self.size) == self.argmax[:, :, i, j, None]
        return flat.reshape(*flat.shape[:2], self.size, self.size)

    def route(self, window, mask, dy):
        window += mask * dy[..., None, None]


class AvgPool2D(Layer):
    """Mean over non-overlapping ``size`` x ``size`` windows."""

    def __init__(self, size: int = 2):
        super().__init__()
        self.size = size

    def forward(self, x):
        n, c, h, w = x.shape
        k = self.size
        return x.reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5))

    def backward(self, dy):
        k = self.size
        return np.repeat(np.repeat(dy, k, axis=2), k, axis=3) / self.divisor()

    def divisor(self):
        return self.size * self.size


class BatchNorm(Layer):
    """Batch normalisation over axis 0 of (n, F); eval mode uses the running statistics."""

    def __init__(self, features: int = 5, eps: float = 1e-3):
        super().__init__(gamma=(features,), beta=(features,))
        self.params["gamma"] = 1 + 0.5 * np.tanh(self.params["gamma"])   # within (0.5, 1.5)
        self.eps, self.training = eps, True
        self.running_mean, self.running_var = np.full(features, 0.1), np.full(features, 1.2)

    def forward(self, x):
        mean, var = (x.mean(axis=0), x.var(axis=0)) if self.training else \
            (self.running_mean, self.running_var)
        self.x, self.mean, self.var = x, mean, var
        self.std = np.sqrt(var + self.eps)
        self.xhat = (x - mean) / self.std
        return self.params["gamma"] * self.xhat + self.params["beta"]

    def backward(self, dy):
        self.write(gamma=(dy * self.normalised()).sum(axis=0), beta=dy.sum(axis=0))
        g = self.scaled(dy)
        return self.batch_grad(g) if self.training else g / self.std

    def normalised(self):
        return self.xhat

    def scaled(self, dy):
        return dy * self.params["gamma"]

    def batch_grad(self, g):
        xhat = self.xhat
        return (g - g.mean(axis=0) - xhat * (g * xhat).mean(axis=0)) / self.std


class Dropout(Layer):
    """Inverted dropout with a mask fixed by ``seed`` (deterministic); identity in eval mode."""

    def __init__(self, p: float = 0.5, seed: int = 3):
        super().__init__()
        self.p, self.seed, self.training = p, seed, True

    def forward(self, x):
        keep = np.random.default_rng(self.seed).random(x.shape) >= self.p
        self.mask = keep / (1 - self.p) if self.training else np.ones_like(x)
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask


class Attention(Layer):
    """Single-head self-attention ``softmax(Q K^T / sqrt(d)) V``; x (n, T, d), Wq, Wk, Wv (d, d)."""

    def __init__(self, d: int = 3):
        super().__init__(Wq=(d, d), Wk=(d, d), Wv=(d, d))

    def forward(self, x):
        self.x = x
        self.q, self.k, self.v = (x @ self.params[w] for w in ("Wq", "Wk", "Wv"))
        s = self.q @ self.k.transpose(0, 2, 1) / np.sqrt(x.shape[-1])
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        self.p = e / e.sum(axis=-1, keepdims=True)
        return self.p @ self.v

    def backward(self, dy):
        dv = self.value_grad(dy)
        ds = self.softmax_grad(dy @ self.v.transpose(0, 2, 1)) * self.score_scale()
        dq, dk = ds @ self.k, self.key_grad(ds)
        x2 = self.x.reshape(-1, self.x.shape[-1])
        paths = {"Wq": dq, "Wk": dk, "Wv": dv}
        self.write(**{w: x2.T @ g.reshape(x2.shape) for w, g in paths.items()})
        return sum(g @ self.params[w].T for w, g in paths.items())

    def value_grad(self, dy):
        return self.p.transpose(0, 2, 1) @ dy

    def key_grad(self, ds):
        return ds.transpose(0, 2, 1) @ self.q

    def softmax_grad(self, dp):
        return self.p * (dp - (dp * self.p).sum(axis=-1, keepdims=True))

    def score_scale(self):
        return 1 / np.sqrt(self.x.shape[-1])


class RNNCell(Layer):
    """One step ``h = tanh(x Wx + h0 Wh + b)`` from a fixed previous state h0 (n, H)."""

    def __init__(self, d: int = 3, hidden: int = 4):
        super().__init__(Wx=(d, hidden), Wh=(hidden, hidden), b=(hidden,))

    def forward(self, x):
        self.x = x
        self.h0 = np.random.default_rng(len(x)).normal(size=(len(x), len(self.params["b"])))
        self.h = np.tanh(x @ self.params["Wx"] + self.h0 @ self.params["Wh"] + self.params["b"])
        return self.h

    def backward(self, dy):
        dz = dy * self.tanh_grad()
        self.write(Wx=self.x.T @ dz, Wh=self.recurrent_grad(dz), b=dz.sum(axis=0))
        return dz @ self.params["Wx"].T

    def tanh_grad(self):
        return 1 - self.h ** 2

    def recurrent_grad(self, dz):
        return self.h0.T @ dz


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


class GRUCell(Layer):
    """One GRU step from a fixed h0: gates z, r; candidate n; ``h = (1 - z) n + z h0``."""

    def __init__(self, d: int = 3, hidden: int = 4):
        super().__init__(**{f"{m}{g}": (d if m == "W" else hidden, hidden)
                            for m in "WU" for g in "zrn"})

    def forward(self, x):
        p = self.params
        self.x = x
        self.h0 = np.random.default_rng(len(x)).normal(size=(len(x), p["Uz"].shape[0]))
        self.z = _sigmoid(x @ p["Wz"] + self.h0 @ p["Uz"])
        self.r = _sigmoid(x @ p["Wr"] + self.h0 @ p["Ur"])
        self.n = np.tanh(x @ p["Wn"] + (self.r * self.h0) @ p["Un"])
        return (1 - self.z) * self.n + self.z * self.h0

    def backward(self, dy):
        p, h0 = self.params, self.h0
        dan = dy * (1 - self.z) * (1 - self.n ** 2)
        daz = self.update_grad(dy) * self.z * (1 - self.z)
        dar = self.reset_grad(dan @ p["Un"].T) * self.r * (1 - self.r)
        self.write(Wz=self.x.T @ daz, Uz=h0.T @ daz, Wr=self.x.T @ dar, Ur=h0.T @ dar,
                   Wn=self.x.T @ dan, Un=(self.r * h0).T @ dan)
        return daz @ p["Wz"].T + dar @ p["Wr"].T + dan @ p["Wn"].T

    def update_grad(self, dy):
        return dy * (self.h0 - self.n)

    def reset_grad(self, d_rh0):
        return d_rh0 * self.h0


class Embedding(Layer):
    """``y = W[ids] + x[..., None]``; ids (n, T) a fixed table with repeats, W (V, D)."""

    def __init__(self, vocab: int = 12, dim: int = 3):
        super().__init__(W=(vocab, dim))

    def forward(self, x):
        self.ids = np.random.default_rng(7).integers(0, len(self.params["W"]), x.shape)
        return self.params["W"][self.ids] + x[..., None]

    def backward(self, dy):
        self.grads["W"][...] = 0.0
        self.scatter(self.grads["W"], dy)
        return dy.sum(axis=-1)

    def scatter(self, dW, dy):
        np.add.at(dW, self.ids, dy)


class Loss(Layer):
    """A loss with a fixed target as a layer: ``forward(x)`` is the loss (0-d),
    ``backward(dy) = dy * grad``."""

    def backward(self, dy):
        return dy * self.grad()


class MSE(Loss):
    """Mean squared error over all elements against a fixed target."""

    def forward(self, x):
        self.diff = x - np.random.default_rng(5).normal(size=x.shape)
        return np.asarray(np.mean(self.diff ** 2))

    def grad(self):
        return 2 * self.diff / self.diff.size


class CrossEntropy(Loss):
    """Softmax cross-entropy over the last axis, mean over the batch, fixed labels."""

    def forward(self, x):
        self.labels = np.random.default_rng(5).integers(0, x.shape[1], len(x))
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.prob = e / e.sum(axis=1, keepdims=True)
        return np.asarray(-np.log(self.prob[np.arange(len(x)), self.labels]).mean())

    def grad(self):
        return (self.prob - np.eye(self.prob.shape[1])[self.labels]) / len(self.prob)


class BCEWithLogits(Loss):
    """Binary cross-entropy on logits, mean over all elements, fixed 0/1 targets."""

    def forward(self, x):
        self.x, self.t = x, np.random.default_rng(5).integers(0, 2, x.shape)
        return np.asarray(np.mean(np.logaddexp(0, x) - self.t * x))

    def grad(self):
        return (_sigmoid(self.x) - self.t) / self.x.size
