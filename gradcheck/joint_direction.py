"""One random direction over several tensors at once (``mode="auto"``).

In ``"auto"`` mode every tensor a layer's own point does not check element by element (those
of more than ``AUTO_FULL_LIMIT`` elements; at a second point and in a chain's screen, every
tensor) is checked along one random unit direction ``v_t``. Instead of two perturbed forwards
per tensor, the tensors move together, ``t -> t + s * w_t * v_t`` (``s`` the stencil offset),
so a layer costs two perturbed forwards (central differences) however many tensors it has.
The joint derivative is ``D = sum_t w_t <v_t, a_t>`` (``a_t`` the analytic gradient).

Weights. Tensor ``t``'s own step ``h_t`` (:func:`gradcheck.finite_diff.direction_step`, the
step of its largest value, also taken by its own direction) gives it the contribution
``c_t = h_t |<v_t, a_t>|``. Left like that, a tensor
with a small contribution (a bias next to a 50k-element weight) would be drowned: its error
would be judged against the others' size. So the contributions are balanced to a common level
``L``: ``w_t = h_t * 2**floor(log2(L / c_t))``, and every tensor contributes between ``L / 2``
and ``L``; each steps the way that makes its contribution positive, so that contributions
(and errors proportional to them, such as a wrongly scaled ``dy``) add up instead of
cancelling. A tensor may grow until each of its elements moves by its own step ``h_t`` (a factor
up to ``sqrt(size_t)``, the accuracy of an element-wise check) and shrink by at most
``SHRINK_LIMIT`` (below that, round-off would swamp it); ``L`` is the largest contribution,
lowered to what the smallest tensor can reach. A tensor that cannot reach
``max_t c_t * SHRINK_LIMIT``, or ``NOISE_MARGIN`` times the objective's round-off
``8 eps_mach F / resolution``, or whose contribution is exactly zero, keeps its own direction and
its own forwards.

Tolerance (the rule of :mod:`gradcheck.judge`, as strict as for the smallest tensor):
``|D_analytic - D_numeric| <= min_t |w_t| atol + rtol * min_t w_t <v_t, a_t> + 8 eps_mach F``
plus the estimated error of the finite difference.
A relative error ``rho`` in one tensor's directional derivative shifts ``D`` by
``rho * w_t |<v_t, a_t>|``, at least ``rho`` times the smallest contribution, while the floor
keeps the round-off term below ``resolution * L / NOISE_MARGIN``: errors a little above
the resolution (:data:`gradcheck.settings.TOLERANCES`) are caught in any tensor, as its own
direction would catch them, whatever the tensors' sizes. Sums of several tensors'
truncation errors are far below that in float64; in float32
they can exceed it, and then the joint check does not pass and costs a fallback: when the
joint check does not pass (a failure or a kink), the caller checks each tensor on its own,
which names the wrong tensor and element; a failure none of them explains is decided by
their elements and a fresh joint direction (:func:`gradcheck.joint_looks.unexplained`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from gradcheck.engine import Move, Part
from gradcheck.finite_diff import direction_step, stencil
from gradcheck.judge import COARSE, NOISE_FACTOR, Rule, Verdict, settles_jointly
from gradcheck.measure import ValueSet, check_values
from gradcheck.point import Point, moved_round_off
from gradcheck.selection import random_directions_of, rng_for
from gradcheck.settings import Settings

__all__ = ["LOW_PROJECTION", "NOISE_MARGIN", "SHRINK_LIMIT", "Joint", "JointCheck",
           "check_jointly", "measured_jointly", "plan_joint", "reweighed"]

SHRINK_LIMIT = 2.0**-10   # smallest factor a tensor's own step is scaled by
NOISE_MARGIN = 2.0        # the round-off term stays below resolution * level / NOISE_MARGIN
#: a direction whose projection on its tensor's gradient is below this share of the
#: typical one (``|a_t| / sqrt(size_t)``) is redrawn: one nearly orthogonal to the gradient
#: contributes too little to reach the common level and would cost its own forwards (a
#: Gaussian projection is that small about one time in ten)
LOW_PROJECTION = 0.125


def _project(v: np.ndarray, g: np.ndarray) -> float:
    """``<v, g>`` for a unit direction ``v``."""
    return float(g.ravel().dot(v))


@dataclass(frozen=True)
class Joint:
    """Tensors perturbed together along one direction.

    Attributes
    ----------
    names : list of str
        The tensors (of one point).
    directions : list of ndarray, shape (size_t,)
        Each tensor's random unit direction (:func:`gradcheck.selection.random_directions`).
    weights : ndarray, shape (k,)
        Step of each tensor along its direction (a signed power of two).
    projections : ndarray, shape (k,)
        ``<v_t, a_t>`` of each tensor's local analytic gradient.
    """

    names: list[str]
    directions: list[np.ndarray]
    weights: np.ndarray
    projections: np.ndarray   # <v_t, local gradient of t>

    def scaled(self, ratio: float) -> Joint:
        """The same direction with every tensor's step times ``ratio`` (a power of two)."""
        return replace(self, weights=self.weights * ratio)

    def _rounding(self, point: Point) -> tuple[float, ...]:
        """Per objective, the round-off of moving every tensor (in quadrature)."""
        grads = [[point.analytic[n] for n in self.names]]
        if point.has_e2e(self.names):
            grads.append([point.e2e.get(n, point.analytic[n]) for n in self.names])
        return tuple(math.sqrt(sum(moved_round_off(point.live(n), g) ** 2
                                   for n, g in zip(self.names, gs, strict=True)))
                     for gs in grads)

    def values(self, point: Point, label: str | None = None
               ) -> tuple[ValueSet, list[np.ndarray], list[float]]:
        """The one joint value (named ``label``, by default after its tensors), its analytic
        value per objective and the scale of each."""
        parts = tuple(Part(point.index(n), None, v, w)
                      for n, v, w in zip(self.names, self.directions, self.weights, strict=True))
        label = label or f"joint direction ({', '.join(self.names)})"
        values = ValueSet((Move(parts, size=0),), (np.array([0]),), (None,), np.ones(1),
                          lambda _i: label, rounding=lambda: self._rounding(point))
        terms = [self.weights * self.projections]
        if point.has_e2e(self.names):
            # a tensor without end-to-end grads (a layer's input) takes its local gradient:
            # with the true upstream gradient as G the two are the same derivative (and one
            # whose end-to-end grads are its local ones, the same array, its projection)
            terms.append(self.weights * np.array([
                _project(v, point.e2e[n]) if point.e2e.get(n, grad) is not grad else p
                for n, v, p, grad in zip(self.names, self.directions, self.projections,
                                         (point.analytic.get(n) for n in self.names),
                                         strict=True)]))
        return values, [np.array([t.sum()]) for t in terms], [float(np.abs(t).min())
                                                              for t in terms]


def _directions(point: Point, names: list[str], lives: list[np.ndarray], s: Settings,
                drawn, key: str = "joint") -> tuple[list[np.ndarray], np.ndarray]:
    """Each tensor's unit direction and its projection ``<v_t, a_t>``: those ``drawn`` holds,
    the others drawn in tensor order from the point's generator, which also redraws (once)
    a direction nearly orthogonal to its gradient (:data:`LOW_PROJECTION`), keeping the
    larger projection of the two."""
    rng = None
    drawn = dict(drawn or {})
    new = {n: a.size for n, a in zip(names, lives, strict=True)
           if not (n in drawn and drawn[n].shape == (a.size,))}
    if new:
        rng = rng_for(s.seed, point.label, key)
        drawn.update(zip(new, random_directions_of(rng, new.values()), strict=True))
    directions = [drawn[n] for n in names]
    grads = [point.analytic[n].ravel() for n in names]
    projections = np.array([_project(v, g) for v, g in zip(directions, grads, strict=True)])
    typical = np.sqrt(np.array([_project(g, g) / g.size for g in grads]))
    low = np.flatnonzero(np.abs(projections) < LOW_PROJECTION * typical)
    if low.size:
        rng = rng or rng_for(s.seed, point.label, key)
        for i, v in zip(low, random_directions_of(rng, [grads[i].size for i in low]),
                        strict=True):
            p = _project(v, grads[i])
            if abs(p) > abs(projections[i]):
                directions[i], projections[i] = v, p
    return directions, projections


def plan_joint(point: Point, names: list[str], s: Settings, drawn=None,
               key: str = "joint") -> Joint | None:
    """The tensors of ``names`` to check jointly (weights as in the module docstring).

    The directions come from one generator per point (``rng_for(seed, label, key)``),
    except those ``drawn`` (a mapping of tensor name to a unit direction of its size) already
    holds, which are taken as they are (a second point reuses the given point's); a tensor
    checked on its own after a joint check that did not pass draws its own. None when fewer
    than two tensors qualify (or for complex steps).
    """
    if len(names) < 2 or stencil(s.method).complex:
        return None
    lives = [point.live(n) for n in names]
    directions, projections = _directions(point, names, lives, s, drawn, key)
    h = np.array([direction_step(a, s.step, point.output_scale) for a in lives])
    c = h * np.abs(projections)
    # the most a tensor can grow: until each element moves by its own step h_t
    reach = c * np.array([2.0 ** ((a.size.bit_length() - 1) // 2) for a in lives])
    # below the floor: too small next to the largest, or the round-off would outweigh it
    noise = _noise(point, names)
    floor = max(SHRINK_LIMIT * c.max(), NOISE_MARGIN * NOISE_FACTOR * noise / s.resolution)
    kept = np.flatnonzero((c > 0) & (reach >= floor))
    if len(kept) < 2:
        return None
    level = min(c[kept].max(), reach[kept].min())
    # each tensor steps the way that raises D: the contributions add up, never cancel
    weights = np.ldexp(h[kept], np.floor(np.log2(level / c[kept])).astype(np.int64))
    weights *= np.sign(projections[kept])
    return Joint([names[i] for i in kept], [directions[i] for i in kept], weights,
                 projections[kept])


def reweighed(point: Point, given: Joint) -> Joint | None:
    """``given``, a joint direction of a nearby point over tensors of the same names, at
    ``point``: its directions and weights, the projections taken here (another step here
    scales its weights: :meth:`Joint.scaled`). None when a tensor is missing here (or has
    another size), or when the contributions lost their balance (a sign changed, or one
    fell below a quarter of the largest): plan afresh then.
    """
    if any(n not in point.analytic or not point.has_tensor(n) or point.live(n).size != v.size
           for n, v in zip(given.names, given.directions, strict=True)):
        return None
    projections = np.array([_project(v, point.analytic[n])
                            for n, v in zip(given.names, given.directions, strict=True)])
    terms = given.weights * projections
    if not (terms.min() > 0 and 4 * terms.min() >= terms.max()):
        return None
    return Joint(list(given.names), list(given.directions), given.weights, projections)


class JointCheck(NamedTuple):
    """What :func:`check_jointly` found."""

    verdicts: list[Verdict]   # local, and end-to-end when the point judges it
    settled: bool             # the verdicts settle every tensor in the direction


def check_jointly(point: Point, joint: Joint, s: Settings, label: str | None = None
                  ) -> JointCheck:
    """Verdicts of the joint direction (named ``label``, by default after its tensors):
    local, and end-to-end when the point judges it; and whether they settle every tensor in
    it (:func:`gradcheck.judge.settles_jointly`, by the smallest tensor's term)."""
    values, analytic, smallest = joint.values(point, label)
    atol, rtol = s.tolerances
    least = float(np.abs(joint.weights).min())
    allowed = atol * least
    rules = [Rule(allowed, rtol, noise, s.floor * least)
             for noise in (point.noise, point.e2e_noise)[:len(analytic)]]
    verdicts = check_values(point, values, analytic, rules, s.method, scales=smallest)
    return JointCheck(verdicts, settles_jointly(verdicts, s.dtype, s.resolution, smallest,
                                                allowed, rtol))


def measured_jointly(point: Point, joint_for: Callable[[Settings], Joint | None],
                     s: Settings) -> tuple[Joint | None, Settings]:
    """The joint direction ``joint_for(s)`` and the settings to measure it by: ``s``, except
    where a one-sided second point's single evaluation would leave a pass too coarse to mean
    it (its round-off above half of ``COARSE`` of the joint value, known before measuring):
    there the direction is taken again by the central differences it replaced, whose steps
    are far larger (a balanced plan would otherwise fall back to every tensor's own
    direction, several evaluations each)."""
    joint = joint_for(s)
    if joint is None or not s.one_sided or _resolvable(point, joint, s):
        return joint, s
    central = s.centrally()
    return joint_for(central), central


def _resolvable(point: Point, joint: Joint, s: Settings) -> bool:
    """One evaluation's round-off allowance stays below half of ``COARSE`` of the joint's
    analytic value."""
    value = abs(float(np.dot(joint.weights, joint.projections)))
    return NOISE_FACTOR * _noise(point, joint.names) <= 0.5 * COARSE[s.dtype] * value


def _noise(point: Point, names) -> float:
    """The larger round-off of the objectives judged for the tensors ``names``."""
    return max(point.noise, point.e2e_noise if point.has_e2e(names) else 0.0)
