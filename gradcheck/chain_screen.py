"""Every layer of a chain along one joint direction: the first screen of ``mode="auto"``.

A chain's layers are checked at their cached inputs against their own upstream gradients
(the local objectives) and through the later layers to the loss (end-to-end). Within one
layer, ``mode="auto"`` already moves the large tensors together along one joint random
direction (:mod:`gradcheck.joint_direction`). The same holds across layers:

- the local objectives of different layers read different tensors, so their sum
  ``sum_i <G_i, y_i>`` is one objective whose directional derivative along a joint
  direction is the sum of each layer's;
- the loss of the chain run with every layer's input and parameters moved (each layer's
  input: the output of the layer before plus its own move) changes, to first order, by the
  sum of their end-to-end derivatives.

So one joint direction over the tensors of every layer, weighted as within a layer (each
tensor's contribution balanced to a common level, the tolerance as strict as for the
smallest), checks them all at once: two evaluations of every layer and of the chain, instead
of two of each layer plus two of the layers after it, per layer.

The screen only ever passes tensors: when its direction passes with a tolerance fine enough
to mean it (:func:`gradcheck.plan.resolved`), every tensor in it gets its verdicts; the
tensors it leaves out (too small for a direction, a zero contribution, one that cannot reach
the common level), and every tensor when it does not pass, are checked in their layer's own
point, which names the wrong layer, tensor and element.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from gradcheck.engine import Tensor
from gradcheck.joint_direction import check_jointly, plan_joint
from gradcheck.judge import Verdict
from gradcheck.layer_point import input_copier
from gradcheck.plan import resolved
from gradcheck.point import Point, round_off
from gradcheck.probes import during
from gradcheck.report import verdict_row
from gradcheck.settings import Settings
from gradcheck.validation import trainable

__all__ = ["Screened", "chain_screen"]


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


class _ChainLoss:
    """``changes(y, None) -> (1,)``: the loss change of the chain run from the current
    contents of the layers' input tensors (each added to what the layer before gives).

    ``y`` holds the layers' outputs on those inputs (the local objectives' evaluation), of
    which the first layer's is the chain's first step already.
    """

    def __init__(self, layers, labels, boxes, acts, fresh, loss, target, loss0: float):
        self.layers, self.labels, self.boxes, self.acts = layers, labels, boxes, acts
        self.fresh, self.loss, self.target, self.loss0 = fresh, loss, target, loss0

    def changes(self, y: np.ndarray, _region) -> np.ndarray:
        first = self.acts[1]
        h = y[:first.size].reshape(first.shape).astype(first.dtype, copy=False)
        for i in range(1, len(self.layers)):
            h = h + (self.boxes[i] - self.acts[i])
            with during(f"a perturbed forward of {self.labels[i]} (the chain to the loss)"):
                h = self.layers[i].forward(self.fresh[i](h))
        return np.array([float(self.loss.forward(np.asarray(h), self.target)) - self.loss0])


def _chain_point(layers, labels, acts, probes, e2e, loss, y, loss0, dtype: str,
                 e2e_noise: float) -> Point | None:
    """The chain as one target: tensor ``"<i>.input"`` and ``"<i>.<key>"`` per layer ``i``;
    None when a parameter is read-only (the layer's own check then says so)."""
    boxes = [a.copy() for a in acts[:-1]]
    fresh = [input_copier(p.mutates_input) for p in probes]
    tensors, analytic, ends = [], {}, {}
    for i, (layer, probe) in enumerate(zip(layers, probes, strict=True)):
        params = trainable(layer.params)
        if not all(v.flags.writeable for v in params.values()):
            return None
        own = {"input": (boxes[i], probe.dx), **{k: (v, probe.grads.get(k))
                                                 for k, v in params.items()}}
        for key, (live, grad) in own.items():
            tensors.append(Tensor(f"{i}.{key}", live))
            if grad is not None and np.shape(grad) == live.shape:
                analytic[f"{i}.{key}"] = grad
            if key in e2e[i]:
                ends[f"{i}.{key}"] = e2e[i][key]

    def evaluate():
        outputs = []
        for label, layer, box, copy in zip(labels, layers, boxes, fresh, strict=True):
            with during(f"a perturbed forward of {label}"):
                outputs.append(np.ravel(layer.forward(copy(box))))
        return np.concatenate(outputs)

    y0 = np.concatenate([np.ravel(p.y0) for p in probes])
    G = np.concatenate([np.ravel(p.G) for p in probes])
    chain = _ChainLoss(layers, labels, boxes, acts, fresh, loss, y, loss0)
    return Point("the layers", tuple(tensors), evaluate, y0, G, analytic,
                 round_off(dtype, G, y0), chain, ends, e2e_noise)


def chain_screen(layers, labels, acts, probes, e2e, loss, y, loss0: float, s: Settings,
                 e2e_noise: float) -> tuple[list[Screened], dict]:
    """Per layer, what the screen settles (the layer's own check takes the rest), and the
    directions it drew for the whole model's tensors (``"input"``, ``"<i>.<key>"``), for the
    second point to reuse.

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
    loss, y, loss0, s, e2e_noise
        The loss, its targets and value at the point, the settings, a loss's round-off.
    """
    none = [Screened({}, False) for _ in layers], {}
    if s.mode != "auto" or len(layers) < 2:
        return none
    point = _chain_point(layers, labels, acts, probes, e2e, loss, y, loss0, s.dtype, e2e_noise)
    names = [] if point is None else [t.name for t in point.tensors
                                      if t.name in point.analytic and t.live.size]
    joint = plan_joint(point, names, s) if names else None
    if joint is None:
        return none
    drawn = {("input" if n == "0.input" else n): v for n, v in zip(
        joint.names, joint.directions, strict=True) if not n.endswith(".input") or n == "0.input"}
    verdicts = check_jointly(point, joint, s)
    if not (all(v.status == "pass" for v in verdicts) and resolved(verdicts, s.dtype)):
        return none[0], drawn
    label = f"joint direction ({len(joint.names)} tensors of {len(layers)} layers)"
    verdicts = [replace(v, worst_label=label) for v in verdicts]
    out = []
    for i in range(len(layers)):
        own = [n for n in names if n.split(".", 1)[0] == str(i)]
        judged = 2 if any(n in point.e2e for n in own) else 1   # as the layer's own point
        settled = {n.split(".", 1)[1]: verdicts[:judged] for n in own if n in joint.names}
        out.append(Screened(settled, len(settled) == len(own)))
    return out, drawn
