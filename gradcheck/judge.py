"""The verdict rule: judge analytic values against finite-difference estimates.

For each checked value ``i`` (an element or a random direction):

    err_i = |analytic_i - numeric_i|
    tol_i = atol + rtol * scale + NOISE_FACTOR * eps_mach * F / h_i + SAFETY * error_i

``scale`` is the tensor's largest value (numeric or analytic), ``F`` the magnitude of the
objective (its round-off is ``eps_mach * F``), ``h_i`` the step, and ``error_i`` the estimated
error of the finite difference itself (:func:`gradcheck.finite_diff.estimate`: step halving).
So the tolerance follows the accuracy the finite differences really have: a float64 check
of a well-conditioned layer resolves relative errors near 1e-7, while large, tiny,
saturated or float32 values get the allowance their own differences need.

A value that fails and whose one-sided slopes keep their gap when the step halves sits on a
kink (of any multiplicity: ReLU at 0, max-pool ties, several at once along a direction): it
is ``"nondifferentiable"``, never a failure. A tensor whose checked analytic and numeric
values are (almost) all exactly zero proved nothing: ``"vacuous"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gradcheck.finite_diff import Estimate

__all__ = ["NOISE_FACTOR", "SAFETY", "VACUOUS_SHARE", "Rule", "Verdict", "judge", "settled"]

NOISE_FACTOR = 8.0     # round-off allowance, in units of eps_mach * F / h
SAFETY = 4.0           # multiple of the estimated finite-difference error allowed
VACUOUS_SHARE = 0.99   # share of exact zeros (analytic and numeric) that makes a check vacuous
_TINY = float(np.finfo(float).tiny)


@dataclass(frozen=True)
class Rule:
    """The fixed part of the tolerance: ``atol + rtol * scale + NOISE_FACTOR * noise / h``.

    ``noise`` is ``eps_mach * F``, the round-off of one evaluation of the objective (an array
    of one per value when each value's perturbation reaches a different share of it).
    """

    atol: float
    rtol: float
    noise: float | np.ndarray

    def base(self, steps: np.ndarray, scale: float) -> np.ndarray:
        """Tolerance without the finite-difference error term, shape of ``steps``."""
        return self.atol + self.rtol * scale + NOISE_FACTOR * self.noise / np.asarray(steps)


@dataclass(frozen=True)
class Verdict:
    """Outcome for one tensor (or one joint direction): counts, worst value and status."""

    checked: int
    n_failed: int
    n_nondifferentiable: int
    n_zero: int              # values whose analytic and numeric are both exactly 0
    max_abs_err: float
    max_rel_err: float
    worst: int               # position of the worst value in the checked list
    worst_label: str
    analytic: float
    numeric: float
    tolerance: float

    @property
    def status(self) -> str:
        """``"fail"``, ``"nondifferentiable"``, ``"vacuous"`` or ``"pass"``."""
        if self.n_failed:
            return "fail"
        if self.n_nondifferentiable:
            return "nondifferentiable"
        if self.checked and self.n_zero >= VACUOUS_SHARE * self.checked:
            return "vacuous"
        return "pass"


def settled(analytic: np.ndarray, numeric: np.ndarray, base_tol: np.ndarray) -> np.ndarray:
    """Values the first estimate already passes (no refinement needed), shape (m,)."""
    return np.abs(np.asarray(analytic, float) - numeric) <= base_tol


def judge(analytic, est: Estimate, base_tol: np.ndarray, scale: float,
          label: Callable[[int], str]) -> Verdict:
    """Judge ``m`` analytic values against their estimates.

    Parameters
    ----------
    analytic : ndarray, shape (m,)
    est : Estimate
        Numeric values (with error estimates and kink flags where refined).
    base_tol : ndarray, shape (m,)
        :meth:`Rule.base` of each value.
    scale : float
        The ``scale`` of the rule (for ``max_rel_err``; already inside ``base_tol``).
    label : callable
        ``label(i) -> str``: how the report names value ``i`` (an index, a direction).
    """
    analytic, numeric = np.asarray(analytic, float), np.asarray(est.value, float)
    if len(numeric) == 0:
        return Verdict(0, 0, 0, 0, 0.0, 0.0, 0, "", 0.0, 0.0, 0.0)
    err = np.abs(analytic - numeric)
    tol = base_tol if est.error is None else base_tol + SAFETY * est.error
    bad = ~(err <= tol)
    n_bad = int(np.count_nonzero(bad))
    kink = bad & est.kink & (est.gap > tol) if n_bad and est.kink is not None else None
    n_kink = 0 if kink is None else int(np.count_nonzero(kink))
    failed = bad if kink is None else bad & ~kink
    ratio = err / np.maximum(tol, _TINY)
    worst = int(np.argmax(np.where(failed, ratio, -1.0) if n_bad > n_kink else ratio))
    max_abs = float(err.max())
    return Verdict(
        checked=len(err), n_failed=n_bad - n_kink, n_nondifferentiable=n_kink,
        n_zero=int(np.count_nonzero((analytic == 0) & (numeric == 0))), max_abs_err=max_abs,
        max_rel_err=max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf")),
        worst=worst, worst_label=label(worst), analytic=float(analytic[worst]),
        numeric=float(numeric[worst]), tolerance=float(tol[worst]))
