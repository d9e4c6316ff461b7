"""2-D convolution (NCHW), vectorised with im2col over strided windows."""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from reference_nets._validate import check_positive_int
from reference_nets.init import initialize
from reference_nets.layers.base import Layer

__all__ = ["Conv2D", "windows"]


def windows(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Strided view of the ``size`` x ``size`` windows of an NCHW array.

    Returns
    -------
    ndarray view of shape (N, C, H_out, W_out, size, size), no copy.
    """
    view = sliding_window_view(x, (size, size), axis=(2, 3))
    return view[:, :, ::stride, ::stride]


class Conv2D(Layer):
    """Cross-correlation with square kernels, zero padding and stride (as ``torch.nn.Conv2d``).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output.
    kernel_size : int
        Side ``k`` of the square kernel.
    stride : int
        Step between windows.
    padding : int
        Zeros added on each side of both spatial axes.
    seed : int or None
        Seed for the weight draw.
    init : {"he", "xavier", "normal"}
        Weight initialisation with fan_in = in_channels * k * k; ``b`` starts at 0.
    dtype : numpy floating dtype
        Dtype of the parameters and of the computation.

    Notes
    -----
    ``params``: ``W`` (out_channels, in_channels, k, k), ``b`` (out_channels,).
    ``forward``: x (N, C_in, H, W) -> y (N, C_out, H_out, W_out) with
    ``H_out = (H + 2 * padding - k) // stride + 1`` (same for W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, seed: int | None = 0, init: str = "he", dtype=np.float64):
        self.in_channels = check_positive_int(in_channels, "in_channels", "Conv2D")
        self.out_channels = check_positive_int(out_channels, "out_channels", "Conv2D")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size", "Conv2D")
        self.stride = check_positive_int(stride, "stride", "Conv2D")
        if isinstance(padding, bool) or not isinstance(padding, numbers.Integral) or padding < 0:
            raise ValueError(f"Conv2D: padding must be an int >= 0, got {padding!r}")
        self.padding = int(padding)
        k = self.kernel_size
        shape = (self.out_channels, self.in_channels, k, k)
        fan_in, fan_out = self.in_channels * k * k, self.out_channels * k * k
        W = initialize(init, shape, fan_in, fan_out, seed, dtype)
        super().__init__({"W": W, "b": np.zeros(self.out_channels, dtype=W.dtype)})
        self._cols: np.ndarray | None = None
        self._padded_shape: tuple[int, ...] | None = None

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input(x, (4,), "(N, C, H, W)")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2D.forward: x has {x.shape[1]} channels, "
                             f"expected in_channels={self.in_channels}")
        p, k = self.padding, self.kernel_size
        if min(x.shape[2:]) + 2 * p < k:
            raise ValueError(f"Conv2D.forward: x spatial size {x.shape[2:]} plus padding {p} "
                             f"is smaller than kernel_size={k}")
        W = self.params["W"]
        x = x.astype(W.dtype, copy=False)
        if p:
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        self._padded_shape = x.shape
        win = windows(x, k, self.stride)                      # (N, C, Ho, Wo, k, k)
        n, _, ho, wo = win.shape[:4]
        self._cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, -1)
        y = self._cols @ W.reshape(self.out_channels, -1).T + self.params["b"]
        return self._output(y.reshape(n, ho, wo, self.out_channels).transpose(0, 3, 1, 2))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        W = self.params["W"]
        dy = self._grad_output(dy).astype(W.dtype, copy=False)
        n, _, ho, wo = dy.shape
        dy2 = dy.transpose(0, 2, 3, 1).reshape(-1, self.out_channels)   # (N*Ho*Wo, C_out)
        np.matmul(dy2.T, self._cols, out=self.grads["W"].reshape(self.out_channels, -1))
        np.sum(dy2, axis=0, out=self.grads["b"])
        k, s, p = self.kernel_size, self.stride, self.padding
        dcols = (dy2 @ W.reshape(self.out_channels, -1)).reshape(n, ho, wo, -1, k, k)
        dx = np.zeros(self._padded_shape, dtype=W.dtype)
        for i in range(k):          # loop over kernel offsets only: k * k vectorised adds
            for j in range(k):
                dx[:, :, i:i + s * ho:s, j:j + s * wo:s] += dcols[..., i, j].transpose(0, 3, 1, 2)
        h, w = dx.shape[2:]
        return dx[:, :, p:h - p, p:w - p] if p else dx
