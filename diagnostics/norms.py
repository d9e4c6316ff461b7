"""Gradient norms, weight norms, distance from initialisation and update-to-weight ratios.

A recorded step reads the gradients in place (one BLAS ``np.dot`` per tensor) and
copies each parameter once, after the optimizer step, into a preallocated
(3, size) block per tensor whose rows are: the parameters before the step, after
it (the two rows take turns) and at initialisation. One BLAS matrix-vector
product per tensor, ``block @ p``, gives the inner products of the new parameters
``p`` with the old ones ``q``, with themselves and with the initial ones ``p0``, so

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

__all__ = ["TENSOR_METRICS", "ParamStats"]

#: Metrics written per parameter tensor, in this order.
TENSOR_METRICS = ("grad_norm", "weight_norm", "dist_from_init", "update_ratio")


class ParamStats:
    """Recorder of the per-tensor norms of one model's parameters and gradients.

    Parameters
    ----------
    records : Records
        Where the values go (columns registered here).
    tensors : list of tuple (layer_name, key, layer)
        The tracked tensors: ``layer.params[key]`` and ``layer.grads[key]``, read
        afresh on every recorded step (so replaced arrays are followed).
    chunk_rows : int
        Recorded steps whose sums are buffered before norms are derived and stored.

    Notes
    -----
    A tensor is flagged non-finite when its sum of squares is: a NaN/Inf element, or
    (far beyond any healthy run) elements above about 1e154, whose squares overflow.
    """

    def __init__(self, records, tensors, chunk_rows: int = 128):
        tensors = [(name, key, layer) for name, key, layer in tensors if layer.params[key].size]
        self.tensors = [(key, layer) for _, key, layer in tensors]
        self.names = [(name, key) for name, key, _ in tensors]
        self.columns = records.columns([(layer, key, m) for layer, key in self.names
                                        for m in TENSOR_METRICS]
                                       + [("model", "global", "grad_norm")])
        self.records = records
        self._blocks = [np.stack([layer.params[key].reshape(-1)] * 3).astype(np.float64, copy=False)
                        for key, layer in self.tensors]  # rows: before/after in turn, initial
        self._step = np.empty((len(self.tensors), 5))  # sums of the current step
        # per block row r in (0, 1) and tensor: layer, key, row r shaped like the parameter,
        # block, row r, where block @ row goes
        self._slots = [[(layer, key, block[r].reshape(layer.params[key].shape), block, block[r],
                         self._step[i, 1:4])
                        for i, ((key, layer), block) in enumerate(zip(self.tensors, self._blocks,
                                                                      strict=True))]
                       for r in range(2)]
        self._init_sq = np.array([np.dot(block[2], block[2]) for block in self._blocks])
        self._before = 0
        # per step and tensor: g.g, row0.p, row1.p, init.p, q.q (q: before)
        self._sums = np.empty((chunk_rows, len(tensors), 5))
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
        for i, (layer, key, *_) in enumerate(self._slots[0]):
            g = layer.grads[key]
            step[i, 0] = np.vdot(g, g)
        if not consecutive:
            for i, (layer, key, shaped, _, flat, _) in enumerate(self._slots[self._before]):
                shaped[...] = layer.params[key]
                step[i, 4] = np.dot(flat, flat)
        return step

    def after_step(self) -> np.ndarray:
        """Copy the updated parameters and take the inner products; return the sums."""
        self._before = now = self._before ^ 1
        for layer, key, shaped, block, flat, out in self._slots[now]:
            shaped[...] = layer.params[key]
            np.dot(block, flat, out=out)
        k = self._used
        self._sums[k] = self._step
        self._after_row[k] = now
        self._used += 1
        if self._used == len(self._rows):
            self.flush()
        return self._step

    def flush(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Derive and record the norms of the buffered steps.

        Returns
        -------
        (rows, bad_grads, bad_params) or None
            Record rows and boolean arrays (m, n_tensors): True where a gradient or
            parameter tensor was non-finite; None if nothing was buffered.
        """
        m, self._used = self._used, 0
        if m == 0:
            return None
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
        return rows, ~np.isfinite(grad_sq), ~np.isfinite(param_sq)
