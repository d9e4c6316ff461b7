"""What each layer and block of a model sees during the model's own forward and backward.

For the duration of a run the ``forward`` and ``backward`` of each unit are shadowed by
instance attributes that record the call and run the unit's own method; afterwards the
attributes are removed (or the user's own instance attributes put back), also when the run
raises. Forward calls made once the first backward call has begun (a backward that
recomputes a shared layer's forward) are not the model's forward and are not recorded.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Calls", "recording", "shadowing"]

_MISSING = object()


class _Shadows:
    """Instance attributes put over methods, removed exactly by :meth:`remove`."""

    def __init__(self):
        self._undo: list[tuple[object, str, object]] = []

    def put(self, obj, name: str, fn) -> bool:
        """Shadow ``obj.<name>`` by ``fn``; False when the object refuses attributes."""
        if not hasattr(obj, "__dict__"):
            return False
        own = vars(obj).get(name, _MISSING)
        try:
            setattr(obj, name, fn)
        except (AttributeError, TypeError):
            return False
        self._undo.append((obj, name, own))
        return True

    def remove(self) -> None:
        for obj, name, own in reversed(self._undo):
            if own is _MISSING:
                vars(obj).pop(name, None)
            else:
                setattr(obj, name, own)
        self._undo.clear()


@contextmanager
def shadowing():
    """A :class:`_Shadows` whose attributes are gone after the block, whatever happens."""
    shadows = _Shadows()
    try:
        yield shadows
    finally:
        shadows.remove()


@dataclass
class Calls:
    """The calls one unit got during a run.

    Attributes
    ----------
    inputs : list of tuple
        Per forward call, copies of its positional arguments (None for a call with keyword
        arguments, which is not the protocol's).
    outputs : list
        Per forward call, a copy of what it returned.
    upstream : list of tuple
        Per backward call, copies of its positional arguments (``(dy,)``, or one ``dy`` per
        output of a layer with several).
    first : int or None
        Rank of its first forward call among all units' calls (None: never called).
    recorded : bool
        False when the unit refused the recording attributes (nothing is known of it).
    """

    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    upstream: list = field(default_factory=list)
    first: int | None = None
    recorded: bool = True

    def paired_upstream(self, k: int):
        """The ``dy`` of forward call ``k`` (several outputs: their ``dy`` flattened and
        joined, as :class:`gradcheck.several_inputs.InputsAsParams` reads them). Backward
        calls pair with forward calls last in, first out (the order backpropagation visits
        them); None when the counts differ or the shapes do not match the outputs."""
        if len(self.upstream) != len(self.outputs):
            return None
        dys, out = self.upstream[len(self.upstream) - 1 - k], self.outputs[k]
        outs = out if isinstance(out, (tuple, list)) else (out,)
        if [np.shape(o) for o in outs] != [np.shape(d) for d in dys]:
            return None
        return dys[0] if len(dys) == 1 else np.concatenate([np.ravel(d) for d in dys])


def _copied(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (tuple, list)):
        return type(value)(_copied(v) for v in value)
    return value


@contextmanager
def recording(units):
    """Record every call of ``units`` (objects with ``forward`` and ``backward``) in the
    block; yields one :class:`Calls` per unit."""
    calls = [Calls() for _ in units]
    counter = [0]   # forward calls that began so far; None once backward has begun
    with shadowing() as shadows:
        for unit, record in zip(units, calls, strict=True):
            record.recorded = (shadows.put(unit, "forward", _forward_recorder(unit, record,
                                                                             counter))
                               and shadows.put(unit, "backward", _backward_recorder(
                                   unit, record, counter)))
        yield calls


def _forward_recorder(unit, record: Calls, counter: list):
    forward = unit.forward

    def recording_forward(*args, **kwargs):
        if counter[0] is None:   # a forward inside the backward: a recomputation
            return forward(*args, **kwargs)
        if record.first is None:
            record.first = counter[0]
        counter[0] += 1
        given = None if kwargs else _copied(args)
        out = forward(*args, **kwargs)
        record.inputs.append(given)
        record.outputs.append(_copied(out))
        return out
    return recording_forward


def _backward_recorder(unit, record: Calls, counter: list):
    backward = unit.backward

    def recording_backward(*args, **kwargs):
        counter[0] = None
        record.upstream.append(_copied(args))
        return backward(*args, **kwargs)
    return recording_backward
