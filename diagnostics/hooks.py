"""The hook protocol and :class:`Monitor`, the standard recorders in one hook.

A hook is any object with some of these methods; ``reference_nets.train`` calls
them, and so can any training loop (see the example in :class:`Monitor`)::

    on_train_begin(model, optimizer)
    on_batch_begin(step, x, y)
    on_backward_end(step, model, loss_value)   # gradients ready, before the update
    on_step_end(step, model)                   # after the optimizer changed the weights
    on_epoch_end(epoch, history_row)           # 1-based epoch, dict of that epoch's metrics
    on_train_end(model)

``step`` is the global 0-based mini-batch index. A :class:`Monitor` checks the order
of the calls and names the missing one (:mod:`diagnostics.call_order`).
"""

from __future__ import annotations

import math
import numbers
from time import perf_counter

from diagnostics.atomic import require_output_path
from diagnostics.call_order import BACKWARD, BATCH, IDLE, READY, order_error
from diagnostics.labels import LabelCounts
from diagnostics.model_info import named_layers, summary
from diagnostics.monitor_results import MonitorResults
from diagnostics.record_files import SUFFIXES, write_records
from diagnostics.recorder import Recorder
from diagnostics.schedule import DISTANCE_EVERY, Schedule

__all__ = ["HOOK_METHODS", "Monitor", "call_hooks"]

HOOK_METHODS = ("on_train_begin", "on_batch_begin", "on_backward_end", "on_step_end",
                "on_epoch_end", "on_train_end")


def call_hooks(hooks, name: str, *args) -> None:
    """Call method ``name`` (one of ``HOOK_METHODS``) on every hook that defines it."""
    if name not in HOOK_METHODS:
        raise ValueError(f"name must be one of {HOOK_METHODS}, got {name!r}")
    for hook in hooks:
        method = getattr(hook, name, None)
        if method is not None:
            method(*args)


class Monitor(MonitorResults):
    """Records gradient/weight/update norms, activation statistics, non-finite values
    and the loss while a model trains.

    Parameters
    ----------
    every : int or "auto"
        Which steps are recorded in full (norms and activation statistics): ``"auto"``
        (default) the first ``dense_steps``, then a schedule that keeps the measured
        cost of recording under ``budget`` (see :mod:`diagnostics.schedule`); an int:
        the steps with ``step % every == 0`` (``every=1``: every step). The loss is
        recorded and checked for NaN/Inf on every step.
    on_non_finite : {"record", "raise"}
        ``"raise"`` stops training with ``NonFiniteError`` (step, layer, tensor in the
        message) at the first NaN/Inf in the loss, or in gradients and weights on a
        recorded step; a non-finite loss also triggers an immediate check of all
        gradients and weights (so NaN gradients of a step that is not recorded are
        caught one step later, when they have reached the loss).
    budget : float
        Share of the training time the Monitor may cost with ``every="auto"`` (default
        0.05). It times its own work on recorded steps against the time between them,
        and allows for what it cannot time (its per-step checks, the slower steps after
        a record; see :mod:`diagnostics.schedule`).
    dense_steps : int
        Steps recorded one after another at the start with ``every="auto"`` (default 20;
        their cost counts against the budget).
    grad_norms_every_step : bool
        Also record the gradient norms (per tensor and global) on every step that is not
        recorded in full: the middle mode, e.g. ``Monitor(every=10,
        grad_norms_every_step=True)``; its cost is outside ``budget``.
    distance_every : int
        Of the steps recorded in full, those that also record ``dist_from_init``: the
        first, then the first at or after each multiple of ``distance_every`` (default 8;
        ``1``: every recorded step). Taking the distance reads the whole initial copy of
        the parameters, the one array nothing else of a step reads; the distance is
        smooth (between two records it changes by at most the sum of the update norms
        in between, all recorded). ``meta["recorded"]`` says which steps have it.
    path : str or Path, optional
        File the records are appended to at each epoch end (a crash loses at most the
        current epoch): JSON lines if it ends in ``.jsonl``, CSV if in ``.csv``; read it
        back with :meth:`Monitor.load`. Checked here, before any training
        (:func:`diagnostics.atomic.require_output_path`: ``OutputPathError``, a ValueError).
    dead_window : int
        Recorded batches over which a ReLU unit must be inactive for every example to
        count as dead (default 20).
    saturation_margin : float
        A saturating output within ``margin * (high - low)`` of a limit is saturated.
    activations : dict, optional
        Extra class name -> kind entries on top of ``units.ACTIVATION_KINDS``
        (``"relu"`` or ``(low, high)``); other parameterless layers are classified by
        behaviour.
    clock : callable () -> float
        The clock (seconds) that ``every="auto"`` times its work and the training with
        (default ``time.perf_counter``). The budget schedule follows the measured
        times, so which steps it records depends on the machine's load; a clock that
        advances by fixed amounts makes it deterministic (as in the tests).

    Attributes
    ----------
    frame : pandas.DataFrame
        Tidy records: ``step, epoch, layer, tensor, metric, value``.
    history : pandas.DataFrame
        The rows passed to ``on_epoch_end``.
    recorded_steps : numpy.ndarray of int, shape (n_recorded,)
        The steps recorded in full.
    meta : dict
        ``model`` (one line per layer), ``n_params``, ``layers``, the options above;
        ``activations`` (layer -> kind), ``units`` (layer -> count), ``n_steps`` (steps
        seen), ``recorded`` (one line: which steps were recorded, and which of them
        ``dist_from_init`` when fewer), ``recorded_steps``
        (runs ``[first, last, interval]``), ``chance_accuracy`` (share of the most
        frequent class among the first labels, classification only), ``update_norms``
        (where the update norms came from, after ``on_train_end``).

    Notes
    -----
    Per recorded step and parameter tensor: ``grad_norm``, ``weight_norm``,
    ``dist_from_init`` (on the steps of ``distance_every``), ``update_ratio`` (norm of
    the step's update over the weight norm after it: for float64 models whose optimizer
    offers update reports, as ``reference_nets.optim`` optimizers do, the update, the
    weight norm and the inner product with the initial weights as the optimizer reports
    them, else measured from copies of the parameters (the update resolved down to about
    1e-7); see ``diagnostics.param_stats``; ``meta["update_norms"]`` says which), plus
    the global ``grad_norm``; per activation layer:
    ``inactive_fraction`` or ``saturation_fraction``, ``act_mean``, ``act_std`` and, at
    the end of each window, ``dead_fraction``. Activation outputs are observed during the
    forward that follows ``on_batch_begin`` of a recorded step.
    Measured costs are in ``bench/README.md`` (``bench/diagnostics_overhead.py``).

    Examples
    --------
    With your own loop, call the hook methods where ``train`` would::

        monitor = Monitor()
        monitor.on_train_begin(model, opt)
        step = 0
        for epoch in range(1, epochs + 1):
            for xb, yb in batches:
                monitor.on_batch_begin(step, xb, yb)
                value = loss.forward(model.forward(xb), yb)
                model.backward(loss.backward())
                monitor.on_backward_end(step, model, value)
                opt.step()
                monitor.on_step_end(step, model)
                step += 1
            monitor.on_epoch_end(epoch, {"epoch": epoch, "train_loss": value})
        monitor.on_train_end(model)
        print(monitor.findings())
    """

    def __init__(self, every="auto", on_non_finite="record", *, budget=0.05, dense_steps=20,
                 grad_norms_every_step=False, distance_every=DISTANCE_EVERY, path=None,
                 dead_window=20, saturation_margin=0.02, activations=None,
                 clock=perf_counter):
        for name, value in (("dead_window", dead_window), ("distance_every", distance_every)):
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"Monitor: {name} must be a positive int, got {value!r}")
        if not isinstance(saturation_margin, numbers.Real) or not 0 < saturation_margin < 0.5:
            raise ValueError("Monitor: saturation_margin must be in (0, 0.5), "
                             f"got {saturation_margin!r}")
        if not isinstance(grad_norms_every_step, bool):
            raise ValueError("Monitor: grad_norms_every_step must be True or False, got "
                             f"{grad_norms_every_step!r}")
        self._schedule = Schedule(every, budget, dense_steps)
        self._grad_every_step = grad_norms_every_step
        self.path = None if path is None else require_output_path(
            path, option="Monitor(path=...)", suffixes=SUFFIXES)
        self.meta = {"every": every, "budget": float(budget), "dense_steps": int(dense_steps),
                     "grad_norms_every_step": self._grad_every_step,
                     "distance_every": int(distance_every),
                     "on_non_finite": on_non_finite, "dead_window": int(dead_window),
                     "saturation_margin": saturation_margin, "activations": {}, "units": {}}
        if not callable(clock):
            raise ValueError(f"Monitor: clock must be callable, got {clock!r}")
        self._rec = Recorder(self.meta, on_non_finite, activations, int(dead_window),
                             float(saturation_margin), int(distance_every), clock)
        self._loss = self._rec.loss
        self._labels = LabelCounts()
        self._rows_history: list[dict] = []
        self._loaded: list[dict] = []
        self._recorded: list[int] = []
        self._phase, self._step, self._next, self._recording = IDLE, None, 0, False
        self._epoch = 1
        self._written = [0, 0, 0]  # records rows, loss values, history rows

    # ---- hook methods -------------------------------------------------------------
    def on_train_begin(self, model, optimizer=None) -> None:
        """Inspect the model, snapshot the initial parameters, tap activation layers;
        ``optimizer``: the one that steps the model (its update reports are used when it
        offers them; None: the updates are measured from copies of the parameters)."""
        begun = self._rec.clock()
        layers = named_layers(model)
        text, n_params, shapes = summary(layers)
        self.meta.update(model=text, n_params=n_params, layers=[n for n, _ in layers],
                         shapes=shapes)
        self._rec.begin(layers, self._grad_every_step, optimizer)
        self._phase, self._step, self._next, self._recording = READY, -1, 0, False
        if self.path is not None:
            write_records(self.path, self.meta)
        self._schedule.start(begun, setup=self._rec.clock() - begun)

    def on_batch_begin(self, step, x=None, y=None) -> None:
        """Start a step; on a recorded step tap the activation layers for this forward."""
        if self._phase != READY or step <= self._step:
            raise order_error("on_batch_begin", step, self._phase, self._step)
        self._phase, self._step = BATCH, step
        if self._labels.counting:
            self._labels.add(y)
        if step >= self._next:
            self._recording = True
            self._rec.arm(step, self._epoch)

    def on_backward_end(self, step, model, loss_value) -> None:
        """Record and check the loss; on recorded steps buffer gradients (and parameters)."""
        if self._phase != BATCH or step != self._step:
            raise order_error("on_backward_end", step, self._phase, self._step)
        self._phase = BACKWARD
        value = float(loss_value)
        steps, epochs, values = self._loss
        steps.append(step)
        epochs.append(self._epoch)
        values.append(value)
        if not math.isfinite(value):
            self._rec.check_loss(step, self._epoch, value)
        if self._recording:
            self._rec.before_update(step, self._epoch)
        elif self._grad_every_step:
            self._rec.grad_norms(step, self._epoch)

    def on_step_end(self, step, model) -> None:
        """End a step; on a recorded step buffer the updated parameters."""
        if self._phase != BACKWARD or step != self._step:
            raise order_error("on_step_end", step, self._phase, self._step)
        self._phase = READY
        if self._recording:
            self._recording = False
            rec = self._rec
            rec.after_update(step, self._epoch)
            self._recorded.append(step)
            now = rec.clock()
            self._next = self._schedule.next_step(step, rec.spent, now)
            rec.spent = rec.clock() - now  # the decision counts with the next record

    def on_epoch_end(self, epoch, history_row) -> None:
        """Keep the history row; append this epoch's records to ``path``."""
        if self._phase != READY:
            raise order_error("on_epoch_end", None, self._phase, self._step)
        self._rows_history.append(dict(history_row))
        self._epoch = int(epoch) + 1
        if self.path is not None:
            self._append()

    def on_train_end(self, model=None) -> None:
        """Untap the layers, compute everything buffered, append the rest to ``path``."""
        if self._phase == IDLE:
            raise order_error("on_train_end", None, self._phase, self._step)
        self._phase, self._recording = IDLE, False
        self._rec.end()
        self._flush()
        if self.path is not None:
            self._append()
