"""A chain model's ``model.backward``, recorded layer by layer or guarded against a ``dy`` of
None.

:func:`recorded_backward` shadows each layer's ``backward`` for one call of the model's and
records what each got and gave (the layers' probes then need no backward of their own);
:func:`guarded_backward` makes each layer refuse ``dy=None`` with an error that names the
layer after it, which returned None; :func:`model_grads` is the plain call, with the grads it
leaves copied.
"""

from __future__ import annotations

import numpy as np

from gradcheck.arrays import same_values
from gradcheck.model_record import shadowing
from gradcheck.probe_calls import during, first_backward
from gradcheck.validation import layer_name

__all__ = ["guarded_backward", "model_grads", "recorded_backward"]


def model_grads(model, layers, dpred) -> list[dict]:
    """Per layer, copies of the grads ``model.backward(dL/dpred)`` leaves (end-to-end)."""
    model.backward(dpred.copy())
    return [{k: np.array(g, copy=True) for k, g in layer.grads.items()} for layer in layers]


def recorded_backward(model, layers, dpred):
    """``model.backward(dL/dpred)``, recording each layer's backward inside it.

    Each layer's ``backward`` is shadowed by an instance attribute for the call (removed
    after), which records :func:`gradcheck.probe_calls.first_backward` of what the model passed.

    Returns
    -------
    (firsts, grads) or None
        Per layer, the record and the grads ``model.backward`` leaves (for the end-to-end
        check); None when a layer cannot be wrapped, appears twice, or was not called exactly
        once (then the caller runs the probes' own backwards).
    """
    if len({id(layer) for layer in layers}) != len(layers):
        return None
    records: list[list] = [[] for _ in layers]
    names = [layer_name(i, layer) for i, layer in enumerate(layers)]
    with shadowing() as shadows:
        for i, layer in enumerate(layers):
            if not shadows.put(layer, "backward", _recorder(names[i], _after(names, i), layer,
                                                            records[i])):
                return None
        with during("the backward of the model at the given point"):
            model.backward(dpred.copy())
    if any(len(r) != 1 for r in records):
        return None
    firsts = [r[0] for r in records]
    return firsts, [_left_grads(layer, first[2]) for layer, first in zip(layers, firsts,
                                                                          strict=True)]


def _recorder(name: str, after: str, layer, record: list):
    """A stand-in for ``layer.backward`` that records the call (the layer's own method runs;
    ``after``: what gives it ``dy``, named when that is None)."""
    backward = layer.backward

    def recording(dy, *args, **kwargs):
        if args or kwargs:   # not the protocol's call: pass it on unrecorded
            return backward(dy, *args, **kwargs)
        _refuse_none(dy, name, after)
        first, raw = first_backward(name, layer, dy, np.array(dy, copy=True), backward)
        record.append(first)
        return raw   # the model's chain goes on with the layer's own array, not our copy
    return recording


_NONE_DY = ("{name}.backward got dy=None from the model: {after} returned None instead of "
            "dL/dx (an array of its input's shape)")


def guarded_backward(model, layers, dy):
    """``model.backward(dy)`` with each of ``layers`` refusing a ``dy`` of None with an error
    that names it (the layer after it returned None), instead of failing inside its own
    arithmetic."""
    names = [layer_name(i, layer) for i, layer in enumerate(layers)]
    with shadowing() as shadows:
        for i, layer in enumerate(layers):
            shadows.put(layer, "backward", _refusing_none(names[i], _after(names, i),
                                                          layer.backward))
        return model.backward(dy)


def _after(names: list[str], i: int) -> str:
    """What hands layer ``i`` of a chain its ``dy``: the next layer's backward."""
    return f"{names[i + 1]}.backward" if i + 1 < len(names) else "the layer after it"


def _refuse_none(dy, name: str, after: str) -> None:
    if dy is None:
        raise TypeError(_NONE_DY.format(name=name, after=after))


def _refusing_none(name: str, after: str, backward):
    def refusing(dy, *args, **kwargs):
        _refuse_none(dy, name, after)
        return backward(dy, *args, **kwargs)
    return refusing


def _left_grads(layer, snapshot: dict) -> dict:
    """The layer's grads now: the snapshot's arrays where unchanged, else copies."""
    return {k: snapshot[k] if k in snapshot and same_values(g, snapshot[k])
            else np.array(g, copy=True) for k, g in layer.grads.items()}
