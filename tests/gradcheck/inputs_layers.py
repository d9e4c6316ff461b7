"""Layers with several inputs or outputs, integer inputs and buffers, right and wrong."""

import numpy as np


class Bilinear:
    """``y = (a @ W) * b``; ``bug="db"`` scales db by 1.001, ``"count"`` returns only da,
    ``"one"`` returns da alone (not a tuple)."""

    def __init__(self, bug=None, seed=0):
        self.params = {"W": np.random.default_rng(seed).standard_normal((3, 4))}
        self.grads = {}
        self.bug = bug

    def forward(self, a, b):
        self.a, self.b = a, b
        self.h = a @ self.params["W"]
        return self.h * b

    def backward(self, dy):
        dh = dy * self.b
        self.grads["W"] = self.a.T @ dh
        da = dh @ self.params["W"].T
        db = dy * self.h * (1.001 if self.bug == "db" else 1.0)
        return {"count": (da,), "one": da}.get(self.bug, (da, db))


class KeywordAttention:
    """``softmax(q k^T) v`` with keyword inputs; backward returns a dict by name."""

    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, *, q, k, v):
        s = q @ k.T
        p = np.exp(s - s.max(1, keepdims=True))
        self.p = p / p.sum(1, keepdims=True)
        self.q, self.k, self.v = q, k, v
        return self.p @ v

    def backward(self, dy):
        dp = dy @ self.v.T
        ds = self.p * (dp - (dp * self.p).sum(1, keepdims=True))
        return {"q": ds @ self.k, "k": ds.T @ self.q, "v": self.p.T @ dy}


class Embedding:
    """Rows of ``E`` picked by integer ids; ``bug=True`` overwrites repeated ids' gradients."""

    def __init__(self, bug=False):
        self.params = {"E": np.random.default_rng(1).standard_normal((10, 4))}
        self.grads = {}
        self.bug = bug

    def forward(self, ids):
        self.ids = ids
        return self.params["E"][ids]

    def backward(self, dy):
        g = np.zeros_like(self.params["E"])
        if self.bug:
            g[self.ids] = dy
        else:
            np.add.at(g, self.ids, dy)
        self.grads["E"] = g
        return None


class MaskedScale:
    """``y = x * s`` where ``mask`` (bool) is true, 0 elsewhere: a float and a bool input."""

    def __init__(self):
        self.params = {"s": np.array([1.5, -0.5, 2.0])}
        self.grads = {}

    def forward(self, x, mask):
        self.x, self.mask = x, mask
        return np.where(mask, x * self.params["s"], 0.0)

    def backward(self, dy):
        self.grads["s"] = np.where(self.mask, dy * self.x, 0.0).sum(0)
        return np.where(self.mask, dy * self.params["s"], 0.0), None


class SquareAndSine:
    """Two outputs ``(x[:, :2]**2, sin(x[:, 2:]))``; ``bug=True`` drops cos in the second."""

    def __init__(self, bug=False):
        self.params, self.grads = {}, {}
        self.bug = bug

    def forward(self, x):
        self.x = x
        return x[:, :2] ** 2, np.sin(x[:, 2:])

    def backward(self, d_square, d_sine):
        slope = 1.0 if self.bug else np.cos(self.x[:, 2:])
        return np.concatenate([2 * self.x[:, :2] * d_square, slope * d_sine], axis=1)


class ScalesItsInput:
    """Correct gradients, but forward writes into its second input."""

    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, a, b):
        self.a = a
        b *= 2.0
        self.b = b
        return a * b

    def backward(self, dy):
        return dy * self.b, dy * self.a * 2.0


class RunningNorm:
    """Normalises by the batch statistics and tracks running ones in a ``buffers`` dict (and
    an integer step counter in ``params``), with a ``cache`` sub-object: state the check must
    restore exactly."""

    class Cache:
        def __init__(self):
            self.x = None
            self.history = [np.zeros(3)]

    def __init__(self):
        self.params = {"gamma": np.array([1.0, 2.0, 0.5]), "steps": np.zeros((), np.int64)}
        self.grads = {}
        self.buffers = {"mean": np.zeros(3), "var": np.ones(3)}
        self.cache = self.Cache()

    def forward(self, x):
        mu, var = x.mean(0), x.var(0)
        self.buffers["mean"] = 0.9 * self.buffers["mean"] + 0.1 * mu
        self.buffers["var"] *= 0.9
        self.buffers["var"] += 0.1 * var
        self.params["steps"] += 1
        self.cache.x = x
        self.cache.history.append(mu)
        self.xhat = (x - mu) / np.sqrt(var + 1e-5)
        self.std = np.sqrt(var + 1e-5)
        return self.xhat * self.params["gamma"]

    def backward(self, dy):
        self.grads["gamma"] = (dy * self.xhat).sum(0)
        g = dy * self.params["gamma"]
        n = len(dy)
        return (n * g - g.sum(0) - self.xhat * (g * self.xhat).sum(0)) / (n * self.std)
