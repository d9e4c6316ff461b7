"""Which elements and which random directions of a tensor a check perturbs (the ``mode``)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["MODES", "Selection", "rng_for", "select"]

MODES = ("auto", "full", "sample", "directional")
AUTO_FULL_LIMIT = 8     # "auto" checks tensors up to this size element by element
N_SAMPLES = 8           # elements drawn per tensor by "sample"
N_DIRECTIONS = 2        # random unit directions per tensor in "directional" mode
AUTO_SAMPLES = 1        # elements drawn by "auto" on larger tensors (they name the worst element)
AUTO_DIRECTIONS = 1     # directions added by "auto" on larger tensors (they see every element)


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
    ``AUTO_FULL_LIMIT`` elements, else ``AUTO_SAMPLES`` elements plus ``AUTO_DIRECTIONS``
    directions (the elements localise a bug, the direction sees every element at once).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    full = mode == "full" or (mode == "auto" and size <= AUTO_FULL_LIMIT)
    if full:
        return Selection(np.arange(size), np.empty((0, size)))
    n_elements = {"directional": 0, "auto": AUTO_SAMPLES}.get(mode, N_SAMPLES)
    n_elements = min(n_elements, size)
    n_directions = {"directional": N_DIRECTIONS, "auto": AUTO_DIRECTIONS}.get(mode, 0)
    elements = np.sort(rng.choice(size, n_elements, replace=False))
    return Selection(elements, _random_signs(rng, n_directions, size))


def _random_signs(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``n`` unit vectors of ``size`` random signs ``+-1/sqrt(size)``, shape (n, size)."""
    bits = np.unpackbits(np.frombuffer(rng.bytes(n * size // 8 + 1), np.uint8))[:n * size]
    scale = 1.0 / np.sqrt(size)
    return bits.reshape(n, size) * (2 * scale) - scale
