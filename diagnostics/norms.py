"""Gradient norms, weight norms, distance from initialisation and update-to-weight ratios.

All parameter tensors are handled as one flat float64 vector per recorded step
(``np.concatenate(..., axis=None, out=row)``: one call, no per-tensor loop), kept in
a chunk of preallocated rows. The per-tensor statistics are computed for a whole
chunk at once with ``np.add.reduceat``, so a recorded step costs two or three
copies, and the arithmetic is amortised over many steps.

The update of a step is the change of the parameters between ``before_step`` (after
backward, before the optimizer) and ``after_step``. When the previous step was also
recorded, the parameters after it serve as this step's "before" (no extra copy).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ParamStats"]

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
    chunk_bytes : int
        Memory for the chunk buffers; at least one step is always buffered.
    """

    def __init__(self, records, tensors, chunk_bytes: int = 8 << 20):
        self.tensors = [(key, layer) for _, key, layer in tensors if layer.params[key].size]
        self.names = [(name, key) for name, key, layer in tensors if layer.params[key].size]
        sizes = [layer.params[key].size for key, layer in self.tensors]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        n = int(sum(sizes))
        self.columns = records.columns([(layer, key, m) for layer, key in self.names
                                        for m in TENSOR_METRICS]
                                       + [("model", "global", "grad_norm")])
        self._slices = [slice(a, a + size) for a, size in zip(self.offsets, sizes, strict=True)]
        self.records = records
        k = int(np.clip(chunk_bytes // max(1, 4 * 8 * n), 1, 256))
        self._grads, self._before, self._scratch = (np.empty((k, n)) for _ in range(3))
        self._after = np.empty((k + 1, n))  # row 0: parameters after the last flushed step
        self._init = self.flat_params(np.empty(n))
        self._after[0] = self._init
        self._rows = np.empty(k, np.intp)
        self._consecutive = np.zeros(k, bool)
        self._used = 0

    @property
    def size(self) -> int:
        """Number of tracked scalars."""
        return self._init.size

    def flat_params(self, out: np.ndarray) -> np.ndarray:
        """Copy every tracked parameter into the flat vector ``out``."""
        return np.concatenate([layer.params[key] for key, layer in self.tensors], axis=None,
                              out=out)

    def flat_grads(self, out: np.ndarray) -> np.ndarray:
        """Copy every tracked gradient into the flat vector ``out``."""
        return np.concatenate([layer.grads[key] for key, layer in self.tensors], axis=None,
                              out=out)

    def before_step(self, row: int, consecutive: bool) -> np.ndarray:
        """Buffer the gradients (and, unless ``consecutive``, the parameters); return the
        flat gradient row."""
        k = self._used
        self._rows[k], self._consecutive[k] = row, consecutive
        if not consecutive:
            self.flat_params(self._before[k])
        return self.flat_grads(self._grads[k])

    def after_step(self) -> np.ndarray:
        """Buffer the updated parameters; flush a full chunk. Returns the flat row."""
        k = self._used
        flat = self.flat_params(self._after[k + 1])
        self._used += 1
        if self._used == len(self._rows):
            self.flush()
        return flat

    def flush(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Compute and record the buffered steps.

        Returns
        -------
        (rows, bad_grads, bad_params) or None
            Record rows and boolean arrays (m, n_tensors): True where a gradient or
            parameter tensor holds a NaN/Inf; None if nothing was buffered.
        """
        m, self._used = self._used, 0
        if m == 0:
            return None
        after = self._after[1:m + 1]
        before = self._after[:m]
        if not self._consecutive[:m].all():
            before = np.where(self._consecutive[:m, None], before, self._before[:m])
        grad_sq = self._sum_squares(self._grads[:m])
        param_sq = self._sum_squares(after)
        update_sq = self._sum_squares(np.subtract(after, before, out=self._scratch[:m]))
        dist_sq = self._sum_squares(np.subtract(after, self._init, out=self._scratch[:m]))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.sqrt(update_sq / param_sq)
            values = np.stack([np.sqrt(grad_sq), np.sqrt(param_sq), np.sqrt(dist_sq), ratio],
                              axis=2).reshape(m, -1)
            global_norm = np.sqrt(grad_sq.sum(axis=1))
        rows = self._rows[:m].copy()
        self.records.put(rows, self.columns, np.concatenate([values, global_norm[:, None]], 1))
        bad = self._non_finite(self._grads[:m], grad_sq), self._non_finite(after, param_sq)
        self._after[0] = self._after[m]
        return rows, *bad

    def _non_finite(self, block: np.ndarray, sums: np.ndarray) -> np.ndarray:
        """Tensors of ``block`` rows holding NaN/Inf; a non-finite sum of squares is only a
        hint (squares above ~1e308 overflow), confirmed on the elements."""
        bad = ~np.isfinite(sums)
        if bad.any():
            bad &= ~np.logical_and.reduceat(np.isfinite(block), self.offsets, axis=1)
        return bad

    def _sum_squares(self, block: np.ndarray) -> np.ndarray:
        """Per-tensor sums of squares of each row of ``block`` (m, n) -> (m, n_tensors).

        Few tensors: one einsum per tensor (one read, no temporary); many: squares into
        the scratch buffer (``block`` may be that buffer) and one ``reduceat``.
        """
        if len(self._slices) <= 8:
            return np.stack([np.einsum("ij,ij->i", block[:, s], block[:, s])
                             for s in self._slices], axis=1)
        squares = np.square(block, out=self._scratch[:len(block)])
        return np.add.reduceat(squares, self.offsets, axis=1)

