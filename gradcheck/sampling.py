"""Which elements and which random directions of a tensor a check perturbs (the ``mode``)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

__all__ = [
    "AUTO_FULL_LIMIT",
    "MODES",
    "Selection",
    "locating",
    "random_signs",
    "rng_for",
    "select",
]

MODES = ("auto", "full", "sample", "directional")
AUTO_FULL_LIMIT = 8     # "auto" checks tensors up to this size element by element
N_SAMPLES = 8           # elements drawn per tensor by "sample"
N_DIRECTIONS = 2        # random unit directions per tensor in "directional" mode
AUTO_DIRECTIONS = 1     # directions of "auto" on larger tensors (they see every element)
AUTO_LOCATE_LIMIT = 100_000   # "auto" re-checks a failing tensor up to this size element by
                              # element, so the report names its worst element
AUTO_SAMPLES = 64       # elements "auto" draws from a larger failing tensor instead


@dataclass
class Selection:
    """Perturbations of one tensor.

    Attributes
    ----------
    elements : ndarray of int, shape (m,)
        Flat indices checked one by one (may be empty).
    directions : ndarray, shape (d, size)
        Random unit vectors (rows) checked as directional derivatives (may be empty):
        random signs ``+-1/sqrt(size)`` (Rademacher), cheap to draw and as good as Gaussian
        directions at exposing an error vector ``e`` (``E <e, u>^2 = |e|^2 / size``).
    """

    elements: np.ndarray
    directions: np.ndarray


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and the names of what it is for (reproducible per tensor)."""
    return np.random.default_rng((int(seed) % 2**32) << 32 | zlib.crc32("/".join(names).encode()))


def select(mode: str, size: int, rng: np.random.Generator) -> Selection:
    """Elements and directions of a tensor with ``size`` elements under ``mode``.

    ``"full"``: every element. ``"sample"``: ``N_SAMPLES`` random elements.
    ``"directional"``: ``N_DIRECTIONS`` random unit directions. ``"auto"``: full up to
    ``AUTO_FULL_LIMIT`` elements, else ``AUTO_DIRECTIONS`` random directions, which see every
    element at once; the caller re-checks a tensor whose direction does not pass element by
    element (:func:`locating`), so that the report names the worst element.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if mode == "full" or (mode == "auto" and size <= AUTO_FULL_LIMIT):
        return Selection(np.arange(size), np.empty((0, size)))
    if mode == "sample":
        return with_samples(Selection(np.arange(0), np.empty((0, size))), size, rng, N_SAMPLES)
    n_directions = N_DIRECTIONS if mode == "directional" else AUTO_DIRECTIONS
    return Selection(np.arange(0), _random_signs(rng, n_directions, size))


def with_samples(sel: Selection, size: int, rng: np.random.Generator, n: int) -> Selection:
    """``sel`` plus ``n`` random elements (sorted, without repeats) when it has none."""
    if len(sel.elements):
        return sel
    return Selection(np.sort(rng.choice(size, min(n, size), replace=False)), sel.directions)


def locating(sel: Selection, size: int, rng: np.random.Generator) -> Selection:
    """``sel`` plus the elements that locate a wrong gradient found along its directions.

    Every element up to ``AUTO_LOCATE_LIMIT`` (cheap: independent elements are perturbed
    together), so the worst one is named; ``AUTO_SAMPLES`` random elements above that.
    """
    if size <= AUTO_LOCATE_LIMIT and not len(sel.elements):
        return Selection(np.arange(size), sel.directions)
    return with_samples(sel, size, rng, AUTO_SAMPLES)


def random_signs(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``n`` rows of ``size`` random signs ``+-1`` (int8, 1 byte each), shape (n, size)."""
    signs = np.unpackbits(np.frombuffer(rng.bytes(n * size // 8 + 1), np.uint8)).view(np.int8)
    signs *= 2
    signs -= 1
    return signs[:n * size].reshape(n, size)


def _random_signs(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``n`` unit vectors of ``size`` random signs ``+-1/sqrt(size)``, shape (n, size)."""
    return np.multiply(random_signs(rng, n, size), 1.0 / np.sqrt(size), dtype=float)
