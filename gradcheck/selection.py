"""Which elements and random directions of a tensor a check perturbs, and how to name them."""

from __future__ import annotations

import functools
import itertools
import math
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["AUTO_FULL_LIMIT", "AUTO_LOCATE_LIMIT", "Selection", "element_label",
           "random_directions", "random_directions_of", "random_float32", "rng_for", "select"]

AUTO_FULL_LIMIT = 8           # "auto" checks tensors up to this size element by element
AUTO_LOCATE_LIMIT = 100_000   # "auto" locates a wrong element by checking every element up to
                              # this size, by bisection over random directions above it
N_SAMPLES = 8                 # elements drawn per tensor by "sample"
N_DIRECTIONS = 2              # random unit directions per tensor in "directional" mode


@dataclass(frozen=True)
class Selection:
    """Perturbations of one tensor.

    Attributes
    ----------
    elements : ndarray of int, shape (m,)
        Flat indices checked one by one (sorted; may be empty).
    n_directions : int
        Random unit directions (:func:`random_directions`) checked as directional
        derivatives.
    """

    elements: np.ndarray
    n_directions: int = 0


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and the names of what it is for (reproducible per tensor).

    SFC64 bits: a check draws directions and moves over every element of its large tensors,
    and SFC64 fills them about 1.8x faster than numpy's default PCG64.
    """
    key = (int(seed) % 2**32) << 32 | zlib.crc32("/".join(names).encode())
    return np.random.Generator(np.random.SFC64(_seed_sequence(key)))


@functools.lru_cache(maxsize=1024)
def _seed_sequence(key: int) -> np.random.SeedSequence:
    """The seed sequence of ``key``, hashed once (5 of the 14 us a generator costs): it is
    only read (``generate_state``), never spawned from, so one serves every generator."""
    return np.random.SeedSequence(key)


def select(mode: str, size: int, rng: np.random.Generator) -> Selection:
    """Elements and directions of a tensor with ``size`` elements under ``mode``.

    ``"full"``: every element. ``"sample"``: ``N_SAMPLES`` random elements.
    ``"directional"``: ``N_DIRECTIONS`` random directions. ``"auto"``: every element up to
    ``AUTO_FULL_LIMIT`` elements, else one random direction, which sees every element at once
    (the plan locates the element of a direction that does not pass).
    """
    if mode == "full" or (mode == "auto" and size <= AUTO_FULL_LIMIT):
        return Selection(np.arange(size))
    if mode == "sample":
        return Selection(np.sort(rng.choice(size, min(N_SAMPLES, size), replace=False)))
    return Selection(np.arange(0), N_DIRECTIONS if mode == "directional" else 1)


def random_float32(rng: np.random.Generator, shape, signed: bool = False) -> np.ndarray:
    """Random float32 of ``shape``, uniform in [1, 2) (each of the 2**23 values of that
    binade equally likely), or with a random sign (``signed``): +-[1, 2).

    32 bits of ``rng``'s bit generator (``random_raw``) per value are masked in place: the
    lowest 23 become the mantissa, the highest the sign (when ``signed``), and the exponent
    is that of 1.0. Two passes over the words and no temporary: about half the time of
    ``rng.random(dtype=np.float32)``, which draws and converts one value at a time.
    """
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(shape)
    n = math.prod(shape)
    words = rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
    words &= np.uint32(0x807FFFFF if signed else 0x007FFFFF)   # the sign and the mantissa
    words |= np.uint32(0x3F800000)                              # the exponent of 1.0
    return words.view(np.float32).reshape(shape)


def _unit(drawn: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``drawn`` (float32, one dimension) scaled to unit length into ``out`` (float64, its
    shape): one pass, the widening included. Its norm is taken in float32, good to about
    1e-6: the vector is unit to that, and what a check computes from it (projections,
    steps) uses the vector itself."""
    np.multiply(drawn, 1 / math.sqrt(float(np.dot(drawn, drawn))), out=out)
    return out


def random_directions(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``n`` random unit vectors of ``size`` components, shape (n, size), float64: random
    signs times magnitudes uniform in [1, 2) (exact float32 draws: two given components
    tie in magnitude only about once in eight million), normalised.

    Continuous, so an error vector with a few equal entries (a one-hot off by one class, one
    wrong row) has no chance of an exact zero projection (random signs alone give it a fair
    one); bounded away from 0, so every element weighs in (bisection relies on it).
    """
    drawn = random_float32(rng, (n, size), signed=True)
    directions = np.empty((n, size))
    for row, out in zip(drawn, directions, strict=True):
        _unit(row, out)
    return directions


def random_directions_of(rng: np.random.Generator, sizes) -> list[np.ndarray]:
    """One random unit vector per size in ``sizes`` (as :func:`random_directions`), drawn
    together: views of one array, shapes ``(size,)``."""
    sizes = [int(n) for n in sizes]
    if not sizes:
        return []
    if min(sizes) < 1:
        raise ValueError(f"random_directions_of: every size must be at least 1, got {sizes}")
    drawn = random_float32(rng, sum(sizes), signed=True)
    out = np.empty(drawn.size)
    ends = list(itertools.accumulate(sizes))
    return [_unit(drawn[end - n:end], out[end - n:end])
            for n, end in zip(sizes, ends, strict=True)]


def element_label(flat: int, shape: tuple) -> str:
    """The report's name of an element: its index tuple, e.g. ``"(2, 0)"``."""
    return str(tuple(int(i) for i in np.unravel_index(int(flat), shape)))
