"""The small base class every reference layer derives from."""

from __future__ import annotations

import numpy as np

from reference_nets._validate import as_numeric

__all__ = ["Layer"]


class Layer:
    """Base of the reference layers: the gradkit layer protocol plus input checks.

    Parameters
    ----------
    params : dict of str to ndarray, optional
        Trainable tensors by name. ``grads`` gets zero arrays of the same keys,
        shapes and dtypes; ``backward`` overwrites them in place.

    Attributes
    ----------
    params, grads : dict of str to ndarray
        Same keys and shapes. Parameterless layers have empty dicts.
    training : bool
        Training mode (Dropout, BatchNorm) when True; switch with ``train``/``eval``.
    """

    def __init__(self, params: dict[str, np.ndarray] | None = None):
        self.params = dict(params or {})
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self.training = True
        self._out_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Compute y from x (leading batch axis), keeping what backward needs; x is not modified."""
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Return dL/dx for dL/dy of the last forward; OVERWRITE ``grads`` (never accumulate)."""
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def train(self, mode: bool = True) -> Layer:
        """Set training mode (``mode=True``) or evaluation mode; return ``self``."""
        self.training = bool(mode)
        return self

    def eval(self) -> Layer:
        """Set evaluation mode; return ``self``."""
        return self.train(False)

    def extra_repr(self) -> str:
        """Constructor arguments shown by ``repr`` (override in subclasses)."""
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def _input(self, x, ndims: tuple[int, ...] | None = None, shape_doc: str = "") -> np.ndarray:
        """Validate a forward input: numeric, and ``x.ndim`` in ``ndims`` when given."""
        where = f"{type(self).__name__}.forward"
        x = as_numeric(x, "x", where)
        if ndims is not None and x.ndim not in ndims:
            raise ValueError(f"{where}: x must have shape {shape_doc}, got shape {x.shape}")
        return x

    def _output(self, y: np.ndarray) -> np.ndarray:
        """Remember the shape forward returned so backward can check ``dy``."""
        self._out_shape = y.shape
        return y

    def _grad_output(self, dy) -> np.ndarray:
        """Validate ``dy`` against the last forward's output shape."""
        where = f"{type(self).__name__}.backward"
        if self._out_shape is None:
            raise RuntimeError(f"{where}: call forward before backward")
        dy = as_numeric(dy, "dy", where)
        if dy.shape != self._out_shape:
            raise ValueError(
                f"{where}: dy has shape {dy.shape}, expected {self._out_shape} "
                "(the shape of the last forward output)"
            )
        return dy
