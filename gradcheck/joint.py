"""One random direction over all of a layer's large tensors at once (``mode="auto"``).

In ``"auto"`` mode every tensor of more than ``AUTO_FULL_LIMIT`` elements is checked along one
random unit direction ``v_t``. Instead of two perturbed forwards per tensor, the tensors move
together, ``t -> t + s * w_t * v_t`` (``s`` the stencil offset), so a layer costs two perturbed
forwards (central differences) however many tensors it has. The joint derivative is
``D = sum_t w_t <v_t, a_t>`` (``a_t`` the analytic gradient).

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
``8 eps_mach F / rtol``, or whose contribution is exactly zero, keeps its own direction and
its own forwards.

Tolerance (the rule of :mod:`gradcheck.compare`, as strict as for the smallest tensor):
``|D_analytic - D_numeric| <= min_t |w_t| atol + rtol * min_t w_t <v_t, a_t> + 8 eps_mach F``.
A relative error ``rho`` in one tensor's directional derivative shifts ``D`` by
``rho * w_t |<v_t, a_t>|``, at least ``rho`` times the smallest contribution, while the floor
keeps the round-off term below ``rtol * L / NOISE_MARGIN``: errors a little above ``rtol``
are caught in any tensor, as its own direction would catch them, whatever the tensors'
sizes. Sums of several tensors' truncation errors are far below that in float64; in float32
they can exceed it, and then the joint check does not pass and costs a fallback, not a false
failure: when the joint check does not pass (a failure or a kink), the caller checks
each tensor on its own, which names the wrong tensor and element.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradcheck.compare import NOISE_FACTOR, Verdict, verdict
from gradcheck.finite_diff import derivative, direction_step, one_sided, stencil
from gradcheck.perturb import Slot
from gradcheck.report import verdict_row
from gradcheck.sampling import AUTO_DIRECTIONS, AUTO_FULL_LIMIT, random_signs, rng_for
from gradcheck.tensorcheck import Settings, local_noise

__all__ = ["NOISE_MARGIN", "SHRINK_LIMIT", "Joint", "joint_rows", "plan_joint"]

SHRINK_LIMIT = 2.0**-10   # smallest factor a tensor's own step is scaled by
NOISE_MARGIN = 10.0       # the round-off term stays below rtol * level / NOISE_MARGIN


def _project(signs: np.ndarray, g: np.ndarray) -> float:
    """``<v, g>`` for the unit direction ``v = signs / sqrt(size)``."""
    return float(np.dot(np.ravel(g), signs)) / np.sqrt(signs.size)


@dataclass
class Joint:
    """Tensors perturbed together along one direction.

    Attributes
    ----------
    slots : list of Slot
        The tensors (they feed the same computation).
    signs : list of ndarray of int8, shape (size_t,)
        Each tensor's random unit direction ``signs / sqrt(size_t)`` (signs +-1; one byte
        per element, where a float copy would cost memory and page faults).
    weights : ndarray, shape (k,)
        Step of each tensor along its direction (a signed power of two).
    grads : list of ndarray
        The local analytic gradient of each tensor.
    projections : ndarray, shape (k,)
        ``<v_t, grads[t]>``.
    """

    slots: list[Slot]
    signs: list[np.ndarray]
    weights: np.ndarray
    grads: list[np.ndarray]
    projections: np.ndarray

    def measure(self, offsets, consume) -> list:
        """``consume(output)`` at each stencil offset; the tensors are restored exactly after."""
        saved = [slot.live.copy() if slot.pristine is None else slot.pristine
                 for slot in self.slots]
        results = []
        try:
            for offset in offsets:
                for slot, signs, w, original in zip(self.slots, self.signs, self.weights, saved,
                                                    strict=True):
                    step = offset * w / np.sqrt(signs.size)
                    np.multiply(signs.reshape(slot.live.shape), step, out=slot.live)
                    slot.live += original
                results.append(consume(self.slots[0].output()))
        finally:
            for slot, original in zip(self.slots, saved, strict=True):
                np.copyto(slot.live, original)
        return results

    def judge(self, deltas, grads: list[np.ndarray], s: Settings, noise: float) -> Verdict:
        """Verdict on the joint derivative.

        Parameters
        ----------
        deltas : array_like, shape (n_offsets,)
            Objective changes at the stencil offsets.
        grads : list of ndarray
            One analytic gradient per tensor (shapes of the tensors).
        s : Settings
        noise : float
            Round-off ``eps_mach * F`` of one evaluation of the objective.
        """
        terms = self.weights * np.array([
            p if g is mine else _project(signs, g)
            for signs, g, mine, p in zip(self.signs, grads, self.grads, self.projections,
                                         strict=True)])
        deltas, one = np.asarray(deltas, float)[:, None], np.ones(1)
        v = verdict([terms.sum()], derivative(deltas, one, s.method), one,
                    atol=s.atol * float(np.abs(self.weights).min()), rtol=s.rtol, noise=noise,
                    sides=one_sided(deltas, one, s.method), between=False,
                    scale=float(np.abs(terms).min()))
        v.worst_label = f"joint direction ({', '.join(slot.name for slot in self.slots)})"
        return v


def plan_joint(items, rng_of, s: Settings, noise: float) -> Joint | None:
    """The tensors of a layer to check jointly (weights as in the module docstring).

    Parameters
    ----------
    items : list of (Slot, ndarray)
        Each tensor with its analytic gradient (same shape).
    rng_of : callable
        ``rng_of(name)``: the generator a tensor's own check draws its direction from (the
        same direction is used here, so a fallback re-checks it).
    s : Settings
    noise : float
        Round-off of one evaluation of the objectives (local and, if judged, end-to-end).

    Returns
    -------
    Joint, or None when fewer than two tensors qualify (or for complex steps).
    """
    large = [(slot, g) for slot, g in items if slot.live.size > AUTO_FULL_LIMIT]
    if len(large) < 2 or stencil(s.method).complex:
        return None
    signs = [random_signs(rng_of(slot.name), AUTO_DIRECTIONS, slot.live.size)[0]
             for slot, _ in large]
    h = np.array([direction_step(slot.live, s.eps) for slot, _ in large])
    projections = np.array([_project(sg, g) for sg, (_, g) in zip(signs, large, strict=True)])
    c = h * np.abs(projections)
    # the most a tensor can grow: until each element moves by its own step h_t
    reach = c * np.array([2.0 ** np.floor(np.log2(np.sqrt(slot.live.size))) for slot, _ in large])
    # below the floor: too small next to the largest, or the round-off would outweigh rtol
    floor = max(SHRINK_LIMIT * c.max(),
                NOISE_MARGIN * NOISE_FACTOR * noise / s.rtol if s.rtol > 0 else np.inf)
    kept = np.flatnonzero((c > 0) & (reach >= floor))
    if len(kept) < 2:
        return None
    level = min(c[kept].max(), reach[kept].min())
    # each tensor steps the way that raises D: the contributions add up, never cancel
    weights = np.ldexp(h[kept], np.floor(np.log2(level / c[kept])).astype(np.int64))
    weights *= np.sign(projections[kept])
    return Joint([large[i][0] for i in kept], [signs[i] for i in kept], weights,
                 [large[i][1] for i in kept], projections[kept])


def joint_rows(name: str, items, probe, s: Settings, e2e) -> dict[str, list[dict]]:
    """Rows of the tensors checked along one joint direction, when that check passes.

    Parameters
    ----------
    name : str
        Layer label of the rows.
    items : list of (Slot, ndarray)
        The layer's tensors with their analytic gradients.
    probe : LayerProbe
        ``y0`` and ``G`` of the local objective.
    s : Settings
    e2e : (Downstream or None, dict, float)
        The rest of the model, the end-to-end grads by tensor name, and the loss round-off.

    Returns
    -------
    dict of str to list of dict
        Tensor name -> its rows (``"gradient"``, and ``"end_to_end"`` for tensors with
        end-to-end grads); empty when no joint check applies or it does not pass, so that
        every tensor gets its own check.
    """
    down, e2e_grads, e2e_noise = e2e
    noise = local_noise(probe.y0, probe.G)
    ends = down is not None and any(slot.name in e2e_grads for slot, _ in items)
    joint = plan_joint(items, lambda tensor: rng_for(s.seed, name, tensor), s,
                       max(noise, e2e_noise) if ends else noise)
    if joint is None:
        return {}

    def consume(y):
        return (np.sum(probe.G * (y - probe.y0)), down(y[None])[0] if ends else 0.0)

    deltas = np.array(joint.measure(stencil(s.method).offsets, consume))
    verdicts = {"gradient": joint.judge(deltas[:, 0], joint.grads, s, noise)}
    if ends:
        grads = [e2e_grads.get(slot.name, g) for slot, g in zip(joint.slots, joint.grads,
                                                                 strict=True)]
        verdicts["end_to_end"] = joint.judge(deltas[:, 1], grads, s, e2e_noise)
    if any(v.status != "pass" for v in verdicts.values()):
        return {}
    return {slot.name: [verdict_row(name, slot.name, slot.live.shape, check, v)
                        for check, v in verdicts.items()
                        if check == "gradient" or slot.name in e2e_grads]
            for slot in joint.slots}
