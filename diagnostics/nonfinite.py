"""Non-finite values (NaN, Inf) in the loss, gradients and weights.

The first occurrence per ``(layer, tensor)`` is recorded as metric ``non_finite`` at its
step, valued by the order of discovery (1.0 for the first tensor found, 2.0 for the
next...: within a step, the order in which the values arose); tensor names are the
parameter key for weights (``"W"``), the key plus ``".grad"`` for gradients
(``"W.grad"``) and ``"loss"`` for the loss (layer ``"model"``). With ``mode="raise"``
the first occurrence stops training with :class:`NonFiniteError`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["NonFiniteError", "NonFiniteTracker"]

MODES = ("record", "raise")


class NonFiniteError(FloatingPointError):
    """A non-finite loss, gradient or weight appeared; the message names step, layer and
    tensor. Attributes ``step``, ``layer``, ``tensor``."""

    def __init__(self, message, step, layer, tensor):
        super().__init__(message)
        self.step, self.layer, self.tensor = step, layer, tensor


class NonFiniteTracker:
    """Records (or raises on) the first non-finite value per layer and tensor.

    Parameters
    ----------
    records : Records
    mode : {"record", "raise"}
    """

    def __init__(self, records, mode: str = "record"):
        if mode not in MODES:
            raise ValueError(f"on_non_finite must be one of {MODES}, got {mode!r}")
        self.records, self.mode = records, mode
        self.seen: set[tuple[str, str]] = set()

    def loss(self, step: int, epoch: int, value: float) -> bool:
        """Check a loss value; True if it is non-finite (recorded, or raised)."""
        if math.isfinite(value):
            return False
        self.report([(step, epoch, "model", "loss", f"loss = {value}")])
        return True

    def scan(self, step: int, epoch: int, tensors) -> None:
        """Check arrays now. ``tensors``: iterable of (layer, tensor_name, array)."""
        self.report([(step, epoch, layer, name, _describe(array))
                     for layer, name, array in tensors if not np.isfinite(array).all()])

    def flags(self, steps, epochs, names, bad_grads, bad_params) -> None:
        """Report flagged tensors of recorded steps.

        ``bad_grads``/``bad_params``: boolean (m, n_tensors), True where the gradient /
        weight tensor ``names[j]`` (layer, key) held NaN/Inf at ``steps[i]``.
        """
        found = []
        for bad, suffix in ((bad_grads, ".grad"), (bad_params, "")):
            for i, j in zip(*np.nonzero(bad), strict=True):
                layer, key = names[j]
                found.append((int(steps[i]), int(epochs[i]), layer, key + suffix,
                              "non-finite values"))
        self.report(sorted(found, key=lambda f: f[0]))

    def report(self, found) -> None:
        """Record each new (layer, tensor) occurrence; raise on the first in raise mode."""
        for step, epoch, layer, tensor, detail in found:
            if (layer, tensor) in self.seen:
                continue
            self.seen.add((layer, tensor))
            row = self.records.row_for(step, epoch)
            self.records.put(row, self.records.column(layer, tensor, "non_finite"),
                             float(len(self.seen)))
            if self.mode == "raise":
                raise NonFiniteError(f"non-finite {tensor} in layer {layer} at step {step} "
                                     f"(epoch {epoch}): {detail}", step, layer, tensor)


def _describe(array) -> str:
    """Counts of NaN and Inf in an array, e.g. '3 NaN, 1 Inf of 4160 values'."""
    array = np.asarray(array)
    return (f"{int(np.isnan(array).sum())} NaN, {int(np.isinf(array).sum())} Inf "
            f"of {array.size} values")
