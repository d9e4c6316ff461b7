"""The hook protocol and :class:`Monitor`, the standard recorders in one hook.

A hook is any object with some of these methods; ``reference_nets.train`` calls
them, and so can any training loop (see the example in :class:`Monitor`)::

    on_train_begin(model, optimizer)
    on_batch_begin(step, x, y)
    on_backward_end(step, model, loss_value)   # gradients ready, before the update
    on_step_end(step, model)                   # after the optimizer changed the weights
    on_epoch_end(epoch, history_row)           # 1-based epoch, dict of that epoch's metrics
    on_train_end(model)

``step`` is the global 0-based mini-batch index.
"""

from __future__ import annotations

import math
import numbers

import pandas as pd

from diagnostics import health
from diagnostics.model_info import named_layers, param_tensors, summary
from diagnostics.nonfinite import NonFiniteTracker
from diagnostics.norms import ParamStats
from diagnostics.record_files import append_records, check_path, read_records, write_records
from diagnostics.records import Records, tidy_frame
from diagnostics.units import ACTIVATION_KINDS, ForwardTap, UnitStats, classify

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


class Monitor:
    """Records gradient/weight/update norms, activation statistics, non-finite values
    and the loss while a model trains.

    Parameters
    ----------
    every : int
        Record norms and activation statistics every ``every`` steps (steps with
        ``step % every == 0``). The loss is recorded and checked on every step.
    on_non_finite : {"record", "raise"}
        ``"raise"`` stops training with ``NonFiniteError`` (step, layer, tensor in the
        message) at the first NaN/Inf in the loss, or in gradients and weights on a
        recorded step (every step with ``every=1``); a non-finite loss also triggers an
        immediate check of all gradients and weights.
    path : str or Path, optional
        File the records are appended to at each epoch end (a crash loses at most the
        current epoch): JSON lines if it ends in ``.jsonl``, CSV if in ``.csv``; read it
        back with :meth:`Monitor.load`.
    dead_window : int
        Recorded batches over which a ReLU unit must be inactive for every example to
        count as dead (default 20).
    saturation_margin : float
        A saturating output within ``margin * (high - low)`` of a limit is saturated.
    activations : dict, optional
        Extra class name -> kind entries on top of ``units.ACTIVATION_KINDS``
        (``"relu"`` or ``(low, high)``); other parameterless layers are classified by
        behaviour.

    Attributes
    ----------
    frame : pandas.DataFrame
        Tidy records: ``step, epoch, layer, tensor, metric, value``.
    history : pandas.DataFrame
        The rows passed to ``on_epoch_end``.
    meta : dict
        ``model`` (one line per layer), ``n_params``, ``layers``, ``every`` and the
        options above; ``activations`` (layer -> kind), ``units`` (layer -> count).

    Notes
    -----
    Per recorded step and parameter tensor: ``grad_norm``, ``weight_norm``,
    ``dist_from_init``, ``update_ratio`` (norm of the step's update over the weight
    norm after it; resolved down to about 1e-7, see ``diagnostics.norms``), plus the
    global ``grad_norm``; per activation layer: ``inactive_fraction`` or
    ``saturation_fraction``, ``act_mean``, ``act_std`` and, at the end of each window,
    ``dead_fraction``. Activation outputs are observed during the forward that
    follows ``on_batch_begin`` of a recorded step (call it in your own loop too).
    Recording every step of a very small model (the digits MLP, ~70 us per step)
    costs about 32% more time, every 10 steps about 7% (``bench/diagnostics_overhead.py``):
    per recorded step about 13 us for the norms (9 us on their own: BLAS products
    over every weight and gradient, and a few numpy calls per tensor), 7 us for the
    activation statistics (3.5 us on their own) and 2 us of bookkeeping; inside the
    loop the recorders' reads and writes compete with training for the caches.

    Examples
    --------
    With your own loop, call the hook methods where ``train`` would::

        monitor = Monitor()
        monitor.on_train_begin(model, opt)
        for step, (xb, yb) in enumerate(batches):
            monitor.on_batch_begin(step, xb, yb)
            value = loss.forward(model.forward(xb), yb)
            model.backward(loss.backward())
            monitor.on_backward_end(step, model, value)
            opt.step()
            monitor.on_step_end(step, model)
        monitor.on_train_end(model)
        print(monitor.findings())
    """

    def __init__(self, every=1, on_non_finite="record", *, path=None, dead_window=20,
                 saturation_margin=0.02, activations=None):
        for value, name in ((every, "every"), (dead_window, "dead_window")):
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"Monitor: {name} must be a positive int, got {value!r}")
        if not isinstance(saturation_margin, numbers.Real) or not 0 < saturation_margin < 0.5:
            raise ValueError("Monitor: saturation_margin must be in (0, 0.5), "
                             f"got {saturation_margin!r}")
        self.every = int(every)
        self.path = None if path is None else check_path(path)
        self.records = Records()
        self._nonfinite = NonFiniteTracker(self.records, on_non_finite)
        self._kinds = {**ACTIVATION_KINDS, **(activations or {})}
        self._options = dict(window=int(dead_window), margin=float(saturation_margin))
        self.meta = {"every": self.every, "on_non_finite": on_non_finite,
                     "dead_window": int(dead_window), "saturation_margin": saturation_margin,
                     "activations": {}, "units": {}}
        self._loss = ([], [], [])  # steps, epochs, values: every step
        self._rows_history: list[dict] = []
        self._loaded: list[dict] = []
        self._units: dict[str, UnitStats] = {}
        self._taps: list[ForwardTap] = []
        self._params = None
        self._epoch, self._row, self._row_step, self._last_done = 1, -1, None, None
        self._written = [0, 0, 0]  # records rows, loss values, history rows

    # ---- hook methods -------------------------------------------------------------
    def on_train_begin(self, model, optimizer=None) -> None:
        """Inspect the model, snapshot the initial parameters, tap activation layers."""
        layers = named_layers(model)
        self._taps, self._last_done = [], None
        text, n_params, shapes = summary(layers)
        self.meta.update(model=text, n_params=n_params, layers=[n for n, _ in layers],
                         shapes=shapes)
        self._tensors = param_tensors(layers)
        self._params = ParamStats(self.records, self._tensors)
        for name, layer in layers:
            kind = self._kinds.get(type(layer).__name__)
            # instances accept attributes (not hasattr(layer, "__dict__"): see ForwardTap)
            if type(layer).__dictoffset__ and (kind is not None or not layer.params):
                self._taps.append(ForwardTap(layer, self._observer(name, kind)))
        if self.path is not None:
            write_records(self.path, self.meta)

    def on_batch_begin(self, step, x=None, y=None) -> None:
        """Start a recorded step: tap the activation layers for this forward."""
        if step % self.every:
            return
        self._begin_row(step)
        for tap in self._taps:
            tap.arm()

    def on_backward_end(self, step, model, loss_value) -> None:
        """Record the loss; on recorded steps buffer gradients (and parameters)."""
        value = float(loss_value)
        steps, epochs, values = self._loss
        steps.append(step)
        epochs.append(self._epoch)
        values.append(value)
        if not math.isfinite(value) and ("model", "loss") not in self._nonfinite.seen:
            self._nonfinite.scan(step, self._epoch, self._all_tensors())
            self._nonfinite.loss(step, self._epoch, value)
        if step % self.every:
            return
        if self._row_step != step:
            self._begin_row(step)
        sums = self._params.before_step(self._row, self._last_done == step - 1)
        if self._nonfinite.mode == "raise" and not math.isfinite(sums[:, 0].sum()):
            self._nonfinite.scan(step, self._epoch, self._all_tensors(params=False))

    def on_step_end(self, step, model) -> None:
        """Buffer the updated parameters of a recorded step."""
        if step % self.every or self._row_step != step:
            return
        sums = self._params.after_step()
        self._last_done = step
        if self._nonfinite.mode == "raise" and not math.isfinite(sums[:, 1:3].sum()):
            self._nonfinite.scan(step, self._epoch, self._all_tensors(grads=False))

    def on_epoch_end(self, epoch, history_row) -> None:
        """Keep the history row; append this epoch's records to ``path``."""
        self._rows_history.append(dict(history_row))
        self._epoch = int(epoch) + 1
        if self.path is not None:
            self._append()

    def on_train_end(self, model=None) -> None:
        """Untap the layers, compute everything buffered, append the rest to ``path``."""
        for tap in self._taps:
            tap.remove()
        self._flush(finish=True)
        if self.path is not None:
            self._append()

    # ---- results ------------------------------------------------------------------
    @property
    def frame(self) -> pd.DataFrame:
        """Tidy DataFrame ``step, epoch, layer, tensor, metric, value`` (built now)."""
        self._flush()
        return tidy_frame([*self._loaded, *self._chunks()])

    @property
    def history(self) -> pd.DataFrame:
        """One row per ``on_epoch_end`` call (the training loop's history)."""
        return pd.DataFrame(self._rows_history)

    def findings(self, **thresholds) -> pd.DataFrame:
        """Findings ``severity, check, layer, message``; see :func:`health.findings`."""
        return health.findings(self.frame, self.meta, **thresholds)

    def save(self, path):
        """Write meta, records and history atomically to ``path``, JSON lines (``.jsonl``)
        or CSV (``.csv``, see :mod:`diagnostics.record_files`); return the path."""
        self._flush()
        return write_records(path, self.meta, [*self._loaded, *self._chunks()],
                             self._rows_history)

    @classmethod
    def load(cls, path) -> Monitor:
        """A Monitor holding the records of a file written by ``save`` or ``path=``."""
        meta, chunks, history = read_records(path)
        monitor = cls(every=meta.get("every", 1))
        monitor.meta.update(meta)
        monitor._loaded, monitor._rows_history = chunks, history
        return monitor

    # ---- internals ----------------------------------------------------------------
    def _begin_row(self, step) -> None:
        self._row, self._row_step = self.records.add_row(step, self._epoch), step

    def _observer(self, name, kind):
        """Callback of a forward tap: classify once if needed, then buffer the output."""
        def observe(x, y):
            stats = self._units.get(name)
            if stats is None:
                found = kind if kind is not None else classify(x, y)
                if found is None:
                    self._taps = [t for t in self._taps if t.callback is not observe]
                    return
                stats = self._units[name] = UnitStats(self.records, name, found,
                                                      **self._options)
                self.meta["activations"][name] = found
            stats.observe(y, self._row)
            self.meta["units"][name] = stats.units
        return observe

    def _all_tensors(self, params=True, grads=True):
        for name, key, layer in self._tensors:
            if grads:
                yield name, key + ".grad", layer.grads[key]
            if params:
                yield name, key, layer.params[key]

    def _flush(self, finish=False) -> None:
        if self._params is not None:
            done = self._params.flush()
            if done is not None:
                rows, bad_grads, bad_params = done
                self._nonfinite.flags(*self.records.step_epoch(rows), self._params.names,
                                      bad_grads, bad_params)
        for stats in self._units.values():
            stats.finish() if finish else stats.flush()

    def _chunks(self, start=(0, 0)) -> list[dict]:
        steps, epochs, values = self._loss
        first = start[1]
        loss = {"kind": "records", "series": [["model", "loss", "loss"]],
                "step": steps[first:], "epoch": epochs[first:],
                "code": [0] * (len(values) - first), "value": values[first:]}
        return [loss, self.records.chunk(start[0])]  # loss first: same order as the file

    def _append(self) -> None:
        self._flush()
        rows, losses, history = self._written
        append_records(self.path, self.meta, self._chunks((rows, losses)),
                       self._rows_history[history:], history)
        self._written = [self.records.n_rows, len(self._loss[0]), len(self._rows_history)]
