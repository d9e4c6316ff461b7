"""Tiny protocol-following layers, loss, optimizer and loop for the diagnostics tests.

They are deliberately independent of ``reference_nets``: diagnostics must work with
any layer that follows the DESIGN.md layer protocol, and these show the minimum.
"""

import itertools

import numpy as np

from diagnostics import call_hooks


class Dense:
    """``y = x @ W + b``; params ``W`` (n_in, n_out), ``b`` (n_out,)."""

    def __init__(self, n_in, n_out, rng, scale=None, bias=0.0):
        scale = np.sqrt(2.0 / n_in) if scale is None else scale
        self.params = {"W": rng.normal(0.0, scale, (n_in, n_out)), "b": np.full(n_out, bias)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dy):
        self.grads["W"] = self.x.T @ dy
        self.grads["b"] = dy.sum(axis=0)
        return dy @ self.params["W"].T


class ClippedBackwardDense(Dense):
    """A broken Dense: its backward propagates through ``clip(W, -limit, limit)`` (a
    leftover of a clipping experiment), so dL/dx is right until training grows some
    weight past ``limit``."""

    def __init__(self, n_in, n_out, rng, scale=None, limit=0.3):
        super().__init__(n_in, n_out, rng, scale)
        self.limit = limit

    def backward(self, dy):
        self.grads["W"] = self.x.T @ dy
        self.grads["b"] = dy.sum(axis=0)
        return dy @ np.clip(self.params["W"], -self.limit, self.limit).T


class ReLU:
    """Elementwise ``max(x, 0)``."""

    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask


class Sigmoid:
    """Elementwise logistic function."""

    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, x):
        self.y = 1.0 / (1.0 + np.exp(-x))
        return self.y

    def backward(self, dy):
        return dy * self.y * (1.0 - self.y)


class Net:
    """A sequential model with qualified parameter names ``"<index>.<key>"``."""

    def __init__(self, layers):
        self.layers = layers

    @property
    def params(self):
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.params.items()}

    @property
    def grads(self):
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.grads.items()}

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy


class CrossEntropy:
    """Softmax cross-entropy on logits with integer labels, mean over the batch."""

    def forward(self, logits, y):
        z = logits - logits.max(axis=1, keepdims=True)
        self.p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        self.y = y
        return float(-np.log(self.p[np.arange(len(y)), y] + 1e-300).mean())

    def backward(self):
        d = self.p.copy()
        d[np.arange(len(self.y)), self.y] -= 1.0
        return d / len(self.y)


class SGD:
    """Momentum SGD updating ``model.params`` in place (the contract's optimizer shape)."""

    def __init__(self, lr, momentum=0.0):
        self.lr, self.momentum, self.velocity = lr, momentum, {}

    def bind(self, model):
        self.model = model

    def step(self):
        grads = self.model.grads
        for name, p in self.model.params.items():
            v = self.velocity.setdefault(name, np.zeros_like(p))
            v *= self.momentum
            v -= self.lr * grads[name]
            p += v


class OwnOptimizer:
    """A user's own optimizer: steps the wrapped one (e.g. a ``reference_nets`` SGD) and
    offers no update reports (``diagnostics.optimizer_updates``)."""

    def __init__(self, inner):
        self.inner, self.lr = inner, inner.lr

    def bind(self, model):
        self.inner.bind(model)
        return self

    def step(self):
        self.inner.step()


def mlp(sizes, activation=ReLU, seed=0, scale=None, bias=0.0):
    """Dense/activation alternating, no activation after the last Dense."""
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers += [Dense(n_in, n_out, rng, scale, bias), activation()]
    return Net(layers[:-1])


def late_break_net(seed=0):
    """8-16-16-3 ReLU net whose middle Dense (layer ``"2:ClippedBackwardDense"``) starts
    with weights well inside its clip limit 0.3 (scale 0.05)."""
    rng = np.random.default_rng(seed)
    return Net([Dense(8, 16, rng), ReLU(), ClippedBackwardDense(16, 16, rng, scale=0.05),
                ReLU(), Dense(16, 3, rng)])


class StepClock:
    """A clock for ``Monitor(clock=...)`` that makes the budget schedule deterministic, as
    on an idle machine: every training step takes ``step`` seconds (it is a hook: list it
    with the Monitor) and every reading of the clock ``call`` seconds more (so each piece
    of recording work the Monitor times costs ``call``).

    Defaults: the digits MLP's 190 us step and about 5 us per timed piece of recording
    (``bench/diagnostics_overhead.py``).
    """

    def __init__(self, step=190e-6, call=5e-6):
        self.now, self.step, self.call = 0.0, step, call

    def __call__(self) -> float:
        self.now += self.call
        return self.now

    def on_batch_begin(self, step, x=None, y=None):
        self.now += self.step


def blobs(n=512, n_in=16, n_classes=4, seed=0):
    """Linearly separable-ish Gaussian blobs: ``X`` (n, n_in) float64, ``y`` (n,) int64."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    centers = rng.normal(0.0, 2.0, (n_classes, n_in))
    return centers[y] + rng.normal(0.0, 1.0, (n, n_in)), y


def fit(model, loss, opt, X, y, *, epochs=2, batch_size=32, hooks=()):
    """A hand-written loop calling the hook methods where ``train`` would."""
    call_hooks(hooks, "on_train_begin", model, opt)
    opt.bind(model)
    step = 0
    for epoch in range(1, epochs + 1):
        for i in range(0, len(X), batch_size):
            xb, yb = X[i:i + batch_size], y[i:i + batch_size]
            call_hooks(hooks, "on_batch_begin", step, xb, yb)
            value = loss.forward(model.forward(xb), yb)
            model.backward(loss.backward())
            call_hooks(hooks, "on_backward_end", step, model, value)
            opt.step()
            call_hooks(hooks, "on_step_end", step, model)
            step += 1
        call_hooks(hooks, "on_epoch_end", epoch, {"epoch": epoch, "train_loss": value})
    call_hooks(hooks, "on_train_end", model)
