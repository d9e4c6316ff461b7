"""numpy's global random state, left after a check exactly as found.

A user's layer may draw from numpy's global generator (``np.random.rand``, ``randn``...),
so a check puts its state back, but only when it moved: ``np.random.set_state`` costs
about 80 us, and even ``np.random.get_state`` about 50 us (numpy copies the 624 words of
its MT19937 one at a time), which is 4 % of a small model's check. So the state is read
raw: the MT19937 words and position through the bit generator's ctypes interface, and
the legacy generator's cached Gaussian (``has_gauss``, ``gauss``: one ``randn`` of a pair
is kept for the next call) from the ``RandomState`` object itself, at an offset found
once on a private instance and verified there (:func:`_gauss_offset`). Where either cannot
be read (another bit generator, another numpy layout), ``get_state`` and ``set_state``
serve as before.
"""

from __future__ import annotations

import ctypes
import functools
import struct
import sys

import numpy as np

__all__ = ["GlobalRandomState"]

_MT19937_BYTES = 624 * 4 + 4          # the state struct: 624 32-bit words, the position
_AUG = struct.Struct("=i4xd")         # has_gauss (an int), padding, gauss (a double)
_MARKERS = ((1, 1.2345678901234567e-200), (0, -9.876543210987654e-250))


@functools.cache
def _gauss_offset() -> int | None:
    """Offset in bytes of the ``(has_gauss, gauss)`` pair inside a ``np.random.RandomState``
    object, or None when it cannot be found for sure: two marked states are set on a private
    instance and its memory (``__basicsize__`` bytes from its address) searched for them.
    CPython only: elsewhere ``id`` is not an address."""
    if sys.implementation.name != "cpython":
        return None
    probe = np.random.RandomState(0)
    state = list(probe.get_state())
    offsets = set()
    for flag, marker in _MARKERS:
        state[3], state[4] = flag, marker
        probe.set_state(tuple(state))
        raw = ctypes.string_at(id(probe), type(probe).__basicsize__)
        at = raw.find(struct.pack("=d", marker)) - 8
        if at < 0 or raw.count(struct.pack("=d", marker)) != 1 or \
                _AUG.unpack_from(raw, at) != (flag, marker):
            return None
        offsets.add(at)
    return offsets.pop() if len(offsets) == 1 else None


def _raw_state() -> bytes | None:
    """The global legacy generator's MT19937 words and position, then its cached Gaussian
    (as :data:`_AUG` packs them), or None when they cannot be read raw."""
    legacy = getattr(np.random.mtrand, "_rand", None)
    if type(legacy) is not np.random.RandomState:
        return None
    bits = getattr(legacy, "_bit_generator", None)
    offset = _gauss_offset()
    if not isinstance(bits, np.random.MT19937) or offset is None:
        return None
    aug = _AUG.pack(*_AUG.unpack(ctypes.string_at(id(legacy) + offset, _AUG.size)))
    return ctypes.string_at(bits.ctypes.state_address, _MT19937_BYTES) + aug   # no padding


def _legacy_state(raw: bytes) -> tuple:
    """``np.random.get_state()``'s tuple of the state :func:`_raw_state` read."""
    key = np.frombuffer(raw, np.uint32, 624).copy()
    (pos,) = struct.unpack_from("=i", raw, 624 * 4)
    has_gauss, gauss = _AUG.unpack_from(raw, _MT19937_BYTES)
    return "MT19937", key, pos, has_gauss, gauss


class GlobalRandomState:
    """numpy's global random state now; :meth:`restore` puts it back if it moved."""

    def __init__(self):
        self.raw = _raw_state()
        self.state = np.random.get_state() if self.raw is None else None  # noqa: NPY002

    def restore(self) -> None:
        if self.raw is None:
            np.random.set_state(self.state)  # noqa: NPY002
        elif _raw_state() != self.raw:
            np.random.set_state(_legacy_state(self.raw))  # noqa: NPY002
