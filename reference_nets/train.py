"""Mini-batch training loop with the gradkit hook protocol."""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from tqdm import tqdm

from reference_nets._validate import (
    as_numeric,
    check_finite,
    check_positive_int,
    check_positive_number,
)
from reference_nets.model import set_mode
from reference_nets.optim import clip_grad_norm, clip_grad_value

__all__ = ["HOOK_METHODS", "HookError", "train"]

HOOK_METHODS = ("on_train_begin", "on_batch_begin", "on_backward_end", "on_step_end",
                "on_epoch_end", "on_train_end")


class HookError(RuntimeError):
    """A training hook raised; the message names the hook class and method, the
    original exception is chained as ``__cause__``."""


class _Hooks:
    """Calls one hook method on every hook that defines it, wrapping failures."""

    def __init__(self, hooks):
        hooks = list(hooks)
        self._calls = {name: [(h, getattr(h, name)) for h in hooks
                              if callable(getattr(h, name, None))] for name in HOOK_METHODS}

    def __call__(self, name: str, *args) -> None:
        for hook, method in self._calls[name]:
            try:
                method(*args)
            except Exception as exc:
                raise HookError(f"training stopped: hook {type(hook).__name__}.{name} raised "
                                f"{type(exc).__name__}: {exc}") from exc


def _check_data(model, loss, X, y, name_x: str, name_y: str):
    """Validate one (inputs, targets) pair; return them as arrays."""
    X = as_numeric(X, name_x, "train")
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(f"train: {name_x} must have shape (n_samples, ...) with n_samples >= 1 "
                         f"and at least 2 dimensions, got shape {X.shape}")
    check_finite(X, name_x, "train")
    if np.ndim(y) == 0 or len(y) != len(X):
        raise ValueError(f"train: {name_y} must have {len(X)} rows (one per row of {name_x}), "
                         f"got shape {np.shape(y)}")
    if not callable(getattr(loss, "check_target", None)):
        return X, np.asarray(y)
    set_mode(model, False)
    out_shape = np.shape(model.forward(X[:1]))
    set_mode(model, True)
    return X, loss.check_target(y, (len(X), *out_shape[1:]), name=name_y)


def _check_options(n: int, epochs, batch_size, clip_norm, clip_value):
    """Validate the scalar options of ``train``."""
    epochs = check_positive_int(epochs, "epochs", "train")
    batch_size = check_positive_int(batch_size, "batch_size", "train")
    if batch_size > n:
        raise ValueError(f"train: batch_size={batch_size} is larger than the data set "
                         f"(X has {n} samples); expected 1 <= batch_size <= {n}")
    for value, name in ((clip_norm, "clip_norm"), (clip_value, "clip_value")):
        if value is not None:
            check_positive_number(value, name, "train")
    return epochs, batch_size


def _evaluate(model, loss, X, y) -> dict[str, float]:
    """Loss (and accuracy) of ``model`` on (X, y) in evaluation mode, in one forward."""
    set_mode(model, False)
    pred = model.forward(X)
    set_mode(model, True)
    row = {"val_loss": float(loss.forward(pred, y))}
    if callable(getattr(loss, "count_correct", None)):
        correct, total = loss.count_correct(pred, y)
        row["val_accuracy"] = correct / total
    return row


def _show_progress(progress: bool | None) -> bool:
    return bool(progress) if progress is not None else sys.stderr.isatty()


def train(model, loss, optimizer, X, y, *, epochs, batch_size, hooks=(), clip_norm=None,
          clip_value=None, shuffle=True, seed=0, validation=None, schedule=None,
          progress=None) -> pd.DataFrame:
    """Train ``model`` with mini-batches; return the per-epoch history.

    Each step: ``on_batch_begin``, forward, loss, backward, optional clipping,
    ``on_backward_end``, ``optimizer.step()``, ``on_step_end``. The model is in
    training mode while training (and when the function returns).

    Parameters
    ----------
    model : layer protocol object (e.g. ``Sequential``)
        Needs ``forward``, ``backward``, ``params``, ``grads``.
    loss : loss object (``reference_nets.losses``)
        ``forward(pred, target) -> float`` and ``backward() -> dL/dpred``.
    optimizer : Optimizer
        Bound to ``model`` here (``optimizer.bind(model)``).
    X : ndarray of shape (n_samples, ...)
        Inputs, finite.
    y : ndarray of shape (n_samples, ...)
        Targets, validated by the loss for the model's output shape.
    epochs, batch_size : int
        Passes over the data and samples per step (1 <= batch_size <= n_samples;
        the last batch of an epoch may be smaller).
    hooks : sequence
        Objects with any of the methods in ``HOOK_METHODS``; ``step`` is the global
        0-based mini-batch index, ``on_epoch_end`` gets the 1-based epoch and the row.
    clip_norm, clip_value : float or None
        Clip the gradients by global norm and/or by value before the update.
    shuffle : bool
        Draw a new sample order each epoch from ``numpy.random.default_rng(seed)``.
    seed : int
        Seed of the shuffling generator.
    validation : tuple (X_val, y_val) or None
        Evaluated in evaluation mode at the end of each epoch.
    schedule : StepLR, CosineLR or None
        ``schedule.step()`` is called after each epoch.
    progress : bool or None
        tqdm bar over epochs; ``None`` shows it only when stderr is a terminal.

    Returns
    -------
    pandas.DataFrame
        One row per epoch: ``epoch`` (1-based), ``train_loss`` (mean of the batch
        losses weighted by batch size), ``train_accuracy`` (classification losses
        only, from the training-mode predictions), ``val_loss``/``val_accuracy``
        (only with ``validation``), ``lr`` (used during the epoch), ``seconds`` (wall
        time of the epoch's steps, hooks and validation).

    Raises
    ------
    TypeError, ValueError
        Bad arguments, naming the argument and what was expected.
    HookError
        A hook raised; the message names the hook's class.
    """
    X, y = _check_data(model, loss, X, y, "X", "y")
    epochs, batch_size = _check_options(len(X), epochs, batch_size, clip_norm, clip_value)
    if validation is not None:
        if not isinstance(validation, tuple | list) or len(validation) != 2:
            raise TypeError("train: validation must be a tuple (X_val, y_val)")
        validation = _check_data(model, loss, *validation, "validation[0]", "validation[1]")
    call = _Hooks(hooks)
    set_mode(model, True)
    optimizer.bind(model)
    rng = np.random.default_rng(seed)
    call("on_train_begin", model, optimizer)
    rows = []
    bar = tqdm(range(1, epochs + 1), desc="train", unit="epoch", file=sys.stderr,
               disable=not _show_progress(progress), leave=False)
    for epoch in bar:
        start = time.perf_counter()
        order = rng.permutation(len(X)) if shuffle else np.arange(len(X))
        batches = (order[i:i + batch_size] for i in range(0, len(X), batch_size))
        first_step = (epoch - 1) * -(-len(X) // batch_size)
        row = {"epoch": epoch, **_train_epoch(model, loss, optimizer, X, y, batches,
                                              first_step, call, (clip_norm, clip_value))}
        if validation is not None:
            row.update(_evaluate(model, loss, *validation))
        row.update(lr=float(optimizer.lr), seconds=time.perf_counter() - start)
        rows.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.4g}")
        if schedule is not None:
            schedule.step()
        call("on_epoch_end", epoch, dict(row))
    bar.close()
    call("on_train_end", model)
    return pd.DataFrame(rows)


def _train_epoch(model, loss, optimizer, X, y, batches, step, call, clip) -> dict[str, float]:
    """One pass over ``batches`` (index arrays); return ``train_loss`` (and ``train_accuracy``).

    ``step`` is the global index of the first mini-batch; ``clip`` is
    ``(clip_norm, clip_value)``, either ``None`` to skip it.
    """
    clip_norm, clip_value = clip
    count_correct = getattr(loss, "count_correct", None)
    loss_sum, correct, total = 0.0, 0, 0
    for idx in batches:
        xb, yb = X[idx], y[idx]
        call("on_batch_begin", step, xb, yb)
        pred = model.forward(xb)
        value = loss.forward(pred, yb)
        model.backward(loss.backward())
        if clip_norm is not None:
            clip_grad_norm(model.grads, clip_norm)
        if clip_value is not None:
            clip_grad_value(model.grads, clip_value)
        call("on_backward_end", step, model, value)
        optimizer.step()
        call("on_step_end", step, model)
        loss_sum += value * len(idx)
        if count_correct is not None:
            c, t = count_correct(pred, yb)
            correct, total = correct + c, total + t
        step += 1
    row = {"train_loss": loss_sum / len(X)}
    if count_correct is not None:
        row["train_accuracy"] = correct / total
    return row
