"""Grow the step of values whose tolerance is mostly round-off, where the function allows.

A value whose finite difference moves the objective by little next to the objective's own
size is judged with a round-off allowance ``NOISE_FACTOR * eps_mach * F / h``
(:mod:`gradcheck.judge`) far above its ``rtol``: the weights of a layer fed inputs of 1e-8
beside a bias of 0.1 change an output of 0.1 by 1e-13 of it, so their allowance is some
0.5 % of their value and a 0.1 % error in them passes. Where the function stays smooth over
larger steps (a linear layer's weights exactly) a step ``G`` times larger shrinks that
allowance ``G`` times.

A value qualifies when its fixed tolerance is round-off, above the rest of it and above
``TRIGGER * rtol * |analytic|``, and its first estimate passes and already tells it from 0
(tolerance at most ``RESOLVES`` of it): a growth never loosens a verdict, and a value the
first steps cannot tell from 0 has nothing to check a grown step against. It is measured
centrally at a ladder of steps ``G h, G h / 2, ..., 2 h``: ``G`` the power of two that brings
its round-off to ``TARGET * rtol * |analytic|``, at most ``MAX_GROWTH`` and never a step
above ``MAX_GROWN_STEP`` of the magnitude of any value of its move (or of its tensor's rms,
for small values): :func:`growth_limit`. The estimate of the two largest steps replaces the
first where it is clean (finite, no kink, its error within its own fixed tolerance, a
tolerance at most ``RESOLVES`` of the value) and every smaller step of the ladder, the
first included, agrees with it within that step's own tolerance: structure finer than the
grown step but coarser than the first (a ripple, a period the steps divide) shows as a
disagreement somewhere down the ladder, and the first estimate stands. So does it where the
function refuses a grown step (it raised: a sampling position off its grid).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from gradcheck.finite_diff import Estimate, estimate, picked, rms
from gradcheck.judge import Rule, tolerance

__all__ = ["MAX_GROWN_STEP", "MAX_GROWTH", "RESOLVES", "RTOL_FLOOR", "TARGET", "TRIGGER",
           "grown_where_round_off_limits", "growth_limit"]

#: round-off above this many rtol of the value grows its step: 1e-4 of it in float64 (a
#: full check of a 784-64-10 net grew 765 of its 1,708 moves at 100 rtol and took 6.6x as
#: long); never in float32 at its default rtol (the value must be resolved to half of it)
TRIGGER = 1e4
TARGET = 10.0            # ... until its round-off is about this many rtol of the value
MAX_GROWTH = 2.0 ** 12   # the most a step grows (a linear function's weights take any)
MAX_GROWN_STEP = 2.0 ** -5   # ... up to this share of the value's magnitude
RESOLVES = 0.5   # a grown value's tolerance at most this share of it (a sign flip fails)
RTOL_FLOOR = 1e-12   # the rtol a growth aims at when the rule's is 0


def growth_limit(values: np.ndarray, tensor: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The most the steps ``steps`` of ``values`` (elements of ``tensor``, same shape as
    ``steps``) may grow: a power of two keeping each step within ``MAX_GROWN_STEP`` of
    ``max(|value|, rms(tensor))``, at most ``MAX_GROWTH`` (at least 1), shape of ``steps``."""
    magnitude = np.maximum(np.abs(values), rms(np.abs(tensor)))
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.floor(np.log2(MAX_GROWN_STEP * magnitude / steps))
    return np.exp2(np.clip(np.nan_to_num(room, nan=0.0), 0, np.log2(MAX_GROWTH)))


def _needed(analytic: list[np.ndarray], estimates: list[Estimate], base: list[np.ndarray],
            rules: list[Rule], scales: list[float]) -> tuple[list[np.ndarray], np.ndarray]:
    """Per objective, the values that qualify (module docstring), shape (m,) each; and per
    value the growth its round-off asks for (1: none, before any limit), shape (m,)."""
    need, factor = [], np.ones(len(base[0]))
    for a, est, b, rule, scale in zip(analytic, estimates, base, rules, scales, strict=True):
        fixed, magnitude = rule.atol + rule.rtol * scale, np.abs(a)
        with np.errstate(invalid="ignore"):   # an infinite user rtol: inf - inf, no growth
            round_off = b - fixed
        tol = tolerance(est, b)
        wanted = max(rule.rtol, RTOL_FLOOR) * magnitude
        ok = ((round_off > fixed) & (round_off > TRIGGER * wanted) & (magnitude > 0)
              & (np.abs(a - est.value) <= tol) & (tol <= RESOLVES * magnitude))
        for flag in (est.kink, est.unresolved):   # at or near a kink already: left as it is
            ok &= True if flag is None else ~flag
        need.append(ok)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.maximum(factor, np.where(ok, round_off / (TARGET * wanted), 1.0))
    return need, factor


def _move_growth(factor: np.ndarray, limit: np.ndarray, columns: Sequence[np.ndarray]
                 ) -> list[float]:
    """Per move, the growth of its steps: the power of two its values ask for, within the
    limit of every one of them; 1 where that is below 4 (not worth a run)."""
    grown = []
    for c in columns:
        g = min(float(np.exp2(np.ceil(np.log2(factor[c].max())))), float(limit[c].min()))
        grown.append(g if g >= 4 else 1.0)
    return grown


def _ladder(g: float) -> tuple[float, ...]:
    """The offsets of a growth ``g``: central pairs at ``g, g / 2, ..., 2`` (steps ``h``)."""
    return tuple(sign * g / 2**k for k in range(int(np.log2(g))) for sign in (1.0, -1.0))


def grown_where_round_off_limits(analytic: list[np.ndarray], estimates: list[Estimate],
                                 base: list[np.ndarray], rules: list[Rule],
                                 scales: list[float], values, deltas_at: Callable,
                                 base_at: Callable) -> tuple[list[Estimate], list[np.ndarray]]:
    """The estimates and fixed tolerances, per objective, with the values the module
    docstring describes measured at grown steps where that is confirmed.

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
    need, factor = _needed(analytic, estimates, base, rules, scales)
    per_move = _move_growth(factor, values.growth_limit, values.columns)
    first, grown, out_base = estimates, list(estimates), list(base)
    for g in sorted(set(per_move) - {1.0}):
        moves = [j for j, mg in enumerate(per_move) if mg == g]
        try:   # the function may refuse a larger step (a position off its grid)
            deltas = deltas_at(_ladder(g), moves)   # zero outside these moves
        except Exception:   # whatever the user's code raises at a grown step: none taken
            continue
        in_moves = np.zeros(len(factor), bool)
        in_moves[np.concatenate([values.columns[j] for j in moves])] = True
        levels = [base_at(g / 2**k) for k in range(int(np.log2(g)))]   # largest step first
        for o in range(len(first)):
            big = estimate(deltas[:4, :, o], (1.0, -1.0, 0.5, -0.5), values.steps * g)
            take = in_moves & need[o] & _confirmed(big, first[o], base[o], deltas[..., o], g,
                                                   values.steps, [b[o] for b in levels],
                                                   analytic[o])
            grown[o] = picked(take, big, grown[o])
            out_base[o] = np.where(take, levels[0][o], out_base[o])
    return grown, out_base


def _confirmed(big: Estimate, first: Estimate, first_base: np.ndarray, deltas: np.ndarray,
               g: float, steps: np.ndarray, bases: list[np.ndarray], analytic: np.ndarray
               ) -> np.ndarray:
    """The values whose grown estimate ``big`` (steps ``g h`` and ``g h / 2``) is clean, and
    that the first estimate and every smaller step of the ladder confirm, shape (m,).
    ``deltas``: the ladder's changes, shape (2 log2 g, m); ``bases``: the fixed tolerance at
    each step of the ladder, largest first."""
    with np.errstate(invalid="ignore"):
        ok = (np.isfinite(big.value) & ~big.kink & (big.error <= bases[0])
              & (tolerance(big, bases[0]) <= RESOLVES * np.abs(analytic))
              & (np.abs(first.value - big.value) <= tolerance(first, first_base)))
        for k, level_base in enumerate(bases[1:], start=1):   # down the ladder
            level = (deltas[2 * k] - deltas[2 * k + 1]) / (2 * steps * g / 2**k)
            ok &= np.abs(level - big.value) <= level_base
    return ok
