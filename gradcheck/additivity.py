"""Partial derivatives that do not add up: a kink no single line through the point shows.

A kink is found on a line through the point: its one-sided slopes keep their gap as the step
halves (:mod:`gradcheck.step_halving`). Some kinks of higher multiplicity have none on any
line. A median of a row with three tied middle values keeps its value when any one of them
moves either way, so each partial derivative exists and is 0; moved together along a
direction ``v``, the median moves by the median of their three components of ``v``, the
same amount up as down. The function has partials but no gradient there: a backward that
gives the tie to one of them (as ``torch.median`` does) gives a valid subgradient, and an
element check calls it wrong.

Where the partials exist, a differentiable function's derivative along any direction is
their sum weighted by its components. So when every element of a tensor was checked and
some fail, its numeric derivative along one random direction is compared with the sum of
the elements' numeric values weighted by it, within the direction's tolerance plus the
weighted sum of the elements' tolerances. Where they disagree the function is not
differentiable at the point: the failures are nondifferentiable, counted as such
(``Verdict.n_not_additive``). The test reads no analytic value, so a wrong backward cannot
pass it; a wrong one at such a point shows where the ties are broken (the second point, which
a nondifferentiable row always gets).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gradcheck.judge import Rule, Verdict
from gradcheck.measure import check_values
from gradcheck.point import Point
from gradcheck.value_sets import direction_values

__all__ = ["partials_add_up", "unless_partials_add_up"]


def partials_add_up(point: Point, name: str, numeric: np.ndarray, tolerance: np.ndarray,
                    rule: Rule, method: str, step: float, rng: np.random.Generator) -> bool:
    """Whether the derivative of the local objective along a random direction over tensor
    ``name`` is the sum of its elements' ``numeric`` values (shape of the tensor, each
    within its ``tolerance``) weighted by the direction's components."""
    values, _ = direction_values(point, name, 1, step, rng, tag="additivity direction")
    direction = np.asarray(values.moves[0].parts[0].step, float)
    both = values.rounding
    values = replace(values, rounding=lambda: both()[:1])   # the local objective's only
    summed = float(direction @ np.ravel(numeric))
    kept: list = []   # judged against the sum: refined only where they differ
    check_values(point, values, [np.array([summed])], [rule], method, keep=kept)
    along, allowed = float(kept[0][0][0]), float(kept[0][1][0])
    slack = allowed + float(np.abs(direction) @ np.ravel(tolerance))
    return not np.isfinite(along) or abs(along - summed) <= slack


def unless_partials_add_up(verdicts: list[Verdict], adds_up) -> list[Verdict]:
    """``verdicts`` (local, then end-to-end) with their failures nondifferentiable when the
    local one fails and ``adds_up()`` is False."""
    if verdicts[0].status != "fail" or adds_up():
        return verdicts
    return [replace(v, n_failed=0, n_nondifferentiable=v.n_nondifferentiable + v.n_failed,
                    n_not_additive=v.n_failed) for v in verdicts]
