"""The chance level of a classification run, from the first training labels it sees.

The share of the most frequent class among the labels is the accuracy of always
predicting that class: the accuracy a model that learns nothing reaches. Labels are
class indices (a 1-D integer array) or one-hot / probability rows (2-D, one column per
class); other targets (regression) give no chance level.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LabelCounts"]


class LabelCounts:
    """Class counts of the first ``limit`` labels of a run.

    Parameters
    ----------
    limit : int
        Labels to count; later batches are not looked at.
    """

    def __init__(self, limit: int = 1024):
        self.limit = limit
        self.counts = np.zeros(0, np.int64)
        self.counting = True

    def add(self, y) -> None:
        """Count the labels of one batch ``y`` (shape (batch,) or (batch, classes))."""
        y = np.asarray(y) if y is not None else None
        if y is None or y.size == 0:
            return
        if y.ndim == 2 and y.shape[1] > 1:
            y = y.argmax(axis=1)
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            self.counting, self.counts = False, np.zeros(0, np.int64)
            return
        found = np.bincount(y, minlength=len(self.counts))
        found[:len(self.counts)] += self.counts
        self.counts = found
        self.counting = self.counts.sum() < self.limit

    @property
    def chance(self) -> float | None:
        """Share of the most frequent class, or None without class labels."""
        total = self.counts.sum()
        return float(self.counts.max() / total) if total else None
