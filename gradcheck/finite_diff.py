"""The numeric engine: finite-difference stencils, step sizes and the raw numerical gradient.

Everything here is pure numpy and knows nothing about layers. A derivative along a
perturbation ``p`` (an element or a direction) is assembled from objective changes
``delta_k = f(x + s_k h p) - f(x)`` at the stencil offsets ``s_k``:

``D = sum_k c_k delta_k / h`` (the imaginary part of it for ``"complex_step"``).

Steps are powers of two scaled to the magnitude of the perturbed values, so ``x + s_k h``
is exact in floating point and the divisor is the step really taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = [
    "METHODS",
    "Stencil",
    "default_eps",
    "derivative",
    "direction_step",
    "numerical_gradient",
    "one_sided",
    "stencil",
    "step_sizes",
]


class Stencil(NamedTuple):
    """Offsets ``s_k`` (in units of the step) and coefficients ``c_k`` of one method."""

    offsets: tuple
    coefs: tuple
    complex: bool = False


_STENCILS = {
    "central": Stencil((1.0, -1.0), (0.5, -0.5)),
    "forward": Stencil((1.0,), (1.0,)),
    # Richardson extrapolation of two central differences, steps h and h/2: O(h^4) error.
    "richardson": Stencil((1.0, -1.0, 0.5, -0.5), (-1 / 6, 1 / 6, 4 / 3, -4 / 3)),
    "complex_step": Stencil((1j,), (1.0,), complex=True),
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


def default_eps(dtype, method: str = "central") -> float:
    """Default relative step for values of ``dtype`` (float32 or float64) and ``method``."""
    stencil(method)
    itemsize = 4 if np.dtype(dtype).itemsize <= 4 else 8
    return _EPS[(method, itemsize)]


def step_sizes(values: np.ndarray, eps: float) -> np.ndarray:
    """Steps ``h`` (float64, shape of ``values``): ``eps * 2**ceil(log2(max(1, |v|)))``.

    A power-of-two multiple of ``eps`` no smaller than ``eps * max(1, |v|)``, so tiny
    values get the absolute step ``eps`` and huge ones a step relative to their size.
    """
    mantissa, exponent = np.frexp(np.maximum(1.0, np.abs(values.real)).astype(np.float64))
    exponent = exponent - (mantissa == 0.5)
    return np.ldexp(float(eps), exponent.astype(np.int64))


def direction_step(values: np.ndarray, eps: float) -> float:
    """Step along a random direction over all of ``values``: :func:`step_sizes` of their
    largest magnitude (the one step a tensor's own direction and a joint direction use)."""
    values = values.real
    return float(step_sizes(np.asarray(max(values.max(), -values.min())), eps))


def derivative(deltas: np.ndarray, steps: np.ndarray, method: str) -> np.ndarray:
    """Combine objective changes into derivatives.

    Parameters
    ----------
    deltas : ndarray, shape (n_offsets, m)
        ``f(x + s_k h p) - f(x)`` for every stencil offset ``k`` and perturbation.
    steps : ndarray, shape (m,)
        The step ``h`` of each perturbation.
    method : str
        Stencil name.

    Returns
    -------
    ndarray, shape (m,), float64
    """
    st = stencil(method)
    total = np.asarray(st.coefs) @ deltas
    return (total.imag if st.complex else total.real) / steps


def one_sided(deltas: np.ndarray, steps: np.ndarray, method: str):
    """Forward and backward one-sided differences ``(d_plus, d_minus)``, or None.

    Only stencils that evaluate both ``x + h`` and ``x - h`` can expose a kink.
    """
    offsets = stencil(method).offsets
    if 1.0 not in offsets or -1.0 not in offsets:
        return None
    plus, minus = deltas[offsets.index(1.0)], deltas[offsets.index(-1.0)]
    return plus.real / steps, -minus.real / steps


def numerical_gradient(f: Callable[[np.ndarray], float], x, method: str = "central",
                       eps: float | None = None) -> np.ndarray:
    """Finite-difference gradient of a scalar function, one element at a time.

    Parameters
    ----------
    f : callable
        ``f(x) -> float`` (complex for ``method="complex_step"``).
    x : array_like of float, any shape
        Point of evaluation; never modified (``f`` receives a private copy).
    method : {"central", "forward", "richardson", "complex_step"}
    eps : float, optional
        Relative step; default :func:`default_eps` of ``x``'s dtype.

    Returns
    -------
    ndarray, shape of ``x``, float64
        ``df/dx`` at ``x``.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"numerical_gradient: x must be a float array, got dtype {x.dtype}")
    st = stencil(method)
    eps = default_eps(x.dtype, method) if eps is None else float(eps)
    work = x.astype(np.complex128 if st.complex else x.dtype, copy=True)
    flat = work.reshape(-1)
    steps = step_sizes(x.reshape(-1), eps)
    f0 = 0.0 if st.complex else f(work)
    deltas = np.empty((len(st.offsets), flat.size), dtype=np.complex128 if st.complex else float)
    for i in range(flat.size):
        original = flat[i]
        for k, offset in enumerate(st.offsets):
            flat[i] = original + offset * steps[i]
            deltas[k, i] = f(work) - f0
        flat[i] = original
    return derivative(deltas, steps, method).reshape(x.shape)
