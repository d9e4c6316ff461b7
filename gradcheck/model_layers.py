"""The layers of a model, found by walking it, each named by its path.

The walk goes breadth first from the model through dicts (any mapping), lists, tuples and
objects' attributes, in their own order; it never enters arrays, array-like objects (anything
with ``__array__``), modules, classes or functions, and visits each object once (cycles and
objects reachable twice are fine: an object keeps the first, shortest path). A *layer* has the
layer protocol (``params`` and ``grads`` mappings, callable ``forward`` and ``backward``). A
*block* is an object with callable ``forward`` and ``backward`` that holds layers (or blocks)
first reached through it; a layer that holds none is a *leaf*. The model itself is the root
and neither.

Paths join attribute names, dict keys and list indices with dots (``"blocks.0.conv"``); the
``layers`` list of an object is left out of them, so ``model.layers[2]`` is ``"2"`` (row label
``"2:Dense"``, as for a sequential model) and ``model.body.layers[0]`` is ``"body.0"``.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gradcheck.validation import layer_label

__all__ = ["ModelLayers", "Unit", "find_layers", "is_layer"]

_OPAQUE = (np.ndarray, np.generic, str, bytes, int, float, complex, bool, type(None), type,
           types.ModuleType, types.FunctionType, types.MethodType, types.BuiltinFunctionType)
_PLAIN = frozenset({np.ndarray, str, int, float, bool, type(None), dict, list, tuple})
_LEAVES = _PLAIN - {dict, list, tuple}   # most attributes: never entered


def is_layer(obj) -> bool:
    """True when ``obj`` has the layer protocol (params/grads mappings, forward, backward)."""
    return _callable_pair(obj) and isinstance(getattr(obj, "params", None), Mapping) \
        and isinstance(getattr(obj, "grads", None), Mapping)


def _callable_pair(obj) -> bool:
    return callable(getattr(obj, "forward", None)) and callable(getattr(obj, "backward", None))


@dataclass(frozen=True)
class Unit:
    """A layer or block of a model.

    Attributes
    ----------
    path : str
        Where the walk first reached it (``"fc1"``, ``"blocks.0.conv"``, ``"2"``).
    obj : object
        The layer or block itself.
    leaf : bool
        A layer holding no other layer or block.
    parent : int or None
        Index (in :attr:`ModelLayers.units`) of the block it was first reached through.
    """

    path: str
    obj: object
    leaf: bool
    parent: int | None

    @property
    def label(self) -> str:
        """Row label: ``"<path>:<ClassName>"`` (an adapter's ``name`` for the class name)."""
        return f"{self.path}:{layer_label(self.obj)}"


@dataclass(frozen=True)
class ModelLayers:
    """The units of a model in walk order, and whether it is a plain sequential list.

    ``sequential`` is True when ``model.layers`` is a list or tuple of leaves and the walk
    found no other unit (the layers may repeat).
    """

    units: tuple[Unit, ...]
    sequential: bool

    @property
    def leaves(self) -> list[Unit]:
        """The leaf layers, in walk order."""
        return [u for u in self.units if u.leaf]

    def inside(self, index: int) -> list[int]:
        """Indices of the units first reached through unit ``index`` (at any depth)."""
        found = []
        for i, unit in enumerate(self.units):
            j = unit.parent
            while j is not None and j != index:
                j = self.units[j].parent
            if j == index:
                found.append(i)
        return found


def _children(obj) -> list[tuple[str, object]]:
    """``(name, value)`` pairs the walk goes on to, in the object's own order."""
    if type(obj) is dict or isinstance(obj, Mapping):
        return [(str(k), v) for k, v in obj.items()]
    if isinstance(obj, (list, tuple)):
        return [(str(i), v) for i, v in enumerate(obj)]
    attrs = getattr(obj, "__dict__", None)
    return list(attrs.items()) if isinstance(attrs, dict) else []


def _opaque(obj) -> bool:
    if type(obj) in _PLAIN:   # the common cases, decided without isinstance
        return type(obj) not in (dict, list, tuple)
    return isinstance(obj, _OPAQUE) or hasattr(type(obj), "__array__")


def _start(model) -> list[tuple[str, object]]:
    """Where the walk begins: the model's attributes, and ``model.layers`` first when it is
    a property (not an attribute)."""
    start = _children(model)
    layers = getattr(model, "layers", None)
    if isinstance(layers, (list, tuple)) and "layers" not in dict(start):
        start.insert(0, ("layers", layers))
    return start


def _walk(model) -> list[tuple[str, object, int | None]]:
    """``(path, obj, parent)`` of every object with ``forward`` and ``backward``, breadth
    first; ``parent`` is the index of the nearest such object on its path (or None)."""
    seen = {id(model)}
    found: list[tuple[str, object, int | None]] = []
    level = [(_join("", name, value, model), value, None) for name, value in _start(model)
             if type(value) not in _LEAVES and not _opaque(value)]
    while level:
        below = []
        for path, obj, parent in level:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            arrays = ()   # a layer's params and grads hold arrays: not entered
            if type(obj) not in (dict, list, tuple) and _callable_pair(obj) \
                    and not isinstance(obj, (Mapping, list, tuple)):
                found.append((path, obj, parent))
                parent = len(found) - 1
                arrays = (id(getattr(obj, "params", None)), id(getattr(obj, "grads", None)))
            below += [(_join(path, name, value, obj), value, parent)   # arrays, numbers...
                      for name, value in _children(obj)                  # left out
                      if type(value) not in _LEAVES and id(value) not in arrays
                      and not _opaque(value)]
        level = below
    return found


def find_layers(model) -> ModelLayers:
    """Walk ``model`` and return its layers and blocks (see the module docstring).

    Objects with ``forward`` and ``backward`` that are neither layers nor hold one (a loss
    kept on the model, a helper) are not units.
    """
    found = _walk(model)
    kept, holders = set(), set()
    for i, (_, obj, _) in enumerate(found):
        if is_layer(obj):
            kept.add(i)
            parent = found[i][2]
            while parent is not None and parent not in holders:
                holders.add(parent)
                parent = found[parent][2]
    kept |= holders
    order = sorted(kept)
    renumber = {old: new for new, old in enumerate(order)}
    units = tuple(Unit(_shown(found[i][0]), found[i][1], i not in holders,
                       None if found[i][2] is None else renumber[found[i][2]]) for i in order)
    layers = getattr(model, "layers", None)
    sequential = (isinstance(layers, (list, tuple)) and len(layers) > 0
                  and all(u.leaf for u in units)
                  and {id(u.obj) for u in units} == {id(layer) for layer in layers})
    return ModelLayers(units, sequential)


def _join(path: str, name: str, value, owner) -> str:
    """The path of ``owner``'s child ``name``; an object's ``layers`` list adds no name
    (``model.layers[2]`` is ``"2"``, ``model.body.layers[0]`` is ``"body.0"``)."""
    if name == "layers" and isinstance(value, (list, tuple)) \
            and not isinstance(owner, (Mapping, list, tuple)):
        return path
    return f"{path}.{name}"


def _shown(path: str) -> str:
    return path.lstrip(".")
