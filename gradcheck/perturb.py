"""Perturb one tensor and recompute an output: in place with exact restore, in vectorised groups.

A :class:`Slot` is a tensor that some computation reads (a layer input, a parameter, a
function argument). Perturbations are applied in place and undone by writing back the saved
values, so the user's arrays end bit for bit as they started.

Grouping (the Curtis-Powell-Reid idea): when changing slice ``j`` of the tensor along axis
``a`` changes only slice ``j`` of the output along axis ``o`` (a Dense weight column and its
output column, a sample and its output row, any element of an elementwise layer), elements in
different slices are perturbed together and their effects are read back from their own output
slices. :func:`detect_structure` establishes such axis pairs with bit-coded probes (every pair
of slices is separated by at least one probe) and requires unchanged slices to stay exactly
equal, so grouping is used only where it is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["Slot", "detect_structure", "expand", "group_elements", "region_sums", "sweep"]


@dataclass
class Slot:
    """A tensor to perturb.

    Attributes
    ----------
    name : str
        Tensor name (``"input"`` or a parameter key).
    live : ndarray
        The array ``run`` reads; perturbed in place and restored exactly.
    run : callable
        ``run() -> output``: recompute the output from the current contents of ``live``.
    install : callable
        ``install(array) -> undo``: make ``run`` read ``array`` instead (complex step).
    is_input : bool
        The tensor is the layer's input (its gradient is what ``backward`` returns).
    pristine : ndarray or None
        An array equal to ``live`` that nothing changes (restores ``live`` without a copy).
    """

    name: str
    live: np.ndarray
    run: Callable[[], np.ndarray]
    install: Callable[[np.ndarray], Callable[[], None]]
    is_input: bool = False
    pristine: np.ndarray | None = None

    def output(self) -> np.ndarray:
        """``run()`` as a private float/complex array (the layer may reuse its buffer)."""
        return np.array(self.run(), copy=True)


def _probe_pair(slot: Slot, y0: np.ndarray, axis: int, out_axis: int,
                steps: np.ndarray, rng: np.random.Generator) -> bool:
    """True when perturbing slices of ``axis`` changes only the same slices of ``out_axis``."""
    m = slot.live.shape[axis]
    index = np.arange(m)
    saved = slot.live.copy()
    jitter = steps * rng.uniform(0.5, 1.5, steps.shape) * rng.choice([-1.0, 1.0], steps.shape)
    try:
        for bit in range(int(np.ceil(np.log2(m)))):
            for chosen in ((index >> bit) & 1 == 1, (index >> bit) & 1 == 0):
                mask = np.zeros(slot.live.shape, bool)
                np.moveaxis(mask, axis, 0)[chosen] = True
                np.copyto(slot.live, saved + jitter * mask)   # overwrites the previous probe
                y = slot.output()
                if y.shape != y0.shape or not np.array_equal(
                        np.take(y, np.flatnonzero(~chosen), axis=out_axis),
                        np.take(y0, np.flatnonzero(~chosen), axis=out_axis)):
                    return False
    finally:
        np.copyto(slot.live, saved)
    return True


def detect_structure(slot: Slot, y0: np.ndarray, steps: np.ndarray,
                     rng: np.random.Generator, axes=None) -> list[tuple[int, int]]:
    """Axis pairs ``(tensor_axis, output_axis)`` along which slices act independently.

    Parameters
    ----------
    slot : Slot
    y0 : ndarray
        Output at the unperturbed point.
    steps : ndarray, shape of ``slot.live``
        Steps used for the probes (the same size as the real perturbations).
    rng : numpy Generator
    axes : iterable of (int, int), optional
        Candidate pairs; default every pair of equal, non-trivial sizes.
    """
    shape = slot.live.shape
    if axes is None:
        axes = [(a, o) for a in range(len(shape)) for o in range(y0.ndim)
                if shape[a] == y0.shape[o] and shape[a] > 1]
    found: list[tuple[int, int]] = []
    for a, o in axes:
        if any(a == fa or o == fo for fa, fo in found):
            continue
        if _probe_pair(slot, y0, a, o, steps, rng):
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
    lead = list(range(1, len(out_axes) + 1))
    stacked = np.repeat(np.moveaxis(y0, out_axes, range(len(out_axes)))[None],
                        len(elements), axis=0)
    coords = np.unravel_index(elements, shape)
    where = (np.arange(len(elements)), *(coords[a] for a, _ in structure))
    stacked[where] = np.moveaxis(y, out_axes, range(len(out_axes)))[where[1:]]
    return np.moveaxis(stacked, lead, [o + 1 for o in out_axes])


def sweep(slot: Slot, groups: list[np.ndarray], group_steps: list[np.ndarray],
          directions: np.ndarray, dir_steps: np.ndarray, offsets,
          progress=None) -> Iterator[tuple[str, int, int, np.ndarray]]:
    """Yield ``(kind, j, k, output)`` for group/direction ``j`` at stencil offset ``k``.

    ``groups`` are flat element indices perturbed together, ``group_steps[j]`` the steps of
    ``groups[j]``; ``directions`` are unit vectors (rows), ``dir_steps`` their steps.
    ``kind`` is ``"group"`` or ``"direction"``. ``live`` is restored exactly after each
    evaluation (also when the consumer stops early or the computation raises).
    """
    complex_step = any(isinstance(s, complex) for s in offsets)
    live = slot.live.astype(complex) if complex_step else slot.live
    undo = slot.install(live) if complex_step else (lambda: None)
    try:
        for j, (group, steps) in enumerate(zip(groups, group_steps, strict=True)):
            where = np.unravel_index(group, live.shape)
            saved = live[where].copy()
            for k, offset in enumerate(offsets):
                live[where] = saved + offset * steps
                try:
                    yield "group", j, k, slot.output()
                finally:
                    live[where] = saved
            if progress is not None:
                progress.update(len(group))
        saved = live.copy() if len(directions) else None
        for j, direction in enumerate(directions):
            for k, offset in enumerate(offsets):
                np.multiply(direction.reshape(live.shape), offset * dir_steps[j], out=live)
                live += saved
                try:
                    yield "direction", j, k, slot.output()
                finally:
                    np.copyto(live, saved)
    finally:
        undo()
