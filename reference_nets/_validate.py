"""Argument checks shared by layers, losses and ``train`` (clear errors, no numpy tracebacks)."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_numeric", "check_finite", "check_positive_int", "check_positive_number"]


def as_numeric(x, name: str, where: str) -> np.ndarray:
    """Return ``x`` as a floating ndarray, or raise ``TypeError`` naming ``name``.

    Parameters
    ----------
    x : array_like
        Candidate array. Floating arrays are returned as they are (no copy);
        boolean and integer arrays are converted to float64 (a new array).
    name : str
        Argument name used in the error message.
    where : str
        Caller, e.g. ``"Dense.forward"``, used as the message prefix.
    """
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{where}: {name} must be a numeric array ({exc})") from None
    kind = x.dtype.kind
    if kind == "f":
        return x
    if kind in "biu":
        return x.astype(np.float64)
    raise TypeError(
        f"{where}: {name} must be a numeric (float, int or bool) array, got dtype {x.dtype}"
    )


def check_finite(x: np.ndarray, name: str, where: str) -> None:
    """Raise ``ValueError`` when ``x`` holds NaN or Inf, saying how many."""
    if not np.isfinite(x).all():
        n_nan = int(np.isnan(x).sum())
        n_inf = int(np.isinf(x).sum())
        raise ValueError(
            f"{where}: {name} must be finite, found {n_nan} NaN and {n_inf} Inf values"
        )


def check_positive_int(value, name: str, where: str) -> int:
    """Return ``value`` as an int when it is an integer >= 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be >= 1, got {value}")
    return int(value)


def check_positive_number(value, name: str, where: str) -> float:
    """Return ``value`` as a float when it is a finite real number > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a positive number, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{where}: {name} must be a finite number > 0, got {value}")
    return float(value)
