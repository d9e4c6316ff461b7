"""Which elements of a tensor may be perturbed together (the Curtis-Powell-Reid idea).

When changing slice ``j`` of a tensor along axis ``a`` changes only slice ``j`` of the output
along axis ``o`` (a Dense weight column and its output column, a sample and its output row,
any element of an elementwise layer), elements in different slices are perturbed together and
their effects are read back from their own output slices. :func:`detect_structure` establishes
such axis pairs with bit-coded probes through the engine (every pair of slices is separated
by at least one probe) and requires unchanged slices to stay exactly equal, so grouping is
used only where it is exact.
"""

from __future__ import annotations

from contextlib import closing

import numpy as np

from gradcheck.engine import Move, Part, Tensor, perturbed_outputs

__all__ = ["detect_structure", "expand", "group_elements", "region_sums"]


def _independent(tensor: Tensor, evaluate, y0: np.ndarray, axis: int, out_axis: int,
                 steps: np.ndarray, rng: np.random.Generator) -> bool:
    """True when perturbing slices of ``axis`` changes only the same slices of ``out_axis``."""
    shape = tensor.live.shape
    index = np.arange(shape[axis])
    jitter = steps * rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    chosen = [(index >> bit) & 1 == side for bit in range(int(np.ceil(np.log2(shape[axis]))))
              for side in (1, 0)]

    def move(mask_1d):   # built one at a time: a mask costs a tensor-sized array
        mask = np.zeros(shape, bool)
        np.moveaxis(mask, axis, 0)[mask_1d] = True
        return Move((Part(0, None, (jitter * mask).reshape(-1)),))

    outputs = perturbed_outputs([tensor], (move(c) for c in chosen), (1.0,), evaluate)
    with closing(outputs):   # stopping early restores the tensor at once
        for j, _, y in outputs:
            unchanged = np.flatnonzero(~chosen[j])
            if y.shape != y0.shape or not np.array_equal(
                    np.take(y, unchanged, axis=out_axis), np.take(y0, unchanged, axis=out_axis)):
                return False
    return True


def detect_structure(tensor: Tensor, evaluate, y0: np.ndarray, steps: np.ndarray,
                     rng: np.random.Generator, axes=None) -> list[tuple[int, int]]:
    """Axis pairs ``(tensor_axis, output_axis)`` along which slices act independently.

    Parameters
    ----------
    tensor : Tensor
        The tensor (alone: the engine perturbs it in place).
    evaluate : callable
        ``evaluate() -> output`` from the current contents of the tensor.
    y0 : ndarray
        Output at the unperturbed point.
    steps : ndarray, shape of ``tensor.live``
        Steps used for the probes (the same size as the real perturbations).
    rng : numpy Generator
    axes : iterable of (int, int), optional
        Candidate pairs; default every pair of equal, non-trivial sizes.
    """
    shape = tensor.live.shape
    if axes is None:
        axes = [(a, o) for a in range(len(shape)) for o in range(y0.ndim)
                if shape[a] == y0.shape[o] and shape[a] > 1]
    found: list[tuple[int, int]] = []
    for a, o in axes:
        if any(a == fa or o == fo for fa, fo in found):
            continue
        if _independent(tensor, evaluate, y0, a, o, steps, rng):
            found.append((a, o))
    return found


def group_elements(elements: np.ndarray, shape: tuple, structure) -> list[np.ndarray]:
    """Split flat indices into groups whose members lie in pairwise different slices."""
    if not structure or len(elements) == 0:
        return [elements[i:i + 1] for i in range(len(elements))]
    coords = np.unravel_index(elements, shape)
    key = np.ravel_multi_index([coords[a] for a, _ in structure], [shape[a] for a, _ in structure])
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    run_start = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
    run_id = np.cumsum(np.r_[False, np.diff(sorted_key) != 0])
    rank = np.empty(len(elements), int)
    rank[order] = np.arange(len(elements)) - run_start[run_id]
    by_rank = np.argsort(rank, kind="stable")
    return np.split(elements[by_rank], np.cumsum(np.bincount(rank))[:-1])


def region_sums(weighted: np.ndarray, elements: np.ndarray, shape: tuple, structure) -> np.ndarray:
    """Sum of ``weighted`` (an output-shaped array) over each element's output region."""
    if not structure:
        return np.full(len(elements), weighted.sum())
    out_axes = [o for _, o in structure]
    front = np.moveaxis(weighted, out_axes, range(len(out_axes)))
    sums = front.reshape(*front.shape[:len(out_axes)], -1).sum(axis=-1)
    coords = np.unravel_index(elements, shape)
    return sums[tuple(coords[a] for a, _ in structure)]


def expand(y: np.ndarray, y0: np.ndarray, elements: np.ndarray, shape: tuple,
           structure) -> np.ndarray:
    """Outputs of the individual perturbations of a group, shape (len(elements), *y0.shape)."""
    if not structure:
        return np.broadcast_to(y, (len(elements), *y.shape))
    out_axes = [o for _, o in structure]
    stacked = np.repeat(y0[None], len(elements), axis=0)   # C order: folds without a copy
    coords = np.unravel_index(elements, shape)
    where = (np.arange(len(elements)), *(coords[a] for a, _ in structure))
    front = np.moveaxis(stacked, [o + 1 for o in out_axes], range(1, len(out_axes) + 1))
    front[where] = np.moveaxis(y, out_axes, range(len(out_axes)))[where[1:]]
    return stacked
