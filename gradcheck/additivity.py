"""Flat partial derivatives that do not add up: a kink no single line through the point shows.

A kink is found on a line through the point: its one-sided slopes keep their gap as the step
halves (:mod:`gradcheck.step_halving`). Some kinks of higher multiplicity have none on any
line. A median of a row with three tied middle values keeps its value when any one of them
moves either way, so each of their partial derivatives exists and is exactly 0; moved
together along a direction ``v``, the median moves by the median of their three components
of ``v``, as much up as down. The function has partials but no gradient there: a backward
that gives the tie to one of them (as ``torch.median`` does) gives a valid subgradient, and
an element check calls it wrong (analytic ``dy``, numeric 0).

Where the partials exist, a differentiable function's derivative along any direction is
their sum weighted by its components. So when every element of a tensor was checked and
every failing element of an objective has a numeric value of exactly 0 (the tie's
signature: a wrong element of a smooth function has a numeric value of its own), the
derivative along one random direction over the elements whose numeric value is 0 is
measured: their sum is 0, and where the derivative is not, within its tolerance plus the
weighted tolerances of those elements, the function is not differentiable there and the
objective's failures are nondifferentiable (``Verdict.n_not_additive``). A tensor with any
failing element that is not flat keeps its failure, and the direction is compared with
numeric values alone: a wrong backward shows where the ties are broken (the second point,
which a nondifferentiable row gets), or wherever the function is smooth.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gradcheck.judge import Rule, Verdict
from gradcheck.measure import check_values
from gradcheck.point import Point
from gradcheck.value_sets import direction_values

__all__ = ["flat_partials_add_up", "unless_flat_partials_add_up"]


def unless_flat_partials_add_up(point: Point, name: str, verdicts: list[Verdict],
                                kept: list, rules: list[Rule], method: str, step: float,
                                rng: np.random.Generator) -> list[Verdict]:
    """``verdicts`` (one per objective, local first) with the failures of each objective
    made nondifferentiable where its failing elements are all flat and the flat elements'
    partials do not add up (module docstring).

    Parameters
    ----------
    point, name
        The target and the tensor whose every element was checked.
    verdicts : list of Verdict
    kept : list of (ndarray, ndarray, ndarray)
        Each objective's ``(numeric, tolerance, failing)`` of the elements, shape (size,).
    rules, method, step, rng
        The objectives' tolerance rules, the finite-difference method, the relative step and
        the generator of the random direction.
    """
    out = list(verdicts)
    for o, v in enumerate(verdicts):
        numeric, tolerance, failing = (np.ravel(a) for a in kept[o])
        flat = numeric == 0
        if v.status != "fail" or (failing & ~flat).any() or np.count_nonzero(flat) < 2:
            continue
        if not flat_partials_add_up(point, name, np.flatnonzero(flat), tolerance, o,
                                    rules, method, step, rng):
            out[o] = replace(v, n_failed=0, n_not_additive=v.n_failed,
                             n_nondifferentiable=v.n_nondifferentiable + v.n_failed)
    return out


def flat_partials_add_up(point: Point, name: str, flat: np.ndarray, tolerance: np.ndarray,
                         objective: int, rules: list[Rule], method: str, step: float,
                         rng: np.random.Generator) -> bool:
    """Whether objective ``objective`` stays put, within its tolerance plus the elements'
    ``tolerance`` weighted by the direction, along a random direction over the elements
    ``flat`` (flat indices) of tensor ``name``, whose partials are all 0."""
    values, _ = direction_values(point, name, 1, step, rng, subset=flat,
                                 tag="additivity direction")
    direction = np.abs(np.asarray(values.moves[0].parts[0].step, float))
    kept: list = []   # judged against the partials' sum, 0: refined only where it moves
    n = objective + 1
    check_values(point, replace(values, rounding=lambda r=values.rounding: r()[:n]),
                 [np.zeros(1)] * n, rules[:n], method, keep=kept)
    along, allowed = (float(a[0]) for a in kept[objective][:2])
    return not np.isfinite(along) or abs(along) <= allowed + float(direction @ tolerance[flat])
