"""The recorders behind a :class:`~diagnostics.Monitor`, writing into one records table.

:class:`Recorder` owns the :class:`~diagnostics.records.Records` table, the loss series
(every step), the parameter norms (:class:`~diagnostics.param_stats.ParamStats`), the optional
per-step gradient norms (:class:`~diagnostics.norms.GradNorms`), the activation taps and
statistics (:mod:`diagnostics.units`) and the non-finite tracker. The Monitor decides
which steps are recorded and calls it; everything here is per recorded step.
"""

from __future__ import annotations

import math

from diagnostics.model_info import param_tensors
from diagnostics.nonfinite import NonFiniteTracker
from diagnostics.norms import GradNorms
from diagnostics.param_stats import ParamStats
from diagnostics.records import Records
from diagnostics.units import ACTIVATION_KINDS, ForwardTap, UnitStats, classify

__all__ = ["Recorder"]


class Recorder:
    """Records of one Monitor: loss, norms, activations, non-finite values.

    Parameters
    ----------
    meta : dict
        The Monitor's ``meta``; ``activations`` and ``units`` are filled in here.
    on_non_finite : {"record", "raise"}
    activations : dict or None
        Extra class name -> kind entries (see ``units.ACTIVATION_KINDS``).
    window, margin : int, float
        Dead-unit window and saturation margin of :class:`~diagnostics.units.UnitStats`.
    distance_every : int
        The ``every`` of the recorded steps that record ``dist_from_init``
        (:class:`~diagnostics.schedule.DistanceSchedule`).
    clock : callable () -> float
        Seconds; the recording work is timed with it into :attr:`spent`.
    """

    def __init__(self, meta, on_non_finite, activations, window, margin, distance_every,
                 clock):
        self.meta = meta
        self.records = Records()
        self.nonfinite = NonFiniteTracker(self.records, on_non_finite)
        self.loss = ([], [], [])  # steps, epochs, values: every step
        self._kinds = {**ACTIVATION_KINDS, **(activations or {})}
        self._options = dict(window=window, margin=margin)
        self._distance_every, self.clock = distance_every, clock
        self._units: dict[str, UnitStats] = {}
        self._taps: list[ForwardTap] = []
        self._params = self._grads = None
        self._row = self._last_done = None
        self.spent = 0.0  # seconds of recording work since the Monitor last read it

    def begin(self, layers, grad_norms: bool, optimizer=None) -> None:
        """Track the parameters of ``layers`` (``[(name, layer)]``) and tap the activation
        layers; ``grad_norms``: also record gradient norms on steps :meth:`arm` skips;
        ``optimizer``: the one stepping the model (its update reports are used if it
        offers them, see :mod:`diagnostics.optimizer_updates`)."""
        self._taps, self._last_done = [], None
        self._tensors = param_tensors(layers)
        self._params = ParamStats(self.records, self._tensors, self._flags,
                                  optimizer=optimizer, distance_every=self._distance_every)
        self._grads = GradNorms(self.records, self._tensors, self._flags) if grad_norms else None
        for name, layer in layers:
            kind = self._kinds.get(type(layer).__name__)
            # instances accept attributes (not hasattr(layer, "__dict__"): see ForwardTap)
            if type(layer).__dictoffset__ and (kind is not None or not layer.params):
                self._taps.append(ForwardTap(layer, self._observer(name, kind)))

    @property
    def distance_steps(self) -> list[int]:
        """The recorded steps that recorded ``dist_from_init``."""
        return [] if self._params is None else self._params.distances.steps

    def arm(self, step: int, epoch: int) -> None:
        """Start the record of ``step``: a row, and taps on the next forward."""
        start = self.clock()
        self._row = self.records.add_row(step, epoch)
        for tap in self._taps:
            tap.arm()
        self.spent += self.clock() - start

    def check_loss(self, step: int, epoch: int, value: float) -> None:
        """At the first non-finite loss: record it and scan every weight and gradient.

        Reported in the order the values arose: what the recorded steps before found, the
        weights (read by the forward), the loss, the gradients from the last layer to the
        first (as backward computes them).
        """
        if ("model", "loss") not in self.nonfinite.seen:
            self._flush_norms()
            self.nonfinite.scan(step, epoch, self._all_tensors(grads=False))
            self.nonfinite.loss(step, epoch, value)
            self.nonfinite.scan(step, epoch, reversed(list(self._all_tensors(params=False))))

    def before_update(self, step: int, epoch: int) -> None:
        """Buffer the gradients (and parameters) of the armed step, after backward."""
        start = self.clock()
        sums = self._params.before_step(self._row, step, self._last_done == step - 1)
        if self.nonfinite.mode == "raise" and not math.isfinite(sums[:, 0].sum()):
            self.nonfinite.scan(step, epoch, self._all_tensors(params=False))
        self.spent += self.clock() - start

    def after_update(self, step: int, epoch: int) -> None:
        """Buffer the updated parameters of the armed step."""
        start = self.clock()
        param_sq = self._params.after_step()
        self._last_done = step
        if self.nonfinite.mode == "raise" and not math.isfinite(param_sq.sum()):
            self.nonfinite.scan(step, epoch, self._all_tensors(grads=False))
        self.spent += self.clock() - start

    def grad_norms(self, step: int, epoch: int) -> None:
        """Gradient norms alone on a step that is not armed (if ``begin`` asked for them)."""
        if self._grads is not None:
            total = self._grads.add(self.records.add_row(step, epoch))
            if self.nonfinite.mode == "raise" and not math.isfinite(total):
                self.nonfinite.scan(step, epoch, self._all_tensors(params=False))

    def end(self) -> None:
        """Untap the layers and compute everything buffered, closing the last window."""
        for tap in self._taps:
            tap.remove()
        self.flush(finish=True)
        self.meta["update_norms"] = self._params.update_source()

    def flush(self, finish: bool = False) -> None:
        """Compute everything buffered (reporting the non-finite tensors found)."""
        self._flush_norms()
        for stats in self._units.values():
            stats.finish() if finish else stats.flush()

    def chunks(self, start=(0, 0)) -> list[dict]:
        """The loss from value ``start[1]`` and the records from row ``start[0]`` on, as
        ``records`` chunks (loss first: the order of the records file)."""
        steps, epochs, values = self.loss
        first = start[1]
        loss = {"kind": "records", "series": [["model", "loss", "loss"]],
                "step": steps[first:], "epoch": epochs[first:],
                "code": [0] * (len(values) - first), "value": values[first:]}
        return [loss, self.records.chunk(start[0])]

    def _flush_norms(self) -> None:
        for stats in (self._params, self._grads):
            if stats is not None:
                stats.flush()

    def _flags(self, rows, bad_grads, bad_params) -> None:
        """Report the tensors a norm recorder flagged non-finite (see ``ParamStats``)."""
        self.nonfinite.flags(*self.records.step_epoch(rows), self._params.names, bad_grads,
                             bad_params)

    def _observer(self, name, kind):
        """Callback of a forward tap: classify once if needed, then buffer the output."""
        def observe(x, y):
            start = self.clock()
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
            self.spent += self.clock() - start
        return observe

    def _all_tensors(self, params=True, grads=True):
        for name, key, layer in self._tensors:
            if grads:
                yield name, key + ".grad", layer.grads[key]
            if params:
                yield name, key, layer.params[key]
