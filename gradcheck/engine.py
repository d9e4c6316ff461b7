"""The numeric engine: the one loop that perturbs tensors, evaluates, and restores them.

Every finite difference gradcheck takes, and every structure probe, goes through
:func:`perturbed_outputs`: element groups, random directions of one tensor, joint directions
over several tensors, the masks that test which slices act independently, and the raw
:func:`numerical_gradient`. Perturbations are written in place into the arrays the
computation reads and undone by writing back the saved values, so the user's arrays end bit
for bit as they started (also when the computation raises or the consumer stops early).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from gradcheck.finite_diff import default_eps, estimate, stencil, step_floor, step_sizes

__all__ = ["Move", "Part", "Tensor", "measure", "numerical_gradient", "perturbed_outputs"]


class Tensor(NamedTuple):
    """A tensor a computation reads, and that the engine may perturb.

    Attributes
    ----------
    name : str
        ``"input"``, ``"input<i>"`` or a parameter key.
    live : ndarray
        The very array the computation reads (perturbed in place, restored exactly).
    install : callable, optional
        ``install(array) -> undo``: make the computation read ``array`` instead (the complex
        step needs a complex copy); None when that is impossible.
    """

    name: str
    live: np.ndarray
    install: Callable[[np.ndarray], Callable[[], None]] | None = None


class Part(NamedTuple):
    """The displacement of one tensor in a move: ``t[index] += offset * scale * step``.

    ``index`` is an array of flat indices (``step`` of the same length) or None for the
    whole tensor (``step`` of its size, e.g. a random direction). A named tuple: a check
    builds one per tensor of every joint direction, and a tuple costs a third of a frozen
    dataclass to build.
    """

    tensor: int
    index: np.ndarray | None
    step: np.ndarray
    scale: float = 1.0


class Move(NamedTuple):
    """One perturbation: parts over one or more tensors, moved together."""

    parts: tuple[Part, ...]
    size: int = 1   # elements it stands for (progress)


def perturbed_outputs(tensors: Sequence[Tensor], moves: Iterable[Move], offsets,
                      evaluate: Callable[[], np.ndarray],
                      progress=None) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(j, k, output)``: ``evaluate()`` with move ``j`` applied at offset ``k``.

    ``output`` is a private copy (a layer may reuse its buffer). A complex offset
    (complex step) makes the moved tensors complex for the duration. numpy's floating-point
    warnings are off meanwhile: a step that leaves the function's domain (a log of a
    negative) is the check's to judge, not a warning from the user's code.
    """
    central = 1.0 in offsets and -1.0 in offsets
    with _working_arrays(tensors, any(isinstance(s, complex) for s in offsets)) as arrays:
        for j, move in enumerate(moves):
            saved = [_values(arrays[p.tensor], p.index) for p in move.parts]
            shifts = [_shift(p) if central else None for p in move.parts]
            try:
                for k, offset in enumerate(offsets):
                    for part, original, shift in zip(move.parts, saved, shifts, strict=True):
                        _displace(arrays[part.tensor], part, offset, original, shift)
                    yield j, k, _evaluated(evaluate, isinstance(offset, complex))
            finally:
                for part, original in zip(move.parts, saved, strict=True):
                    _write(arrays[part.tensor], part.index, original)
            if progress is not None:
                progress.update(move.size)


def _evaluated(evaluate, complex_step: bool) -> np.ndarray:
    """A private copy of ``evaluate()``; a clear error when a complex step is refused."""
    try:
        with np.errstate(all="ignore"):
            return np.array(evaluate(), copy=True)
    except (TypeError, ValueError) as exc:
        if not complex_step:
            raise
        raise TypeError("method='complex_step' needs a forward that accepts complex values; "
                        f"an imaginary step raised {type(exc).__name__}: {exc}") from exc


def measure(tensors, moves, offsets, evaluate, reduce, progress=None) -> np.ndarray:
    """``reduce(j, output)`` for every move and offset, stacked: shape (n_offsets, n_moves, ...).

    ``reduce`` returns an array of the same shape for every move (e.g. one objective change
    per element of a group and per objective).
    """
    out = None
    for j, k, y in perturbed_outputs(tensors, moves, offsets, evaluate, progress):
        value = np.asarray(reduce(j, y))
        if out is None:
            out = np.zeros((len(offsets), len(moves), *value.shape), value.dtype)
        out[k, j] = value
    return out


def _at(array: np.ndarray, index):
    """``(target, key)`` addressing the flat ``index`` of ``array`` (a flat view if possible)."""
    if array.flags.c_contiguous:
        return array.reshape(-1), index
    return array, np.unravel_index(index, array.shape)


def _values(array: np.ndarray, index) -> np.ndarray:
    if index is None:
        return array.copy()
    target, key = _at(array, index)
    return target[key]


def _write(array: np.ndarray, index, values: np.ndarray) -> None:
    if index is None:
        np.copyto(array, values)
    else:
        target, key = _at(array, index)
        target[key] = values


def _shift(part: Part) -> np.ndarray | None:
    """``scale * step`` of a part over a whole tensor, for its offsets to share (one pass
    less per offset); None for elements."""
    return part.step * part.scale if part.index is None else None


def _displace(array: np.ndarray, part: Part, offset, original: np.ndarray,
              shift: np.ndarray | None = None) -> None:
    """``array[index] = original + offset * scale * step`` (exact for elements, whose steps
    are powers of two; a direction's step is what the arithmetic gives). ``shift``
    (:func:`_shift`) gives ``original +- shift`` for the offsets +-1 in one pass, the same
    values: a product's rounding does not depend on the sign."""
    if part.index is not None:
        _write(array, part.index, original + (offset * part.scale) * part.step)
    elif shift is not None and offset in (1.0, -1.0):
        (np.add if offset > 0 else np.subtract)(original, shift.reshape(array.shape), out=array)
    else:
        np.multiply(part.step.reshape(array.shape), offset * part.scale, out=array)
        array += original


@contextmanager
def _working_arrays(tensors: Sequence[Tensor], complex_step: bool):
    """The arrays to perturb: the live ones, or installed complex copies."""
    if not complex_step:
        yield [t.live for t in tensors]
        return
    copies, undos = [], []
    try:
        for t in tensors:
            if t.install is None:
                raise TypeError(f"method='complex_step' cannot perturb {t.name!r}: gradcheck "
                                "cannot make the computation read a complex copy of it")
            copies.append(t.live.astype(complex))
            undos.append(t.install(copies[-1]))
        yield copies
    finally:
        for undo in undos:
            undo()


def numerical_gradient(f: Callable[[np.ndarray], float], x, method: str = "central",
                       eps: float | None = None) -> np.ndarray:
    """Finite-difference gradient of a scalar function, element by element.

    Parameters
    ----------
    f : callable
        ``f(x) -> float`` (complex for ``method="complex_step"``).
    x : array_like of float, any shape
        Point of evaluation; never modified (``f`` receives a working copy of it, perturbed
        in place between calls).
    method : {"central", "forward", "richardson", "complex_step"}
        For central and forward differences the half-step refinement is included.
    eps : float, optional
        Relative step; default :func:`gradcheck.finite_diff.default_eps` of ``x``'s dtype.

    Returns
    -------
    ndarray, shape of ``x``, float64
        ``df/dx`` at ``x``.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"numerical_gradient: x must be a float array, got dtype {x.dtype}")
    st = stencil(method)
    eps = default_eps(x.dtype, method) if eps is None else float(eps)
    work = np.array(x, copy=True)
    box = [work]

    def install(array):
        box[0] = array
        return lambda: box.__setitem__(0, work)

    steps = step_sizes(x.reshape(-1), eps, step_floor(x, eps))
    f0 = 0.0 if st.complex else f(work)
    moves = [Move((Part(0, np.array([i]), steps[i:i + 1]),)) for i in range(x.size)]
    deltas = measure([Tensor("x", work, install)], moves, st.offsets,
                     lambda: np.asarray(f(box[0])), lambda _j, y: y - f0)
    return estimate(deltas, st.offsets, steps).value.reshape(x.shape)
