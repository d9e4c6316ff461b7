"""A model as a chain of layers: one pass at an input (activations, loss, the recorded
``model.backward``), probes from last to first, model grads."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gradcheck.arrays import holds_floats, same_values
from gradcheck.model_backward import recorded_backward
from gradcheck.model_record import shadowing
from gradcheck.probe_calls import during
from gradcheck.probes import probe_layer
from gradcheck.report import constant_input_row
from gradcheck.validation import layer_name, loss_value

__all__ = ["Repeat", "Undetermined", "Walk", "probe_chain", "walk_chain"]


class Undetermined(Exception):
    """A second ``model.forward`` at the check's input did not repeat the first, which the
    check had taken as showing that the layers are deterministic: it starts again with the
    walk that compares two forwards up front (:func:`walk_chain`)."""


class Repeat:
    """Whether a second ``model.forward(x)`` repeats a walk's prediction (the layers are
    deterministic), run at most once, when a check first relies on it."""

    def __init__(self, model, x: np.ndarray, pred: np.ndarray, known: bool):
        self.model, self.x, self.pred, self.known = model, x, pred, known
        self.ran_on = None   # the private copy of x the second forward ran on

    def confirm(self) -> None:
        """Return when it repeats; raise :class:`Undetermined` when it does not."""
        if not self.known:
            given = self.x.copy()
            if not same_values(self.model.forward(given), self.pred):
                raise Undetermined
            self.known, self.ran_on = True, given


class Walk(NamedTuple):
    """One pass of a chain at an input (:func:`walk_chain`)."""

    acts: list            # the input of every layer, then the prediction
    mutated: list         # per layer: it changed its input in place
    loss0: float
    dpred: np.ndarray     # dL/dpred
    chained: bool         # model.forward is the layers in order
    recorded: tuple | None   # recorded_backward's (firsts, grads), None if not chained
    mutates: bool         # a forward of the model may change its input in place
    repeat: Repeat        # confirm() before relying on the layers being deterministic


def walk_chain(model, layers, loss, x, y, one_forward: bool = False,
               given: np.ndarray | None = None) -> Walk:
    """Forward through the layers, the loss, and the recorded ``model.backward``.

    The layers run one by one and then inside ``model.forward``, whose prediction tells
    whether the model is the chain of its layers and they are deterministic (when it is not,
    the probes tell the random layers apart: :func:`probe_chain`). With
    ``one_forward`` they run inside ``model.forward`` only, recorded
    (:func:`_forward_in_order`): that shows the chain, not determinism, which the caller
    confirms (``walk.repeat.confirm()``) before it relies on it; when the recording shows no
    chain the walk runs both.

    ``given``: the array holding ``x`` that the first forward of the walk gets, as it did a
    moved input before (:func:`gradcheck.moved_first.moved_call_first`); by default a copy.
    """
    seen = _forward_in_order(model, layers, x, given) if one_forward else None
    if seen is not None:
        (acts, mutated, mutates), chained = seen, True
    else:
        acts, mutated = _activations(layers, x, None if given is None else _refilled(given, x))
        given = x.copy() if given is None else _refilled(given, x)
        chained = same_values(model.forward(given), acts[-1])
        mutates = any(mutated) or not same_values(given, x)
    loss0 = loss_value(loss, acts[-1], y)
    dpred = np.array(loss.backward(), copy=True)
    recorded = recorded_backward(model, layers, dpred) if chained else None
    return Walk(acts, mutated, loss0, dpred, chained, recorded, mutates,
                Repeat(model, x, acts[-1], known=seen is None))


def _refilled(given: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``given``, refilled with ``x`` in place (a forward may have changed it)."""
    np.copyto(given, x)
    return given


def _activations(layers, x, given: np.ndarray | None = None) -> tuple[list, list]:
    """One pass through the layers: ``(acts, mutated)``, the input of every layer plus the
    prediction (``acts[i]`` feeds layer ``i``: ``x`` itself, then copies; none is written
    to) and whether each layer changed its input in place. Each layer gets ``given`` (an
    array holding ``x``; by default a copy) or the very array the layer before returned, as
    in ``model.forward``."""
    acts, mutated = [x], []
    given = x.copy() if given is None else given
    for layer in layers:   # each gets what the layer before returned, as in model.forward
        out = layer.forward(given)
        mutated.append(not same_values(given, acts[-1]))
        acts.append(np.array(out, copy=True))
        given = out
    return acts, mutated


def _forward_in_order(model, layers, x, given=None) -> tuple[list, list, bool] | None:
    """``model.forward`` of ``given`` (an array holding ``x``; by default a copy), each
    layer's forward recorded as in :func:`_activations`: ``(acts, mutated, mutates)``
    (``mutates``: some forward changed its input in place), or None unless the model ran
    each layer once, in order, on ``x`` or what the layer before returned (equal values),
    and returned what the last one did."""
    if len({id(layer) for layer in layers}) != len(layers):
        return None
    acts, mutated, broken = [x], [], []
    with shadowing() as shadows:
        for i, layer in enumerate(layers):
            if not shadows.put(layer, "forward", _in_order(i, layer, acts, mutated, broken)):
                return None
        given = x.copy() if given is None else given
        with during("the forward of the model at the given point"):
            pred = model.forward(given)
    if broken or len(mutated) != len(layers) or not same_values(pred, acts[-1]):
        return None
    return acts, mutated, any(mutated) or not same_values(given, x)


def _in_order(i: int, layer, acts: list, mutated: list, broken: list):
    """A stand-in for layer ``i``'s forward that records it as :func:`_forward_in_order`
    reads it; a call out of order, or on another input, marks the run ``broken``."""
    forward = layer.forward

    def in_order(h, *args, **kwargs):
        if broken or args or kwargs or len(mutated) != i or not same_values(h, acts[i]):
            broken.append(i)
            return forward(h, *args, **kwargs)
        out = forward(h)
        mutated.append(not same_values(h, acts[i]))
        acts.append(np.array(out, copy=True))
        return out
    return in_order


def _held_constant(probe, label: str, x: np.ndarray) -> None:
    """The first layer's probe rows for an integer or boolean model input (token ids): its
    ``"constant"`` row in place of any complaint about the dx it need not return."""
    probe.rows = [constant_input_row(label, "input", x)] + [
        r for r in probe.rows if not (r["tensor"] == "input" and r["check"] == "grad_shape")]


def probe_chain(layers, acts, mutated, dpred, firsts=None, linearity: bool = True) -> list:
    """Probe the layers from last to first; each gets the dL/dx of the probe after it as G.

    ``mutated`` (per layer, from :func:`_activations`, whose state the layers still hold)
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
        if i == 0 and not holds_floats(acts[0]):   # token ids: a constant, no dx
            _held_constant(probes[0], layer_name(0, layers[0]), acts[0])
            break
        if g is None:
            raise ValueError(f"check_model: layer {layer_name(i, layers[i])}'s backward returned "
                             "None; it must return dL/dx so the layers before it get their dy")
        if np.shape(g) != np.shape(acts[i]):
            raise ValueError(f"check_model: layer {layer_name(i, layers[i])} returned dx of "
                             f"shape {np.shape(g)} for an input of shape {np.shape(acts[i])}")
    return probes
