"""The read side of a :class:`~diagnostics.Monitor`: its records as frames, findings and
files, for a live monitor and for one loaded from a records file."""

from __future__ import annotations

import numpy as np
import pandas as pd

from diagnostics import health
from diagnostics.atomic import require_output_path
from diagnostics.call_order import IDLE
from diagnostics.findings_frame import Findings
from diagnostics.record_files import SUFFIXES, append_records, read_records, write_records
from diagnostics.records import tidy_frame
from diagnostics.schedule import describe, expand_runs, step_runs

__all__ = ["MonitorResults"]


class MonitorResults:
    """Results of a monitored run; :class:`~diagnostics.Monitor` sets the state they read
    (``meta``, ``path``, its recorder, loss, history, recorded steps and label counts)."""

    #: (records version, loss count, loaded chunks) and the tidy frame built for them.
    _frame_cache = (None, None)

    @property
    def frame(self) -> pd.DataFrame:
        """Tidy DataFrame ``step, epoch, layer, tensor, metric, value`` (built when records
        changed since the last call; a copy-on-write view of it otherwise)."""
        self._flush()
        key = (self._rec.records.version, len(self._loss[0]), len(self._loaded))
        cached_key, cached = self._frame_cache
        if cached_key != key:
            cached = tidy_frame([*self._loaded, *self._rec.chunks()])
            self._frame_cache = key, cached
        return cached.copy(deep=False)

    @property
    def history(self) -> pd.DataFrame:
        """One row per ``on_epoch_end`` call (the training loop's history)."""
        return pd.DataFrame(self._rows_history)

    @property
    def recorded_steps(self) -> np.ndarray:
        """The steps recorded in full, increasing within a run, shape (n_recorded,)."""
        return np.asarray(self._recorded, dtype=np.int64)

    def findings(self, **thresholds) -> Findings:
        """Findings ``severity, check, layer, message`` (a DataFrame that prints messages in
        full); see :func:`health.findings`."""
        return Findings(health.findings(self.frame, self.meta, history=self.history,
                                        **thresholds))

    def _repr_html_(self) -> str:
        """Notebook summary: steps, layers, worst findings (:mod:`diagnostics.notebook_html`)."""
        from diagnostics.notebook_html import monitor_html
        return monitor_html(self)

    def save(self, path):
        """Write meta, records and history atomically to ``path``, JSON lines (``.jsonl``)
        or CSV (``.csv``, see :mod:`diagnostics.record_files`); return the path.
        ``OutputPathError`` (a ValueError) when ``path`` cannot be written."""
        require_output_path(path, option="Monitor.save(path)", suffixes=SUFFIXES)
        self._flush()
        return write_records(path, self.meta, [*self._loaded, *self._rec.chunks()],
                             self._rows_history)

    @classmethod
    def load(cls, path):
        """A Monitor (an instance of ``cls``) holding the records of a file written by
        ``save`` or ``path=``."""
        meta, chunks, history = read_records(path)
        monitor = cls(every=meta.get("every", 1))
        monitor.meta.update(meta)
        monitor._loaded, monitor._rows_history = chunks, history
        monitor._recorded = expand_runs(meta.get("recorded_steps", []))
        return monitor

    def _flush(self) -> None:
        """Compute everything buffered; bring the schedule and label entries of meta up
        to date."""
        if self._phase != IDLE:
            self._rec.flush()
        if self._loaded:
            return  # a loaded monitor keeps the meta of its file
        runs, n_steps = step_runs(self._recorded), len(self._loss[0])
        recorded, distances = describe(runs, n_steps), self._rec.distance_steps
        if len(distances) < len(self._recorded):
            recorded += "; dist_from_init on " + describe(step_runs(distances), n_steps)
        self.meta.update(n_steps=n_steps, recorded_steps=runs, recorded=recorded,
                         chance_accuracy=self._labels.chance)

    def _append(self) -> None:
        self._flush()
        rows, losses, history = self._written
        append_records(self.path, self.meta, self._rec.chunks((rows, losses)),
                       self._rows_history[history:], history)
        self._written = [self._rec.records.n_rows, len(self._loss[0]), len(self._rows_history)]
