"""Weight initialisation schemes for Dense and Conv2D."""

from __future__ import annotations

import numpy as np

__all__ = ["INITS", "initialize"]

INITS = ("he", "xavier", "normal")


def initialize(scheme: str, shape: tuple[int, ...], fan_in: int, fan_out: int,
               seed: int | None, dtype) -> np.ndarray:
    """Draw a weight tensor.

    Parameters
    ----------
    scheme : {"he", "xavier", "normal"}
        ``"he"``: N(0, 2 / fan_in) (ReLU nets); ``"xavier"``: N(0, 2 / (fan_in + fan_out))
        (tanh/sigmoid nets); ``"normal"``: N(0, 0.01^2).
    shape : tuple of int
        Shape of the tensor, e.g. ``(n_in, n_out)``.
    fan_in, fan_out : int
        Inputs and outputs per unit.
    seed : int or None
        Seed of the ``numpy.random.default_rng`` generator.
    dtype : numpy dtype
        Floating dtype of the result.

    Returns
    -------
    ndarray of shape ``shape`` and dtype ``dtype``.
    """
    if scheme not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {scheme!r}")
    if np.dtype(dtype).kind != "f":
        raise TypeError(f"dtype must be a floating dtype, got {np.dtype(dtype)}")
    std = {
        "he": np.sqrt(2.0 / fan_in),
        "xavier": np.sqrt(2.0 / (fan_in + fan_out)),
        "normal": 0.01,
    }[scheme]
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * std).astype(dtype)
