"""Halve the step of values whose verdict rests on their error estimate, until it converges.

After refinement a value is judged from central differences at steps ``h`` and ``h/2``
(:func:`gradcheck.finite_diff.estimate`), with a tolerance that grows with their difference.
Kinks the step crosses at a distance from the point (ReLU units whose pre-activations are
near, not at, 0, as in a net fed tiny inputs) bias both estimates, and the one-sided gap
test need not see them: kinks on both sides shift both one-sided slopes alike. They can
fail a correct value, and their large error estimate can pass a wrong one. So a value whose
verdict rests on its error estimate (outside the fixed tolerance, not at a kink) is measured
again at half the step, and again, until

- it has converged: its central differences and its one-sided slopes agree to within the
  fixed tolerance, or for two halvings running both behaved as a smooth function's do (the
  difference shrinking by ``CONVERGED``, fourfold when smooth, and the one-sided gap by
  ``SMOOTH_GAP``, twofold when smooth). It is judged by the estimate with the smallest
  tolerance since its halvings began to behave so: the smaller steps' estimates carry more
  round-off, so a smooth value keeps the accuracy of its first steps, or
- it fails with one-sided slopes that keep their gap: a kink at the point
  (``"nondifferentiable"``), or
- ``MAX_HALVINGS`` halvings settle neither: judged by its best estimate, except that a
  failure is unresolved (``"nondifferentiable"``, counted in the verdict's ``n_unresolved``).

Once the step is below the distance to the nearest kink the estimates are exact again. A
value of a smooth layer converges in two halvings: four evaluations more per move that holds
such a value (a wrong gradient's, or one that passed only by its error allowance).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from gradcheck.finite_diff import Estimate, estimate
from gradcheck.judge import failing, on_kink, tolerance, undecided

__all__ = ["CONVERGED", "MAX_HALVINGS", "SMOOTH_GAP", "halve_failing"]

CONVERGED = 0.3     # central differences: at most this share of the previous difference
SMOOTH_GAP = 0.6    # one-sided gap: at most this share of the previous gap
MAX_HALVINGS = 12   # beyond the refinement's h/2: down to h / 2**13
_PAIR = (1.0, -1.0, 0.5, -0.5)   # two central levels, in units of the larger step


def _smooth(new: Estimate, old: Estimate, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks (m,): the halving from ``old`` to ``new`` behaved as for a smooth function, and
    ``new`` is settled outright (its difference and gap within the fixed tolerance ``base``)."""
    small_error, small_gap = new.error <= base, new.gap <= base
    smooth = ((small_error | (new.error <= CONVERGED * old.error))
              & (small_gap | (new.gap <= SMOOTH_GAP * old.gap)))
    return smooth, small_error & small_gap


def _pick(where: np.ndarray, new, old):
    """``new`` where ``where``, ``old`` elsewhere: arrays, or Estimates field by field."""
    if isinstance(new, Estimate):
        return Estimate(*(np.where(where, n, o) for n, o in zip(
            (new.value, new.error, new.kink, new.gap),
            (old.value, old.error, old.kink, old.gap), strict=True)))
    return np.where(where, new, old)


class _Halving:
    """One objective's values through the halvings: the latest estimate of each, and the
    best: of the estimates since its halvings last behaved as for a smooth function, the one
    with the smallest tolerance that every later estimate agrees with (else the latest)."""

    def __init__(self, analytic: np.ndarray, est: Estimate, base: np.ndarray):
        self.analytic, self.latest, self.best, self.base = analytic, est, est, base
        self.open = undecided(analytic, est, base)
        self.smooth_before = np.zeros(len(base), bool)

    def halve(self, est: Estimate, base: np.ndarray) -> None:
        """Take the estimates of the next halving (``base``: its fixed tolerance)."""
        smooth, settled = _smooth(est, self.latest, base)
        at_kink = on_kink(self.analytic, est, base)
        best_tol = tolerance(self.best, self.base)
        # the best stands while the newest estimate confirms it (within the best's tolerance)
        stands = smooth & (np.abs(est.value - self.best.value) <= best_tol)
        take = self.open & (~stands | (tolerance(est, base) < best_tol) | at_kink)
        self.best, self.base = _pick(take, est, self.best), _pick(take, base, self.base)
        self.latest = _pick(self.open, est, self.latest)
        self.open &= ~(settled | (smooth & self.smooth_before) | at_kink)
        self.smooth_before = smooth

    def result(self) -> tuple[Estimate, np.ndarray]:
        """The estimate to judge each value by, unresolved where still open and failing."""
        unresolved = self.open & failing(self.analytic, self.best, self.base)
        return replace(self.best, unresolved=unresolved), self.base


def halve_failing(analytic: list[np.ndarray], estimates: list[Estimate], halves: np.ndarray,
                  steps: np.ndarray, columns: Sequence[np.ndarray],
                  deltas_at: Callable, base_at: Callable) -> tuple[list[Estimate], list]:
    """Halve the step of the undecided values of each objective (module docstring).

    Parameters
    ----------
    analytic : list of ndarray, shape (m,)
        Per objective.
    estimates : list of Estimate
        Per objective, from steps ``h`` and ``h/2`` (error, kink and gap where refined).
    halves : ndarray, shape (2, m, n_objectives)
        Objective changes at offsets ``+1/2`` and ``-1/2`` (of the refined values).
    steps : ndarray, shape (m,)
        The step ``h`` of each value.
    columns : sequence of ndarray of int
        Per move, the positions of its values among the ``m``.
    deltas_at : callable
        ``deltas_at(offsets, moves) -> ndarray (len(offsets), m, n_objectives)``: the
        objective changes of the given moves (zero elsewhere).
    base_at : callable
        ``base_at(step_share) -> list of ndarray (m,)``: each objective's fixed tolerance
        (:meth:`gradcheck.judge.Rule.base`) with the steps ``h * step_share``.

    Returns
    -------
    estimates, bases : list of Estimate, list of ndarray
        The estimate and fixed tolerance to judge each value by, per objective.
    """
    tracks = [_Halving(a, e, b) for a, e, b in zip(analytic, estimates, base_at(1.0),
                                                     strict=True)]
    last = halves
    for level in range(2, MAX_HALVINGS + 2):
        either = np.logical_or.reduce([t.open for t in tracks])
        moves = [j for j, c in enumerate(columns) if either[c].any()]
        if not moves:
            break
        share = 2.0 ** (1 - level)   # the larger step of this level's pair, over h
        new = deltas_at((share / 2, -share / 2), moves)
        for o, (track, base) in enumerate(zip(tracks, base_at(share), strict=True)):
            track.halve(estimate(np.concatenate([last[..., o], new[..., o]]), _PAIR,
                                 steps * share), base)
        last = np.where(either[None, :, None], new, last)
    results = [t.result() for t in tracks]
    return [e for e, _ in results], [b for _, b in results]
