"""Small custom layers for the plugin tests, copied into each pytester project.

Self-contained (numpy only) so the inner test runs import it from their own
directory, in process or in a subprocess.
"""

import numpy as np


class Scale:
    """y = x * w + b over the last axis; ``broken=True`` doubles dL/dw.

    Parameters
    ----------
    n : int
        Features; x has shape (batch, n).
    broken : bool
        Make the backward pass wrong for ``w`` only.
    """

    def __init__(self, n=3, broken=False):
        rng = np.random.default_rng(0)
        self.params = {"w": rng.normal(size=n), "b": rng.normal(size=n)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self.broken = broken
        self.training = True

    def forward(self, x):
        self.x = x
        return x * self.params["w"] + self.params["b"]

    def backward(self, dy):
        factor = 2.0 if self.broken else 1.0
        self.grads["w"][...] = factor * (dy * self.x).sum(axis=0)
        self.grads["b"][...] = dy.sum(axis=0)
        return dy * self.params["w"]


class ReLU:
    """y = max(x, 0), parameterless, with a kink at 0 (dL/dx taken as 0 there)."""

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.training = True

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0.0)

    def backward(self, dy):
        return dy * (self.x > 0)


def batch(n=3, rows=4, seed=1):
    """A float64 input batch of shape (rows, n) away from zero."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 1.5, size=(rows, n)) * rng.choice([-1.0, 1.0], size=(rows, n))
