"""A recorded step's sums measured from copies of the parameters.

Each parameter tensor has a preallocated float64 block of three rows: the parameters
before the step and after it (rows 0 and 2, taking turns) and at initialisation (row 1,
so that the products come out in the order of the sums or its reverse). After the step
the parameters are copied into the "after" row and one BLAS matrix-vector product,
``block @ p`` (for large tensors three dot products, one per row, the one with the
initial row only on the steps that take the distance), gives ``p.p``,
``p.p0`` and ``p.q`` (``q``: before); the update follows as ``||p - q||^2 = p.p - 2 p.q + q.q``,
resolved like the distance from initialisation (``diagnostics.norms``). Before the step
the parameters are copied into the "before" row, unless the previous step was recorded
here too: then its "after" row serves, so recording every step copies the parameters
once per step. This works with any optimizer, or none, and with weights changed by
anything else.
"""

from __future__ import annotations

import numpy as np

from diagnostics.norms import grad_squares

__all__ = ["ROW_BY_ROW", "CopiedSums"]

#: From this many elements on, memory traffic outweighs the cost of a call: three dot
#: products (one per block row) stream faster than one 3-row matrix-vector product
#: (measured with OpenBLAS 0.3.31, 1 thread: 0.35 against 0.48 ms for a 784 x 512
#: weight); below, fewer calls are faster.
ROW_BY_ROW = 1 << 15


class CopiedSums:
    """The sums (``diagnostics.norms.SUMS``) of recorded steps, from copies of the
    parameters.

    Parameters
    ----------
    tensors : list of tuple (key, layer)
        The tensors ``layer.params[key]`` and ``layer.grads[key]``, read afresh on every
        recorded step (so replaced arrays are followed).

    Attributes
    ----------
    init : list of numpy.ndarray
        The float64 copies of the initial parameters, each shaped like its parameter.
    init_sq : numpy.ndarray, shape (n_tensors,)
        ``p0.p0`` per tensor.
    before_sq : numpy.ndarray, shape (n_tensors,)
        ``q.q`` per tensor, of the parameters before the current (or last) step.
    fresh : bool
        The "after" rows hold the parameters after the last recorded step (False when a
        step was recorded otherwise: then the next step copies them before it).
    """

    def __init__(self, tensors):
        self.tensors = tensors
        self._blocks = [np.stack([layer.params[key].reshape(-1)] * 3).astype(np.float64,
                                                                              copy=False)
                        for key, layer in tensors]
        shapes = [layer.params[key].shape for key, layer in tensors]
        self.init = [block[1].reshape(shape) for block, shape in zip(self._blocks, shapes,
                                                                     strict=True)]
        self.init_sq = np.array([np.dot(block[1], block[1]) for block in self._blocks])
        self._dots = np.empty((len(tensors), 3))  # per tensor: row0.p, init.p, row2.p
        # per block row r in (0, 2) and tensor: row r shaped like the parameter, the block
        # (None when its rows are multiplied one by one), row r flat, where the dots go
        self._slots = [[(block[r].reshape(shape), None if block.shape[1] >= ROW_BY_ROW
                         else block, block[r], out)
                        for block, shape, out in zip(self._blocks, shapes, self._dots,
                                                     strict=True)]
                       for r in (0, 2)]
        self.before_sq = np.empty(len(tensors))  # q.q
        self._before, self.fresh = 0, False

    def before_step(self, sums: np.ndarray, consecutive: bool) -> None:
        """Put the squared gradient norms into ``sums[:, 0]`` and keep the parameters
        before the step (copied, unless ``consecutive`` and :attr:`fresh`)."""
        grad_squares(self.tensors, sums[:, 0])
        if consecutive and self.fresh:
            self.before_sq[:] = self._dots[:, self._before]  # p.p after the last step
            return
        for i, (key, layer) in enumerate(self.tensors):
            shaped, _, flat, _ = self._slots[self._before // 2][i]
            shaped[...] = layer.params[key]
            self.before_sq[i] = np.dot(flat, flat)

    def after_step(self, sums: np.ndarray, distance: bool = True) -> None:
        """Copy the updated parameters; put ``p.p``, ``p.p0``, ``p.q`` and ``q.q`` into
        ``sums[:, 1:]`` (the last two meaningless unless :meth:`before_step` ran for this
        step; ``p.p0`` NaN for the tensors multiplied row by row unless ``distance``)."""
        now = 2 - self._before
        for (key, layer), (shaped, block, flat, out), rows in zip(
                self.tensors, self._slots[now // 2], self._blocks, strict=True):
            shaped[...] = layer.params[key]
            if block is None:
                out[0], out[2] = np.dot(rows[0], flat), np.dot(rows[2], flat)
                out[1] = np.dot(rows[1], flat) if distance else np.nan
            else:
                np.dot(block, flat, out=out)
        sums[:, 1:4] = self._dots if now == 0 else self._dots[:, ::-1]
        sums[:, 4] = self.before_sq
        self._before, self.fresh = now, True
