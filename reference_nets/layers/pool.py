"""2-D max pooling (NCHW)."""

from __future__ import annotations

import numpy as np

from reference_nets._validate import check_positive_int
from reference_nets.layers.base import Layer
from reference_nets.layers.conv import windows

__all__ = ["MaxPool2D"]


class MaxPool2D(Layer):
    """Max over ``size`` x ``size`` windows, no padding (as ``torch.nn.MaxPool2d``).

    Parameters
    ----------
    size : int
        Window side.
    stride : int or None
        Step between windows; ``None`` means ``size`` (non-overlapping windows).

    Notes
    -----
    x (N, C, H, W) -> y (N, C, H_out, W_out), ``H_out = (H - size) // stride + 1``;
    rows/columns past the last full window are ignored (gradient 0).
    Backward routes each output's gradient to its window's argmax. On ties it goes
    to ONE element: the first maximum in row-major order inside the window (the
    top-most, then left-most), the same element ``numpy.argmax`` picks. Overlapping
    windows (stride < size) add their contributions.
    """

    def __init__(self, size: int = 2, stride: int | None = None):
        super().__init__()
        self.size = check_positive_int(size, "size", "MaxPool2D")
        self.stride = self.size if stride is None else check_positive_int(
            stride, "stride", "MaxPool2D")
        self._x_shape: tuple[int, ...] | None = None
        self._flat_index: np.ndarray | None = None

    def extra_repr(self) -> str:
        return f"size={self.size}, stride={self.stride}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input(x, (4,), "(N, C, H, W)")
        k, s = self.size, self.stride
        if min(x.shape[2:]) < k:
            raise ValueError(f"MaxPool2D.forward: x spatial size {x.shape[2:]} is smaller "
                             f"than size={k}")
        n, c, h, w = x.shape
        win = windows(x, k, s)
        ho, wo = win.shape[2:4]
        arg = win.reshape(n, c, ho, wo, k * k).argmax(axis=-1)
        rows = np.arange(ho)[:, None] * s + arg // k             # (N, C, Ho, Wo)
        cols = np.arange(wo)[None, :] * s + arg % k
        plane = np.arange(n * c).reshape(n, c, 1, 1) * (h * w)
        self._flat_index = (plane + rows * w + cols).ravel()
        self._x_shape = x.shape
        return self._output(x.reshape(-1)[self._flat_index].reshape(n, c, ho, wo))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._grad_output(dy)
        size = int(np.prod(self._x_shape))
        dx = np.bincount(self._flat_index, weights=dy.ravel(), minlength=size)
        return dx.astype(dy.dtype, copy=False).reshape(self._x_shape)
