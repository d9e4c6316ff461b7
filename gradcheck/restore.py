"""Leave the user's objects exactly as found: snapshots of layer state, restored bit for bit."""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping, MutableMapping
from contextlib import contextmanager

import numpy as np

from gradcheck.arrays import same_values
from gradcheck.global_random import GlobalRandomState

__all__ = ["Snapshot", "kept_state"]

_IMMUTABLE = (int, float, complex, bool, str, bytes, type(None))
_MISSING = object()
_NOT_STATE = (type, types.ModuleType, types.FunctionType, types.MethodType,
              types.BuiltinFunctionType, functools.partial)
# Packages whose objects keep their own (live) state: left alone, never snapshotted.
_FOREIGN = frozenset({"torch", "jax", "jaxlib", "numpy", "pandas", "logging", "threading",
                      "multiprocessing", "concurrent", "asyncio", "socket", "io", "queue"})


class _Kept:
    """A saved immutable value (restored by assignment)."""

    def __init__(self, value):
        self.value = value


class _RngState:
    """A saved ``np.random.Generator`` or ``RandomState`` state."""

    def __init__(self, state):
        self.state = state


class _Items:
    """A dict, list or tuple at snapshot time: each entry's original object and its saved copy
    (None: left alone)."""

    def __init__(self, entries: list[tuple]):
        self.entries = entries


def _saved(value, seen: frozenset):
    """What restores ``value`` later: a copy of an array, an immutable value, a generator's
    state, a container's entries, a :class:`Snapshot` of a plain sub-object (``seen``: ids of
    the objects above it, so cycles are cut); None for what is left alone."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, _IMMUTABLE):
        return _Kept(value)
    if isinstance(value, np.random.Generator):
        return _RngState(value.bit_generator.state)
    if isinstance(value, np.random.RandomState):
        return _RngState(value.get_state())
    if id(value) in seen:
        return None
    inner = seen | {id(value)}
    if isinstance(value, dict):
        return _Items([(k, v, _saved(v, inner)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return _Items([(i, v, _saved(v, inner)) for i, v in enumerate(value)])
    if _is_plain_object(value):
        return Snapshot(value, seen)
    return None


def _is_plain_object(value) -> bool:
    """An instance of a user's class (a sub-layer, a cache object), not a type, a function, a
    module, or an object of an array library that keeps its own state."""
    return (hasattr(value, "__dict__") and not isinstance(value, _NOT_STATE)
            and type(value).__module__.split(".")[0] not in _FOREIGN)


def _restored(original, saved):
    """``original`` with the contents ``saved`` (in place where possible): the object to put
    back where it was."""
    if saved is None:
        return original
    if isinstance(saved, _Kept):
        return saved.value
    if isinstance(saved, Snapshot):
        saved.restore()
        return original
    if isinstance(saved, _RngState):
        if isinstance(original, np.random.RandomState):
            original.set_state(saved.state)
        else:
            original.bit_generator.state = saved.state
        return original
    if isinstance(saved, np.ndarray):
        if original.flags.writeable:
            np.copyto(original, saved)
            return original
        return saved.copy()
    values = [(key, _restored(o, s)) for key, o, s in saved.entries]
    if isinstance(original, dict):
        original.clear()
        original.update(values)
        return original
    if isinstance(original, list):
        original[:] = [v for _, v in values]
        return original
    items = [v for _, v in values]
    return type(original)(*items) if hasattr(original, "_fields") else type(original)(items)


class Snapshot:
    """The state of one layer: grads, and its attributes that hold arrays, containers of them
    (nested dicts, lists, tuples), generators or sub-objects (snapshotted the same way);
    restored in place, bit for bit, with the very objects put back where they were.

    Parameters are kept apart: the very arrays (put back into ``params`` if the layer
    replaced them) and copies of their values (put back last, after grads that may alias
    them).
    """

    def __init__(self, layer, seen: frozenset = frozenset(), shared: frozenset = frozenset()):
        self.layer = layer
        seen = seen | {id(layer)}
        params = getattr(layer, "params", None)
        skip = {id(params), id(getattr(layer, "grads", None))}
        skip |= {id(p) for p in params.values()} if isinstance(params, Mapping) else set()
        attrs = vars(layer) if hasattr(layer, "__dict__") else {}
        self.names = set(attrs)
        self.saved = {}
        for k, v in attrs.items():
            saved = None if id(v) in skip else _saved(v, seen)
            if saved is not None:
                self.saved[k] = (v, saved)
        self.grads = {k: np.array(g, copy=True) for k, g in getattr(layer, "grads", {}).items()
                      if id(g) not in shared}
        self.params = ({k: (v, np.array(v, copy=True)) for k, v in params.items()
                        if id(v) not in shared} if isinstance(params, Mapping) else {})

    def changed(self) -> list[str]:
        """Names of the attributes added, or of array and plain-value attributes changed
        (``"sub.name"`` inside a sub-object), since the snapshot."""
        attrs = vars(self.layer) if hasattr(self.layer, "__dict__") else {}
        changed = sorted(set(attrs) - self.names)
        for k, (original, saved) in self.saved.items():
            now = getattr(self.layer, k, None)
            if isinstance(saved, Snapshot):
                changed += [f"{k}.{c}" for c in saved.changed()] if now is original else [k]
            elif (isinstance(saved, np.ndarray) and not _same_array(now, saved)) or (
                    isinstance(saved, _Kept) and not _same_value(now, saved.value)) or (
                    isinstance(saved, _RngState) and _advanced(now, saved)):
                changed.append(k)
        return changed

    def holds_arrays(self) -> bool:
        """Whether the layer held arrays besides its parameters and grads when snapshotted
        (in attributes, their containers and sub-objects): caches of an earlier call, or
        buffers."""
        return any(_holds_array(saved) for _, saved in self.saved.values())

    def advanced_generators(self) -> list[str]:
        """Names of the generator attributes (numpy ``Generator``, ``RandomState``) whose
        state moved since the snapshot: the layer drew random numbers."""
        return [k for k, (_, saved) in self.saved.items()
                if isinstance(saved, _RngState) and _advanced(getattr(self.layer, k, None),
                                                              saved)]

    def restore(self) -> None:
        """Put every saved attribute back (the same objects, their contents restored) and
        drop the attributes added since (caches the check's calls created)."""
        attrs = vars(self.layer) if hasattr(self.layer, "__dict__") else {}
        for name in set(attrs) - self.names:
            delattr(self.layer, name)
        for name, (original, saved) in self.saved.items():
            value = _restored(original, saved)
            if attrs.get(name, _MISSING) is not value:   # not put back yet
                setattr(self.layer, name, value)
        grads = getattr(self.layer, "grads", None)
        for key, value in self.grads.items():
            current = grads.get(key) if isinstance(grads, Mapping) else None
            if isinstance(current, np.ndarray) and current.shape == value.shape \
                    and current.flags.writeable:
                np.copyto(current, value, casting="unsafe")
        params = getattr(self.layer, "params", None)
        for key, (array, values) in self.params.items():
            if isinstance(params, MutableMapping):
                params[key] = array
            np.copyto(array, values)

    def changed_params(self) -> list[str]:
        """Parameters replaced by another array, or whose values changed, since the snapshot."""
        params = getattr(self.layer, "params", {})
        return [k for k, (array, values) in self.params.items()
                if params.get(k) is not array or not same_values(array, values)]


def _holds_array(saved) -> bool:
    if isinstance(saved, np.ndarray):
        return saved.size > 0
    if isinstance(saved, _Items):
        return any(_holds_array(s) for _, _, s in saved.entries)
    return isinstance(saved, Snapshot) and saved.holds_arrays()


def _advanced(generator, saved: _RngState) -> bool:
    """A generator whose state is no longer ``saved``'s (or that was replaced)."""
    if isinstance(generator, np.random.RandomState):
        now = generator.get_state()
        return any(not np.array_equal(a, b) if isinstance(a, np.ndarray) else a != b
                   for a, b in zip(now, saved.state, strict=True))
    if isinstance(generator, np.random.Generator):
        return generator.bit_generator.state != saved.state
    return True


def _same_value(a, b) -> bool:
    """Equal plain values of the same type (an attribute that became an array is not)."""
    return type(a) is type(b) and a == b


def _same_array(a, b: np.ndarray) -> bool:
    return isinstance(a, np.ndarray) and same_values(a, b)


def _arrays_of(layer) -> list:
    """The arrays of ``layer``'s ``params`` and ``grads`` (what its snapshot restores)."""
    held = [getattr(layer, "params", None), getattr(layer, "grads", None)]
    return [a for arrays in held if isinstance(arrays, Mapping) for a in arrays.values()]


@contextmanager
def kept_state(layers, holder=None):
    """Restore each layer's state, and numpy's global random state, after the block.

    Each object's snapshot leaves out the others of ``layers`` it holds: they have their
    own, and are put back where they were. ``holder`` (a model that holds the layers) is
    snapshotted last, without the parameter and grad arrays of the layers (a model's
    ``params`` that gathers its layers'); the block gets the layers' snapshots only.
    """
    ids = [id(layer) for layer in layers]
    snapshots = [Snapshot(layer, frozenset(ids[:i] + ids[i + 1:]))
                 for i, layer in enumerate(layers)]
    held = [] if holder is None else [Snapshot(holder, frozenset(ids), frozenset(
        id(a) for layer in layers for a in _arrays_of(layer)))]
    global_state = GlobalRandomState()
    try:
        yield snapshots
    finally:
        for snap in snapshots + held:
            snap.restore()
        global_state.restore()
