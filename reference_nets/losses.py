"""Losses averaged over the batch (PyTorch's default ``reduction="mean"``).

Each loss offers ``forward(pred, target) -> float`` (validating both arrays),
``backward() -> dL/dpred`` and ``check_target(target, pred_shape, name)`` which
``train`` uses to validate all labels before the first step. Classification
losses also offer ``count_correct(pred, target) -> (n_correct, n_total)`` for accuracy.
``forward_each(preds, target) -> (K,)`` gives the losses of ``K`` predictions stacked on a
leading axis in one call, with ``forward``'s arithmetic (gradcheck's end-to-end checks
evaluate thousands of perturbed copies of one prediction).
"""

from __future__ import annotations

import numpy as np

from reference_nets._validate import as_numeric, check_finite
from reference_nets.layers.activations import sigmoid

__all__ = ["MSE", "BinaryCrossEntropy", "Loss", "SoftmaxCrossEntropy"]


class Loss:
    """Base class: validation of ``pred``/``target`` and the ``forward``/``backward`` pair.

    A subclass implements ``_stacked(z, target) -> (losses, saved)``: the loss of each
    prediction of ``z`` (shape (K, *pred.shape)) and what ``backward`` needs for ``z[0]``;
    ``_ranks`` and ``_shape_doc`` say which prediction shapes it takes.
    """

    _ranks: tuple[int, ...] | None = None   # allowed pred.ndim (None: any)
    _shape_doc = ""

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        return self.forward(pred, target)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        """Loss of ``pred`` against ``target`` (kept for ``backward``)."""
        z = self._pred(pred, "pred", "forward")
        losses, self._saved = self._stacked(z[None], self.check_target(target, z.shape))
        return float(losses[0])

    def forward_each(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The loss of each of ``K`` predictions against one target, in one call.

        Parameters
        ----------
        preds : ndarray, shape (K, *pred.shape)
            ``K`` predictions stacked on a new leading axis.
        target : array_like
            As for :meth:`forward` (validated once for all ``K``).

        Returns
        -------
        ndarray, shape (K,)
            ``forward(preds[k], target)`` for each ``k``, by the same arithmetic; nothing is
            kept for ``backward``.
        """
        where = f"{type(self).__name__}.forward_each"
        z = as_numeric(preds, "preds", where)
        if z.ndim == 0 or len(z) == 0:
            raise ValueError(f"{where}: preds must stack at least one prediction on a leading "
                             f"axis, got shape {z.shape}")
        z = self._pred(z, "preds", "forward_each", stacked=True)
        return self._stacked(z, self.check_target(target, z.shape[1:]))[0]

    def _pred(self, pred, name: str, method: str, stacked: bool = False) -> np.ndarray:
        """Validate predictions (numeric, right rank, a leading stack axis when ``stacked``).
        Non-finite values are allowed: a diverging run must report a NaN loss, not stop in
        the loss."""
        where = f"{type(self).__name__}.{method}"
        pred = as_numeric(pred, name, where)
        one = pred.shape[1:] if stacked else pred.shape
        if self._ranks is not None and len(one) not in self._ranks:
            doc = f"(K, {self._shape_doc[1:]}" if stacked else self._shape_doc
            raise ValueError(f"{where}: {name} must have shape {doc}, got shape {pred.shape}")
        if one[:1] == (0,):
            raise ValueError(f"{where}: {name} is empty (shape {pred.shape})")
        return pred

    def _stacked(self, z: np.ndarray, target: np.ndarray):  # pragma: no cover - abstract
        raise NotImplementedError

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

    def _stacked(self, z, target):
        diff = z - target
        return _mean_each(diff * diff), diff[0]

    def backward(self) -> np.ndarray:
        diff = self._saved
        return diff * (2.0 / diff.size)


class SoftmaxCrossEntropy(Loss):
    """Cross-entropy of softmax(logits), computed with a stable log-sum-exp.

    ``pred``: logits (N, C). ``target``: integer labels (N,) in [0, C), or
    one-hot / probability rows (N, C) summing to 1.
    """

    _ranks, _shape_doc = (2,), "(N, C)"

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

    def _stacked(self, z, target):
        shifted = z - z.max(axis=-1, keepdims=True)         # <= 0, so exp cannot overflow
        e = np.exp(shifted)
        total = e.sum(axis=-1, keepdims=True)                # >= 1, so log is finite
        log_norm = np.log(total)                             # -log p = log_norm - shifted
        if target.ndim == 1:
            per_sample = log_norm[..., 0] - shifted[:, np.arange(len(target)), target]
        else:
            per_sample = (target * (log_norm - shifted)).sum(axis=-1)
        # the mean's arithmetic (a sum, then one division), in fewer calls than np.mean
        return per_sample.sum(axis=-1) / per_sample.shape[-1], (e[0], total[0], target)

    def backward(self) -> np.ndarray:
        e, total, target = self._saved
        grad = e / total   # softmax(pred), a new array
        n = len(grad)
        if target.ndim == 1:
            grad[np.arange(n), target] -= 1.0
        else:
            grad -= target
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

    def _stacked(self, z, target):
        e = np.exp(-np.abs(z))                               # shared with backward's sigmoid
        return _mean_each(np.maximum(z, 0) - z * target + np.log1p(e)), (z[0], target, e[0])

    def backward(self) -> np.ndarray:
        z, target, e = self._saved
        return (sigmoid(z, e) - target) / z.size

    def count_correct(self, pred: np.ndarray, target: np.ndarray) -> tuple[int, int]:
        """(elements where ``pred > 0`` agrees with ``target > 0.5``, elements)."""
        return int(np.count_nonzero((pred > 0) == (target > 0.5))), int(np.size(pred))


def _is_int(target) -> bool:
    return isinstance(target, np.ndarray) and target.dtype.kind in "iu"


def _mean_each(values: np.ndarray) -> np.ndarray:
    """Mean over everything but the leading axis: shape (K, ...) -> (K,)."""
    return values.reshape(len(values), -1).mean(axis=1)
