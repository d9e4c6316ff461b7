"""Models that are not a plain list of layers, for the check_model tests: layers as
attributes, in a dict, in nested blocks, residual blocks, two branches, a tied layer.

Each holds zoo layers (``tests.gradcheck.zoo_layers``); ``layer_class`` swaps one of them
for a broken subclass, and a few ``Wrong*`` models get the composition itself wrong.
"""

from __future__ import annotations

import numpy as np

from tests.gradcheck import zoo_layers as z


class Attributes:
    """``fc2(tanh(fc1(x)))`` with the layers as attributes; (n, 4) -> (n, 2)."""

    def __init__(self, fc2=z.Linear):
        self.fc1, self.act, self.fc2 = z.Linear(4, 5, seed=1), z.Tanh(), fc2(5, 2, seed=2)

    def forward(self, x):
        return self.fc2.forward(self.act.forward(self.fc1.forward(x)))

    def backward(self, dy):
        return self.fc1.backward(self.act.backward(self.fc2.backward(dy)))


class Named:
    """``dec(tanh(enc(x)))`` with the layers in a dict of named sub-layers; (n, 4) -> (n, 2)."""

    def __init__(self):
        self.parts = {"enc": z.Linear(4, 3, seed=3), "act": z.Tanh(),
                      "dec": z.Linear(3, 2, seed=4)}

    def forward(self, x):
        for key in ("enc", "act", "dec"):
            x = self.parts[key].forward(x)
        return x

    def backward(self, dy):
        for key in ("dec", "act", "enc"):
            dy = self.parts[key].backward(dy)
        return dy


class Residual:
    """``y = x + fc2(tanh(fc1(x)))``: a block of width ``n`` holding two layers."""

    def __init__(self, n=4, seed=0, fc2=z.Linear):
        self.fc1 = z.Linear(n, n, seed=seed, scale=0.5)
        self.act = z.Tanh()
        self.fc2 = fc2(n, n, seed=seed + 1, scale=0.5)

    def forward(self, x):
        return x + self.fc2.forward(self.act.forward(self.fc1.forward(x)))

    def backward(self, dy):
        return dy + self.fc1.backward(self.act.backward(self.fc2.backward(dy)))


class SkipForgotten(Residual):
    """Bug: backward drops the identity path (``dx = f'(x) dy``, not ``dy + f'(x) dy``)."""

    def backward(self, dy):
        return self.fc1.backward(self.act.backward(self.fc2.backward(dy)))


class ResNet:
    """``head(blocks[-1](...(blocks[0](stem(x)))))``: (n, 3) -> (n, 2), blocks of width 4."""

    def __init__(self, blocks):
        self.stem, self.blocks, self.head = z.Linear(3, 4, seed=10), list(blocks), z.Linear(
            4, 2, seed=11)

    def forward(self, x):
        x = self.stem.forward(x)
        for b in self.blocks:
            x = b.forward(x)
        return self.head.forward(x)

    def backward(self, dy):
        dy = self.head.backward(dy)
        for b in reversed(self.blocks):
            dy = b.backward(dy)
        return self.stem.backward(dy)


def resnet(n_blocks=4, broken=None, at=2) -> ResNet:
    """A ResNet of ``Residual`` blocks; block ``at`` is ``broken(4, seed)`` when given."""
    return ResNet([(broken if broken is not None and i == at else Residual)(4, 20 + 2 * i)
                   for i in range(n_blocks)])


class Nested:
    """A block inside a block: ``outer.inner`` holds a Residual, ``outer.fc`` a layer."""

    def __init__(self):
        self.outer = _Outer()
        self.head = z.Linear(4, 2, seed=5)

    def forward(self, x):
        return self.head.forward(self.outer.forward(x))

    def backward(self, dy):
        return self.outer.backward(self.head.backward(dy))


class _Outer:
    def __init__(self):
        self.fc, self.inner = z.Linear(3, 4, seed=6), Residual(4, seed=7)

    def forward(self, x):
        return self.inner.forward(self.fc.forward(x))

    def backward(self, dy):
        return self.fc.backward(self.inner.backward(dy))


class Branches:
    """Two branches of the same input, added (``merge="add"``) or concatenated (``"cat"``):
    ``head(a(x) + tanh(b(x)))`` or ``head([a(x), tanh(b(x))])``."""

    def __init__(self, merge="add", a=z.Linear):
        self.merge = merge
        self.a, self.b, self.act = a(4, 3, seed=8), z.Linear(4, 3, seed=9), z.Tanh()
        self.head = z.Linear(3 if merge == "add" else 6, 2, seed=12)

    def forward(self, x):
        ya, yb = self.a.forward(x), self.act.forward(self.b.forward(x))
        return self.head.forward(ya + yb if self.merge == "add" else np.hstack([ya, yb]))

    def backward(self, dy):
        dh = self.head.backward(dy)
        da, db = (dh, dh) if self.merge == "add" else (dh[:, :3], dh[:, 3:])
        return self.a.backward(da) + self.b.backward(self.act.backward(db))


class Tied:
    """One square layer applied twice, ``fc(tanh(fc(x)))``; backward recomputes the first
    call's forward (the layer caches one input) and sums the two calls' gradients."""

    def __init__(self, fc=z.Linear):
        self.fc, self.act = fc(4, 4, seed=13, scale=0.5), z.Tanh()

    def forward(self, x):
        self.x = x
        return self.fc.forward(self.act.forward(self.fc.forward(x)))

    def backward(self, dy):
        da = self.fc.backward(dy)   # the cache holds the second call's input
        second = {k: g.copy() for k, g in self.fc.grads.items()}
        self.fc.forward(self.x)      # recompute the first call's cache
        dx = self.fc.backward(self.act.backward(da))
        for k, g in second.items():
            self.fc.grads[k] += g
        return dx


class TiedNotSummed(Tied):
    """Bug: the shared layer's grads keep only its first call's share."""

    def backward(self, dy):
        da = self.fc.backward(dy)
        self.fc.forward(self.x)
        return self.fc.backward(self.act.backward(da))


class ResidualLeaf(z.Linear):
    """One layer ``y = x + tanh(x @ W + b)`` (square W): a residual block as a leaf."""

    def __init__(self, n=4, seed=0):
        super().__init__(n, n, seed=seed, scale=0.5)

    def forward(self, x):
        self.x, self.t = x, np.tanh(x @ self.params["W"] + self.params["b"])
        return x + self.t

    def backward(self, dy):
        dz = dy * (1 - self.t ** 2)
        self.grads["W"][...] = self.x.T @ dz
        self.grads["b"][...] = dz.sum(axis=0)
        return self.skip(dy) + dz @ self.params["W"].T

    def skip(self, dy):
        return dy


class SkipForgottenLeaf(ResidualLeaf):
    """Bug: dx drops the identity path."""

    def skip(self, dy):
        return 0 * dy


class Concat:
    """A merge layer with two inputs: ``forward(a, b) = [a, b]`` along axis 1."""

    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, a, b):
        self.n = a.shape[1]
        return np.hstack([a, b])

    def backward(self, dy):
        return dy[:, :self.n], dy[:, self.n:]


class Merged(Branches):
    """Two branches merged by a :class:`Concat` layer: ``head(cat(a(x), tanh(b(x))))``."""

    def __init__(self):
        super().__init__("cat")
        self.cat = Concat()

    def forward(self, x):
        return self.head.forward(self.cat.forward(self.a.forward(x),
                                                  self.act.forward(self.b.forward(x))))

    def backward(self, dy):
        da, db = self.cat.backward(self.head.backward(dy))
        return self.a.backward(da) + self.b.backward(self.act.backward(db))


class Scaled:
    """A block with a parameter of its own: ``y = x + gamma * fc(x)`` (gamma (n,))."""

    def __init__(self, n=4, seed=0):
        self.fc = z.Linear(n, n, seed=seed, scale=0.5)
        self.params = {"gamma": np.linspace(0.5, 1.5, n)}
        self.grads = {"gamma": np.zeros(n)}

    def forward(self, x):
        self.h = self.fc.forward(x)
        return x + self.params["gamma"] * self.h

    def backward(self, dy):
        self.grads["gamma"][...] = (dy * self.h).sum(axis=0)
        return dy + self.fc.backward(dy * self.params["gamma"])


class WithSpare(Attributes):
    """``Attributes`` plus a layer its forward never calls."""

    def __init__(self):
        super().__init__()
        self.spare = z.Linear(5, 5, seed=3)


class Unreached(Attributes):
    """Bug: backward never calls fc1's backward (fc1's grads stay as they were)."""

    def backward(self, dy):
        return self.act.backward(self.fc2.backward(dy)) @ self.fc1.params["W"].T


class SharedWeight(Attributes):
    """Two layers holding one weight array: ``fc2.params["W"] is fc1.params["W"]`` (square),
    or with ``view=True`` its transpose, a view (a tied encoder/decoder)."""

    def __init__(self, view=False):
        super().__init__()
        self.fc1, self.fc2 = z.Linear(4, 4, seed=1, scale=0.5), z.Linear(4, 2, seed=2)
        self.fc2 = z.Linear(4, 4, seed=2, scale=0.5)
        w = self.fc1.params["W"]
        self.fc2.params["W"] = w.T if view else w


class StaleTranspose(z.Linear):
    """Bug: caches W.T on the first backward and keeps using it."""

    def input_grad(self, dy):
        if not hasattr(self, "wt"):
            self.wt = self.params["W"].T.copy()
        return dy @ self.wt
