"""A small third-party-style numpy layer library with conventions of its own.

Nothing here follows gradkit's protocol: dicts named ``parameters``/``gradients``, gradients
that accumulate until ``zero_grad()``, weights created at the first call, inputs packed in one
list, an embedding taking integer ids, a batch norm keeping running buffers among its
parameters, and dropout drawing from numpy's global random state. ``BUGS`` names the subtle
bug each class can carry (``bug=True``).
"""

import numpy as np

BUGS = {
    "FC": "dW misses the upstream gradient's batch mean scale (a factor n)",
    "LazyFC": "db sums over the wrong axis order (drops the last sample)",
    "Concat2": "the gradient of the second input is the first's slice",
    "Lookup": "repeated ids overwrite each other's gradient",
    "BatchNorm": "dx drops the mean term",
    "NoisyScale": "the gradient of the scale ignores the dropout mask",
}


class Module:
    """The library's base: ``parameters``/``gradients`` dicts, accumulating ``backward``."""

    def __init__(self, bug=False):
        self.parameters, self.gradients, self.bug = {}, {}, bug

    def zero_grad(self):
        for g in self.gradients.values():
            g.fill(0.0)

    def _add(self, key, value):
        if key not in self.gradients:
            self.gradients[key] = np.zeros_like(self.parameters[key])
        self.gradients[key] += value


class FC(Module):
    def __init__(self, n_in, n_out, bug=False, seed=0):
        super().__init__(bug)
        rng = np.random.default_rng(seed)
        self.parameters = {"weight": rng.standard_normal((n_in, n_out)) / np.sqrt(n_in),
                           "bias": np.zeros(n_out)}

    def __call__(self, x):
        self.x = x
        return x @ self.parameters["weight"] + self.parameters["bias"]

    def backprop(self, g):
        self._add("weight", self.x.T @ g * (len(g) if self.bug else 1))
        self._add("bias", g.sum(0))
        return g @ self.parameters["weight"].T


class LazyFC(Module):
    def __init__(self, n_out, bug=False):
        super().__init__(bug)
        self.n_out = n_out

    def __call__(self, x):
        if not self.parameters:
            rng = np.random.default_rng(1)
            self.parameters = {"weight": rng.standard_normal((x.shape[1], self.n_out)),
                               "bias": rng.standard_normal(self.n_out)}
        self.x = x
        return np.tanh(x @ self.parameters["weight"] + self.parameters["bias"])

    def backprop(self, g):
        g = g * (1 - self(self.x) ** 2)
        self._add("weight", self.x.T @ g)
        self._add("bias", g[:-1].sum(0) if self.bug else g.sum(0))
        return g @ self.parameters["weight"].T


class Concat2(Module):
    """``[a * w, b]`` from ``inputs = [a, b]``; backward returns a list."""

    def __init__(self, n, bug=False):
        super().__init__(bug)
        self.parameters = {"w": np.linspace(0.5, 1.5, n)}

    def __call__(self, inputs):
        self.a, self.b = inputs
        return np.concatenate([self.a * self.parameters["w"], self.b], axis=1)

    def backprop(self, g):
        n = self.a.shape[1]
        self._add("w", (g[:, :n] * self.a).sum(0))
        db = g[:, :n] if self.bug else g[:, n:]
        return [g[:, :n] * self.parameters["w"], db]


class Lookup(Module):
    def __init__(self, vocab, dim, bug=False):
        super().__init__(bug)
        self.parameters = {"table": np.random.default_rng(2).standard_normal((vocab, dim))}

    def __call__(self, ids):
        self.ids = ids
        return self.parameters["table"][ids]

    def backprop(self, g):
        grad = np.zeros_like(self.parameters["table"])
        if self.bug:
            grad[self.ids] = g
        else:
            np.add.at(grad, self.ids, g)
        self._add("table", grad)


class BatchNorm(Module):
    """Training-mode batch norm; ``running_mean``/``running_var`` live in ``parameters``."""

    def __init__(self, n, bug=False):
        super().__init__(bug)
        self.parameters = {"gamma": np.linspace(0.5, 2.0, n), "beta": np.zeros(n),
                           "running_mean": np.zeros(n), "running_var": np.ones(n)}

    def __call__(self, x):
        mu, var = x.mean(0), x.var(0)
        self.parameters["running_mean"] *= 0.9
        self.parameters["running_mean"] += 0.1 * mu
        self.parameters["running_var"] *= 0.9
        self.parameters["running_var"] += 0.1 * var
        self.std = np.sqrt(var + 1e-5)
        self.xhat = (x - mu) / self.std
        return self.xhat * self.parameters["gamma"] + self.parameters["beta"]

    def backprop(self, g):
        self._add("gamma", (g * self.xhat).sum(0))
        self._add("beta", g.sum(0))
        gx = g * self.parameters["gamma"]
        mean_term = 0.0 if self.bug else gx.mean(0)
        return (gx - mean_term - self.xhat * (gx * self.xhat).mean(0)) / self.std


class NoisyScale(Module):
    """``x * s * mask / keep`` with the mask drawn from ``np.random`` (global state)."""

    def __init__(self, n, keep=0.7, bug=False):
        super().__init__(bug)
        self.parameters, self.keep = {"s": np.linspace(1.0, 2.0, n)}, keep

    def __call__(self, x):
        self.x = x
        self.mask = (np.random.random(x.shape) < self.keep) / self.keep  # noqa: NPY002
        return x * self.parameters["s"] * self.mask

    def backprop(self, g):
        self._add("s", (g * self.x * (1.0 if self.bug else self.mask)).sum(0))
        return g * self.parameters["s"] * self.mask
