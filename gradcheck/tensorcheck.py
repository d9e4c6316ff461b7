"""Numeric derivatives of one tensor, compared with its analytic gradient.

The local objective of a layer is ``<G, y>`` (``G`` the upstream gradient); perturbing a
tensor changes it by ``sum(G * (y' - y0))``, summed over the output region the perturbation
can reach. Inside a model the same perturbed outputs are also pushed through the later layers
and the loss (``downstream``), giving the end-to-end derivative at no extra layer cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradcheck.compare import Verdict, machine_eps, verdict
from gradcheck.finite_diff import derivative, direction_step, one_sided, stencil, step_sizes
from gradcheck.perturb import Slot, detect_structure, expand, group_elements, region_sums, sweep
from gradcheck.sampling import Selection

__all__ = ["Settings", "check_tensor", "local_noise"]

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


def local_noise(y0: np.ndarray, G: np.ndarray) -> float:
    """Round-off ``eps_mach * sum|G * y0|`` of one evaluation of the local objective ``<G, y>``."""
    return machine_eps(y0.real) * float(np.sum(np.abs(G * y0.real)))


def _measure(slot: Slot, y0, G, sel: Selection, s: Settings, rng, downstream, progress):
    """Run every perturbation once.

    Returns the local and end-to-end (None without ``downstream``) objective changes, each of
    shape (n_offsets, m + d): the ``m`` checked elements, then the ``d`` directions; and the
    step of each column.
    """
    st = stencil(s.method)
    m = len(sel.elements)
    elem_steps = step_sizes(slot.live.reshape(-1)[sel.elements], s.eps)
    n_dir = len(sel.directions)
    dir_steps = np.full(n_dir, direction_step(slot.live, s.eps)) if n_dir else np.empty(0)
    structure = []
    if m >= STRUCTURE_MIN_ELEMENTS and not st.complex:
        structure = detect_structure(slot, y0, step_sizes(slot.live, s.eps), rng)
    groups = group_elements(sel.elements, slot.live.shape, structure)
    # each group's columns (sel.elements is sorted), found once for all its offsets
    columns = [np.searchsorted(sel.elements, group) for group in groups]
    shape = (len(st.offsets), m + n_dir)
    local = np.zeros(shape, complex if st.complex else float)
    e2e = None if downstream is None else np.zeros(shape)
    chunk = max(1, EXPAND_BUDGET // max(1, y0.size))
    for kind, j, k, y in sweep(slot, groups, [elem_steps[c] for c in columns], sel.directions,
                               dir_steps, st.offsets, progress):
        weighted = G * (y - y0)
        if kind == "direction":
            local[k, m + j] = weighted.sum()
            if e2e is not None:
                e2e[k, m + j] = downstream(y[None])[0]
            continue
        group, where = groups[j], columns[j]
        local[k, where] = region_sums(weighted, group, slot.live.shape, structure)
        if e2e is not None:
            for start in range(0, len(group), chunk):
                part = group[start:start + chunk]
                stack = expand(y, y0, part, slot.live.shape, structure)
                e2e[k, where[start:start + chunk]] = downstream(stack)
    return local, e2e, np.concatenate([elem_steps, dir_steps])


def _judge(deltas: np.ndarray, analytic: np.ndarray, sel: Selection, steps, shape,
           s: Settings, noise: float) -> Verdict:
    """One verdict over the elements and the directions of a tensor."""
    flat = np.asarray(analytic, float).reshape(-1)
    m = len(sel.elements)
    is_element = np.arange(len(steps)) < m
    v = verdict(np.concatenate([flat[sel.elements], sel.directions @ flat]),
                derivative(deltas, steps, s.method), steps, atol=s.atol, rtol=s.rtol,
                noise=noise, sides=one_sided(deltas, steps, s.method),
                between=is_element, prefer=is_element)
    if v.worst < m:
        v.worst_label = str(tuple(int(i) for i in np.unravel_index(sel.elements[v.worst], shape)))
    else:
        v.worst_label = f"direction {v.worst - m}"
    return v


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
    try:
        local, e2e, steps = _measure(slot, y0, G, sel, s, rng, downstream, progress)
    except (TypeError, ValueError) as exc:
        if not stencil(s.method).complex:
            raise
        raise TypeError("method='complex_step' needs a forward that accepts complex values; "
                        f"perturbing {slot.name!r} by an imaginary step raised "
                        f"{type(exc).__name__}: {exc}") from exc
    # the complex step subtracts nothing, so it has no cancellation to allow for
    noise = 0.0 if stencil(s.method).complex else local_noise(y0, G)
    local_v = _judge(local, analytic, sel, steps, slot.live.shape, s, noise)
    e2e_v = None
    if e2e is not None:
        e2e_v = _judge(e2e, e2e_analytic, sel, steps, slot.live.shape, s, e2e_noise)
    return local_v, e2e_v
