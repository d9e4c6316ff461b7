"""The rows of :func:`gradcheck.check_model`: each layer at its real input, end to end, and
again at a second point of the whole model."""

from __future__ import annotations

import numpy as np

from gradcheck.layer_check import point_rows, recheck_layer
from gradcheck.layer_point import layer_point, model_point, moved_parameters, moved_value
from gradcheck.model_walk import (
    activations,
    layer_name,
    model_grads,
    probe_chain,
    recorded_backward,
)
from gradcheck.plan import check_point, passed
from gradcheck.point import round_off
from gradcheck.probes import LayerProbe, calls_leave_params_alone
from gradcheck.progress import progress_bar
from gradcheck.rest_of_model import Downstream
from gradcheck.selection import rng_for
from gradcheck.settings import Settings
from gradcheck.validation import NonFiniteLoss

__all__ = ["model_rows"]


def _walk(model, layers, loss, x, y, chained=None):
    """Forward through the layers and the recorded ``model.backward``; whether it chains
    (``model.forward`` is compared with the layers in order unless ``chained`` is known)."""
    acts, mutated, loss0, dpred = activations(layers, loss, x, y)
    if chained is None:
        pred = np.array(model.forward(x.copy()), copy=True)
        chained = pred.shape == acts[-1].shape and np.array_equal(pred, acts[-1],
                                                                  equal_nan=True)
    recorded = recorded_backward(model, layers, dpred) if chained else None
    return acts, mutated, loss0, dpred, chained, recorded


def model_rows(model, layers, loss, x, y, s: Settings, snapshots,
               rerun_check=None) -> tuple[list[dict], Settings]:
    """Probe rows, then local and end-to-end verdict rows per layer, then second-point rows.

    ``snapshots`` (one :class:`gradcheck.restore.Snapshot` per layer, taken before the
    check) tell which layers replaced or changed their parameters: those get a protocol row
    and no numeric rows, as random layers do. ``rerun_check(layer, x)`` runs the likely
    cause's context reruns of a failing layer.
    """
    acts, mutated, loss0, dpred, chained, recorded = _walk(model, layers, loss, x, y)
    firsts, e2e = recorded or (None, None)
    probes = probe_chain(layers, acts, mutated if chained else None, dpred, firsts)
    for i, (layer, before) in enumerate(zip(layers, snapshots, strict=True)):
        moved = calls_leave_params_alone(layer_name(i, layer), layer, before)
        if moved:
            probes[i].rows += moved
            probes[i].deterministic = False
    random = not all(p.deterministic for p in probes)
    if not (chained or random):
        raise ValueError("check_model: model.forward(x) differs from running x through "
                         "model.layers in order; check_model needs a sequential model")
    s = s.for_arrays({"x": x, **{f"{layer_name(i, layer)}.{k}": v for i, layer in
                                 enumerate(layers) for k, v in layer.params.items()},
                      **{f"the output of {layer_name(i, layer)}": a for i, (layer, a) in
                         enumerate(zip(layers, acts[1:], strict=True))}}, "check_model")
    if e2e is None:
        e2e = [{}] * len(layers) if random else model_grads(model, layers, dpred)
    noise = round_off(s.dtype, dpred, acts[-1], loss0)
    rows = [row for p in probes for row in p.rows]
    total = sum(p.size for layer in layers for p in layer.params.values()) + sum(
        a.size for a in acts[:-1])
    firsts_by_layer = []
    with progress_bar(total if s.mode == "full" else 0) as bar:
        for i, layer in enumerate(layers):
            if not probes[i].deterministic:
                firsts_by_layer.append({})
                continue
            down = None if random else Downstream(
                layers[i + 1:], acts[i + 1:], loss, y, loss0, s.step,
                lambda i=i: rng_for(s.seed, "downstream", str(i)))
            point = layer_point(layer_name(i, layer), layer, acts[i], probes[i], s.dtype,
                                downstream=down, e2e=e2e[i], e2e_noise=noise)
            found, first = point_rows(point, s, bar, layer, acts[i], rerun_check)
            rows += found
            firsts_by_layer.append(first)
    if s.second_point and chained and not random:
        rows += _second_point(model, layers, loss, x, y, s, firsts_by_layer, rows)
    return rows, s


def _second_point(model, layers, loss, x, y, s: Settings, firsts: list[dict],
                  rows: list[dict]) -> list[dict]:
    """The model again at a moved input and weights: end to end along one joint direction
    over the input and every parameter; when that does not pass, every layer on its own."""
    rng = rng_for(s.seed, "model", "second point")
    x2 = moved_value(x, rng)
    with moved_parameters(layers, rng):
        try:
            whole = model_point(model, layers, loss, x2, y, s.dtype)
        except NonFiniteLoss:   # the loss is not finite there: no second point
            return []
        wrong = {f"{i}.{n}" for i, first in enumerate(firsts) for n, verdicts in first.items()
                 if not passed(verdicts)}
        names = [n for n in whole.analytic if n not in wrong]
        results = check_point(whole, names, s.at_second_point(), elements_first=False,
                              locate=False)
        if all(v[0].status != "fail" for v in results.values()):
            return []
        return _layers_at_second_point(model, layers, loss, x2, y, s, firsts, rows)


def _layers_at_second_point(model, layers, loss, x2, y, s: Settings, firsts: list[dict],
                            rows: list[dict]) -> list[dict]:
    """Every layer at its input after a model forward at the second point."""
    acts, mutated, _, _, _, recorded = _walk(model, layers, loss, x2, y)
    if recorded is None:
        return []
    extra = []
    for i, layer in enumerate(layers):
        G, dx, grads, _ = recorded[0][i]
        probe = LayerProbe(y0=acts[i + 1], G=G, dx=dx, grads=grads, mutates_input=mutated[i])
        label = layer_name(i, layer)
        own = [r for r in rows if r["layer"] == label and r["check"] == "gradient"]
        extra += recheck_layer(label, layer, acts[i], probe, s, firsts[i], own)
    return extra
