"""Gradient norms, weight norms, distance from initialisation and update-to-weight ratios.

A recorded step reads the gradients in place (one BLAS ``np.dot`` per tensor). The
weight norm ``p.p`` and the distance from initialisation come from inner products of
the parameters ``p`` after the optimizer step with themselves and with the initial ones
``p0`` (a float64 copy made at the start), without forming difference vectors::

    ||p - p0||^2 = p.p - 2 p.p0 + p0.p0

In float64 this resolves distances down to about 1e-7 of the weight norm (smaller values
read as about that size or 0).

The update of a step comes from one of two sources:

* for float64 tensors of at least ``_ROW_BY_ROW`` elements, the optimizer's own report
  when it offers one (:mod:`diagnostics.optimizer_updates`): two inner products per
  tensor (``p.p``, ``p0.p``) and no copy;
* otherwise the change of the parameters between ``before_step`` (after backward, before
  the optimizer) and ``after_step``: each parameter is copied after the step into a
  preallocated (3, size) block per tensor whose rows are the parameters before the step,
  after it (the two rows take turns) and at initialisation; one BLAS matrix-vector
  product per tensor, ``block @ p`` (for large tensors three dot products, one per row),
  gives ``p.q`` (``q``: before), ``p.p`` and ``p.p0``, and ``||update||^2 = p.p - 2 p.q +
  q.q``, resolved like the distance. When the previous step was also recorded, the
  parameters copied after it serve as this step's "before", so recording every step
  copies the parameters once per step.

The sums go into a small preallocated chunk; norms and ratios are derived and recorded
per chunk.
"""

from __future__ import annotations

import numpy as np

from diagnostics.optimizer_updates import UpdateReports

__all__ = ["TENSOR_METRICS", "GradNorms", "ParamStats"]

#: Metrics written per parameter tensor, in this order.
TENSOR_METRICS = ("grad_norm", "weight_norm", "dist_from_init", "update_ratio")
#: From this many elements on, memory traffic outweighs the cost of a call: three dot
#: products (one per block row) stream faster than one 3-row matrix-vector product
#: (measured with OpenBLAS 0.3.31, 1 thread: 0.35 against 0.48 ms for a 784 x 512
#: weight), and an optimizer's update report (3 reads of the tensor's size, no copy)
#: beats the copy (5 reads and writes); below, fewer calls are faster.
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
    optimizer : object, optional
        The optimizer stepping the model; its update reports are used for the large
        float64 tensors when it offers them (``updates``:
        :class:`~diagnostics.optimizer_updates.UpdateReports`).

    Notes
    -----
    A tensor is flagged non-finite when its sum of squares is: a NaN/Inf element, or
    (far beyond any healthy run) elements above about 1e154, whose squares overflow.
    """

    def __init__(self, records, tensors, on_flags, chunk_rows: int = 128, optimizer=None):
        self.tensors, self.names = _nonempty(tensors)
        self.on_flags = on_flags
        self.columns = records.columns([(layer, key, m) for layer, key in self.names
                                        for m in TENSOR_METRICS]
                                       + [("model", "global", "grad_norm")])
        self.records = records
        self._large = np.array([layer.params[key].size >= _ROW_BY_ROW
                                and layer.params[key].dtype == np.float64
                                for key, layer in self.tensors], bool).reshape(-1)
        self._every = list(range(len(self.tensors)))  # tensors copied on a measured step
        self._small = [i for i in self._every if not self._large[i]]  # ... on a reported one
        large = np.flatnonzero(self._large)
        self.updates = UpdateReports(optimizer, [self.tensors[i] for i in large])
        self._ratio_columns = records.columns([(*self.names[i], "update_ratio")
                                               for i in large]) if large.size else None
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
        self._before, self._copied = 0, False  # _copied: the rows hold the last step's p
        # per step and tensor: g.g, row0.p, row1.p, init.p, and q.q (q: before) or, for a
        # large tensor on a step the optimizer reported, ||update||^2 (then the row that
        # holds p.p is that of the other tensors, the other row 0)
        self._sums = np.empty((chunk_rows, len(self.tensors), 5))
        self._rows = np.empty(chunk_rows, np.intp)
        self._after_row = np.empty(chunk_rows, np.intp)
        self._consecutive = np.empty(chunk_rows, bool)
        self._reported = np.empty(chunk_rows, bool)  # the large tensors' updates reported
        self._known = np.empty(chunk_rows, bool)  # False: their report went missing
        self._last_param_sq = self._init_sq.copy()
        self._used, self._current = 0, None

    def before_step(self, row: int, consecutive: bool) -> np.ndarray:
        """Sum the squared gradients; copy the parameters unless ``consecutive`` (and the
        last step's copies are at hand), or only the small ones when the optimizer is to
        report the update, which it is asked for here.

        Returns the step's sums, shape (n_tensors, 5); column 0 holds the squared
        gradient norms.
        """
        step, slots = self._step, self._slots[self._before]
        grad_squares(self.tensors, step[:, 0])
        reported = self.updates.state == "trusted"
        consecutive = consecutive and self._copied
        if not consecutive:
            for i in self._small if reported else self._every:
                layer, key, shaped, _, flat, _ = slots[i]
                shaped[...] = layer.params[key]
                step[i, 4] = np.dot(flat, flat)
        if reported or (self.updates.state == "trial" and not consecutive):
            self.updates.request()
        # buffered in after_step: a flush in between (records read mid-step) keeps them apart
        self._current = row, consecutive, reported
        return step

    def after_step(self) -> np.ndarray:
        """Take the inner products of the updated parameters (copying those whose update
        the optimizer does not report); return their squared norms, shape (n_tensors,)."""
        row, consecutive, reported = self._current
        self._before = now = self._before ^ 1
        self._copy_after(now, self._small if reported else self._every)
        known = True
        if reported:
            known = self._take_reports(now)
        elif self.updates.state == "trial" and not consecutive:
            reported = self._end_trial(now)
        self._copied = known  # a missing report leaves the large tensors' rows stale
        k = self._used
        self._sums[k] = self._step
        self._rows[k], self._after_row[k], self._consecutive[k] = row, now, consecutive
        self._reported[k], self._known[k] = reported, known
        self._used += 1
        if self._used == len(self._rows):
            self.flush()
        return self._step[:, 1 + now]

    def _take_reports(self, now: int) -> bool:
        """The large tensors' ``p.p`` (column ``1 + now``) and ``p0.p`` from the live
        parameters, their squared update norms (column 4) from the optimizer's report;
        False if it has none."""
        step = self._step
        for i in np.flatnonzero(self._large):
            key, layer = self.tensors[i]
            p = layer.params[key]
            step[i, 1 + now], step[i, 2 - now] = np.vdot(p, p), 0.0
            step[i, 3] = np.vdot(self._blocks[i][2], p)
        values = self.updates.read()
        if values is not None:
            step[self._large, 4] = values
        return values is not None

    def _end_trial(self, now: int) -> bool:
        """Compare the large tensors' measured updates (all copied on this first step) with
        the optimizer's report; if it is trusted, record the reported values (column 4)
        and return True."""
        step, large = self._step, self._large
        param_sq, before_sq = step[large, 1 + now], step[large, 4]
        with np.errstate(invalid="ignore", over="ignore"):
            values = self.updates.judge(_sq_distance(param_sq, step[large, 2 - now], before_sq),
                                        param_sq + before_sq)
        if values is not None:
            step[large, 4] = values
        return values is not None

    def update_source(self) -> str:
        """Where the update norms came from, in a few words (per group of tensors)."""
        large = [f"{layer}.{key}" for (layer, key), big in zip(self.names, self._large,
                                                                strict=True) if big]
        source = self.updates.describe()
        if not large or source == "measured from copies of the parameters":
            return "measured from copies of the parameters"
        others = "; the others measured from copies" if len(large) < len(self.names) else ""
        return f"{', '.join(large)}: {source}{others}"

    def _copy_after(self, now: int, tensors) -> None:
        """Copy the parameters of ``tensors`` (indices) into block row ``now``; put the
        inner products of each block with it into the step's sums (columns 1 to 3)."""
        slots = self._slots[now]
        for i in tensors:
            layer, key, shaped, block, flat, out = slots[i]
            shaped[...] = layer.params[key]
            if block is None:
                rows = self._blocks[i]
                out[0], out[1], out[2] = np.dot(rows[0], flat), np.dot(rows[1], flat), np.dot(
                    rows[2], flat)
            else:
                np.dot(block, flat, out=out)

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
            update_sq = np.where(self._reported[:m, None] & self._large, sums[..., 4],
                                 _sq_distance(param_sq, cross, before_sq))
            dist_sq = _sq_distance(param_sq, init_dot, self._init_sq)
            norms = np.sqrt(np.stack([grad_sq, param_sq, dist_sq, update_sq / param_sq],
                                     axis=2)).reshape(m, -1)
            global_norm = np.sqrt(grad_sq.sum(axis=1, keepdims=True))
        rows = self._rows[:m].copy()
        self.records.put(rows, self.columns, np.concatenate([norms, global_norm], axis=1))
        unknown = ~self._known[:m]
        if unknown.any():
            self.records.drop(rows[unknown], self._ratio_columns)
        self.on_flags(rows, ~np.isfinite(grad_sq), ~np.isfinite(param_sq))


def _sq_distance(a_sq, cross, b_sq):
    """``||a - b||^2 = a.a - 2 a.b + b.b`` from the inner products (rounding below 0
    clipped to 0)."""
    return np.maximum(a_sq - 2 * cross + b_sq, 0.0)


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
