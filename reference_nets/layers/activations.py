"""Element-wise activations and Softmax (parameterless; output shape = input shape)."""

from __future__ import annotations

import numpy as np

from reference_nets.layers.base import Layer

__all__ = ["LeakyReLU", "ReLU", "Sigmoid", "Softmax", "Tanh", "sigmoid"]


def sigmoid(x: np.ndarray, e: np.ndarray | None = None) -> np.ndarray:
    """Logistic function without overflow for large |x| (exp of a non-positive number only).

    ``e`` is ``exp(-|x|)`` when the caller has already computed it.
    """
    if e is None:
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


class ReLU(Layer):
    """``max(x, 0)``; the gradient at exactly 0 is 0 (as PyTorch)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input(x)
        self._positive = x > 0
        return self._output(np.maximum(x, 0))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._grad_output(dy) * self._positive


class LeakyReLU(Layer):
    """``x`` for x > 0, ``negative_slope * x`` otherwise.

    Parameters
    ----------
    negative_slope : float
        Slope for non-positive inputs.
    """

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input(x)
        self._slope = np.where(x > 0, 1.0, self.negative_slope).astype(x.dtype, copy=False)
        return self._output(x * self._slope)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._grad_output(dy) * self._slope


class Sigmoid(Layer):
    """Logistic ``1 / (1 + exp(-x))``, stable for any |x|; backward uses the cached output."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = sigmoid(self._input(x))
        return self._output(self._y)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._grad_output(dy) * (self._y * (1.0 - self._y))


class Tanh(Layer):
    """Hyperbolic tangent; backward uses the cached output (1 - y^2)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = np.tanh(self._input(x))
        return self._output(self._y)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._grad_output(dy) * (1.0 - self._y * self._y)


class Softmax(Layer):
    """Softmax along ``axis`` (shifted by the max, so stable for large inputs).

    Backward is the full Jacobian-vector product ``s * (dy - sum(dy * s, axis))``,
    not the diagonal ``s * (1 - s)``.

    Parameters
    ----------
    axis : int
        Axis that sums to one.
    """

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def extra_repr(self) -> str:
        return f"axis={self.axis}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input(x)
        e = np.exp(x - x.max(axis=self.axis, keepdims=True))
        self._s = e / e.sum(axis=self.axis, keepdims=True)
        return self._output(self._s)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._grad_output(dy)
        s = self._s
        return s * (dy - np.sum(dy * s, axis=self.axis, keepdims=True))
