"""Which elements and which random directions of a tensor a check perturbs (the ``mode``)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["MODES", "Selection", "rng_for", "select"]

MODES = ("auto", "full", "sample", "directional")
AUTO_FULL_LIMIT = 128   # "auto" checks tensors up to this size element by element
N_SAMPLES = 8           # elements drawn per tensor by "sample" (and "auto" on large tensors)
N_DIRECTIONS = 2        # random unit directions per tensor in "directional" mode
AUTO_DIRECTIONS = 1     # directions added by "auto" on large tensors


@dataclass
class Selection:
    """Perturbations of one tensor.

    Attributes
    ----------
    elements : ndarray of int, shape (m,)
        Flat indices checked one by one (may be empty).
    directions : ndarray, shape (d, size)
        Random unit vectors (rows) checked as directional derivatives (may be empty).
    """

    elements: np.ndarray
    directions: np.ndarray


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and the names of what it is for (reproducible per tensor)."""
    return np.random.default_rng([int(seed), *(zlib.crc32(n.encode()) for n in names)])


def select(mode: str, size: int, rng: np.random.Generator) -> Selection:
    """Elements and directions of a tensor with ``size`` elements under ``mode``.

    ``"full"``: every element. ``"sample"``: ``N_SAMPLES`` random elements.
    ``"directional"``: ``N_DIRECTIONS`` random unit directions. ``"auto"``: full up to
    ``AUTO_FULL_LIMIT`` elements, else ``N_SAMPLES`` elements plus ``AUTO_DIRECTIONS``
    directions (the elements localise a bug, the direction sees every element at once).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    full = mode == "full" or (mode == "auto" and size <= AUTO_FULL_LIMIT)
    if full:
        return Selection(np.arange(size), np.empty((0, size)))
    n_elements = 0 if mode == "directional" else min(N_SAMPLES, size)
    n_directions = {"directional": N_DIRECTIONS, "auto": AUTO_DIRECTIONS}.get(mode, 0)
    elements = np.sort(rng.choice(size, n_elements, replace=False))
    directions = rng.standard_normal((n_directions, size))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return Selection(elements, directions)
