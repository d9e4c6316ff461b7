"""A model as a chain of layers: cached activations, probes from last to first, model grads."""

from __future__ import annotations

import numpy as np

from gradcheck.options import loss_value
from gradcheck.protocol import probe_layer, repeat_rtol

__all__ = ["activations", "layer_name", "model_grads", "probe_chain"]


def layer_name(i: int, layer) -> str:
    """Row label of layer ``i`` of a model: ``"<index>:<ClassName>"``."""
    return f"{i}:{type(layer).__name__}"


def activations(layers, loss, x, y):
    """One pass through the layers.

    Returns ``(acts, mutated, loss0, dpred)``: the input of every layer plus the prediction
    (``acts[i]`` feeds layer ``i``), whether each layer changed its input in place, the loss
    and dL/dpred. Each layer keeps the state of this forward for its probe.
    """
    acts, mutated = [x.copy()], []
    for layer in layers:
        given = acts[-1].copy()
        acts.append(np.array(layer.forward(given), copy=True))
        mutated.append(not np.array_equal(given, acts[-2], equal_nan=True))
    loss0 = loss_value(loss, acts[-1], y)
    return acts, mutated, loss0, np.array(loss.backward(), copy=True)


def probe_chain(layers, acts, mutated, dpred) -> list:
    """Probe the layers from last to first; each gets the dL/dx of the probe after it as G.

    ``mutated`` (per layer, from :func:`activations`, whose state the layers still hold)
    lets the probes skip their own forwards; None makes each probe run and compare two.
    """
    probes = [None] * len(layers)
    g = dpred
    for i in range(len(layers) - 1, -1, -1):
        seen = None if mutated is None else (acts[i + 1], mutated[i])
        probes[i] = probe_layer(layer_name(i, layers[i]), layers[i], acts[i],
                                lambda _y, g=g: g, rtol=repeat_rtol(acts[i], layers[i]),
                                seen=seen)
        g = probes[i].dx
        if np.shape(g) != np.shape(acts[i]):
            raise ValueError(f"check_model: layer {layer_name(i, layers[i])} returned dx of "
                             f"shape {np.shape(g)} for an input of shape {np.shape(acts[i])}")
    return probes


def model_grads(model, layers, dpred) -> list[dict]:
    """Per layer, copies of the grads ``model.backward(dL/dpred)`` leaves (end-to-end)."""
    model.backward(dpred.copy())
    return [{k: np.array(g, copy=True) for k, g in layer.grads.items()} for layer in layers]
