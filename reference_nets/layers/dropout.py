"""Inverted dropout with its own seeded generator."""

from __future__ import annotations

import numpy as np

from reference_nets.layers.base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Zero each input with probability ``p`` in training mode and scale the rest by 1/(1-p).

    Parameters
    ----------
    p : float
        Drop probability in [0, 1).
    seed : int or None
        Seed of the layer's ``numpy.random.Generator``: the same seed gives the
        same sequence of masks.

    Notes
    -----
    x of any shape -> y of the same shape. In evaluation mode (or ``p == 0``)
    the layer is the identity. Backward multiplies by the mask of the last forward.
    """

    def __init__(self, p: float = 0.5, seed: int | None = 0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._mask: np.ndarray | None = None

    def extra_repr(self) -> str:
        return f"p={self.p}, seed={self.seed}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input(x)
        if not self.training or self.p == 0.0:
            self._mask = None
            return self._output(x.copy())
        keep = self._rng.random(x.shape) >= self.p
        self._mask = keep.astype(x.dtype) / x.dtype.type(1.0 - self.p)
        return self._output(x * self._mask)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._grad_output(dy)
        return dy.copy() if self._mask is None else dy * self._mask
