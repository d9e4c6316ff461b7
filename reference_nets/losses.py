"""Losses averaged over the batch (PyTorch's default ``reduction="mean"``).

Each loss offers ``forward(pred, target) -> float`` (validating both arrays),
``backward() -> dL/dpred`` and ``check_target(target, pred_shape, name)`` which
``train`` uses to validate all labels before the first step. Classification
losses also offer ``count_correct(pred, target) -> (n_correct, n_total)`` for accuracy.
"""

from __future__ import annotations

import numpy as np

from reference_nets._validate import as_numeric, check_finite
from reference_nets.layers.activations import sigmoid

__all__ = ["MSE", "BinaryCrossEntropy", "Loss", "SoftmaxCrossEntropy"]


class Loss:
    """Base class: validation of ``pred``/``target`` and the ``forward``/``backward`` pair."""

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        return self.forward(pred, target)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _pred(self, pred, ndims: tuple[int, ...] | None, shape_doc: str) -> np.ndarray:
        """Validate predictions (numeric, right rank). Non-finite values are allowed:
        a diverging run must report a NaN loss, not stop in the loss."""
        where = f"{type(self).__name__}.forward"
        pred = as_numeric(pred, "pred", where)
        if ndims is not None and pred.ndim not in ndims:
            raise ValueError(f"{where}: pred must have shape {shape_doc}, got shape {pred.shape}")
        if pred.shape[0] == 0:
            raise ValueError(f"{where}: pred is empty (shape {pred.shape})")
        return pred

    def check_target(self, target, pred_shape: tuple[int, ...],
                     name: str = "target") -> np.ndarray:  # pragma: no cover - abstract
        """Validate ``target`` for predictions of shape ``pred_shape``; return it as an array."""
        raise NotImplementedError

    def _same_shape_target(self, target, pred_shape, name: str) -> np.ndarray:
        """Numeric, finite target with exactly the prediction's shape."""
        where = f"{type(self).__name__}"
        target = as_numeric(target, name, where)
        if target.shape != tuple(pred_shape):
            raise ValueError(f"{where}: {name} has shape {target.shape}, expected "
                             f"{tuple(pred_shape)} (the shape of pred)")
        check_finite(target, name, where)
        return target


class MSE(Loss):
    """Mean squared error over all elements: ``mean((pred - target) ** 2)``.

    ``pred`` and ``target`` have the same shape, e.g. (N, D).
    """

    def check_target(self, target, pred_shape, name: str = "target") -> np.ndarray:
        return self._same_shape_target(target, pred_shape, name)

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        pred = self._pred(pred, None, "")
        self._diff = pred - self.check_target(target, pred.shape)
        return float(np.mean(self._diff * self._diff))

    def backward(self) -> np.ndarray:
        return self._diff * (2.0 / self._diff.size)


class SoftmaxCrossEntropy(Loss):
    """Cross-entropy of softmax(logits), computed with a stable log-sum-exp.

    ``pred``: logits (N, C). ``target``: integer labels (N,) in [0, C), or
    one-hot / probability rows (N, C) summing to 1.
    """

    def check_target(self, target, pred_shape, name: str = "target") -> np.ndarray:
        where = "SoftmaxCrossEntropy"
        n, n_classes = pred_shape
        if np.ndim(target) == 2:
            target = self._same_shape_target(target, pred_shape, name)
            if (target < 0).any() or not np.allclose(target.sum(axis=1), 1.0):
                raise ValueError(f"{where}: {name} of shape (N, C) must hold one-hot or "
                                 "probability rows (non-negative, summing to 1)")
            return target
        target = as_numeric(target, name, where) if not _is_int(target) else np.asarray(target)
        if target.shape != (n,):
            raise ValueError(f"{where}: {name} has shape {target.shape}, expected integer "
                             f"labels of shape ({n},) or one-hot of shape ({n}, {n_classes})")
        if target.dtype.kind == "f":
            check_finite(target, name, where)
            if (target != np.round(target)).any():
                raise ValueError(f"{where}: {name} must hold integer class labels, "
                                 "found non-integer values")
            target = target.astype(np.int64)
        lo, hi = target.min(), target.max()
        if lo < 0 or hi >= n_classes:
            raise ValueError(f"{where}: {name} holds labels in [{lo}, {hi}], expected labels "
                             f"in [0, {n_classes - 1}] for {n_classes} classes")
        return target

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        z = self._pred(pred, (2,), "(N, C)")
        target = self.check_target(target, z.shape)
        shifted = z - z.max(axis=1, keepdims=True)          # <= 0, so exp cannot overflow
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)                 # >= 1, so log is finite
        self._p = e / total
        self._target = target
        log_norm = np.log(total)                             # -log p = log_norm - shifted
        if target.ndim == 1:
            return float((log_norm[:, 0] - shifted[np.arange(len(target)), target]).mean())
        return float((target * (log_norm - shifted)).sum(axis=1).mean())

    def backward(self) -> np.ndarray:
        grad = self._p.copy()
        n = len(grad)
        if self._target.ndim == 1:
            grad[np.arange(n), self._target] -= 1.0
        else:
            grad -= self._target
        grad /= n
        return grad

    def count_correct(self, pred: np.ndarray, target: np.ndarray) -> tuple[int, int]:
        """(rows whose arg-max logit is the label or the one-hot row's arg-max, rows)."""
        labels = target.argmax(axis=1) if np.ndim(target) == 2 else target
        return int(np.count_nonzero(pred.argmax(axis=1) == labels)), len(pred)


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy on logits (as ``torch.nn.BCEWithLogitsLoss``), stable for any logit.

    ``pred``: logits of any shape, e.g. (N,) or (N, 1). ``target``: same shape, values in [0, 1].
    """

    def check_target(self, target, pred_shape, name: str = "target") -> np.ndarray:
        target = self._same_shape_target(target, pred_shape, name)
        if (target < 0).any() or (target > 1).any():
            raise ValueError(f"BinaryCrossEntropy: {name} must hold values in [0, 1] "
                             f"(0/1 labels), got range [{target.min()}, {target.max()}]")
        return target

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        z = self._pred(pred, None, "")
        t = self.check_target(target, z.shape)
        e = np.exp(-np.abs(z))                               # shared with backward's sigmoid
        self._z, self._t, self._e = z, t, e
        losses = np.maximum(z, 0) - z * t + np.log1p(e)
        return float(losses.mean())

    def backward(self) -> np.ndarray:
        return (sigmoid(self._z, self._e) - self._t) / self._z.size

    def count_correct(self, pred: np.ndarray, target: np.ndarray) -> tuple[int, int]:
        """(elements where ``pred > 0`` agrees with ``target > 0.5``, elements)."""
        return int(np.count_nonzero((pred > 0) == (target > 0.5))), int(np.size(pred))


def _is_int(target) -> bool:
    return isinstance(target, np.ndarray) and target.dtype.kind in "iu"
