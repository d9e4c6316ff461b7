"""Activation statistics: dead and inactive ReLU units, saturation, mean and std.

Outputs are observed by tapping ``layer.forward`` on the instance for one call
(:class:`ForwardTap`), only on recorded steps; user code is unchanged and the
class method is restored right after the call. Of a recorded batch the statistics need
its mask (the active or the saturated elements) and its sum and sum of squares; the
masks are buffered and counted with those of other buffered batches at once. Large
outputs (:data:`TAKEN_AT_ONCE` elements or more) give their mask and sums in the forward,
while they are in the caches; smaller ones are copied into a buffer and give theirs with
the other buffered batches (fewer calls).

Which layers are activations: :data:`ACTIVATION_KINDS` maps class names to a kind
(extend it, or pass ``activations=`` to ``Monitor``); other parameterless layers are
classified once by behaviour from their first observed input and output
(:func:`classify`). A kind is ``"relu"`` (ReLU-like: a unit is *inactive* for an
example when its output is <= 0, *dead* when inactive for every example of a window)
or a ``(low, high)`` pair of output limits (saturating: an output is *saturated*
within ``margin * (high - low)`` of a limit).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ACTIVATION_KINDS", "TAKEN_AT_ONCE", "ForwardTap", "UnitStats", "classify"]

#: Outputs of this many elements or more give their mask and sums in the forward, not
#: from a copy: on the 784-512-512-10 MLP of ``bench/diagnostics_overhead.py`` (two ReLU
#: outputs of 64 x 512) observing cost 0.19 against 0.30 ms a step; on ``zoo.cnn()``
#: (8 x 8 x 8 x 32) 75 against 60 us, on the digits MLP (32 x 64) 29 against 22 us.
TAKEN_AT_ONCE = 1 << 15

#: Class name -> kind ("relu" or (low, high) output limits). Users may add entries.
ACTIVATION_KINDS: dict[str, str | tuple[float, float]] = {
    "ReLU": "relu", "LeakyReLU": "relu", "ReLU6": "relu",
    "Sigmoid": (0.0, 1.0), "Tanh": (-1.0, 1.0), "Hardtanh": (-1.0, 1.0),
}


def classify(x, y) -> str | tuple[float, float] | None:
    """Kind of an element-wise activation from one input/output pair, or None.

    ReLU-like: ``y == x`` where ``x > 0`` and ``x <= y <= 0`` where ``x <= 0``, not the
    identity (so ReLU and leaky ReLU); saturating: the logistic function (0, 1) or
    tanh (-1, 1). Inputs without both signs are not classified.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or not (np.issubdtype(x.dtype, np.floating)
                                  and np.issubdtype(y.dtype, np.floating)):
        return None
    pos, neg = x > 0, x < 0
    if not (pos.any() and neg.any()):
        return None
    xn, yn = x[~pos], y[~pos]
    if (np.array_equal(y[pos], x[pos]) and np.all((yn <= 0) & (yn >= xn))
            and np.any(y[neg] != x[neg])):
        return "relu"
    with np.errstate(over="ignore"):
        if np.allclose(y, 1.0 / (1.0 + np.exp(-x)), rtol=1e-5, atol=1e-7):
            return (0.0, 1.0)
    if np.allclose(y, np.tanh(x), rtol=1e-5, atol=1e-7):
        return (-1.0, 1.0)
    return None


_MISSING = object()


def _instance_forward(layer):
    """The layer's own instance attribute ``forward``, or ``_MISSING`` if it has none.

    Found without reading ``layer.__dict__``: in CPython 3.11, reading it once turns the
    instance's compact attribute storage into a plain dict and slows every later
    attribute access of the layer (measured: 1-2 us per training step of the digits MLP).
    """
    bound, in_class = layer.forward, getattr(type(layer), "forward", None)
    if bound == in_class or (getattr(bound, "__self__", None) is layer
                             and getattr(bound, "__func__", None) is in_class):
        return _MISSING
    return bound


class ForwardTap:
    """Calls ``callback(x, y)`` after the next ``layer.forward(x)``, then unhooks itself.

    Parameters
    ----------
    layer : object with ``forward`` whose instances accept attributes
    callback : callable (x, y) -> None
    """

    def __init__(self, layer, callback):
        self.layer, self.callback = layer, callback
        self._own = _instance_forward(layer)
        original = layer.forward

        def tapped(x):
            y = original(x)
            self.remove()
            callback(x, y)
            return y

        self._tapped = tapped

    def arm(self) -> None:
        """Tap the next forward call."""
        self.layer.forward = self._tapped

    def remove(self) -> None:
        """Restore the layer's own ``forward`` if the tap is still in place."""
        if getattr(self.layer, "forward", None) is self._tapped:
            if self._own is _MISSING:
                del self.layer.forward
            else:
                self.layer.forward = self._own


def _count_true(mask: np.ndarray) -> np.ndarray:
    """True values per row of a C-contiguous boolean (m, n) array, shape (m,)."""
    if mask.shape[1] % 8 or not hasattr(np, "bitwise_count"):
        return np.count_nonzero(mask, axis=1)
    return np.bitwise_count(mask.view(np.uint64)).sum(axis=1)  # 8 booleans per word


class UnitStats:
    """Activation statistics of one layer, per recorded batch and per window of them.

    Parameters
    ----------
    records : Records
    layer : str
        Layer name used in the records.
    kind : "relu" or (low, high)
    window : int
        Recorded batches per dead-unit window (``dead_fraction`` is written at the
        last step of each window).
    margin : float
        Saturation band as a fraction of the output range.
    chunk_bytes : int
        Bound of the buffer of outputs (8 bytes an element) or, for large outputs, of
        masks (one byte an element); at least one batch is kept.

    Notes
    -----
    A unit is one feature of the output with the batch axis removed (for an NCHW
    output, one channel at one position). Per recorded step: ``inactive_fraction``
    (ReLU-like), ``saturation_fraction`` (saturating), ``act_mean``, ``act_std``
    (from the float64 sums of values and squares, so a std below about 1e-8 of the mean
    is not resolved). A recorded step copies the output into a preallocated buffer, or
    (large outputs) writes its mask there and takes its two sums; the buffered steps
    are computed at once when the buffer is full, a window closes or the records are
    read. A batch of another shape (e.g. the last of an epoch) is recorded at once.
    """

    def __init__(self, records, layer, kind, window=20, margin=0.02, chunk_bytes=1 << 22):
        self.records, self.layer, self.kind = records, layer, kind
        self.window, self._chunk_bytes = window, chunk_bytes
        per_step = ["inactive_fraction" if kind == "relu" else "saturation_fraction",
                    "act_mean", "act_std"]
        self.columns = records.columns([(layer, "output", m) for m in per_step])
        self.dead_column = records.columns([(layer, "output", "dead_fraction")]) \
            if kind == "relu" else None
        if kind != "relu":
            low, high = kind
            self._middle, self._reach = (low + high) / 2, (0.5 - margin) * (high - low)
        self.units = None
        self._outputs = self._masks = self._sums = self._rows = self._alive = None
        self._used = self._seen = self._windows = 0
        self._spans = [None, 0]  # first step of the current window, steps of the last one

    def observe(self, y, row: int) -> None:
        """Buffer the output ``y`` (batch first) of the recorded step in record ``row``,
        or its mask and sums (large outputs)."""
        y = np.asarray(y, dtype=np.float64)  # a copy of other dtypes only
        if self._masks is None:
            self._allocate(y)
        if y.shape != self._masks.shape[1:]:
            self.flush()
            masks, sums = np.empty((1, *y.shape), bool), np.empty((1, 2))
            self._take(y[None], masks, sums)
            self._record(masks, sums, np.array([row]))
            return
        k = self._used
        if self._outputs is None:
            self._take(y[None], self._masks[k:k + 1], self._sums[k:k + 1])
        else:
            self._outputs[k] = y
        self._rows[k] = row
        self._used = k + 1
        if self._used == len(self._rows) or self._seen + self._used == self.window:
            self.flush()

    def flush(self) -> None:
        """Compute and record the buffered steps; close the dead-unit window when full."""
        m, self._used = self._used, 0
        if m:
            if self._outputs is not None:
                self._take(self._outputs[:m], self._masks[:m], self._sums[:m])
            self._record(self._masks[:m], self._sums[:m], self._rows[:m].copy())

    def finish(self) -> None:
        """Flush; record a final partial window if it is the only one, at least half full,
        or spans more steps than the last full one (the recorded steps grew sparse)."""
        self.flush()
        if not (self.kind == "relu" and self._seen):
            return
        span = self.records.step_epoch(self._last_row)[0] - self._spans[0] + 1
        if self._windows == 0 or 2 * self._seen >= self.window or span > self._spans[1]:
            # a new row: the last one may already have been appended to a file
            self._close_window(self.records.add_row(*self.records.step_epoch(self._last_row)))

    def _allocate(self, y: np.ndarray) -> None:
        """Buffers for outputs shaped like ``y`` (small ones only), their masks and sums
        and the per-unit activity of a window."""
        self.units = int(np.prod(y.shape[1:])) if y.ndim > 1 else y.size
        copied = y.size < TAKEN_AT_ONCE
        steps = int(np.clip(self._chunk_bytes // max((8 if copied else 1) * y.size, 1), 1,
                            self.window))
        if copied:
            self._outputs = np.empty((steps, *y.shape))
        self._masks = np.empty((steps, *y.shape), bool)
        self._sums = np.empty((steps, 2))
        self._rows = np.empty(steps, np.intp)
        self._alive = np.zeros(self.units, bool)
        self._ones = np.ones(y.size)  # an output, flattened

    def _take(self, outputs: np.ndarray, masks: np.ndarray, sums: np.ndarray) -> None:
        """Write the masks of ``outputs`` (m, *output shape), float64: the active elements
        of a ReLU-like kind, else the saturated ones) into ``masks`` (bool, the same
        shape) and per step the sum and the sum of squares into ``sums`` (m, 2)."""
        if self.kind == "relu":
            np.greater(outputs, 0.0, out=masks)
        else:
            np.greater_equal(np.abs(outputs - self._middle), self._reach, out=masks)
        flat = outputs.reshape(len(outputs), -1)
        ones = self._ones if len(self._ones) == flat.shape[1] else np.ones(flat.shape[1])
        np.matmul(flat, ones, out=sums[:, 0])
        sums[:, 1] = np.matmul(flat[:, None, :], flat[:, :, None]).reshape(-1)

    def _record(self, masks: np.ndarray, sums: np.ndarray, rows: np.ndarray) -> None:
        """Record the statistics of the steps of ``masks`` (m, *output shape) and ``sums``
        (m, 2) at ``rows`` (m,)."""
        m = len(masks)
        flat = masks.reshape(m, -1)
        n = flat.shape[1]
        first = _count_true(flat) / n
        if self.kind == "relu":
            self._alive |= masks.reshape(-1, self.units).any(axis=0)
            first = 1.0 - first
        mean, squares = sums[:, 0] / n, sums[:, 1] / n
        std = np.sqrt(np.maximum(squares - mean * mean, 0.0))
        self.records.put(rows, self.columns, np.stack([first, mean, std], axis=1))
        if self._spans[0] is None:
            self._spans[0] = self.records.step_epoch(rows[0])[0]
        self._seen += m
        self._last_row = rows[-1]
        if self._seen == self.window:
            last = self.records.step_epoch(self._last_row)[0]
            self._spans = [last + 1, last + 1 - self._spans[0]]  # the next window starts after
            self._close_window(self._last_row)

    def _close_window(self, row: int) -> None:
        """Record the dead share of the window (ReLU-like) at ``row``; start a new one."""
        if self.kind == "relu":
            self.records.put(row, self.dead_column,
                             1.0 - np.count_nonzero(self._alive) / self.units)
            self._alive[:] = False
        self._seen = 0
        self._windows += 1
