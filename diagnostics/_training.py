"""Small training helpers shared by the learning-rate probes (no reference_nets import)."""

from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

__all__ = ["check_data", "fresh_run", "full_loss", "positive", "positive_int", "train_step"]


class _PlainSGD:
    """``p -= lr * g`` in place, for ``optimizer="sgd"``."""

    def __init__(self, lr):
        self.lr = lr

    def bind(self, model):
        self.model = model

    def step(self):
        grads = self.model.grads
        for key, p in self.model.params.items():
            p -= self.lr * grads[key]


def optimizer_factory(optimizer):
    """``lr -> optimizer`` for ``"sgd"`` or a user callable; ValueError otherwise."""
    if optimizer == "sgd":
        return _PlainSGD
    if callable(optimizer):
        return optimizer
    raise ValueError(f"optimizer must be 'sgd' or a callable lr -> optimizer, got {optimizer!r}")


def build_model(make_model, seed):
    """``make_model(seed=seed)`` if it takes a seed, else ``make_model()``."""
    if not callable(make_model):
        raise TypeError(f"make_model must be a callable returning a model, got {make_model!r}")
    params = inspect.signature(make_model).parameters.values()
    takes_seed = any(p.name == "seed" or p.kind is p.VAR_KEYWORD for p in params)
    return make_model(seed=seed) if takes_seed else make_model()


def fresh_run(make_model, optimizer, lr, seed):
    """``(model, optimizer, rng)`` of a new run: a fresh model (seeded when it takes a seed)
    in training mode, its optimizer at ``lr``, the generator of its mini-batch order."""
    model = build_model(make_model, seed)
    opt = optimizer_factory(optimizer)(lr)
    opt.bind(model)
    set_training(model, True)
    return model, opt, np.random.default_rng(seed)


def check_data(X, y):
    """``(X, y)`` as arrays with one row of y per sample of X; ValueError otherwise."""
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim < 2 or len(X) == 0 or len(y) != len(X):
        raise ValueError(f"X must have shape (n_samples, ...) and y n_samples rows; got X "
                         f"{X.shape}, y {y.shape}")
    return X, y


def positive(value, name):
    """``value`` as a float if positive and finite; ValueError naming ``name`` otherwise."""
    if not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def positive_int(value, name):
    """``value`` as an int if it is an integer >= 1; ValueError naming ``name`` otherwise."""
    if not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def set_training(model, flag):
    """Training (True) or evaluation (False) mode, for models that have modes."""
    if callable(getattr(model, "train", None)):
        model.train(flag)
    elif hasattr(model, "training"):
        model.training = flag


def train_step(model, loss, opt, xb, yb) -> float:
    """One training step; the update is skipped when the loss is not finite."""
    value = float(loss.forward(model.forward(xb), yb))
    if math.isfinite(value):
        model.backward(loss.backward())
        opt.step()
    return value


def full_loss(model, loss, X, y, chunk=1024) -> float:
    """Mean loss over (X, y) in evaluation mode, computed in chunks."""
    set_training(model, False)
    with np.errstate(all="ignore"):
        total = sum(loss.forward(model.forward(X[i:i + chunk]), y[i:i + chunk])
                    * len(X[i:i + chunk]) for i in range(0, len(X), chunk))
    set_training(model, True)
    return float(total) / len(X)
