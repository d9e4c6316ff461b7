"""Context managers around a check: leave the user's layers exactly as found; show progress."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import numpy as np

__all__ = ["PROGRESS_MIN_ELEMENTS", "kept_state", "progress_bar"]

PROGRESS_MIN_ELEMENTS = 20_000   # exhaustive checks at least this large show a progress bar


@contextmanager
def kept_state(layers):
    """Restore each layer's grads, array attributes (running statistics, caches) and random
    generators to their state before the check: the check's calls leave no trace."""
    saved = [_state_of(layer) for layer in layers]
    try:
        yield
    finally:
        for layer, (grads, arrays, generators) in zip(layers, saved, strict=True):
            for key, value in grads.items():
                current = layer.grads.get(key)
                if current is not None and current.shape == value.shape:
                    np.copyto(current, value)
            for name, value in arrays.items():
                current = getattr(layer, name, None)
                if isinstance(current, np.ndarray) and current.shape == value.shape \
                        and current.dtype == value.dtype and current.flags.writeable:
                    np.copyto(current, value)
                else:
                    setattr(layer, name, value)
            for name, state in generators.items():
                getattr(layer, name).bit_generator.state = state


def _state_of(layer):
    """Copies of grads, of ndarray attributes that are not parameters, and generator states."""
    params = {id(p) for p in layer.params.values()}
    attrs = vars(layer) if hasattr(layer, "__dict__") else {}
    arrays = {k: v.copy() for k, v in attrs.items()
              if isinstance(v, np.ndarray) and id(v) not in params}
    generators = {k: v.bit_generator.state for k, v in attrs.items()
                  if isinstance(v, np.random.Generator)}
    return {k: np.array(g, copy=True) for k, g in layer.grads.items()}, arrays, generators


@contextmanager
def progress_bar(arrays, mode: str):
    """A tqdm bar (``update(n)`` per checked element) for long exhaustive checks on a terminal;
    None otherwise (tests, pipes, quick checks)."""
    total = sum(a.size for a in arrays)
    if mode != "full" or total < PROGRESS_MIN_ELEMENTS or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc="gradcheck", unit="elem") as bar:
        yield bar
