"""A model as a chain of layers: cached activations, probes from last to first, model grads."""

from __future__ import annotations

import numpy as np

from gradcheck.arrays import same_values
from gradcheck.model_record import shadowing
from gradcheck.probes import first_backward, probe_layer
from gradcheck.validation import layer_label, loss_value

__all__ = ["activations", "layer_name", "model_grads", "probe_chain", "recorded_backward"]


def layer_name(i: int, layer) -> str:
    """Row label of layer ``i`` of a model: ``"<index>:<ClassName>"`` (an adapter's name for
    the class name)."""
    return f"{i}:{layer_label(layer)}"


def activations(layers, loss, x, y):
    """One pass through the layers.

    Returns ``(acts, mutated, loss0, dpred)``: the input of every layer plus the prediction
    (``acts[i]`` feeds layer ``i``: ``x`` itself, then copies; none is written to), whether
    each layer changed its input in place, the loss and dL/dpred. Each layer gets a copy of
    ``x`` or the very array the layer before returned, as in ``model.forward``, which the
    caller runs after this (the layers keep the state of their last forward).
    """
    acts, mutated, given = [x], [], x.copy()
    for layer in layers:   # each gets what the layer before returned, as in model.forward
        out = layer.forward(given)
        mutated.append(not same_values(given, acts[-1]))
        acts.append(np.array(out, copy=True))
        given = out
    loss0 = loss_value(loss, acts[-1], y)
    return acts, mutated, loss0, np.array(loss.backward(), copy=True)


def probe_chain(layers, acts, mutated, dpred, firsts=None, linearity: bool = True) -> list:
    """Probe the layers from last to first; each gets the dL/dx of the probe after it as G.

    ``mutated`` (per layer, from :func:`activations`, whose state the layers still hold)
    lets the probes skip their own forwards; None makes each probe run and compare two.
    ``firsts`` (from :func:`recorded_backward`) are the layers' backwards inside
    ``model.backward``, used as the probes' first backwards (their ``dy`` as G).
    ``linearity``: as in :func:`gradcheck.probes.probe_layer`.
    """
    probes = [None] * len(layers)
    g = dpred
    for i in range(len(layers) - 1, -1, -1):
        seen = None if mutated is None else (acts[i + 1], mutated[i])
        probes[i] = probe_layer(layer_name(i, layers[i]), layers[i], acts[i],
                                lambda _y, g=g: g, seen=seen,
                                first=None if firsts is None else firsts[i],
                                linearity=linearity)
        g = probes[i].dx
        if g is None:
            raise ValueError(f"check_model: layer {layer_name(i, layers[i])}'s backward returned "
                             "None; it must return dL/dx so the layers before it get their dy")
        if np.shape(g) != np.shape(acts[i]):
            raise ValueError(f"check_model: layer {layer_name(i, layers[i])} returned dx of "
                             f"shape {np.shape(g)} for an input of shape {np.shape(acts[i])}")
    return probes


def model_grads(model, layers, dpred) -> list[dict]:
    """Per layer, copies of the grads ``model.backward(dL/dpred)`` leaves (end-to-end)."""
    model.backward(dpred.copy())
    return [{k: np.array(g, copy=True) for k, g in layer.grads.items()} for layer in layers]


def recorded_backward(model, layers, dpred):
    """``model.backward(dL/dpred)``, recording each layer's backward inside it.

    Each layer's ``backward`` is shadowed by an instance attribute for the call (removed
    after), which records :func:`gradcheck.probes.first_backward` of what the model passed.

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
    with shadowing() as shadows:
        for i, layer in enumerate(layers):
            if not shadows.put(layer, "backward", _recorder(layer_name(i, layer), layer,
                                                            records[i])):
                return None
        model.backward(dpred.copy())
    if any(len(r) != 1 for r in records):
        return None
    firsts = [r[0] for r in records]
    return firsts, [_left_grads(layer, first[2]) for layer, first in zip(layers, firsts,
                                                                          strict=True)]


def _recorder(name: str, layer, record: list):
    """A stand-in for ``layer.backward`` that records the call (the layer's own method runs)."""
    backward = layer.backward

    def recording(dy, *args, **kwargs):
        if args or kwargs:   # not the protocol's call: pass it on unrecorded
            return backward(dy, *args, **kwargs)
        first, raw = first_backward(name, layer, dy, np.array(dy, copy=True), backward)
        record.append(first)
        return raw   # the model's chain goes on with the layer's own array, not our copy
    return recording


def _left_grads(layer, snapshot: dict) -> dict:
    """The layer's grads now: the snapshot's arrays where unchanged, else copies."""
    return {k: snapshot[k] if k in snapshot and same_values(g, snapshot[k])
            else np.array(g, copy=True) for k, g in layer.grads.items()}
