"""Halve the step of values whose verdict the first steps cannot settle, until it converges.

After refinement a value is judged from central differences at steps ``h`` and ``h/2``
(:func:`gradcheck.finite_diff.estimate`), with a tolerance that grows with their difference.
That is not enough where the step is too coarse for the function: kinks the step crosses
near the point (ReLU units whose pre-activations are near, not at, 0, as in a net fed tiny
inputs) bias both estimates, and kinks on both sides shift both one-sided slopes alike, so
the gap test need not see them; a smooth function whose curvature is far finer than a step
relative to its inputs (softmax of logits 1e6 + noise, a bump of width 1e-4 at 1000) looks
like a kink. Such values fail correct code, or hide wrong code behind a large error
estimate or a kink. So every value that is outside the fixed tolerance (failing, passing
only by its error allowance, or at a kink) is measured again at half the step, and again:

- a smooth value has converged once two halvings in a row behaved as a smooth function's do
  (the difference shrinking by ``CONVERGED``, fourfold when smooth, or within round-off; the
  one-sided gap by ``SMOOTH_GAP``, twofold when smooth) and a further halving no longer
  tightens its tolerance by ``TIGHTER``, or once its difference and gap are both within the
  fixed tolerance. It is judged by the estimate of the run with the smallest tolerance that
  the later ones confirm (the smaller steps carry more round-off, so a smooth value keeps the
  accuracy of its first steps), its error widened to cover the run's other values;
- a kink at the point keeps its one-sided gap through two halvings in a row (a gap that
  doubles as the step halves is a jump, or a feature narrower than the step: it goes on):
  ``"nondifferentiable"``;
- after ``MAX_HALVINGS`` halvings a value that never converged and is outside the fixed
  tolerance is unresolved (``"nondifferentiable"``, the verdict's ``n_unresolved``): a jump,
  or kinks at every scale; never a pass or a failure on an error estimate never validated.

Once the step is below the distance to the nearest kink the estimates are exact again. A
failing value of a smooth layer converges in two halvings: four evaluations more per move
that holds one; a kink at the point costs the same to confirm. Correct, well-conditioned
checks never get here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from gradcheck.finite_diff import Estimate, estimate, picked
from gradcheck.judge import SAFETY, on_kink, tolerance, undecided

__all__ = ["CONVERGED", "MAX_HALVINGS", "SMOOTH_GAP", "TIGHTER", "halve_undecided"]

CONVERGED = 0.3     # central differences: at most this share of the previous difference
SMOOTH_GAP = 0.6    # one-sided gap: at most this share of the previous gap
KINK_GAP_GROWTH = 1.5   # a kink's gap stays (1), a jump's doubles, as the step halves
TIGHTER = 0.5       # a halving that leaves the tolerance above this share of the best's
MAX_HALVINGS = 12   # beyond the refinement's h/2: down to h / 2**13
_PAIR = (1.0, -1.0, 0.5, -0.5)   # two central levels, in units of the larger step


def _smooth(new: Estimate, old: Estimate, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks (m,): the halving from ``old`` to ``new`` behaved as for a smooth function, and
    ``new`` is settled outright (its difference and gap within the fixed tolerance ``base``)."""
    small_error, small_gap = new.error <= base, new.gap <= base
    smooth = ((small_error | (new.error <= CONVERGED * old.error))
              & (small_gap | (new.gap <= SMOOTH_GAP * old.gap)))
    return smooth, small_error & small_gap


class _Halving:
    """One objective's values through the halvings: the latest estimate of each, and the
    best: of the estimates since its halvings last behaved as for a smooth function, the one
    with the smallest tolerance that every later estimate agrees with (else the latest)."""

    def __init__(self, analytic: np.ndarray, est: Estimate, base: np.ndarray):
        self.analytic, self.latest, self.best, self.base = analytic, est, est, base
        self.open = undecided(analytic, est, base) | on_kink(analytic, est, base)
        self.kink_before = np.zeros(len(base), bool)   # the last halving kept a kink's gap
        self.smooth_run = np.zeros(len(base), int)   # smooth halvings in a row
        # the range of the values reached by the smooth halvings of the run
        self.low, self.high = np.full(len(base), np.inf), np.full(len(base), -np.inf)

    def halve(self, est: Estimate, base: np.ndarray) -> None:
        """Take the estimates of the next halving (``base``: its fixed tolerance)."""
        smooth, settled = _smooth(est, self.latest, base)
        at_kink = on_kink(self.analytic, est, base)
        new_tol, best_tol = tolerance(est, base), tolerance(self.best, self.base)
        # the best stands while the newest estimate confirms it (within the best's tolerance)
        stands = smooth & (np.abs(est.value - self.best.value) <= best_tol)
        take = self.open & (~stands | (new_tol < best_tol) | at_kink)
        self.best, self.base = picked(take, est, self.best), np.where(take, base, self.base)
        kept_gap = est.gap <= KINK_GAP_GROWTH * self.latest.gap
        self.latest = picked(self.open, est, self.latest)
        self.smooth_run = np.where(smooth, self.smooth_run + 1, 0)
        self._widen(smooth, est.value)
        converged = (self.smooth_run >= 2) & (new_tol > TIGHTER * best_tol)
        # a kink keeps its gap through two halvings running (a gap that doubles as the step
        # halves is a jump, or a feature narrower than the step: smaller steps tell)
        at_kink &= kept_gap
        self.open &= ~(settled | converged | (at_kink & self.kink_before))
        self.kink_before = at_kink

    def _widen(self, smooth: np.ndarray, value: np.ndarray) -> None:
        """Add the open values reached smoothly to the run's range; restart the others'."""
        into, restart = self.open & smooth, self.open & ~smooth
        self.low = np.where(into, np.minimum(self.low, value), np.where(restart, np.inf, self.low))
        self.high = np.where(into, np.maximum(self.high, value),
                             np.where(restart, -np.inf, self.high))

    def result(self) -> tuple[Estimate, np.ndarray]:
        """The estimate to judge each value by: the best, its error widened to cover the
        run's other smoothly reached values (round-off scatters them); unresolved where still
        open, outside the fixed tolerance and not at a kink, its error estimate never
        validated by two smooth halvings in a row."""
        best = self.best.value
        spread = np.maximum(np.maximum(self.high - best, best - self.low), 0.0)
        unresolved = (self.open & (self.smooth_run < 2)
                      & undecided(self.analytic, self.best, self.base))
        return replace(self.best, error=self.best.error + spread / SAFETY,
                       unresolved=unresolved), self.base


def halve_undecided(analytic: list[np.ndarray], estimates: list[Estimate], halves: np.ndarray,
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
