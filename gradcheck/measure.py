"""Measure a set of values at a point through the engine, refine what is unsettled, judge.

Every value is first measured with its method's first offsets (two evaluations for central
differences, one for forward). Values the judge's fixed tolerance already passes are
settled; the moves that hold any other value are evaluated again at half the step (and, for
forward differences, at ``-h`` too), which gives those values a central Richardson estimate,
an error estimate and a kink test (:mod:`gradcheck.finite_diff`); a value whose verdict then
rests on that error estimate is halved further until it converges
(:mod:`gradcheck.step_halving`). So a correct, well-conditioned check costs the first
offsets only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from gradcheck.engine import Move
from gradcheck.finite_diff import estimate, picked, stencil
from gradcheck.judge import Rule, Verdict, failing, judge, settled, tolerance
from gradcheck.parallel import move_changes
from gradcheck.point import Point
from gradcheck.step_growth import grown_where_round_off_limits
from gradcheck.step_halving import halve_undecided

__all__ = ["ValueSet", "check_values"]

_HALVES = (0.5, -0.5)   # the half steps of a central refinement


@dataclass(frozen=True)
class ValueSet:
    """``m`` values to check and the moves that produce them.

    Attributes
    ----------
    moves : tuple of Move
    columns : tuple of ndarray of int
        Per move, the positions of its values among the ``m``.
    regions : tuple
        Per move, the output region of its values (see :meth:`Point.changes`).
    steps : ndarray, shape (m,)
        The step of each value (1 for joint directions, whose moves carry the steps).
    label : callable
        ``label(i) -> str``: how the report names value ``i``.
    noise_share : ndarray, shape (m,), optional
        The share of the local objective's magnitude in the output region each value
        changes (elements read back from their own slices): its round-off is that much
        smaller than the whole output's. None: the whole output (1).
    rounding : callable, optional
        ``rounding() -> tuple of float``: per objective, the round-off of the moved values
        themselves (a direction's ``x + s h v`` is rounded:
        :func:`gradcheck.point.moved_round_off`), added to the rule's; called only when a
        value is not settled without it. None: the moves are exact (elements step by
        powers of two).
    growth_limit : ndarray, shape (m,), optional
        The most each value's step may grow where round-off limits its tolerance
        (:mod:`gradcheck.step_growth`); None: steps never grow.
    """

    moves: tuple[Move, ...]
    columns: tuple[np.ndarray, ...]
    regions: tuple
    steps: np.ndarray
    label: Callable[[int], str]
    noise_share: np.ndarray | None = None
    rounding: Callable[[], tuple[float, ...]] | None = None
    growth_limit: np.ndarray | None = None


def _deltas(point: Point, values: ValueSet, ends: bool, offsets, which,
            progress=None) -> np.ndarray:
    """Objective changes of the moves ``which``, shape (len(offsets), m, 1 or 2 objectives);
    zero elsewhere (measured by the check's joblib workers when it has any:
    :mod:`gradcheck.parallel`)."""
    complex_step = any(isinstance(s, complex) for s in offsets)
    out = np.zeros((len(offsets), len(values.steps), 2 if ends else 1),
                   complex if complex_step else float)
    blocks = move_changes(point, [values.moves[j] for j in which],
                          [values.regions[j] for j in which], offsets, ends, progress)
    for j, block in zip(which, blocks, strict=True):
        out[:, values.columns[j]] = block
    return out


@dataclass(frozen=True)
class _Measuring:
    """One :func:`check_values` call: where its values are measured and how they are judged."""

    point: Point
    values: ValueSet
    ends: bool              # two objectives (local and end-to-end), else the local one
    rules: list[Rule]
    scales: list[float]

    def deltas(self, offsets, which, progress=None) -> np.ndarray:
        """:func:`_deltas` of the moves ``which``."""
        return _deltas(self.point, self.values, self.ends, offsets, which, progress)

    def bases(self, share: float = 1.0) -> list[np.ndarray]:
        """Each objective's :meth:`Rule.base` with the steps ``share`` times the values'."""
        return [r.base(self.values.steps * share, s)
                for r, s in zip(self.rules, self.scales, strict=True)]


def _all_settled(analytic, estimates, base) -> np.ndarray:
    """The values every objective's first estimate settles, shape (m,)."""
    return np.logical_and.reduce([settled(a, e.value, b)
                                  for a, e, b in zip(analytic, estimates, base, strict=True)])


def _finite_largest(values: np.ndarray) -> float:
    """The largest finite magnitude of ``values`` (0.0 when none): a move that left the
    function's domain (log of a negative) gives a NaN there, which must not make every
    value's tolerance NaN; the step halving judges that value on its own."""
    largest = float(np.abs(values).max(initial=0))
    if math.isfinite(largest):   # the common case: one reduction
        return largest
    return float(np.abs(values[np.isfinite(values)]).max(initial=0))


def check_values(point: Point, values: ValueSet, analytic: list[np.ndarray], rules: list[Rule],
                 method: str, progress=None, scales=None, refine: bool = True,
                 keep: list | None = None) -> list[Verdict]:
    """Verdicts of the values, one per objective (local, then end-to-end when two are given).

    Parameters
    ----------
    point : Point
    values : ValueSet
    analytic : list of ndarray, shape (m,)
        The analytic value of each value, per objective.
    rules : list of Rule
        The tolerance rule of each objective.
    method : str
    scales : list of float, optional
        The ``scale`` of each objective's rule; default the largest magnitude among its
        analytic and first numeric values.
    refine : bool
        Evaluate unsettled values at half the step; False judges the first estimates alone
        (an unsettled value then fails: a quick screen, as in bisection).
    keep : list, optional
        Receives ``(numeric, tolerance, failing)`` of each objective, local first, each
        shape (m,): the full arrays behind the verdicts, ``failing`` the values they fail
        (the likely-cause analysis reads the local one's numeric values and tolerances).
    """
    st = stencil(method)
    ends = len(analytic) == 2
    first = _deltas(point, values, ends, st.first, range(len(values.moves)), progress)
    estimates = [estimate(first[..., o], st.first, values.steps) for o in range(len(analytic))]
    if scales is None:
        scales = [max(_finite_largest(e.value), float(np.abs(a).max(initial=0)))
                  for e, a in zip(estimates, analytic, strict=True)]
    if values.noise_share is not None:   # the local objective's round-off per region
        rules = [replace(rules[0], noise=rules[0].noise * values.noise_share), *rules[1:]]
    run = _Measuring(point, values, ends, rules, scales)
    base = run.bases()
    ok = _all_settled(analytic, estimates, base)
    unsettled = not ok.all()
    if unsettled and values.rounding is not None:   # it only ever adds: needed now
        run = replace(run, rules=[replace(r, noise=r.noise + q)
                                  for r, q in zip(rules, values.rounding(), strict=True)])
        base = run.bases()
        ok = _all_settled(analytic, estimates, base)
        unsettled = not ok.all()
    if refine and unsettled and (st.refine or _HALVES[0] in st.first):
        estimates, base = _refined(run, st, analytic, estimates, first, base, ok)
    if refine and values.growth_limit is not None and not st.complex:
        estimates, base = grown_where_round_off_limits(
            analytic, estimates, base, run.rules, run.scales, values, run.deltas, run.bases)
    if keep is not None:
        keep += [(np.asarray(e.value, float), tolerance(e, b), failing(a, e, b))
                 for a, e, b in zip(analytic, estimates, base, strict=True)]
    return [judge(a, e, b, s, values.label)
            for a, e, b, s in zip(analytic, estimates, base, run.scales, strict=True)]


def _refined(run: _Measuring, st, analytic, estimates, first, base, ok):
    """The estimates and base tolerances after refinement: the values not ``ok`` (settled)
    again at half the step, then those still unsettled halved until they converge
    (:mod:`gradcheck.step_halving`)."""
    values, offsets = run.values, st.first
    if st.refine:   # else (Richardson) the first offsets hold both steps
        redo = [j for j in range(len(values.moves)) if not ok[values.columns[j]].all()]
        # one-sided first offsets refine centrally: the kink test needs both sides
        extra = st.refine if -1.0 in st.first else (-1.0, *_HALVES)
        redone = np.zeros(len(ok), bool)
        redone[np.concatenate([values.columns[j] for j in redo])] = True
        first, offsets = np.concatenate([first, run.deltas(extra, redo)]), st.first + extra
        estimates = [picked(redone, estimate(first[..., o], offsets, values.steps), e)
                     for o, e in enumerate(estimates)]
    halves = first[[offsets.index(h) for h in _HALVES]]
    return halve_undecided(analytic, estimates, halves, values.steps, values.columns,
                           run.deltas, run.bases)
