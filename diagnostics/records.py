"""Compact in-memory storage of recorded metrics and their tidy DataFrame view.

Recording must cost next to nothing per training step, so values go into
preallocated numpy arrays that grow by doubling: one row per recorded step, one
column per series ``(layer, tensor, metric)``. A separate boolean mask says which
cells hold a value (a recorded ``NaN`` is a value: a norm of non-finite gradients).
The tidy pandas view is only built on demand.

Files: :mod:`diagnostics.record_files` writes and reads the columnar ``chunk`` dicts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FRAME_COLUMNS", "Records", "tidy_frame"]

FRAME_COLUMNS = ["step", "epoch", "layer", "tensor", "metric", "value"]


class Records:
    """Wide table of recorded values: rows are recorded steps, columns are series.

    Attributes
    ----------
    series : list of tuple (layer, tensor, metric)
        Column ``i`` holds the series ``series[i]``.
    n_rows : int
        Rows in use.
    version : int
        Grows with every added row and every write: views built from the records (the tidy
        frame) are current while it is unchanged.
    """

    def __init__(self, rows: int = 256, columns: int = 16):
        self.series: list[tuple[str, str, str]] = []
        self._codes: dict[tuple[str, str, str], int] = {}
        self.n_rows = self.version = 0
        self._steps = np.empty(rows, np.int64)
        self._epochs = np.empty(rows, np.int64)
        self._values = np.empty((rows, columns))
        self._present = np.zeros((rows, columns), bool)

    def column(self, layer: str, tensor: str, metric: str) -> int:
        """Column index of a series, registering it on first use."""
        key = (layer, tensor, metric)
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self.series)
            self.series.append(key)
            if code >= self._values.shape[1]:
                self._resize(self._values.shape[0], 2 * self._values.shape[1])
        return code

    def columns(self, keys) -> slice | np.ndarray:
        """Columns of several series (registered in order): a slice when consecutive."""
        codes = [self.column(*key) for key in keys]
        if codes == list(range(codes[0], codes[0] + len(codes))):
            return slice(codes[0], codes[0] + len(codes))
        return np.array(codes, dtype=np.intp)

    def add_row(self, step: int, epoch: int) -> int:
        """Append an empty row for ``step``; return its index."""
        if self.n_rows == len(self._steps):
            self._resize(2 * len(self._steps), self._values.shape[1])
        row = self.n_rows
        self._steps[row], self._epochs[row] = step, epoch
        self.n_rows += 1
        self.version += 1
        return row

    def row_for(self, step: int, epoch: int) -> int:
        """Index of the last row if it belongs to ``step``, else a new row."""
        if self.n_rows and self._steps[self.n_rows - 1] == step:
            return self.n_rows - 1
        return self.add_row(step, epoch)

    def put(self, rows, columns, values) -> None:
        """Write ``values`` (broadcast to ``(len(rows), len(columns))``) into the cells;
        ``columns`` may be a slice (fastest)."""
        index = _cells(rows, columns)
        self._values[index] = values
        self._present[index] = True
        self.version += 1

    def drop(self, rows, columns) -> None:
        """Mark the cells of ``rows`` and ``columns`` (as in :meth:`put`) as holding no
        value."""
        self._present[_cells(rows, columns)] = False
        self.version += 1

    def step_epoch(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """Steps and epochs of the given rows."""
        return self._steps[rows], self._epochs[rows]

    def chunk(self, start: int = 0) -> dict:
        """Columnar, JSON-ready dict of the cells in rows ``start:`` (see module doc)."""
        rows, codes = np.nonzero(self._present[start:self.n_rows])
        rows = rows + start
        return {"kind": "records", "series": [list(key) for key in self.series],
                "step": self._steps[rows].tolist(), "epoch": self._epochs[rows].tolist(),
                "code": codes.tolist(), "value": self._values[rows, codes].tolist()}

    def _resize(self, rows: int, columns: int) -> None:
        old_rows, old_cols = self._values.shape
        values, present = np.empty((rows, columns)), np.zeros((rows, columns), bool)
        values[:old_rows, :old_cols] = self._values
        present[:old_rows, :old_cols] = self._present
        self._values, self._present = values, present
        if rows != len(self._steps):
            self._steps = np.resize(self._steps, rows)
            self._epochs = np.resize(self._epochs, rows)


def _cells(rows, columns):
    """Index of the cells of ``rows`` and ``columns`` (a slice or column codes)."""
    rows = np.atleast_1d(rows)
    if isinstance(columns, slice):
        return rows, columns
    return np.ix_(rows, np.atleast_1d(columns))


def tidy_frame(chunks) -> pd.DataFrame:
    """Tidy DataFrame (``FRAME_COLUMNS``) from ``records`` chunks, sorted by step (stable)."""
    parts = []
    for chunk in chunks:
        series = np.array(chunk["series"], dtype=object).reshape(-1, 3)
        codes = np.asarray(chunk["code"], dtype=np.int64)
        parts.append(pd.DataFrame({
            "step": np.asarray(chunk["step"], dtype=np.int64),
            "epoch": np.asarray(chunk["epoch"], dtype=np.int64),
            **{name: pd.Series(series[codes, i], dtype="str")
               for i, name in enumerate(("layer", "tensor", "metric"))},
            "value": np.asarray(chunk["value"], dtype=np.float64)}))
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype=np.int64 if name in ("step", "epoch") else
                                             np.float64 if name == "value" else "str")
                             for name in FRAME_COLUMNS})
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values("step", kind="stable", ignore_index=True)
