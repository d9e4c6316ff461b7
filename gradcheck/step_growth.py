"""Grow the step of values whose tolerance is mostly round-off, where the function allows.

A value whose finite difference moves the objective by little next to the objective's own
size is judged with a round-off allowance ``NOISE_FACTOR * eps_mach * F / h``
(:mod:`gradcheck.judge`) far above its ``rtol``: the weights of a layer fed inputs of 1e-8
beside a bias of 0.1 change an output of 0.1 by 1e-13 of it, so their allowance is some
0.5 % of their value and a 0.1 % error in them passes. Where the function stays smooth over
larger steps (a linear layer's weights exactly) a step ``G`` times larger shrinks that
allowance ``G`` times. So each value whose fixed tolerance is round-off, above the rest of
it and above ``TRIGGER * rtol * |analytic|``, is measured again centrally at ``G h`` and
``G h / 2``: ``G`` the power of two that brings its round-off to ``TARGET * rtol *
|analytic|`` (the largest a move's values need, for all of them), at most ``MAX_GROWTH`` and
never a step above ``MAX_GROWN_STEP`` of the value's magnitude (or of its tensor's rms, for
small values): :func:`growth_limit`. The grown estimate replaces the first where it is
clean: finite, not at a kink, its error (the difference of the two grown steps) within its
own fixed tolerance, within the first estimate's tolerance of it, and resolving the value
(a tolerance at most ``RESOLVES`` of it: a growth too small for that would take a value out
of the vacuous count of :mod:`gradcheck.judge` and still pass it with any sign). A step that crossed
kinks or left the region where the function is smooth shows a gap, a difference or a
disagreement, and one the function refuses (it raised: a sampling position off its grid)
is not taken: the first estimate stands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from gradcheck.finite_diff import Estimate, estimate, rms
from gradcheck.judge import Rule, tolerance

__all__ = ["MAX_GROWN_STEP", "MAX_GROWTH", "RESOLVES", "TARGET", "TRIGGER",
           "grown_where_round_off_limits", "growth_limit"]

TRIGGER = 100.0          # round-off above this many rtol of the value: grow its step
TARGET = 10.0            # ... until its round-off is about this many rtol of the value
MAX_GROWTH = 2.0 ** 12   # the most a step grows (a linear function's weights take any)
MAX_GROWN_STEP = 2.0 ** -5   # ... up to this share of the value's magnitude
RESOLVES = 0.5   # a grown value's tolerance at most this share of it (a sign flip fails)
_GROWN = (1.0, -1.0, 0.5, -0.5)   # central at G h and G h / 2, in units of G h


def growth_limit(values: np.ndarray, tensor: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The most the steps ``steps`` of ``values`` (elements of ``tensor``, same shape as
    ``steps``) may grow: a power of two keeping each step within ``MAX_GROWN_STEP`` of
    ``max(|value|, rms(tensor))``, at most ``MAX_GROWTH`` (at least 1), shape of ``steps``."""
    magnitude = np.maximum(np.abs(values), rms(np.abs(tensor)))
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.floor(np.log2(MAX_GROWN_STEP * magnitude / steps))
    return np.exp2(np.clip(np.nan_to_num(room, nan=0.0), 0, np.log2(MAX_GROWTH)))


def _growth(analytic: list[np.ndarray], estimates: list[Estimate], base: list[np.ndarray],
            rules: list[Rule], scales: list[float], limit: np.ndarray) -> np.ndarray:
    """Per value, the power-of-two factor its step grows by (1: it does not), shape (m,)."""
    growth = np.ones(len(base[0]))
    for a, est, b, rule, scale in zip(analytic, estimates, base, rules, scales, strict=True):
        fixed = rule.atol + rule.rtol * scale
        round_off = b - fixed
        wanted = TARGET * rule.rtol * np.abs(a)
        need = (round_off > fixed) & (round_off > TRIGGER * rule.rtol * np.abs(a)) & (a != 0)
        if est.unresolved is not None:   # nondifferentiable already: left as it is
            need &= ~est.unresolved
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(need, round_off / np.where(wanted > 0, wanted, 1.0), 1.0)
        growth = np.maximum(growth, factor)
    grown = np.minimum(np.exp2(np.ceil(np.log2(growth))), limit)
    return np.where(grown >= 4, grown, 1.0)   # below 4x: not worth a run


def grown_where_round_off_limits(analytic: list[np.ndarray], estimates: list[Estimate],
                                 base: list[np.ndarray], rules: list[Rule],
                                 scales: list[float], values, deltas_at: Callable,
                                 base_at: Callable) -> tuple[list[Estimate], list[np.ndarray]]:
    """The estimates and fixed tolerances, per objective, with the values the module
    docstring describes measured at grown steps where that is clean.

    Parameters
    ----------
    analytic, estimates, base : list, per objective
        Analytic values (m,), their estimates so far and fixed tolerances (m,).
    rules, scales : list, per objective
        The tolerance rule of each objective and its ``scale``.
    values : ValueSet
        The values (:class:`gradcheck.measure.ValueSet`, moves by exact powers of two):
        their steps, columns and ``growth_limit``.
    deltas_at, base_at
        As for :func:`gradcheck.step_halving.halve_undecided`.
    """
    growth = _growth(analytic, estimates, base, rules, scales, values.growth_limit)
    if not (growth > 1).any():
        return estimates, base
    try:   # the function may refuse a larger step (a position off its grid): none is taken
        deltas, grown = _grown_deltas(growth, values.columns, deltas_at)
    except Exception:   # whatever the user's code raises at a grown step
        return estimates, base
    out_estimates, out_base = [], []
    for o, (est, b, b_grown) in enumerate(zip(estimates, base, base_at(grown), strict=True)):
        big = estimate(deltas[..., o], _GROWN, values.steps * grown)
        clean = ((growth > 1) & np.isfinite(big.value) & ~big.kink & (big.error <= b_grown)
                 & (np.abs(big.value - est.value) <= tolerance(est, b))
                 & (tolerance(big, b_grown) <= RESOLVES * np.abs(analytic[o])))
        out_estimates.append(_taken(clean, big, est))
        out_base.append(np.where(clean, b_grown, b))
    return out_estimates, out_base


def _grown_deltas(growth: np.ndarray, columns: Sequence[np.ndarray], deltas_at: Callable
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Objective changes at the grown offsets, shape (4, m, n_objectives), and each value's
    growth: a move's values all take the largest growth any of them needs."""
    per_move = [float(growth[c].max()) for c in columns]
    grown, deltas = np.ones(len(growth)), None
    for g in sorted({g for g in per_move if g > 1}):
        moves = [j for j, mg in enumerate(per_move) if mg == g]
        new = deltas_at(tuple(g * o for o in _GROWN), moves)
        at = np.concatenate([columns[j] for j in moves])
        if deltas is None:
            deltas = new
        deltas[:, at] = new[:, at]
        grown[at] = g
    return deltas, grown


def _taken(where: np.ndarray, grown: Estimate, first: Estimate) -> Estimate:
    """``grown`` where ``where``, ``first`` elsewhere (a first estimate without error, kink
    and gap has none: zeros)."""
    m = len(first.value)

    def pick(new, old, empty):
        return np.where(where, new, empty if old is None else old)

    return Estimate(pick(grown.value, first.value, None),
                    pick(grown.error, first.error, np.zeros(m)),
                    pick(grown.kink, first.kink, np.zeros(m, bool)),
                    pick(grown.gap, first.gap, np.zeros(m)), first.unresolved)
