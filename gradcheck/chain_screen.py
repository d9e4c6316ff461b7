"""Every layer of a chain along one joint direction: the first screen of ``mode="auto"``.

A chain's layers are checked at their cached inputs against their own upstream gradients
(the local objectives) and through the later layers to the loss (end-to-end). Within one
layer, ``mode="auto"`` already moves the large tensors together along one joint random
direction (:mod:`gradcheck.joint_direction`). The same holds across layers, whenever
``model.backward`` is exactly the chain of the layers' backwards (:func:`exact_chain`: the
last layer got ``dL/dpred``, every other the ``dx`` of the layer after it, and each left the
grads its own backward gave):

- run the chain with every layer's input and parameters moved (each layer's input: the
  output of the layer before plus its own move); to first order, ``<dL/dpred, pred>``
  changes by the sum over layers of each tensor's analytic gradient (what the layers'
  backwards chained from ``dL/dpred`` gave) along its move, *if every layer's backward is
  right at the upstream gradient it got*: a wrong one shifts it by its error, directly and
  through the layers before it, which random directions do not cancel. That is the local
  objective of the chain, and it judges each layer's ``gradient`` rows;
- the loss of the same runs changes by the sum of the end-to-end derivatives: the
  ``end_to_end`` rows (which the loss's own gradient joins).

So one joint direction over the tensors of every layer, weighted as within a layer (each
tensor's contribution balanced to a common level, the tolerance as strict as for the
smallest), checks them all at once: two runs of the chain, instead of two of each layer
plus two of the layers after it, per layer. A model whose backward is not exactly that chain
(a factor outside the layers, a gradient changed after a layer's backward) is not screened.

The screen only ever passes tensors: when its direction passes with a tolerance fine enough
to mean it (:func:`gradcheck.judge.resolved`), every tensor in it, of any size, gets its
verdicts; the tensors it leaves out (a zero contribution, one that cannot reach the common
level), and every tensor when it does not pass, are checked in their layer's own point
(element by element up to ``AUTO_FULL_LIMIT`` elements), which names the wrong layer, tensor
and element.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gradcheck.arrays import holds_floats, same_values
from gradcheck.engine import Tensor
from gradcheck.joint_direction import Joint, check_jointly, plan_joint
from gradcheck.judge import Verdict
from gradcheck.layer_point import input_copier
from gradcheck.point import Point, round_off
from gradcheck.probe_calls import during
from gradcheck.report import verdict_row
from gradcheck.settings import Settings
from gradcheck.validation import trainable

__all__ = ["Screen", "Screened", "chain_screen"]


class Screened(NamedTuple):
    """What the screen settled of one layer."""

    verdicts: dict[str, list[Verdict]]   # by tensor name: local, then end-to-end if judged
    complete: bool                       # every tensor the layer's own check would judge

    def rows(self, label: str, layer, x: np.ndarray) -> list[dict]:
        """The layer's rows, in tensor order (``x``: its input)."""
        shapes = {"input": x.shape, **{k: v.shape for k, v in layer.params.items()}}
        return [verdict_row(label, name, shapes[name], check, v)
                for name, found in self.verdicts.items()
                for check, v in zip(("gradient", "end_to_end"), found, strict=False)]


class Screen(NamedTuple):
    """What :func:`chain_screen` found, for the layers' own checks and the second point."""

    screened: list[Screened]      # per layer
    joint: Joint | None           # its direction over the model's tensors, to reuse
    input_seen: np.ndarray | None  # the array holding x the first layer last ran on, when
    #                                nothing runs it again before the second point


class _LossChange:
    """``changes(pred, None) -> (1,)``: the loss change of a perturbed prediction."""

    def __init__(self, loss, target, loss0: float):
        self.loss, self.target, self.loss0 = loss, target, loss0

    def changes(self, pred: np.ndarray, _region) -> np.ndarray:
        return np.array([float(self.loss.forward(pred, self.target)) - self.loss0])


def exact_chain(probes, e2e: list[dict], dpred: np.ndarray) -> bool:
    """True when ``model.backward`` is exactly the chain of the layers' backwards: the last
    layer got ``dL/dpred`` and every other the ``dx`` of the layer after it, and each left
    the grads its own backward gave (the same values)."""
    upstream = [q.dx for q in probes[1:]] + [dpred]
    return all(same_values(p.G, up) for p, up in zip(probes, upstream, strict=True)) and all(
        k in p.grads and (g is p.grads[k] or same_values(g, p.grads[k]))
        for p, ends in zip(probes, e2e, strict=True) for k, g in ends.items())


def _chain_point(layers, labels, acts, probes, e2e, loss, y, loss0: float, dtype: str,
                 e2e_noise: float) -> Point | None:
    """The chain as one target: tensor ``"<i>.input"`` (added to what the layer before
    gives) and ``"<i>.<key>"`` per layer ``i``; output the prediction, weighted by
    ``dL/dpred`` (local objective) and through the loss (end-to-end). None when a parameter
    is read-only (the layer's own check then says so)."""
    boxes = [a.copy() for a in acts[:-1]]
    fresh = [input_copier(p.mutates_input) for p in probes]
    tensors, analytic, ends = [], {}, {}
    for i, (layer, probe) in enumerate(zip(layers, probes, strict=True)):
        params = trainable(layer.params)
        if not all(v.flags.writeable for v in params.values()):
            return None
        own = {"input": (boxes[i], probe.dx), **{k: (v, probe.grads.get(k))
                                                 for k, v in params.items()}}
        if not holds_floats(boxes[i]):   # token ids: a constant
            del own["input"]
        for key, (live, grad) in own.items():
            tensors.append(Tensor(f"{i}.{key}", live))
            if grad is not None and np.shape(grad) == live.shape:
                analytic[f"{i}.{key}"] = grad
            if key in e2e[i]:
                ends[f"{i}.{key}"] = e2e[i][key]

    def evaluate():
        h = boxes[0]
        for i, (label, layer) in enumerate(zip(labels, layers, strict=True)):
            if i:
                h = h + (boxes[i] - acts[i])
            with during(f"a perturbed forward of {label} (the chain to the loss)"):
                h = layer.forward(fresh[i](h))
        return np.asarray(h)

    pred, dpred = acts[-1], probes[-1].G
    return Point("the layers", tuple(tensors), evaluate, pred, dpred, analytic,
                 round_off(dtype, dpred, pred), _LossChange(loss, y, loss0), ends, e2e_noise)


def chain_screen(layers, labels, acts, probes, e2e, loss, y, loss0: float, dpred: np.ndarray,
                 s: Settings, e2e_noise: float) -> Screen:
    """Per layer, what the screen settles (the layer's own check takes the rest), and its
    joint direction over the whole model's tensors (``"input"``, ``"<i>.<key>"``), for the
    second point to reuse, with the screen's private copy of the model's input when the
    first layer ran on it last and the screen settles that layer (its own check then does
    not run it again), so that the second point refills it
    (:func:`gradcheck.layer_point.refilled_input`).

    Parameters
    ----------
    layers, labels : list
        The chain's layers (all deterministic) and their row labels.
    acts : list of ndarray
        Every layer's cached input, then the prediction.
    probes : list of LayerProbe
        Each layer's probe at its input (``G``, ``dx``, ``grads``).
    e2e : list of dict
        Per layer, the grads ``model.backward`` left (end-to-end analytic values).
    loss, y, loss0, dpred
        The loss, its targets, its value and gradient ``dL/dpred`` at the point.
    s, e2e_noise
        The settings and a loss's round-off.
    """
    none = [Screened({}, False) for _ in layers]
    if s.mode != "auto" or len(layers) < 2 or not exact_chain(probes, e2e, dpred):
        return Screen(none, None, None)
    point = _chain_point(layers, labels, acts, probes, e2e, loss, y, loss0, s.dtype, e2e_noise)
    names = [] if point is None else [t.name for t in point.tensors
                                      if t.name in point.analytic and t.live.size]
    joint = plan_joint(point, names, s) if names else None
    if joint is None:
        return Screen(none, None, None)
    given = _of_the_model(joint)
    verdicts, settled = check_jointly(point, joint, s, label=f"joint direction ("
                                      f"{len(joint.names)} tensors of {len(layers)} layers)")
    if not settled:
        return Screen(none, given, None)
    out = []
    for i in range(len(layers)):
        own = [n for n in names if n.split(".", 1)[0] == str(i)]
        judged = 2 if any(n in point.e2e for n in own) else 1   # as the layer's own point
        settled = {n.split(".", 1)[1]: verdicts[:judged] for n in own if n in joint.names}
        out.append(Screened(settled, len(settled) == len(own)))
    seen = (out[0].complete and not probes[0].mutates_input   # it ran on the "0.input" box
            and "0.input" in names)
    return Screen(out, given, point.live("0.input") if seen else None)


def _of_the_model(joint: Joint) -> Joint | None:
    """The part of the screen's joint direction over the whole model's tensors (its input,
    ``"input"``, and the parameters), for the second point; None when it holds none of them
    (only inner layers' inputs reached the common level)."""
    kept = [i for i, n in enumerate(joint.names) if not n.endswith(".input") or n == "0.input"]
    if not kept:
        return None
    return Joint(["input" if joint.names[i] == "0.input" else joint.names[i] for i in kept],
                 [joint.directions[i] for i in kept], joint.weights[kept],
                 joint.projections[kept])
