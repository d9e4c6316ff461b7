"""``GradcheckHook``: gradient checks of the whole model at chosen points of training.

A backward pass can be right at initialisation and wrong later (a clip or a branch that
only bites once some weight has grown, a path only taken once units die), and the CS231n
advice is to check after a short burn-in anyway. The hook runs ``gradcheck.check_model``
on a small fixed batch on a schedule, keeps every verdict per layer, and turns failures
into critical ``gradient_check`` findings that name the first failing step.
"""

from __future__ import annotations

import numbers
import time
from typing import NamedTuple

import numpy as np
import pandas as pd

from diagnostics.check_messages import kink_counts, tensor_failure, worst_status
from diagnostics.findings_frame import Findings

__all__ = ["Checkpoint", "GradcheckHook"]

TIMELINE_COLUMNS = ["step", "epoch", "layer", "status", "n_nondifferentiable", "seconds"]
#: Layer statuses that become findings: (status, severity, check name, wording, one finding
#: per layer).
_REPORTED = (("fail", "critical", "gradient_check", "failed", True),
             ("vacuous", "warning", "gradient_check_vacuous", "proved nothing", False))


class Checkpoint(NamedTuple):
    """One check during training: the weights after ``step`` optimizer steps, ``epoch`` the
    (1-based) epoch of the last of them, checked in ``seconds``; ``report`` is the
    ``GradcheckReport``."""

    step: int
    epoch: int
    seconds: float
    report: object


def _optional_positive(value, name):
    if value is not None and (not isinstance(value, numbers.Integral) or value < 1):
        raise ValueError(f"GradcheckHook: {name} must be a positive int or None, got {value!r}")
    return None if value is None else int(value)


class GradcheckHook:
    """Check the model's gradients on a fixed small batch while it trains.

    Parameters
    ----------
    loss : loss object
        The training loss (``forward(pred, target) -> float``, ``backward()``): the
        objective of ``check_model``.
    every_epochs : int or None
        Check at the end of every ``every_epochs``-th epoch (default 5).
    every_steps : int or None
        Check before step ``after_steps`` and every ``every_steps`` steps after it.
    after_steps : int
        Burn-in: no check before this many optimizer steps (default 100).
    batch : int or None
        Check-batch size: the first ``batch`` rows of the first training batch (default 8;
        None: all of it).
    x, y : ndarray, optional
        The check batch, ``x`` of shape (n, ...) and ``y`` its targets, instead of rows of
        the first training batch.
    at_end : bool
        Also check the trained model in ``on_train_end`` (default True).
    eval_mode : bool
        Check with ``training`` set to False on the model and its layers (dropout off),
        restored afterwards (default True; a random layer fails the determinism check).
    check_options : dict, optional
        Keyword arguments of ``check_model`` (``mode``, ``eps``, ``atol``, ``rtol``, ``seed``).

    Attributes
    ----------
    checkpoints : list of Checkpoint
        Every check so far, in order.
    seconds : float
        Time spent checking; ``training_seconds`` is the wall time from ``on_train_begin``
        to ``on_train_end`` (or the last hook call), checks included.

    Notes
    -----
    A check "at step s" sees the weights after ``s`` optimizer steps, as ``on_batch_begin(s)``
    does; it runs in ``on_step_end(s - 1)`` (step 0: in ``on_batch_begin(0)``, or in
    ``on_train_begin`` with ``x``/``y``), at epoch ends, or in ``on_train_end``.
    ``check_model`` restores parameters, grads and layer caches, and the hook restores the
    ``training`` flags, so training continues exactly as without the hook. List the hook
    before a ``Monitor``: the Monitor taps the next forward in ``on_batch_begin``.
    """

    def __init__(self, loss, *, every_epochs=5, every_steps=None, after_steps=100, batch=8,
                 x=None, y=None, at_end=True, eval_mode=True, check_options=None):
        if not (callable(getattr(loss, "forward", None)) and callable(getattr(loss, "backward",
                                                                              None))):
            raise TypeError("GradcheckHook: loss must have forward(pred, target) and "
                            f"backward(), got {type(loss).__name__}")
        if not isinstance(after_steps, numbers.Integral) or after_steps < 0:
            raise ValueError(f"GradcheckHook: after_steps must be an int >= 0, got {after_steps!r}")
        if (x is None) != (y is None):
            raise ValueError("GradcheckHook: give both x and y for the check batch, or neither")
        self.loss, self.after_steps = loss, int(after_steps)
        self.every_epochs = _optional_positive(every_epochs, "every_epochs")
        self.every_steps = _optional_positive(every_steps, "every_steps")
        self.batch = _optional_positive(batch, "batch")
        self.at_end, self.eval_mode = bool(at_end), bool(eval_mode)
        if self.every_epochs is None and self.every_steps is None and not self.at_end:
            raise ValueError("GradcheckHook: no check would run; give every_epochs, "
                             "every_steps or at_end=True")
        self.check_options = dict(check_options or {})
        self._batch = None if x is None else (np.array(x, copy=True), np.array(y, copy=True))
        self.checkpoints: list[Checkpoint] = []
        self.seconds = self.training_seconds = 0.0
        self._model, self._started, self._units = None, None, []
        self._steps_done, self._epochs_done, self._epoch = 0, 0, 1   # _epoch: of the last step

    # ---- hook methods -------------------------------------------------------------
    def on_train_begin(self, model, optimizer=None) -> None:
        """Remember the model (checks need it), start the training clock; with an explicit
        batch, make the step-0 check (if due) here, before any hook arms anything."""
        from gradcheck.model_layers import find_layers

        units = find_layers(model).units
        if not units:
            raise TypeError("GradcheckHook.on_train_begin: model must hold layers (a .layers "
                            "list, attributes, dicts or blocks of them; check_model checks "
                            f"layer by layer), got {type(model).__name__} with none")
        self._model, self._started, self._steps_done = model, time.perf_counter(), 0
        self._units = [u.obj for u in units]
        if self._batch is not None:
            self._check_if_due()

    def on_batch_begin(self, step, x=None, y=None) -> None:
        """Keep the check batch (first call); make the step-0 check if it is due."""
        self._require_begin("on_batch_begin")
        if self._batch is None and x is not None and y is not None:
            self._batch = (np.array(x[:self.batch], copy=True),
                           np.array(y[:self.batch], copy=True))
        self._steps_done, self._epoch = int(step), self._epochs_done + 1
        self._check_if_due()

    def on_step_end(self, step, model=None) -> None:
        """Count the optimizer steps done; check when ``every_steps`` says so."""
        self._require_begin("on_step_end")
        self._steps_done, self._epoch = int(step) + 1, self._epochs_done + 1
        self._check_if_due()

    def on_epoch_end(self, epoch, history_row=None) -> None:
        """Check at the end of every ``every_epochs``-th epoch (after the burn-in)."""
        self._require_begin("on_epoch_end")
        self._epochs_done = self._epoch = int(epoch)
        if (self.every_epochs is not None and epoch % self.every_epochs == 0
                and self._steps_done >= self.after_steps):
            self._check()

    def on_train_end(self, model=None) -> None:
        """Check the trained model (``at_end``); stop the training clock."""
        self._require_begin("on_train_end")
        if self.at_end:
            self._check()
        self.training_seconds = time.perf_counter() - self._started

    # ---- results ------------------------------------------------------------------
    @property
    def timeline(self) -> pd.DataFrame:
        """One row per check point and layer: ``step, epoch, layer, status`` (the worst of the
        layer's rows), ``n_nondifferentiable`` (values on a kink) and the check's ``seconds``."""
        rows = []
        for point in self.checkpoints:
            table = point.report.table
            kinks = kink_counts(table)
            for layer, part in table.groupby("layer", sort=False):
                rows.append((point.step, point.epoch, str(layer), worst_status(part["status"]),
                             int(kinks[layer]), point.seconds))
        return pd.DataFrame(rows, columns=TIMELINE_COLUMNS)

    def findings(self) -> Findings:
        """Findings, critical first: a ``gradient_check`` one per layer that failed a check,
        and one ``gradient_check_vacuous`` warning for all layers whose checks proved nothing
        (vacuous: every value zero, as when units die). Each names the first such step, the
        status just before it and what the checker said there."""
        timeline, rows = self.timeline, []
        for status, severity, check, word, per_layer in _REPORTED:
            hit = [(layer, part) for layer, part in timeline.groupby("layer", sort=False)
                   if (part["status"] == status).any()]
            for group in ([[h] for h in hit] if per_layer else [hit] if hit else []):
                layer, part = min(group, key=lambda h: h[1].loc[h[1]["status"] == status,
                                                                "step"].iloc[0])
                message = self._message(layer, part, part[part["status"] == status], word,
                                        per_tensor=per_layer)
                others = [name for name, _ in group if name != layer]
                if others:
                    message += f". Also in {len(others)} more layer(s): {', '.join(others)}"
                rows.append((severity, check, layer, message))
        return Findings(rows, columns=["severity", "check", "layer", "message"])

    def __repr__(self) -> str:
        steps = ", ".join(str(p.step) for p in self.checkpoints)
        failing = self.timeline.loc[lambda t: t["status"] == "fail", "layer"].nunique()
        return (f"GradcheckHook(checks at steps [{steps}], {failing} failing layer(s), "
                f"{self.seconds:.2f} s)")

    # ---- internals ----------------------------------------------------------------
    def _message(self, layer, part, hits, word, per_tensor) -> str:
        """The finding of ``layer``: ``hits`` are its timeline rows with the reported status,
        ``part`` all its rows; what the checker said per tensor, or once for all tensors."""
        first = hits.iloc[0]
        before = part[part["step"] < first["step"]]
        context = (f"; {before['status'].iloc[-1]} at step {before['step'].iloc[-1]}"
                   if len(before) else "")
        table = next(p for p in self.checkpoints if p.step == first["step"]).report.table
        mine = table[(table["layer"] == layer) & (table["status"] == first["status"])]
        groups = (mine.groupby("tensor", sort=False) if per_tensor
                  else [(", ".join(dict.fromkeys(mine["tensor"])), mine)])
        details = "; ".join(tensor_failure(tensor, group) for tensor, group in groups)
        return (f"gradient check {word} first at step {first['step']} (epoch {first['epoch']}"
                f"{context}); {word} at {len(hits)} of {len(part)} check points. {details}")

    def _require_begin(self, method):
        if self._model is None:
            raise RuntimeError(f"GradcheckHook.{method}: call on_train_begin(model, optimizer) "
                               "first; the checks need the model")

    def _check_if_due(self) -> None:
        due = self._steps_done - self.after_steps
        if self.every_steps is not None and due >= 0 and due % self.every_steps == 0:
            self._check()

    def _check(self) -> None:
        """Check the model at the current step (once per step) and keep the verdicts."""
        from gradcheck import check_model

        if self.checkpoints and self.checkpoints[-1].step == self._steps_done:
            return
        if self._batch is None:
            raise RuntimeError("GradcheckHook: no check batch yet; pass x= and y=, or call "
                               "on_batch_begin(step, x, y) with the training batch first")
        start = time.perf_counter()
        flags = [(obj, obj.training) for obj in (self._model, *self._units)
                 if self.eval_mode and hasattr(obj, "training")]
        try:
            for obj, _ in flags:
                obj.training = False
            report = check_model(self._model, self.loss, *self._batch, **self.check_options)
        finally:
            for obj, value in flags:
                obj.training = value
        seconds = time.perf_counter() - start
        self.seconds += seconds
        self.checkpoints.append(Checkpoint(self._steps_done, self._epoch, seconds, report))
        self.training_seconds = time.perf_counter() - self._started

