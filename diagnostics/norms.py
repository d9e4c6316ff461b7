"""Gradient norms, weight norms, distance from initialisation and update-to-weight ratios.

A recorded step reads the gradients in place (one BLAS ``np.dot`` per tensor) and
copies each parameter once, after the optimizer step, into a preallocated
(3, size) block per tensor whose rows are: the parameters before the step, after
it (the two rows take turns) and at initialisation. One BLAS matrix-vector
product per tensor, ``block @ p`` (for large tensors three dot products, one per
row), gives the inner products of the new parameters ``p`` with the old ones ``q``,
with themselves and with the initial ones ``p0``, so

    ||update||^2 = p.p - 2 p.q + q.q,    ||p - p0||^2 = p.p - 2 p.p0 + p0.p0

without forming difference vectors. In float64 this resolves update and distance
norms down to about 1e-7 of the weight norm (smaller values read as about that
size or 0). The sums go into a small preallocated chunk; norms and ratios are
derived and recorded per chunk.

The update of a step is the change of the parameters between ``before_step`` (after
backward, before the optimizer) and ``after_step``. When the previous step was also
recorded, the parameters copied after it serve as this step's "before", so
recording every step copies the parameters once per step.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TENSOR_METRICS", "GradNorms", "ParamStats"]

#: Metrics written per parameter tensor, in this order.
TENSOR_METRICS = ("grad_norm", "weight_norm", "dist_from_init", "update_ratio")
#: From this many elements on, three dot products (one per block row) stream faster than
#: one 3-row matrix-vector product (measured with OpenBLAS 0.3.31, 1 thread: 0.35 against
#: 0.48 ms for a 784 x 512 weight); below, the single call saves per-call overhead.
_ROW_BY_ROW = 1 << 15


class ParamStats:
    """Recorder of the per-tensor norms of one model's parameters and gradients.

    Parameters
    ----------
    records : Records
        Where the values go (columns registered here).
    tensors : list of tuple (layer_name, key, layer)
        The tracked tensors: ``layer.params[key]`` and ``layer.grads[key]``, read
        afresh on every recorded step (so replaced arrays are followed).
    on_flags : callable (rows, bad_grads, bad_params) -> None
        Called at each flush with the record rows (m,) and boolean arrays (m, n_tensors):
        True where a gradient or parameter tensor (``names[j]``) was non-finite.
    chunk_rows : int
        Recorded steps whose sums are buffered before norms are derived and stored.

    Notes
    -----
    A tensor is flagged non-finite when its sum of squares is: a NaN/Inf element, or
    (far beyond any healthy run) elements above about 1e154, whose squares overflow.
    """

    def __init__(self, records, tensors, on_flags, chunk_rows: int = 128):
        self.tensors, self.names = _nonempty(tensors)
        self.on_flags = on_flags
        self.columns = records.columns([(layer, key, m) for layer, key in self.names
                                        for m in TENSOR_METRICS]
                                       + [("model", "global", "grad_norm")])
        self.records = records
        self._blocks = [np.stack([layer.params[key].reshape(-1)] * 3).astype(np.float64, copy=False)
                        for key, layer in self.tensors]  # rows: before/after in turn, initial
        self._step = np.empty((len(self.tensors), 5))  # sums of the current step
        # per block row r in (0, 1) and tensor: layer, key, row r shaped like the parameter,
        # block (None when its rows are multiplied one by one), row r, where block @ row goes
        self._slots = [[(layer, key, block[r].reshape(layer.params[key].shape),
                         None if block.shape[1] >= _ROW_BY_ROW else block, block[r],
                         self._step[i, 1:4])
                        for i, ((key, layer), block) in enumerate(zip(self.tensors, self._blocks,
                                                                      strict=True))]
                       for r in range(2)]
        self._init_sq = np.array([np.dot(block[2], block[2]) for block in self._blocks])
        self._before = 0
        # per step and tensor: g.g, row0.p, row1.p, init.p, q.q (q: before)
        self._sums = np.empty((chunk_rows, len(self.tensors), 5))
        self._rows = np.empty(chunk_rows, np.intp)
        self._after_row = np.empty(chunk_rows, np.intp)
        self._consecutive = np.empty(chunk_rows, bool)
        self._last_param_sq = self._init_sq.copy()
        self._used = 0

    def before_step(self, row: int, consecutive: bool) -> np.ndarray:
        """Sum the squared gradients (and copy the parameters unless ``consecutive``).

        Returns the step's sums, shape (n_tensors, 5); column 0 holds the squared
        gradient norms, column 1 + (0 or 1) the squared parameter norms after the step.
        """
        k, step = self._used, self._step
        self._rows[k], self._consecutive[k] = row, consecutive
        grad_squares(self.tensors, step[:, 0])
        if not consecutive:
            for i, (layer, key, shaped, _, flat, _) in enumerate(self._slots[self._before]):
                shaped[...] = layer.params[key]
                step[i, 4] = np.dot(flat, flat)
        return step

    def after_step(self) -> np.ndarray:
        """Copy the updated parameters and take the inner products; return the sums."""
        self._before = now = self._before ^ 1
        for (layer, key, shaped, block, flat, out), rows in zip(self._slots[now], self._blocks,
                                                                 strict=True):
            shaped[...] = layer.params[key]
            if block is None:
                out[0], out[1], out[2] = np.dot(rows[0], flat), np.dot(rows[1], flat), np.dot(
                    rows[2], flat)
            else:
                np.dot(block, flat, out=out)
        k = self._used
        self._sums[k] = self._step
        self._after_row[k] = now
        self._used += 1
        if self._used == len(self._rows):
            self.flush()
        return self._step

    def flush(self) -> None:
        """Derive and record the norms of the buffered steps; pass their flags to
        ``on_flags``."""
        m, self._used = self._used, 0
        if m == 0:
            return
        sums = self._sums[:m]
        now = self._after_row[:m, None]
        grad_sq, init_dot = sums[..., 0], sums[..., 3]
        param_sq = np.where(now == 0, sums[..., 1], sums[..., 2])
        cross = np.where(now == 0, sums[..., 2], sums[..., 1])
        previous = np.concatenate([self._last_param_sq[None], param_sq[:-1]])
        before_sq = np.where(self._consecutive[:m, None], previous, sums[..., 4])
        self._last_param_sq = param_sq[-1].copy()
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            update_sq = np.maximum(param_sq - 2 * cross + before_sq, 0.0)
            dist_sq = np.maximum(param_sq - 2 * init_dot + self._init_sq, 0.0)
            norms = np.sqrt(np.stack([grad_sq, param_sq, dist_sq, update_sq / param_sq],
                                     axis=2)).reshape(m, -1)
            global_norm = np.sqrt(grad_sq.sum(axis=1, keepdims=True))
        rows = self._rows[:m].copy()
        self.records.put(rows, self.columns, np.concatenate([norms, global_norm], axis=1))
        self.on_flags(rows, ~np.isfinite(grad_sq), ~np.isfinite(param_sq))


def _nonempty(tensors):
    """``[(key, layer)]`` and ``[(layer_name, key)]`` of the tensors with elements."""
    tensors = [(name, key, layer) for name, key, layer in tensors if layer.params[key].size]
    return [(key, layer) for _, key, layer in tensors], [(name, key) for name, key, _ in tensors]


def grad_squares(tensors, out) -> None:
    """``out[i] = g.g`` for the gradient ``g = layer.grads[key]`` of each ``(key, layer)``."""
    for i, (key, layer) in enumerate(tensors):
        g = layer.grads[key]
        out[i] = np.vdot(g, g)


class GradNorms:
    """Recorder of the gradient norms alone (per tensor and global), for the steps that a
    Monitor records nothing else on (``grad_norms_every_step=True``).

    Parameters
    ----------
    records : Records
        Where the values go: the ``grad_norm`` series of :class:`ParamStats`.
    tensors : list of tuple (layer_name, key, layer)
        As for :class:`ParamStats`.
    on_flags : callable (rows, bad_grads, bad_params) -> None
        As for :class:`ParamStats` (``bad_params`` all False: parameters are not read).
    chunk_rows : int
        Steps whose sums are buffered before the norms are stored.
    """

    def __init__(self, records, tensors, on_flags, chunk_rows: int = 256):
        self.tensors, names = _nonempty(tensors)
        self.on_flags = on_flags
        self.columns = records.columns([(layer, key, "grad_norm") for layer, key in names]
                                       + [("model", "global", "grad_norm")])
        self.records = records
        self._sums = np.empty((chunk_rows, len(self.tensors)))  # g.g per step and tensor
        self._rows = np.empty(chunk_rows, np.intp)
        self._used = 0

    def add(self, row: int) -> float:
        """Sum the squared gradients of the step in record ``row``; return their total
        (non-finite when some gradient is)."""
        k = self._used
        grad_squares(self.tensors, self._sums[k])
        self._rows[k] = row
        self._used = k + 1
        total = self._sums[k].sum()
        if self._used == len(self._rows):
            self.flush()
        return total

    def flush(self) -> None:
        """Record the buffered norms; pass their flags to ``on_flags``."""
        m, self._used = self._used, 0
        if m == 0:
            return
        sums = self._sums[:m]
        with np.errstate(over="ignore", invalid="ignore"):
            norms = np.sqrt(np.concatenate([sums, sums.sum(axis=1, keepdims=True)], axis=1))
        rows = self._rows[:m].copy()
        self.records.put(rows, self.columns, norms)
        bad = ~np.isfinite(sums)
        self.on_flags(rows, bad, np.zeros_like(bad))
