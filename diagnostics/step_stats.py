"""Statistics over training steps of series recorded on irregular steps.

A Monitor on its budget schedule records the first steps one after another and later
ones further apart, so a plain median over the records would over-weight the start of
the run. Here each record stands for the steps until the next record of its series:
medians are over training steps, and with every step recorded they are plain medians.
"""

from __future__ import annotations

import numpy as np

__all__ = ["step_median", "step_weights"]


def step_weights(steps) -> np.ndarray:
    """Steps each record stands for: the gap to the next record (the last one: the gap
    before it; a lone record: 1).

    Parameters
    ----------
    steps : array of int, shape (n,), increasing
    """
    steps = np.asarray(steps, dtype=np.float64)
    gaps = np.diff(steps)
    return np.append(gaps, gaps[-1] if len(gaps) else 1.0)


def step_median(steps, values) -> float:
    """Median of ``values`` (shape (n,)) recorded at ``steps`` (increasing), each weighted
    by :func:`step_weights`; with equal weights it equals ``numpy.median``."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    sorted_values, cum = values[order], np.cumsum(step_weights(steps)[order])
    half = cum[-1] / 2
    i = int(np.searchsorted(cum, half))
    if np.isclose(cum[i], half) and i + 1 < len(sorted_values):
        return float((sorted_values[i] + sorted_values[i + 1]) / 2)
    return float(sorted_values[i])
