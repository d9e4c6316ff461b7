"""Fully connected layer: ``y = x @ W + b``."""

from __future__ import annotations

import numpy as np

from reference_nets._validate import check_positive_int
from reference_nets.init import initialize
from reference_nets.layers.base import Layer

__all__ = ["Dense"]


class Dense(Layer):
    """Affine layer.

    Parameters
    ----------
    n_in, n_out : int
        Input and output features.
    init : {"he", "xavier", "normal"}
        Weight initialisation (see :func:`reference_nets.init.initialize`); ``b`` starts at 0.
    seed : int or None
        Seed for the weight draw.
    dtype : numpy floating dtype
        Dtype of ``W``, ``b`` and of the computation: inputs are cast to it, so a
        float32 layer stays float32 through forward and backward.

    Notes
    -----
    ``params``: ``W`` of shape (n_in, n_out), ``b`` of shape (n_out,).
    ``forward``: x (N, n_in) -> y (N, n_out). ``backward``: dy (N, n_out) -> dx (N, n_in).
    """

    def __init__(self, n_in: int, n_out: int, init: str = "he", seed: int | None = 0,
                 dtype=np.float64):
        self.n_in = check_positive_int(n_in, "n_in", "Dense")
        self.n_out = check_positive_int(n_out, "n_out", "Dense")
        W = initialize(init, (self.n_in, self.n_out), self.n_in, self.n_out, seed, dtype)
        super().__init__({"W": W, "b": np.zeros(self.n_out, dtype=W.dtype)})
        self.init = init
        self._x: np.ndarray | None = None

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}, init={self.init!r}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input(x, (2,), "(N, n_in)")
        if x.shape[1] != self.n_in:
            raise ValueError(
                f"Dense.forward: x has {x.shape[1]} features, expected n_in={self.n_in}"
            )
        W = self.params["W"]
        self._x = x.astype(W.dtype, copy=False)
        return self._output(self._x @ W + self.params["b"])

    def backward(self, dy: np.ndarray) -> np.ndarray:
        W = self.params["W"]
        dy = self._grad_output(dy).astype(W.dtype, copy=False)
        np.matmul(self._x.T, dy, out=self.grads["W"])
        dy.sum(axis=0, out=self.grads["b"])
        return dy @ W.T
