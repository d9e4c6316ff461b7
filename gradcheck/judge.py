"""The verdict rule: judge analytic values against finite-difference estimates.

For each checked value ``i`` (an element or a random direction):

    err_i = |analytic_i - numeric_i|
    tol_i = atol + rtol * scale + NOISE_FACTOR * eps_mach * F / h_i + floor
            + SAFETY * error_i

``scale`` is the tensor's largest value (numeric or analytic), ``F`` the magnitude of the
objective (its round-off is ``eps_mach * F``), ``h_i`` the step, and ``error_i`` the estimated
error of the finite difference itself (:func:`gradcheck.finite_diff.estimate`: step halving);
``floor`` is the dtype's smallest normal number (:class:`Rule`).
So the tolerance follows the accuracy the finite differences really have: a float64 check
of a well-conditioned layer resolves relative errors near 1e-7, while large, tiny,
saturated or float32 values get the allowance their own differences need.

A value that fails and whose one-sided slopes keep their gap when the step halves sits on a
kink (of any multiplicity: ReLU at 0, max-pool ties, several at once along a direction): it
is ``"nondifferentiable"``, never a failure. A value whose verdict rests on ``error_i`` is
measured at smaller steps until its estimate converges (:mod:`gradcheck.step_halving`); one
that never does and fails is ``"nondifferentiable"`` too (``n_unresolved``). A tensor whose
checked analytic and numeric values are (almost) all exactly zero proved nothing:
``"vacuous"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gradcheck.finite_diff import Estimate

__all__ = ["COARSE", "NOISE_FACTOR", "SAFETY", "VACUOUS_SHARE", "Rule", "Verdict", "judge",
           "on_kink", "passed", "resolved", "settled", "settles_jointly", "tolerance",
           "undecided"]

NOISE_FACTOR = 8.0     # round-off allowance, in units of eps_mach * F / h
SAFETY = 4.0           # multiple of the estimated finite-difference error allowed
VACUOUS_SHARE = 0.99   # share of exact zeros (analytic and numeric) that makes a check vacuous
_TINY = float(np.finfo(float).tiny)
_SETTLED = ("pass", "vacuous")
# a passing direction whose tolerance is above this share of its value is no proof (float64
# directions resolve about 1e-7, but a tensor whose share of a large objective is small, a W
# fed inputs of 3e-4 beside a bias of 1, only 3e-4: its 1e-4 error passed; float32 ones
# resolve 1e-2 at best, and over a large output much less: a 512-element float32
# softplus's random directions resolve 1.5 to 20 %)
COARSE = {"float64": 1e-5, "float32": 1e-2}


@dataclass(frozen=True)
class Rule:
    """The fixed part of the tolerance:
    ``atol + rtol * scale + NOISE_FACTOR * noise / h + floor``.

    ``noise`` is ``eps_mach * F``, the round-off of one evaluation of the objective (an array
    of one per value when each value's perturbation reaches a different share of it).
    ``floor`` is the dtype's smallest normal number (in the values' units): a value below it
    is subnormal, keeps fewer digits the smaller it is (float32's ``exp`` of -90 is good to
    a few parts in a thousand) and is zero for practical purposes (flushed to zero on many
    devices), so two such values agree; a tensor whose values are all that small proves
    nothing (``"vacuous"``).
    """

    atol: float
    rtol: float
    noise: float | np.ndarray
    floor: float = 0.0

    def base(self, steps: np.ndarray, scale: float) -> np.ndarray:
        """Tolerance without the finite-difference error term, shape of ``steps``."""
        return (self.atol + self.rtol * scale + NOISE_FACTOR * self.noise / np.asarray(steps)
                + self.floor)


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
    n_unresolved: int = 0    # of the nondifferentiable: estimates that never converged
    n_blind: int = 0         # values exactly 0, or with a tolerance above every analytic value
    largest: float = 0.0     # the largest analytic magnitude
    n_not_additive: int = 0  # of the nondifferentiable: partials that do not add up

    @property
    def all_zero(self) -> bool:
        """(Almost) every value's analytic and numeric are exactly 0."""
        return bool(self.checked) and self.n_zero >= VACUOUS_SHARE * self.checked

    @property
    def status(self) -> str:
        """``"fail"``, ``"nondifferentiable"``, ``"vacuous"`` (all zeros, or tolerances that
        would pass any value from 0 to twice the largest analytic one) or ``"pass"``."""
        if self.n_failed:
            return "fail"
        if self.n_nondifferentiable:
            return "nondifferentiable"
        if self.checked and self.n_blind >= VACUOUS_SHARE * self.checked:
            return "vacuous"
        return "pass"


def settled(analytic: np.ndarray, numeric: np.ndarray, base_tol: np.ndarray) -> np.ndarray:
    """Values the first estimate already passes (no refinement needed), shape (m,)."""
    return np.abs(np.asarray(analytic, float) - numeric) <= base_tol


def tolerance(est: Estimate, base_tol: np.ndarray) -> np.ndarray:
    """Each value's tolerance: ``base_tol`` plus ``SAFETY`` times its estimated error."""
    return base_tol if est.error is None else base_tol + SAFETY * est.error


def _kinked(bad: np.ndarray, est: Estimate, tol: np.ndarray) -> np.ndarray:
    """The ``bad`` values that sit on a kink (their one-sided gap keeps a size above the
    tolerance), and the values near kinks (their estimate never converged)."""
    kink = bad & est.kink & (est.gap > tol) if est.kink is not None else np.zeros_like(bad)
    return kink | est.unresolved if est.unresolved is not None else kink


def _compared(analytic, est: Estimate, base_tol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(err, tol)``, each shape (m,): ``|analytic - numeric|`` and :func:`tolerance`."""
    return np.abs(np.asarray(analytic, float) - np.asarray(est.value, float)), tolerance(
        est, base_tol)


def on_kink(analytic, est: Estimate, base_tol: np.ndarray) -> np.ndarray:
    """The values :func:`judge` calls nondifferentiable (outside the tolerance, at a kink or
    unresolved), shape (m,)."""
    err, tol = _compared(analytic, est, base_tol)
    return _kinked(~(err <= tol), est, tol)


def failing(analytic, est: Estimate, base_tol: np.ndarray) -> np.ndarray:
    """The values :func:`judge` fails (outside the tolerance and not at a kink), shape (m,)."""
    return _sorted_out(analytic, est, base_tol)[2]


def _sorted_out(analytic, est: Estimate, base_tol: np.ndarray):
    """``(err, tol, failed, kink)``, each shape (m,): the comparison, the values that fail
    and those at a kink (None for a first estimate, which has no kink test)."""
    err, tol = _compared(analytic, est, base_tol)
    bad = ~(err <= tol)
    if est.kink is None and est.unresolved is None:
        return err, tol, bad, None
    kink = _kinked(bad, est, tol)
    return err, tol, bad & ~kink, kink


def undecided(analytic, est: Estimate, base_tol: np.ndarray) -> np.ndarray:
    """The values whose verdict rests on the estimated error: outside ``base_tol`` and not
    at a kink (failing, or passing by the ``SAFETY * error`` allowance), shape (m,)."""
    err, tol = _compared(analytic, est, base_tol)
    return ~(err <= base_tol) & ~_kinked(~(err <= tol), est, tol)


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
    err, tol, failed, kink = _sorted_out(analytic, est, base_tol)
    n_failed = int(np.count_nonzero(failed))
    worst, max_abs, largest = _worst(analytic, err, tol, failed if n_failed else None)
    zero = (analytic == 0) & (numeric == 0)
    n_zero = int(np.count_nonzero(zero))
    return Verdict(
        checked=len(err), n_failed=n_failed,
        n_nondifferentiable=0 if kink is None else int(np.count_nonzero(kink)), n_zero=n_zero,
        max_abs_err=max_abs,
        max_rel_err=max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf")),
        worst=worst, worst_label=label(worst), analytic=float(analytic[worst]),
        numeric=float(numeric[worst]), tolerance=float(tol[worst]),
        n_unresolved=0 if est.unresolved is None else int(np.count_nonzero(kink & est.unresolved)),
        n_blind=int(np.count_nonzero(zero | (tol >= largest))) if largest > 0 else n_zero,
        largest=largest)


def _worst(analytic: np.ndarray, err: np.ndarray, tol: np.ndarray,
           failed: np.ndarray | None) -> tuple[int, float, float]:
    """``(worst, max_abs_err, largest)``: the position of the largest error over tolerance
    (among the ``failed`` values when given), the largest error (NaN-free) and the largest
    analytic magnitude; one value (a joint direction) without reductions."""
    if len(err) == 1:
        return 0, float(err[0]), abs(float(analytic[0]))
    ratio = err / np.maximum(tol, _TINY)
    worst = int(np.argmax(ratio if failed is None else np.where(failed, ratio, -1.0)))
    return worst, float(np.fmax.reduce(err)), float(np.abs(analytic).max())


def passed(verdicts: list[Verdict]) -> bool:
    """True when every objective's verdict passes (or proves nothing)."""
    return all(v.status in _SETTLED for v in verdicts)


def resolved(verdicts: list[Verdict], dtype: str, share: float | None = None,
             allowed: float = 0.0, rtol: float = 0.0) -> bool:
    """Passed, with a tolerance fine enough to mean it: at most ``share`` (default
    ``COARSE``) of the value beyond what the user's tolerances allow of it (``allowed``
    plus ``rtol`` of the value: a wide ``rtol`` is the user's choice, not round-off). A
    direction whose round-off allowance exceeds that could hide a real error, so the plan
    checks the tensor element by element instead (an element read back from its own output
    slice carries only that slice's round-off)."""
    share = COARSE[dtype] if share is None else share
    return passed(verdicts) and all(
        v.tolerance <= allowed + (share + rtol) * max(abs(v.analytic), abs(v.numeric))
        or v.all_zero for v in verdicts)


def settles_jointly(verdicts: list[Verdict], dtype: str, resolution: float,
                    smallest: list[float], allowed: float = 0.0, rtol: float = 0.0) -> bool:
    """A joint direction's verdicts that settle every tensor in it: all passes (a kink or a
    vacuous value sends each tensor to its own check), resolved (``allowed`` and ``rtol``:
    the user's share of the tolerance, as for :func:`resolved`), and each tolerance beyond
    that share at most ``resolution`` times the smallest tensor's term (``smallest``, per
    objective), so that a relative error a little above the resolution in any one tensor
    would have failed. The plan's floor bounds the objective's round-off so; the round-off
    of the moved values themselves, which the tolerance takes in when the first estimate
    needs it, it does not (large inputs: 1.6e-6 of the value hid an error of 2e-6 in a
    third of it)."""
    return (all(v.status == "pass" for v in verdicts)
            and resolved(verdicts, dtype, allowed=allowed, rtol=rtol)
            and all(v.tolerance <= allowed + (resolution + rtol) * least
                    for v, least in zip(verdicts, smallest, strict=True)))
