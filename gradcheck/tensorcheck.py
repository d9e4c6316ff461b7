"""Numeric derivatives of one tensor, compared with its analytic gradient.

The local objective of a layer is ``<G, y>`` (``G`` the upstream gradient); perturbing a
tensor changes it by ``sum(G * (y' - y0))``, summed over the output region the perturbation
can reach. Inside a model the same perturbed outputs are also pushed through the later layers
and the loss (``downstream``), giving the end-to-end derivative at no extra layer cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradcheck.compare import Verdict, merge, verdict
from gradcheck.finite_diff import derivative, one_sided, stencil, step_sizes
from gradcheck.perturb import Slot, detect_structure, expand, group_elements, region_sums, sweep
from gradcheck.sampling import Selection

__all__ = ["Settings", "check_tensor"]

STRUCTURE_MIN_ELEMENTS = 64   # below this, probing for structure costs more than it saves
EXPAND_BUDGET = 1 << 21       # values per stacked batch sent downstream


@dataclass
class Settings:
    """Resolved options of one check."""

    mode: str
    method: str
    eps: float
    atol: float
    rtol: float
    seed: int


@dataclass
class Side:
    """Objective changes of one objective: ``(n_offsets, m)`` for elements and directions."""

    elements: np.ndarray
    directions: np.ndarray


def _side(n_offsets: int, sel: Selection, complex_step: bool) -> Side:
    dtype = complex if complex_step else float
    return Side(np.zeros((n_offsets, len(sel.elements)), dtype),
                np.zeros((n_offsets, len(sel.directions)), dtype))


def _measure(slot: Slot, y0, G, sel: Selection, s: Settings, rng, downstream, progress):
    """Run every perturbation once; return local (and end-to-end) objective changes + steps."""
    st = stencil(s.method)
    elem_steps = step_sizes(slot.live.reshape(-1)[sel.elements], s.eps)
    magnitude = max(slot.live.real.max(), -slot.live.real.min()) if len(sel.directions) else 0.0
    dir_steps = np.full(len(sel.directions), step_sizes(np.asarray(magnitude), s.eps))
    structure = []
    if len(sel.elements) >= STRUCTURE_MIN_ELEMENTS and not st.complex:
        structure = detect_structure(slot, y0, step_sizes(slot.live, s.eps), rng)
    groups = group_elements(sel.elements, slot.live.shape, structure)
    local = _side(len(st.offsets), sel, st.complex)
    e2e = _side(len(st.offsets), sel, st.complex) if downstream is not None else None
    for kind, j, k, y in sweep(slot, groups, sel, st.offsets, elem_steps, dir_steps,
                               progress):
        weighted = G * (y - y0)
        if kind == "direction":
            local.directions[k, j] = weighted.sum()
            if e2e is not None:
                e2e.directions[k, j] = downstream(y[None])[0]
            continue
        group = groups[j]
        where = np.searchsorted(sel.elements, group)
        local.elements[k, where] = region_sums(weighted, group, slot.live.shape, structure)
        if e2e is not None:
            chunk = max(1, EXPAND_BUDGET // max(1, y0.size))
            for start in range(0, len(group), chunk):
                part = group[start:start + chunk]
                stack = expand(y, y0, part, slot.live.shape, structure)
                e2e.elements[k, where[start:start + chunk]] = downstream(stack)
    return local, e2e, elem_steps, dir_steps


def _judge(side: Side, analytic: np.ndarray, sel: Selection, elem_steps, dir_steps,
           shape, s: Settings, noise: float) -> Verdict:
    """Verdict over the elements and the directions of one tensor."""
    flat = np.asarray(analytic, float).reshape(-1)
    parts = []
    if len(sel.elements):
        numeric = derivative(side.elements, elem_steps, s.method)
        v = verdict(flat[sel.elements], numeric, elem_steps, atol=s.atol, rtol=s.rtol,
                    noise=noise, sides=one_sided(side.elements, elem_steps, s.method))
        v.worst_label = str(tuple(int(i) for i in np.unravel_index(sel.elements[v.worst], shape)))
        parts.append(v)
    if len(sel.directions):
        numeric = derivative(side.directions, dir_steps, s.method)
        v = verdict(sel.directions @ flat, numeric, dir_steps, atol=s.atol, rtol=s.rtol,
                    noise=noise, sides=one_sided(side.directions, dir_steps, s.method),
                    between=False)
        v.worst_label = f"direction {v.worst}"
        parts.append(v)
    result = parts[0]
    for part in parts[1:]:
        result = merge(result, part)
    return result


def check_tensor(slot: Slot, y0: np.ndarray, G: np.ndarray, analytic: np.ndarray,
                 sel: Selection, s: Settings, rng, *, downstream=None, e2e_analytic=None,
                 e2e_noise: float = 0.0, progress=None):
    """Local verdict (and end-to-end verdict when ``downstream`` is given) for one tensor.

    Parameters
    ----------
    slot : Slot
        The tensor and how to recompute the layer output.
    y0 : ndarray
        Layer output at the unperturbed point.
    G : ndarray, shape of ``y0``
        Upstream gradient (weights of the local objective ``<G, y>``).
    analytic : ndarray, shape of ``slot.live``
        Gradient of ``<G, y>`` reported by the layer.
    sel : Selection
        Elements and directions to check.
    downstream : callable, optional
        ``downstream(outputs (K, *y0.shape)) -> (K,)`` loss changes for perturbed outputs.
    e2e_analytic : ndarray, optional
        End-to-end gradient of the loss (model grads) for this tensor.
    e2e_noise : float
        Round-off of one loss evaluation (``eps_mach`` times the loss's magnitude).

    Returns
    -------
    (Verdict, Verdict or None)
    """
    local, e2e, elem_steps, dir_steps = _measure(slot, y0, G, sel, s, rng, downstream, progress)
    eps_mach = float(np.finfo(np.result_type(y0.dtype, np.float32)).eps)
    # the complex step subtracts nothing, so it has no cancellation to allow for
    noise = 0.0 if stencil(s.method).complex else eps_mach * float(np.sum(np.abs(G * y0.real)))
    shape = slot.live.shape
    local_v = _judge(local, analytic, sel, elem_steps, dir_steps, shape, s, noise)
    e2e_v = None
    if e2e is not None:
        e2e_v = _judge(e2e, e2e_analytic, sel, elem_steps, dir_steps, shape, s, e2e_noise)
    return local_v, e2e_v
