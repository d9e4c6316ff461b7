"""Error metrics, per-dtype tolerances and the verdict for one checked tensor.

The rule (the same for elements and for random directions):

    err_i = |analytic_i - numeric_i|
    tol_i = atol + rtol * scale + noise_i,    scale = max_j |numeric_j|  (over the tensor)
    noise_i = 8 * eps_mach * F / h_i          (round-off of the objective, magnitude F, step h_i)

An element passes when ``err_i <= tol_i``. Taking ``scale`` from the whole tensor judges
huge and tiny gradients alike (the error is relative to the tensor's own size, so an element
that happens to be near zero is not held to an impossible relative standard). An element
that fails is ``"nondifferentiable"`` instead when its one-sided differences disagree by
more than ``tol_i`` (a kink inside the step) and the analytic value lies between them. Along a
random direction several kinks may be crossed at once and the analytic value (a subgradient
choice per kink) need not lie between the one-sided differences, so there a disagreement of
the one-sided differences alone marks the direction ``"nondifferentiable"``; the checked
elements keep the strict rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NOISE_FACTOR", "TOLERANCES", "Verdict", "machine_eps", "resolve_tolerances",
           "verdict"]

# Defaults per dtype: float64 catches a 1e-3 relative error; float32 passes correct layers.
TOLERANCES = {
    "float64": {"atol": 1e-12, "rtol": 1e-5},
    "float32": {"atol": 1e-6, "rtol": 1e-2},
}
NOISE_FACTOR = 8.0


def machine_eps(*arrays) -> float:
    """Machine epsilon of the widest float dtype among ``arrays`` (float32 at least)."""
    return float(np.finfo(np.result_type(*(a.dtype for a in arrays), np.float32)).eps)


def resolve_tolerances(dtype, atol: float | None, rtol: float | None) -> tuple[float, float]:
    """``(atol, rtol)``: the user's values, else the defaults of ``dtype``'s row."""
    row = TOLERANCES["float32" if np.dtype(dtype).itemsize <= 4 else "float64"]
    atol = row["atol"] if atol is None else float(atol)
    rtol = row["rtol"] if rtol is None else float(rtol)
    if not (atol >= 0 and rtol >= 0):
        raise ValueError(f"atol and rtol must be >= 0, got atol={atol}, rtol={rtol}")
    return atol, rtol


@dataclass
class Verdict:
    """Outcome for one tensor: counts, worst element and status."""

    checked: int
    n_failed: int
    n_nondifferentiable: int
    max_abs_err: float
    max_rel_err: float
    worst: int          # position of the worst perturbation in the checked list
    analytic: float
    numeric: float
    tolerance: float
    worst_label: str = ""

    @property
    def status(self) -> str:
        """``"fail"``, ``"nondifferentiable"`` or ``"pass"``."""
        if self.n_failed:
            return "fail"
        return "nondifferentiable" if self.n_nondifferentiable else "pass"


def verdict(analytic, numeric, steps, *, atol: float, rtol: float, noise: float,
            sides=None, between=True, prefer=None, scale: float | None = None) -> Verdict:
    """Judge ``m`` analytic values against their numeric estimates.

    Parameters
    ----------
    analytic, numeric, steps : ndarray, shape (m,)
        Analytic and finite-difference derivatives and the step of each.
    atol, rtol : float
        Tolerances of the rule in the module docstring.
    noise : float
        ``eps_mach * F``: round-off of one evaluation of the objective.
    sides : tuple of two ndarrays (m,), optional
        Forward and backward one-sided differences, for kink detection.
    between : bool or ndarray of bool, shape (m,)
        Require the analytic value to lie between the one-sided differences for a kink
        (True for elements, False for directions).
    prefer : ndarray of bool, shape (m,), optional
        Values to name as the worst when any of them fails (elements, which have an index).
    scale : float, optional
        The ``scale`` of the rule; default ``max|numeric|`` (a joint direction passes its
        smallest per-tensor contribution, see :mod:`gradcheck.joint`).
    """
    analytic, numeric = np.asarray(analytic, float), np.asarray(numeric, float)
    if len(numeric) == 0:
        return Verdict(0, 0, 0, 0.0, 0.0, 0, 0.0, 0.0, 0.0)
    err = np.abs(analytic - numeric)
    scale = float(np.abs(numeric).max()) if scale is None else float(scale)
    tol = atol + rtol * scale + NOISE_FACTOR * noise / np.asarray(steps, float)
    ratio = err / np.maximum(tol, np.finfo(float).tiny)
    bad = ~(err <= tol)
    n_bad = int(bad.sum())
    kink = np.zeros_like(bad)
    if sides is not None and n_bad:
        lo, hi = np.minimum(*sides), np.maximum(*sides)
        inside = (analytic >= lo - tol) & (analytic <= hi + tol)
        kink = bad & (hi - lo > tol) & (inside | ~np.asarray(between, bool))
    n_kinks = int(kink.sum())
    # the worst: the largest error ratio among failures (preferred ones first), else overall
    failed = bad & ~kink
    if prefer is not None and (failed & prefer).any():
        failed &= prefer
    worst = int(np.argmax(np.where(failed, ratio, -1.0) if failed.any() else ratio))
    max_abs = float(err.max())
    return Verdict(
        checked=len(err), n_failed=n_bad - n_kinks, n_nondifferentiable=n_kinks,
        max_abs_err=max_abs,
        max_rel_err=max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf")),
        worst=worst, analytic=float(analytic[worst]),
        numeric=float(numeric[worst]), tolerance=float(tol[worst]),
    )
