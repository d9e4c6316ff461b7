"""Gradient clipping in place: by the global L2 norm or element by element."""

from __future__ import annotations

import math

import numpy as np

from reference_nets._validate import check_positive_number

__all__ = ["clip_grad_norm", "clip_grad_value"]


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients in place so their global L2 norm is at most ``max_norm``.

    Follows ``torch.nn.utils.clip_grad_norm_``: the factor is
    ``max_norm / (total_norm + 1e-6)``, applied only when it is below 1.

    Parameters
    ----------
    grads : dict of str to ndarray
        Gradient arrays (e.g. ``model.grads``), modified in place.
    max_norm : float
        Largest allowed global norm (> 0).

    Returns
    -------
    float
        The global norm BEFORE clipping.
    """
    max_norm = check_positive_number(max_norm, "max_norm", "clip_grad_norm")
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    factor = max_norm / (total + 1e-6)
    if factor < 1.0:
        for g in grads.values():
            g *= factor
    return total


def clip_grad_value(grads: dict[str, np.ndarray], value: float) -> None:
    """Clip every gradient element into ``[-value, value]`` in place (``value`` > 0)."""
    value = check_positive_number(value, "value", "clip_grad_value")
    for g in grads.values():
        np.clip(g, -value, value, out=g)
