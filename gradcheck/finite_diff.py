"""Finite-difference stencils, step sizes, and derivative estimates with their own error.

Everything here is pure numpy and knows nothing about layers. A derivative along a
perturbation ``p`` (an element or a direction) is assembled from objective changes
``delta(s) = f(x + s h p) - f(x)`` at stencil offsets ``s``. Each method has *first* offsets
(what every check evaluates) and *refining* offsets at half the step, evaluated only for the
values the first estimate does not settle. With both, a central estimate becomes

    D(h) = (delta(1) - delta(-1)) / 2h,   D(h/2) = (delta(1/2) - delta(-1/2)) / h,
    value = D(h/2) + (D(h/2) - D(h)) / 3          (Richardson: O(h^4))
    error = |D(h) - D(h/2)|                        (an upper estimate of the value's error)

and the one-sided slopes at both steps tell a kink from curvature: near a smooth point
their gap halves with the step, at a kink (ReLU at 0, a max-pool tie, of any multiplicity)
it does not.

Steps are powers of two scaled to the magnitude of the perturbed values, so ``x + s h`` is
exact in floating point and the divisor is the step really taken.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["KINK_RATIO", "METHODS", "Estimate", "Stencil", "default_eps", "direction_step",
           "estimate", "picked", "rms", "stencil", "step_floor", "step_sizes"]

KINK_RATIO = 0.7   # one-sided gap at h/2 over the gap at h above this: a kink (smooth: 0.5)


class Stencil(NamedTuple):
    """Offsets (in units of the step) of one method: always evaluated, and on demand."""

    first: tuple
    refine: tuple = ()
    complex: bool = False

    @property
    def offsets(self) -> tuple:
        """Every offset, first then refining."""
        return self.first + self.refine


_STENCILS = {
    "central": Stencil((1.0, -1.0), (0.5, -0.5)),
    "forward": Stencil((1.0,), (0.5,)),
    "richardson": Stencil((1.0, -1.0, 0.5, -0.5)),
    "complex_step": Stencil((1j,), (), complex=True),
}
METHODS = tuple(_STENCILS)

# Relative step (a power of two, near the error-optimal eps_mach ** (1 / (order + 1))).
_EPS = {
    ("central", 8): 2.0**-17, ("central", 4): 2.0**-8,
    ("forward", 8): 2.0**-26, ("forward", 4): 2.0**-12,
    ("richardson", 8): 2.0**-10, ("richardson", 4): 2.0**-5,
    ("complex_step", 8): 2.0**-60, ("complex_step", 4): 2.0**-60,
}


def stencil(method: str) -> Stencil:
    """Return the :class:`Stencil` of ``method`` (one of :data:`METHODS`)."""
    if method not in _STENCILS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return _STENCILS[method]


@functools.lru_cache(maxsize=64)
def default_eps(dtype, method: str = "central") -> float:
    """Default relative step for values of ``dtype`` (float32 or float64) and ``method``."""
    stencil(method)
    itemsize = 4 if np.dtype(dtype).itemsize <= 4 else 8
    return _EPS[(method, itemsize)]


STEP_SHARE = 1 / 64   # a tiny-valued tensor's steps stay below this share of its rms


def rms(values: np.ndarray) -> float:
    """Root mean square of ``values`` (of their moduli when complex); 0.0 when empty."""
    return float(np.sqrt(np.vdot(values, values).real / values.size)) if values.size else 0.0


def step_floor(tensor: np.ndarray, eps: float, zero_scale: float = 0.0) -> float:
    """The smallest magnitude a tensor's steps are relative to: 1, or less for a tensor of
    tiny values, so that its steps stay below ``STEP_SHARE * rms`` (an absolute step would
    jump over the gaps and kinks between its values). An all-zero tensor (a bias as
    initialised) takes the rms ``zero_scale`` of the output it moves instead, when there is
    one: a step of 1e-3 moves pre-activations of 1e-4 across their ReLU kinks; else 1."""
    real = tensor if tensor.dtype == np.float64 else np.real(tensor).astype(float, copy=False)
    spread = rms(real)
    scale = spread if spread > 0 else zero_scale
    return min(1.0, STEP_SHARE * scale / eps) if scale > 0 else 1.0


def step_sizes(values: np.ndarray, eps: float, floor: float = 1.0) -> np.ndarray:
    """Steps ``h`` (float64, shape of ``values``): ``eps * 2**ceil(log2(max(floor, |v|)))``.

    A power-of-two multiple of ``eps`` no smaller than ``eps * max(floor, |v|)``: small
    values get the step of the tensor's scale (``floor``, :func:`step_floor`), large ones a
    step relative to their size.
    """
    magnitude = np.maximum(floor, np.abs(np.real(values))).astype(np.float64)
    mantissa, exponent = np.frexp(magnitude)
    exponent = exponent - (mantissa == 0.5)
    return np.ldexp(float(eps), exponent.astype(np.int64))


def direction_step(values: np.ndarray, eps: float, zero_scale: float = 0.0) -> float:
    """Step along a random direction over all of ``values``: :func:`step_sizes` of their
    largest magnitude (the one step a tensor's own direction and a joint direction use);
    ``zero_scale`` as for :func:`step_floor`."""
    real = values if values.dtype.kind == "f" else np.real(values)
    largest = max(float(real.max()), -float(real.min()))   # |real|'s, with no temporary
    if largest < 1.0:   # the floor is at most 1: it matters only below
        largest = max(largest, step_floor(real, eps, zero_scale))
    mantissa, exponent = math.frexp(largest)
    return math.ldexp(float(eps), exponent - (mantissa == 0.5))   # as step_sizes, scalar


@dataclass(frozen=True)
class Estimate:
    """Finite-difference derivatives of ``m`` perturbations.

    Attributes
    ----------
    value : ndarray, shape (m,)
        The best estimate the evaluated offsets give.
    error : ndarray, shape (m,), or None
        Estimated error of ``value`` (None: only the first offsets were evaluated).
    kink : ndarray of bool, shape (m,), or None
        The one-sided slopes keep their gap when the step is halved.
    gap : ndarray, shape (m,), or None
        That gap at half the step (how far apart the one-sided slopes are).
    unresolved : ndarray of bool, shape (m,), or None
        The estimate did not converge as the step was halved (kinks crossed near the
        point: :mod:`gradcheck.step_halving`).
    """

    value: np.ndarray
    error: np.ndarray | None = None
    kink: np.ndarray | None = None
    gap: np.ndarray | None = None
    unresolved: np.ndarray | None = None


def picked(where: np.ndarray, new: Estimate, old: Estimate) -> Estimate:
    """``new`` where ``where`` (shape (m,)), ``old`` elsewhere, field by field; a field an
    estimate lacks counts as zeros (no error, no kink, no gap); ``unresolved`` is ``old``'s."""
    m = len(old.value)

    def field(n, o, empty):
        return np.where(where, empty if n is None else n, empty if o is None else o)

    return Estimate(field(new.value, old.value, None),
                    field(new.error, old.error, np.zeros(m)),
                    field(new.kink, old.kink, np.zeros(m, bool)),
                    field(new.gap, old.gap, np.zeros(m)), old.unresolved)


def estimate(deltas: np.ndarray, offsets: tuple, steps: np.ndarray) -> Estimate:
    """Combine objective changes into derivative estimates.

    Parameters
    ----------
    deltas : ndarray, shape (len(offsets), m)
        ``f(x + s h p) - f(x)`` for each offset ``s`` and perturbation (complex for the
        complex step).
    offsets : tuple
        The offsets evaluated: one method's first offsets, or first and refining ones.
    steps : ndarray, shape (m,)
        The step ``h`` of each perturbation.
    """
    d = {s: deltas[k] for k, s in enumerate(offsets)}
    if 1j in d:
        return Estimate(np.imag(d[1j]) / steps, np.zeros(len(steps)))
    d = {s: np.real(v) / steps for s, v in d.items()}   # in units of the step
    if -1.0 not in d:   # forward differences
        d1 = d[1.0]
        if 0.5 not in d:
            return Estimate(d1)
        d2 = 2 * d[0.5]
        return Estimate(2 * d2 - d1, np.abs(d1 - d2))
    d1 = (d[1.0] - d[-1.0]) / 2
    if 0.5 not in d:
        return Estimate(d1)
    d2 = d[0.5] - d[-0.5]
    gap1, gap2 = np.abs(d[1.0] + d[-1.0]), 2 * np.abs(d[0.5] + d[-0.5])
    return Estimate(d2 + (d2 - d1) / 3, np.abs(d1 - d2), gap2 > KINK_RATIO * gap1, gap2)
