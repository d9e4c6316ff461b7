"""Inputs and row lookups shared by the adapter tests."""

from __future__ import annotations

import numpy as np

DTYPES = [np.float64, np.float32]


def normal(shape=(6, 5), dtype=np.float64, seed=0) -> np.ndarray:
    """Standard normal values of ``shape`` in ``dtype``."""
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def gradient_rows(report) -> dict:
    """The report's ``"gradient"`` rows by tensor name."""
    return {row["tensor"]: row for row in report.rows if row["check"] == "gradient"}
