"""Flatten every axis but the batch axis."""

from __future__ import annotations

import numpy as np

from reference_nets.layers.base import Layer

__all__ = ["Flatten"]


class Flatten(Layer):
    """Reshape x (N, d1, d2, ...) -> y (N, d1 * d2 * ...); backward restores the shape."""

    def __init__(self):
        super().__init__()
        self._x_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input(x)
        if x.ndim < 2:
            raise ValueError(f"Flatten.forward: x must have a batch axis and at least one "
                             f"more axis, got shape {x.shape}")
        self._x_shape = x.shape
        return self._output(x.reshape(x.shape[0], -1))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._grad_output(dy).reshape(self._x_shape)
