"""The rest of a model after one layer: loss changes for the perturbed outputs of that layer.

Only the layers after the perturbed one run (their inputs at the point are cached), and three
shortcuts keep that work small, each taken only where it is exact:

- **A group stays one array while it can.** The output of a group of elements whose effects
  sit in different output slices (:mod:`gradcheck.grouping`) goes as it is through the
  leading layers that keep those slices apart (each output slice depends on the same input
  slice alone: an elementwise activation; any per-sample layer along the samples), and is
  expanded into one copy per element only before the first layer that mixes the slices.
  The activation after a Dense weight then runs once per group, not once per element.
- **Copies fold into one batch.** When every layer from there on treats samples
  independently, ``K`` copies of ``n`` samples go through as one batch of ``K * n``.
- **One loss call for many copies.** A loss that offers ``forward_each(preds, target) ->
  (K,)`` (the reference losses do) gives the ``K`` losses at once. It is compared once
  with ``forward`` on the model's prediction and a perturbed copy; if they disagree beyond
  rounding it is not used (with a warning) and the loss runs once per copy.

Which layers keep which slices apart is probed at their cached inputs with the exact
bit-coded probes of :mod:`gradcheck.grouping`, lazily: a check that sends one output at a
time never pays for them.
"""

from __future__ import annotations

import numpy as np

from gradcheck.engine import Tensor
from gradcheck.finite_diff import step_floor, step_sizes
from gradcheck.grouping import detect_structure, expand
from gradcheck.point import machine_eps
from gradcheck.user_warning import warn_user

__all__ = ["EACH_AGREEMENT", "EXPAND_BUDGET", "Downstream"]

EXPAND_BUDGET = 1 << 21   # values per stacked batch of copies sent through the rest
EACH_AGREEMENT = 64       # forward_each may differ from forward by this many eps * |loss|


def _keeps_apart(layer, x: np.ndarray, axis: int, eps: float, rng) -> bool:
    """True when each slice of ``layer``'s output along ``axis`` depends only on the same
    slice of its input (probed at ``x``)."""
    if x.ndim <= axis or x.shape[axis] < 2:
        return False
    live = x.copy()
    y0 = np.array(layer.forward(x.copy()), copy=True)
    if y0.ndim <= axis or y0.shape[axis] != x.shape[axis]:
        return False
    pair = [(axis, axis)]
    return detect_structure(Tensor("input", live), lambda: layer.forward(live), y0,
                            step_sizes(x, eps, step_floor(x, eps)), rng, axes=pair) == pair


class Downstream:
    """``changes(y, region) -> (k,)``: the loss change of each value of one move's output.

    Parameters
    ----------
    layers : list of layers
        The layers after the perturbed one, in order.
    inputs : list of ndarray
        Their cached inputs at the unperturbed point, then the prediction (``inputs[0]`` is
        the perturbed layer's output; ``len(layers) + 1`` arrays).
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
        self._apart: dict[tuple[int, int], bool] = {}
        self._each_loss0: float | None = None   # loss0 by forward_each, once it is trusted
        self._each_tried = False

    def changes(self, y: np.ndarray, region) -> np.ndarray:
        """Loss changes for the output ``y`` of one move, shape (k,).

        ``region`` is None for one value (the whole output), or ``(elements, shape,
        structure)`` for a group of elements read back from their own output slices (see
        :meth:`gradcheck.point.Point.changes`): one value per element.
        """
        if region is None:
            return self._losses(y[None], 0)
        elements, shape, structure = region
        depth, h = self._kept_whole(y, [o for _, o in structure])
        base = self._inputs[depth]
        out = np.empty(len(elements))
        chunk = max(1, EXPAND_BUDGET // max(1, base.size))
        for start in range(0, len(elements), chunk):
            part = elements[start:start + chunk]
            out[start:start + chunk] = self._losses(expand(h, base, part, shape, structure),
                                                    depth)
        return out

    def _keeps(self, depth: int, axis: int) -> bool:
        """Whether layer ``depth`` keeps slices along ``axis`` apart (probed once)."""
        key = (depth, axis)
        if key not in self._apart:
            self._apart[key] = _keeps_apart(self.layers[depth], self._inputs[depth], axis,
                                            self._eps, self._rng_of())
        return self._apart[key]

    def _kept_whole(self, y: np.ndarray, axes) -> tuple[int, np.ndarray]:
        """``(depth, h)``: ``y`` through the leading layers that keep slices along every one
        of ``axes`` apart; ``h`` is the input of layer ``depth``."""
        depth = 0
        while depth < len(self.layers) and all(self._keeps(depth, o) for o in axes):
            y = self.layers[depth].forward(y)
            depth += 1
        return depth, np.asarray(y)

    def _losses(self, outputs: np.ndarray, depth: int) -> np.ndarray:
        """Loss changes of ``K`` stacked inputs of layer ``depth`` (the prediction when
        ``depth == len(layers)``), shape (K,)."""
        preds = self._predictions(outputs, depth)
        if self._each_usable(preds):
            each = np.asarray(self.loss.forward_each(preds, self.target))
            return each.reshape(len(preds)) - self._each_loss0
        return np.array([self.loss.forward(p, self.target) for p in preds]) - self.loss0

    def _predictions(self, outputs: np.ndarray, depth: int) -> np.ndarray:
        """``K`` stacked inputs of layer ``depth`` through the rest: shape (K, *pred.shape)."""
        layers = self.layers[depth:]
        if not layers:
            return outputs
        if len(outputs) > 1 and all(self._keeps(d, 0) for d in range(depth, len(self.layers))):
            k, n = outputs.shape[:2]
            h = outputs.reshape(k * n, *outputs.shape[2:])
            for layer in layers:
                h = layer.forward(h)
            return np.asarray(h).reshape(k, n, *np.shape(h)[1:])
        preds = []
        for h in outputs:
            for layer in layers:
                h = layer.forward(h)
            preds.append(np.array(h, copy=True))   # a layer may reuse its output buffer
        return np.stack(preds)

    def _each_usable(self, preds: np.ndarray) -> bool:
        """Whether the loss's ``forward_each`` serves (tried on the first call with more
        than one copy, see :meth:`_agreed`)."""
        if not self._each_tried and len(preds) > 1:
            self._each_tried = True
            each = getattr(self.loss, "forward_each", None)
            if callable(each):
                self._each_loss0 = self._agreed(each, preds[0])
        return self._each_loss0 is not None

    def _agreed(self, each, copy: np.ndarray) -> float | None:
        """``forward_each`` at the prediction, when on a stack of the prediction and ``copy``
        (a perturbed one) it gives what ``forward`` gives for each up to rounding; else None
        and a warning (the check then calls ``forward`` once per copy)."""
        pred, name = self._inputs[-1], type(self.loss).__name__
        want = np.array([self.loss0, self.loss.forward(copy, self.target)])
        try:
            got = np.asarray(each(np.stack([pred, copy]), self.target), float).reshape(-1)
        except Exception as exc:   # a user's forward_each that cannot take the stack
            why = f"raised {type(exc).__name__}: {exc}"
        else:
            rounding = EACH_AGREEMENT * machine_eps(pred) * np.abs(want)
            if got.shape == want.shape and (np.abs(got - want) <= rounding).all():
                return float(got[0])
            why = f"gave {got.tolist()} where forward gives {want.tolist()}"
        warn_user(f"{name}.forward_each(preds, target) on the model's prediction and a "
                      f"perturbed one {why}; gradcheck calls {name}.forward once per "
                      "perturbed copy instead (slower, same verdicts)", RuntimeWarning)
        return None
