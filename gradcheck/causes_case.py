"""Shared pieces of the cause analysis: a failing tensor as a :class:`Case`, a :class:`Cause`,
the fit tests and the number and axis wording of the messages.

A pattern is claimed only when its test is decisive: once its correction is applied (a
constant factor, a rearrangement, a term removed), every element passes the verdict's own
per-element tolerance (:func:`fits`). Ratios are quoted over the "significant" elements,
those whose numeric value exceeds ``SIGNIFICANT`` tolerances (a ratio measured to 10 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SIGNIFICANT", "Case", "Cause", "axis_name", "edge_hint", "factor", "fits",
           "make_case", "num", "spread"]

SIGNIFICANT = 10.0


class Cause(str):
    """A likely cause: the message (this string) and ``label``, the pattern's stable name."""

    label: str

    def __new__(cls, label: str, message: str):
        self = super().__new__(cls, message)
        self.label = label
        return self


@dataclass(frozen=True, eq=False)
class Case:
    """The arrays of one failing tensor, as float64 of one shape.

    Attributes
    ----------
    analytic, numeric, tol : ndarray, shape s
        The two gradients and the per-element tolerance (broadcast).
    bad : ndarray of bool, shape s
        Elements that fail (``not |analytic - numeric| <= tol``).
    sig : ndarray of bool, shape s
        Significant elements (``|numeric| > SIGNIFICANT * tol``).
    evidence : the :class:`gradcheck.causes.Evidence` the case was made from
    """

    analytic: np.ndarray
    numeric: np.ndarray
    tol: np.ndarray
    bad: np.ndarray
    sig: np.ndarray
    evidence: object


def make_case(e) -> Case:
    """The :class:`Case` of an :class:`~gradcheck.causes.Evidence` (0-d arrays as shape (1,))."""
    numeric = np.atleast_1d(np.asarray(e.numeric, float))
    analytic = np.asarray(e.analytic, float).reshape(numeric.shape)
    tol = np.broadcast_to(np.asarray(e.tolerance, float), numeric.shape)
    bad = ~(np.abs(analytic - numeric) <= tol)
    return Case(analytic, numeric, tol, bad, np.abs(numeric) > SIGNIFICANT * tol, e)


def fits(a: np.ndarray, b: np.ndarray, tol: np.ndarray) -> bool:
    """``|a - b| <= tol`` on every element (NaN never fits)."""
    return bool(np.all(np.abs(a - b) <= tol))


def factor(a: np.ndarray, b: np.ndarray, tol: np.ndarray) -> float | None:
    """The least-squares ``c`` of ``a ~ c b`` when ``c b`` fits ``a`` everywhere, else None."""
    norm = float(np.vdot(b, b))
    if not norm > 0:
        return None
    c = float(np.vdot(a, b)) / norm
    return c if fits(a, c * b, tol) else None


def num(value: float) -> str:
    """A measured number for a message: 4 decimals in a readable range, else 4 digits; a
    factor close to 1 with as many digits as it takes to differ from 1 (1.000001)."""
    if 0.99 < abs(value) < 1.01 and abs(value) != 1:
        digits = min(15, 2 - int(np.floor(np.log10(abs(abs(value) - 1)))))
        return f"{value:.{max(4, digits)}f}"
    return f"{value:.4f}" if 0.01 <= abs(value) < 1e4 else f"{value:.4g}"


def spread(case: Case, c: float, where: np.ndarray) -> float:
    """Relative spread ``(max - min) / |c|`` of ``analytic / numeric`` over ``where``."""
    ratios = case.analytic[where] / case.numeric[where]
    return float(np.ptp(ratios) / abs(c)) if ratios.size and c else 0.0


def axis_name(tensor: str, ndim: int, axis: int) -> str:
    """What a slice along ``axis`` is called: sample, element, row, column, channel."""
    if tensor.startswith("input") and axis == 0:
        return "sample"
    if ndim <= 2:
        return ("element",) if ndim == 1 else ("row", "column")[axis]
    return "channel" if ndim == 4 and axis == 1 else f"axis {axis} index"


def edge_hint(k: int, size: int, dropped: bool) -> str:
    """The off-by-one remark for a slice at the first or the last index whose gradient is
    missing (``dropped``: analytic 0 there); nothing for a slice that is merely off."""
    if not dropped:
        return ""
    if k == size - 1:
        return "; it is the last index: an off-by-one (a loop or slice that stops one short)"
    if k == 0:
        return "; it is the first index: an off-by-one (a loop or slice that starts at 1)"
    return ""
