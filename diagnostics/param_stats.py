"""Per-tensor norms of a model's parameters and gradients, from copies of the parameters
or from the optimizer's reports.

Each recorded step's sums (``diagnostics.norms.SUMS``) come from one of two sources:

* :class:`~diagnostics.param_copies.CopiedSums`: copies of the parameters, with any
  optimizer (or none) and whatever else changes the weights;
* :class:`~diagnostics.optimizer_updates.ReportedSums`: the optimizer's update reports,
  taken inside its ``step`` (no copy; the Monitor reads only the gradients).

The reports are tried when the optimizer offers them, every tensor is float64 and some
tensor has :data:`~diagnostics.param_copies.ROW_BY_ROW` elements or more (on models of
small tensors only, where calls cost more than memory traffic, the copies are faster:
one copy and one matrix-vector product per tensor against three dot products). The
first recorded step is measured from copies and the report of the same step must agree
with it (:func:`~diagnostics.optimizer_updates.agree`; the step then records the reported
values): a loop that changes the weights besides the optimizer (a weight constraint,
another hook) or hands the Monitor another optimizer keeps the copies. A later step
without a report (an own loop that skips ``step()``, e.g. accumulating gradients, or a
parameter array replaced) records its weight norms and distances from copies and no
update norms, and the copies serve from then on.
"""

from __future__ import annotations

import numpy as np

from diagnostics.norms import (
    MEASURED,
    REPORTED,
    SUMS,
    UNKNOWN,
    ParamNormChunks,
    nonempty,
    sq_distance,
)
from diagnostics.optimizer_updates import ReportedSums, agree, offers_reports
from diagnostics.param_copies import ROW_BY_ROW, CopiedSums
from diagnostics.schedule import DISTANCE_EVERY, DistanceSchedule

__all__ = ["FROM_COPIES", "FROM_REPORTS", "ParamStats"]

#: ``update_source()`` of the two sources.
FROM_COPIES, FROM_REPORTS = "measured from copies of the parameters", "reported by the optimizer"


class ParamStats:
    """Recorder of the per-tensor norms of one model's parameters and gradients.

    Parameters
    ----------
    records : Records
        Where the values go (``diagnostics.norms.ParamNormChunks``).
    tensors : list of tuple (layer_name, key, layer)
        The tracked tensors: ``layer.params[key]`` and ``layer.grads[key]``, read
        afresh on every recorded step (so replaced arrays are followed).
    on_flags : callable (rows, bad_grads, bad_params) -> None
        Called at each flush with the record rows (m,) and boolean arrays (m, n_tensors):
        True where a gradient or parameter tensor (``names[j]``) was non-finite.
    chunk_rows : int
        Recorded steps whose sums are buffered before norms are derived and stored.
    optimizer : object, optional
        The optimizer stepping the model; its update reports are used when it offers
        them (``diagnostics.optimizer_updates``).
    distance_every : int
        Of the recorded steps, those of a
        :class:`~diagnostics.schedule.DistanceSchedule` of this ``every`` take ``p.p0``
        and record ``dist_from_init``.

    Attributes
    ----------
    names : list of tuple (layer_name, key)
        The tracked tensors with elements, in the order of the sums' rows.
    state : {"trial", "trusted", "off"}
        ``"trial"`` until the first recorded step has been compared with the reports,
        ``"trusted"`` while they are used, ``"off"`` when the copies are (for the rest
        of the run).
    distances : DistanceSchedule
        Which recorded steps took the distance from initialisation (``distances.steps``).
    """

    def __init__(self, records, tensors, on_flags, chunk_rows: int = 128, optimizer=None,
                 distance_every: int = DISTANCE_EVERY):
        self.tensors, self.names = nonempty(tensors)
        self._copies = CopiedSums(self.tensors)
        self._chunks = ParamNormChunks(records, self.names, self._copies.init_sq, on_flags,
                                       chunk_rows)
        arrays = [layer.params[key] for key, layer in self.tensors]
        worth = (any(a.size >= ROW_BY_ROW for a in arrays)
                 and all(a.dtype == np.float64 for a in arrays))
        self._reports = (ReportedSums(optimizer, self.tensors, self._copies.init)
                         if worth and offers_reports(optimizer) else None)
        self.state = "off" if self._reports is None else "trial"
        self._was_trusted = False
        self.distances = DistanceSchedule(distance_every)
        self._sums = np.empty((len(self.tensors), len(SUMS)))  # of the current step
        self._row, self._distance = None, True

    def before_step(self, row: int, step: int, consecutive: bool) -> np.ndarray:
        """Start the sums of ``step`` in record ``row`` (``consecutive``: the previous
        step was recorded too), after backward and before the optimizer step.

        Returns the step's sums, shape (n_tensors, 4); column 0 holds the squared
        gradient norms.
        """
        self._distance = self.distances.take(step)
        if self.state == "trusted":
            self._reports.before_step(self._sums, self._distance)
        else:
            self._copies.before_step(self._sums, consecutive)
            if self.state == "trial":
                self._reports.request(self._distance)
        self._row = row  # buffered in after_step: records read mid-step keep them apart
        return self._sums

    def after_step(self) -> np.ndarray:
        """End the step's sums after the optimizer step and buffer them; return the
        squared weight norms, shape (n_tensors,)."""
        sums, update, distance = self._sums, REPORTED, self._distance
        if self.state != "trusted":
            self._copies.after_step(sums, distance)
            update = self._end_trial(sums) if self.state == "trial" else MEASURED
        elif not self._reports.after_step(sums):
            self.state, update = "off", UNKNOWN
            self._copies.after_step(sums, distance)  # the weights now
        self._chunks.add(self._row, sums, update, distance)
        return sums[:, 1]

    def _end_trial(self, measured: np.ndarray) -> int:
        """Trust the reports if the report of this step agrees with the ``measured`` sums
        (then put the reported ones into them); return how the update is known."""
        reported = measured.copy()
        if self._reports.after_step(reported):
            p_sq, init_dot, before_dot, before_sq = measured[:, 1:].T
            with np.errstate(invalid="ignore", over="ignore"):
                update_sq = sq_distance(p_sq, before_dot, before_sq)
            scale = p_sq + before_sq + self._copies.init_sq
            if agree(reported[:, 1:4], np.stack([p_sq, init_dot, update_sq], axis=1), scale):
                measured[:] = reported
                self.state, self._was_trusted, self._copies.fresh = "trusted", True, False
                return REPORTED
        self.state = "off"
        return MEASURED

    def flush(self) -> None:
        """Derive and record the norms of the buffered steps (see ``on_flags``)."""
        self._chunks.flush()

    def update_source(self) -> str:
        """Where the update norms came from, in a few words."""
        if self.state == "trusted":
            return FROM_REPORTS
        if self._was_trusted:
            return f"{FROM_REPORTS}, then {FROM_COPIES} (a step without a report)"
        return FROM_COPIES
