"""The rest of a model after one layer: losses for many perturbed outputs of that layer at once.

Only the layers after the perturbed one are recomputed (their inputs are cached activations).
When every later layer treats the samples of a batch independently (checked with the same
exact probes as :mod:`gradcheck.grouping`), ``K`` perturbed outputs are folded into one batch of
``K * n`` samples and pushed through in a single call per layer; otherwise one call each.
"""

from __future__ import annotations

import numpy as np

from gradcheck.engine import Tensor
from gradcheck.finite_diff import step_floor, step_sizes
from gradcheck.grouping import detect_structure

__all__ = ["Downstream"]


def _batch_independent(layer, x: np.ndarray, eps: float, rng) -> bool:
    """True when each output sample of ``layer`` depends only on the same input sample."""
    if x.ndim == 0 or x.shape[0] < 2:
        return False
    live = x.copy()
    y0 = np.array(layer.forward(x.copy()), copy=True)
    if y0.ndim == 0 or y0.shape[0] != x.shape[0]:
        return False
    return detect_structure(Tensor("input", live), lambda: layer.forward(live), y0,
                            step_sizes(x, eps, step_floor(x, eps)), rng, axes=[(0, 0)]) == [(0, 0)]


class Downstream:
    """``downstream(outputs (K, *y.shape)) -> (K,)``: loss change for each perturbed output.

    Parameters
    ----------
    layers : list of layers
        The layers after the perturbed one, in order.
    inputs : list of ndarray
        Their cached inputs at the unperturbed point (``inputs[0]`` is the perturbed
        layer's output).
    loss, target : loss object and its targets
    loss0 : float
        Loss at the unperturbed point.
    eps : float
        Step used for the structure probes.
    rng_of : callable
        ``rng_of() -> numpy Generator`` for the structure probes (called only if they run).
    """

    def __init__(self, layers, inputs, loss, target, loss0: float, eps: float, rng_of):
        self.layers, self.loss, self.target, self.loss0 = list(layers), loss, target, loss0
        self._inputs, self._eps, self._rng_of = inputs, eps, rng_of
        self._fold: bool | None = None

    def _can_fold(self) -> bool:
        """Probe lazily (only checks that send many outputs pay for the probes)."""
        if self._fold is None:
            rng = self._rng_of()
            self._fold = all(_batch_independent(layer, x, self._eps, rng)
                             for layer, x in zip(self.layers, self._inputs, strict=False))
        return self._fold

    def _predictions(self, outputs: np.ndarray) -> list[np.ndarray]:
        if len(outputs) > 1 and self._can_fold():
            k, n = outputs.shape[:2]
            h = outputs.reshape(k * n, *outputs.shape[2:])
            for layer in self.layers:
                h = layer.forward(h)
            return list(np.asarray(h).reshape(k, n, *np.shape(h)[1:]))
        preds = []
        for h in outputs:
            for layer in self.layers:
                h = layer.forward(h)
            preds.append(h)
        return preds

    def __call__(self, outputs: np.ndarray) -> np.ndarray:
        preds = self._predictions(np.asarray(outputs))
        return np.array([self.loss.forward(p, self.target) for p in preds]) - self.loss0
