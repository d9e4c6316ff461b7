"""Leave the user's objects exactly as found: snapshots of layer state, restored bit for bit."""

from __future__ import annotations

import copy
from contextlib import contextmanager

import numpy as np

__all__ = ["Snapshot", "kept_state"]


_IMMUTABLE = (int, float, complex, bool, str, bytes, type(None))


class _Kept:
    """A saved immutable attribute value (restored by assignment)."""

    def __init__(self, value):
        self.value = value


def _copy(value):
    """A copy of arrays, immutable values, generators' states and containers of them; None
    for what cannot be copied (it is left alone)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, _IMMUTABLE):
        return _Kept(value)
    if isinstance(value, np.random.Generator):
        return value.bit_generator.state
    if isinstance(value, np.random.RandomState):
        return value.get_state()
    if isinstance(value, (dict, list, tuple)):
        try:
            return copy.deepcopy(value)
        except Exception:   # something uncopyable inside (a lock, a file): leave it alone
            return None
    return None


class Snapshot:
    """The state of one layer: grads, and its attributes that hold arrays, containers of them
    (nested dicts, lists, tuples) or generators; restored in place, bit for bit.

    Parameters are kept apart: the very arrays (put back into ``params`` if the layer
    replaced them) and copies of their values (put back last, after grads that may alias
    them). Attributes named in ``keep_out`` (those holding other layers, in a block or a
    model) are neither copied nor restored.
    """

    def __init__(self, layer, keep_out=()):
        self.layer = layer
        params = getattr(layer, "params", None)
        skip = {id(params), id(getattr(layer, "grads", None))}
        skip |= {id(p) for p in params.values()} if isinstance(params, dict) else set()
        attrs = vars(layer) if hasattr(layer, "__dict__") else {}
        self.names = set(attrs)
        self.saved = {}
        for k, v in attrs.items():
            saved = None if id(v) in skip or k in keep_out else _copy(v)
            if saved is not None:
                self.saved[k] = (v, saved)
        self.grads = {k: np.array(g, copy=True) for k, g in getattr(layer, "grads", {}).items()}
        self.params = ({k: (v, np.array(v, copy=True)) for k, v in params.items()}
                       if isinstance(params, dict) else {})

    def changed(self) -> list[str]:
        """Names of the attributes added, or of array and plain-value attributes changed,
        since the snapshot."""
        attrs = vars(self.layer) if hasattr(self.layer, "__dict__") else {}
        return sorted(set(attrs) - self.names) + [
            k for k, (_, saved) in self.saved.items()
            if (isinstance(saved, np.ndarray) and not _same_array(getattr(self.layer, k, None),
                                                                  saved))
            or (isinstance(saved, _Kept) and not _same_value(getattr(self.layer, k, None),
                                                             saved.value))]

    def restore(self) -> None:
        """Put every saved attribute back (in place where the object is still there) and
        drop the attributes added since (caches the check's calls created)."""
        if hasattr(self.layer, "__dict__"):
            for name in set(vars(self.layer)) - self.names:
                delattr(self.layer, name)
        for name, (original, saved) in self.saved.items():
            setattr(self.layer, name, _restore_into(original, saved))
        grads = getattr(self.layer, "grads", None)
        for key, value in self.grads.items():
            current = grads.get(key) if isinstance(grads, dict) else None
            if isinstance(current, np.ndarray) and current.shape == value.shape \
                    and current.flags.writeable:
                np.copyto(current, value, casting="unsafe")
        params = getattr(self.layer, "params", None)
        for key, (array, values) in self.params.items():
            if isinstance(params, dict):
                params[key] = array
            np.copyto(array, values)

    def changed_params(self) -> list[str]:
        """Parameters replaced by another array, or whose values changed, since the snapshot."""
        params = getattr(self.layer, "params", {})
        return [k for k, (array, values) in self.params.items()
                if params.get(k) is not array or not np.array_equal(array, values,
                                                                     equal_nan=True)]


def _restore_into(current, saved):
    """``current`` with the contents of ``saved`` (in place where possible), or a copy."""
    if isinstance(saved, _Kept):
        return saved.value
    if isinstance(current, np.random.RandomState):
        current.set_state(saved)
        return current
    if isinstance(current, np.random.Generator):
        current.bit_generator.state = (saved.bit_generator.state
                                       if isinstance(saved, np.random.Generator) else saved)
        return current
    if isinstance(current, np.ndarray) and isinstance(saved, np.ndarray) \
            and current.shape == saved.shape and current.dtype == saved.dtype \
            and current.flags.writeable:
        np.copyto(current, saved)
        return current
    if isinstance(current, dict) and isinstance(saved, dict):
        for key in [k for k in current if k not in saved]:
            del current[key]
        for key, value in saved.items():
            current[key] = _restore_into(current.get(key), value)
        return current
    if isinstance(current, list) and isinstance(saved, list) and len(current) == len(saved):
        current[:] = [_restore_into(c, v) for c, v in zip(current, saved, strict=True)]
        return current
    return copy.deepcopy(saved)


def _same_value(a, b) -> bool:
    """Equal plain values of the same type (an attribute that became an array is not)."""
    return type(a) is type(b) and a == b


def _same_array(a, b: np.ndarray) -> bool:
    return isinstance(a, np.ndarray) and a.shape == b.shape and np.array_equal(a, b,
                                                                               equal_nan=True)


@contextmanager
def kept_state(layers, keep_out=None):
    """Restore each layer's state, and numpy's global random state, after the block
    (``keep_out``: per layer, the attribute names its :class:`Snapshot` leaves alone)."""
    snapshots = [Snapshot(layer, () if keep_out is None else keep_out[i])
                 for i, layer in enumerate(layers)]
    global_state = np.random.get_state()  # noqa: NPY002  (the user's layers may use it)
    try:
        yield snapshots
    finally:
        for snap in snapshots:
            snap.restore()
        np.random.set_state(global_state)  # noqa: NPY002
