"""Per-tensor norms of a model's parameters and gradients, from copies of the parameters
or from the optimizer's reports.

Each recorded step's sums (``diagnostics.norms.SUMS``) come from one of two sources:

* :class:`~diagnostics.param_copies.CopiedSums`: copies of the parameters, with any
  optimizer (or none) and whatever else changes the weights;
* :class:`~diagnostics.optimizer_updates.ReportedSums`: the optimizer's update reports,
  taken inside its ``step`` (no copy; the Monitor reads only the gradients).

The reports are tried when the optimizer offers them and every tensor is float64. The
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

from diagnostics.norms import SUMS, ParamNormChunks, nonempty
from diagnostics.optimizer_updates import ReportedSums, agree, offers_reports
from diagnostics.param_copies import CopiedSums

__all__ = ["MEASURED", "REPORTED", "ParamStats"]

#: ``update_source()`` of the two sources.
MEASURED, REPORTED = "measured from copies of the parameters", "reported by the optimizer"


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

    Attributes
    ----------
    names : list of tuple (layer_name, key)
        The tracked tensors with elements, in the order of the sums' rows.
    state : {"trial", "trusted", "off"}
        ``"trial"`` until the first recorded step has been compared with the reports,
        ``"trusted"`` while they are used, ``"off"`` when the copies are (for the rest
        of the run).
    """

    def __init__(self, records, tensors, on_flags, chunk_rows: int = 128, optimizer=None):
        self.tensors, self.names = nonempty(tensors)
        self._copies = CopiedSums(self.tensors)
        self._chunks = ParamNormChunks(records, self.names, self._copies.init_sq, on_flags,
                                       chunk_rows)
        float64 = all(layer.params[key].dtype == np.float64 for key, layer in self.tensors)
        self._reports = (ReportedSums(optimizer, self.tensors, self._copies.init)
                         if self.tensors and float64 and offers_reports(optimizer) else None)
        self.state = "off" if self._reports is None else "trial"
        self._was_trusted = False
        self._sums = np.empty((len(self.tensors), len(SUMS)))  # of the current step
        self._row = None

    def before_step(self, row: int, consecutive: bool) -> np.ndarray:
        """Start the sums of the step in record ``row`` (``consecutive``: the previous
        step was recorded too), after backward and before the optimizer step.

        Returns the step's sums, shape (n_tensors, 4); column 0 holds the squared
        gradient norms.
        """
        if self.state == "trusted":
            self._reports.before_step(self._sums)
        else:
            self._copies.before_step(self._sums, consecutive)
            if self.state == "trial":
                self._reports.request()
        self._row = row  # buffered in after_step: records read mid-step keep them apart
        return self._sums

    def after_step(self) -> np.ndarray:
        """End the step's sums after the optimizer step and buffer them; return the
        squared weight norms, shape (n_tensors,)."""
        sums, known = self._sums, True
        if self.state != "trusted":
            self._copies.after_step(sums)
            if self.state == "trial":
                self._end_trial(sums)
        elif not self._reports.after_step(sums):
            self.state, known = "off", False
            self._copies.after_step(sums)  # the weights now; the update is not known
        self._chunks.add(self._row, sums, known)
        return sums[:, 1]

    def _end_trial(self, measured: np.ndarray) -> None:
        """Trust the reports if the report of this step agrees with the ``measured`` sums
        (then put the reported ones into them)."""
        reported = measured.copy()
        scale = measured[:, 1] + self._copies.before_sq + self._copies.init_sq
        if self._reports.after_step(reported) and agree(reported[:, 1:], measured[:, 1:],
                                                        scale):
            measured[:] = reported
            self.state, self._was_trusted, self._copies.fresh = "trusted", True, False
        else:
            self.state = "off"

    def flush(self) -> None:
        """Derive and record the norms of the buffered steps (see ``on_flags``)."""
        self._chunks.flush()

    def update_source(self) -> str:
        """Where the update norms came from, in a few words."""
        if self.state == "trusted":
            return REPORTED
        if self._was_trusted:
            return f"{REPORTED}, then {MEASURED} (a step without a report)"
        return MEASURED
