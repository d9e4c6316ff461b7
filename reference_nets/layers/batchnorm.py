"""Batch normalisation over (N, C) or (N, C, H, W) inputs."""

from __future__ import annotations

import numpy as np

from reference_nets._validate import check_positive_int
from reference_nets.layers.base import Layer

__all__ = ["BatchNorm"]


class BatchNorm(Layer):
    """Normalise each channel, then scale by ``gamma`` and shift by ``beta``.

    Follows ``torch.nn.BatchNorm1d/2d``: training mode normalises with the batch
    mean and biased variance and updates ``running_mean``/``running_var``
    (the latter with the unbiased variance) by ``momentum``; evaluation mode
    normalises with the running statistics.

    Parameters
    ----------
    num_features : int
        Channels ``C`` (axis 1).
    momentum : float
        Weight of the new batch statistic in the running average.
    eps : float
        Added to the variance before the square root.
    dtype : numpy floating dtype
        Dtype of the parameters and running statistics.

    Notes
    -----
    ``params``: ``gamma`` and ``beta`` of shape (C,). x (N, C) or (N, C, H, W) -> y same shape.
    """

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5,
                 dtype=np.float64):
        self.num_features = check_positive_int(num_features, "num_features", "BatchNorm")
        super().__init__({"gamma": np.ones(num_features, dtype=dtype),
                          "beta": np.zeros(num_features, dtype=dtype)})
        self.momentum = float(momentum)
        self.eps = float(eps)
        self.running_mean = np.zeros(num_features, dtype=dtype)
        self.running_var = np.ones(num_features, dtype=dtype)
        self._xhat: np.ndarray | None = None
        self._inv_std: np.ndarray | None = None

    def extra_repr(self) -> str:
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}"

    def _axes_and_shape(self, ndim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Reduction axes and the broadcast shape of per-channel vectors."""
        return ((0,), (1, -1)) if ndim == 2 else ((0, 2, 3), (1, -1, 1, 1))

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input(x, (2, 4), "(N, C) or (N, C, H, W)")
        if x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm.forward: x has {x.shape[1]} channels, "
                             f"expected num_features={self.num_features}")
        axes, shape = self._axes_and_shape(x.ndim)
        x = x.astype(self.params["gamma"].dtype, copy=False)
        if self.training:
            count = x.size // self.num_features
            if count < 2:
                raise ValueError("BatchNorm.forward: training mode needs more than one value "
                                 f"per channel, got x of shape {x.shape}")
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            m = self.momentum
            self.running_mean *= 1 - m
            self.running_mean += m * mean
            self.running_var *= 1 - m
            self.running_var += m * var * count / (count - 1)
        else:
            mean, var = self.running_mean, self.running_var
        self._inv_std = (1.0 / np.sqrt(var + self.eps)).reshape(shape)
        self._xhat = (x - mean.reshape(shape)) * self._inv_std
        gamma, beta = self.params["gamma"].reshape(shape), self.params["beta"].reshape(shape)
        return self._output(self._xhat * gamma + beta)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._grad_output(dy)
        axes, shape = self._axes_and_shape(dy.ndim)
        xhat = self._xhat
        np.sum(dy * xhat, axis=axes, out=self.grads["gamma"])
        np.sum(dy, axis=axes, out=self.grads["beta"])
        scale = self.params["gamma"].reshape(shape) * self._inv_std
        if not self.training:
            return dy * scale
        count = dy.size // self.num_features
        dgamma = self.grads["gamma"].reshape(shape)
        dbeta = self.grads["beta"].reshape(shape)
        return scale * (dy - dbeta / count - xhat * (dgamma / count))
