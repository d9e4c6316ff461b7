"""Gradient norms, weight norms, distance from initialisation and update-to-weight ratios.

A recorded step yields five sums per parameter tensor (the columns of :data:`SUMS`):
``g.g`` (the gradient, read in place after backward), ``p.p`` and ``p.p0`` (the
parameters ``p`` after the optimizer step, ``p0`` a float64 copy of the initial ones)
and two for the step's update ``u``: ``u.u`` (and 0) when the optimizer reported it, or
``p.q`` and ``q.q`` (``q``: the parameters before the step) when it was measured. Where
they come from is the business of
:class:`~diagnostics.param_stats.ParamStats`: copies of the parameters
(:mod:`diagnostics.param_copies`) or the optimizer's reports
(:mod:`diagnostics.optimizer_updates`). Here they are buffered in chunks and the norms
derived without forming difference vectors::

    ||p - p0||^2 = p.p - 2 p.p0 + p0.p0,    ||u||^2 = ||p - q||^2 = p.p - 2 p.q + q.q

which in float64 resolves distances down to about 1e-7 of the weight norm (smaller
values read as about that size or 0). Non-finite tensors are flagged from the sums
(a NaN/Inf element makes its sum of squares non-finite), without another pass.

``p.p0`` is the one sum that reads a whole array nothing else in the step touches (the
initial copy ``p0``, from memory every time), so it is taken on a sparser schedule
(:class:`diagnostics.schedule.DistanceSchedule`; a step without it records no
``dist_from_init``). The distance is smooth: by the triangle inequality it changes
between two records by at most the sum of the update norms in between,
``| ||p_t - p0|| - ||p_s - p0|| | <= sum_{s<r<=t} ||u_r||``, which every recorded step
records (its update ratio times its weight norm).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MEASURED", "REPORTED", "SUMS", "TENSOR_METRICS", "UNKNOWN", "GradNorms",
           "ParamNormChunks", "grad_squares", "nonempty", "sq_distance"]

#: Metrics written per parameter tensor, in this order.
TENSOR_METRICS = ("grad_norm", "weight_norm", "dist_from_init", "update_ratio")
#: The sums of a recorded step per tensor, the columns of a step's (n_tensors, 5) array:
#: the last two are ``u.u`` and 0 (reported) or ``p.q`` and ``q.q`` (measured);
#: ``init_dot`` (``p.p0``) only on the steps of a ``schedule.DistanceSchedule``.
SUMS = ("grad_sq", "param_sq", "init_dot", "update_a", "update_b")
#: How a step's update norms are known (:meth:`ParamNormChunks.add`).
REPORTED, MEASURED, UNKNOWN = 0, 1, 2


def nonempty(tensors):
    """``[(key, layer)]`` and ``[(layer_name, key)]`` of the tensors with elements.

    Parameters
    ----------
    tensors : list of tuple (layer_name, key, layer)
    """
    tensors = [(name, key, layer) for name, key, layer in tensors if layer.params[key].size]
    return [(key, layer) for _, key, layer in tensors], [(name, key) for name, key, _ in tensors]


def grad_squares(tensors, out) -> None:
    """``out[i] = g.g`` for the gradient ``g = layer.grads[key]`` of each ``(key, layer)``."""
    for i, (key, layer) in enumerate(tensors):
        g = layer.grads[key]
        out[i] = np.vdot(g, g)


def sq_distance(a_sq, cross, b_sq):
    """``||a - b||^2 = a.a - 2 a.b + b.b`` from the inner products (rounding below 0
    clipped to 0)."""
    return np.maximum(a_sq - 2 * cross + b_sq, 0.0)


class ParamNormChunks:
    """Recorded steps' sums (:data:`SUMS`), buffered; their norms derived and recorded
    per chunk.

    Parameters
    ----------
    records : Records
        Where the values go (columns registered here: :data:`TENSOR_METRICS` per tensor,
        then the global ``grad_norm``).
    names : list of tuple (layer_name, key)
        The tensors, in the order of the sums' rows.
    init_sq : numpy.ndarray, shape (n_tensors,)
        ``p0.p0`` per tensor.
    on_flags : callable (rows, bad_grads, bad_params) -> None
        Called at each flush with the record rows (m,) and boolean arrays (m, n_tensors):
        True where a gradient or parameter tensor (``names[j]``) was non-finite.
    chunk_rows : int
        Recorded steps buffered before norms are derived.

    Notes
    -----
    A tensor is flagged non-finite when its sum of squares is: a NaN/Inf element, or
    (far beyond any healthy run) elements above about 1e154, whose squares overflow.
    """

    def __init__(self, records, names, init_sq, on_flags, chunk_rows: int = 128):
        self.records, self.on_flags, self._init_sq = records, on_flags, init_sq
        self.columns = records.columns([(layer, key, m) for layer, key in names
                                        for m in TENSOR_METRICS]
                                       + [("model", "global", "grad_norm")])
        self._ratio_columns = records.columns([(*name, "update_ratio") for name in names])
        self._dist_columns = records.columns([(*name, "dist_from_init") for name in names])
        self._sums = np.empty((chunk_rows, len(names), len(SUMS)))
        self._rows = np.empty(chunk_rows, np.intp)
        self._update = np.empty(chunk_rows, np.int8)  # REPORTED, MEASURED or UNKNOWN
        self._distance = np.empty(chunk_rows, bool)  # init_dot taken
        self._used = 0

    def add(self, row: int, sums: np.ndarray, update: int, distance: bool = True) -> None:
        """Buffer the ``sums`` (n_tensors, 5) of the step in record ``row``; ``update``:
        how its update norms are known (:data:`REPORTED`, :data:`MEASURED`, or
        :data:`UNKNOWN`: its update ratios are not recorded); ``distance``: whether its
        ``init_dot`` was taken (else it records no ``dist_from_init``)."""
        k = self._used
        self._sums[k], self._rows[k], self._update[k] = sums, row, update
        self._distance[k] = distance
        self._used = k + 1
        if self._used == len(self._rows):
            self.flush()

    def flush(self) -> None:
        """Derive and record the norms of the buffered steps; pass their flags to
        ``on_flags``."""
        m, self._used = self._used, 0
        if m == 0:
            return
        grad_sq, param_sq, init_dot, update_a, update_b = np.moveaxis(self._sums[:m], 2, 0)
        update = self._update[:m, None]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            update_sq = np.where(update == REPORTED, update_a,
                                 sq_distance(param_sq, update_a, update_b))
            dist_sq = sq_distance(param_sq, init_dot, self._init_sq)
            norms = np.sqrt(np.stack([grad_sq, param_sq, dist_sq, update_sq / param_sq],
                                     axis=2)).reshape(m, -1)
            global_norm = np.sqrt(grad_sq.sum(axis=1, keepdims=True))
        rows = self._rows[:m].copy()
        self.records.put(rows, self.columns, np.concatenate([norms, global_norm], axis=1))
        for missing, columns in ((self._update[:m] == UNKNOWN, self._ratio_columns),
                                 (~self._distance[:m], self._dist_columns)):
            if missing.any():
                self.records.drop(rows[missing], columns)
        self.on_flags(rows, ~np.isfinite(grad_sq), ~np.isfinite(param_sq))


class GradNorms:
    """Recorder of the gradient norms alone (per tensor and global), for the steps that a
    Monitor records nothing else on (``grad_norms_every_step=True``).

    Parameters
    ----------
    records : Records
        Where the values go: the ``grad_norm`` series of :class:`ParamNormChunks`.
    tensors : list of tuple (layer_name, key, layer)
        The tracked tensors (``layer.grads[key]`` read afresh on every step).
    on_flags : callable (rows, bad_grads, bad_params) -> None
        As for :class:`ParamNormChunks` (``bad_params`` all False: parameters are not read).
    chunk_rows : int
        Steps whose sums are buffered before the norms are stored.
    """

    def __init__(self, records, tensors, on_flags, chunk_rows: int = 256):
        self.tensors, names = nonempty(tensors)
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
