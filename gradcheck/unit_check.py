"""One call of a model's layer (or block) checked on its own: at the inputs it got during the
model's forward, with the upstream gradient it got during the model's backward as ``G``.

The calls are those of :func:`gradcheck.check_layer` (its docstring lists them) with that
``G`` instead of a random one; a layer with several inputs or outputs, or integer inputs, is
checked through :class:`gradcheck.several_inputs.InputsAsParams`, as ``check_layer`` does.
"""

from __future__ import annotations

import numpy as np

from gradcheck.layer_check import point_rows, recheck_layer
from gradcheck.layer_point import layer_point
from gradcheck.probe_calls import LayerProbe, SeveralOutputs, during, first_backward, upstream_like
from gradcheck.probes import calls_leave_params_alone, probe_layer
from gradcheck.report import problem_row
from gradcheck.restore import Snapshot
from gradcheck.selection import rng_for
from gradcheck.settings import Settings
from gradcheck.several_inputs import PLACEHOLDER, InputsAsParams, parse_inputs

__all__ = ["call_rows", "recheck_call", "unchecked_row"]


def unchecked_row(label: str, why: str) -> dict:
    """A ``"vacuous"`` row: nothing was checked of this layer (``why`` says so)."""
    return {**problem_row(label, "output", (), "not_checked", f"not checked: {why}"),
            "status": "vacuous"}


def _form(layer, args, several: bool = False):
    """``(target, x, check_input)``: the layer and its one float input, or the inputs shown
    as parameters (``several``: the layer returns several outputs)."""
    inputs = parse_inputs(tuple(args), "check_model")
    if inputs.plain and not several:
        return layer, inputs.arrays[0], True
    return InputsAsParams(layer, inputs), PLACEHOLDER, False


def _upstream(dy, y0, label: str, s: Settings, what: str) -> np.ndarray:
    """``dy`` when it fits the output ``y0``, else a random upstream gradient."""
    if dy is not None and np.shape(dy) == np.shape(y0):
        return dy
    return upstream_like(y0, rng_for(s.seed, label, what))


def call_rows(label: str, layer, args, dy, s: Settings, bar=None, rerun_check=None):
    """Rows of one call: ``(rows, verdicts by tensor, deterministic)``.

    ``args`` are the call's positional inputs (None: it had keyword arguments), ``dy`` the
    upstream gradient it got (None: unknown, a random one is used; several outputs: their
    ``dy`` flattened and joined).
    """
    if args is None:
        return [unchecked_row(label, "forward was called with keyword arguments")], {}, True
    try:
        form = _form(layer, args)
    except (TypeError, ValueError) as exc:
        return [unchecked_row(label, f"its inputs cannot be checked ({exc})")], {}, True
    try:
        return _rows(label, *form, dy, s, bar, rerun_check)
    except SeveralOutputs:
        return _rows(label, *_form(layer, args, several=True), dy, s, bar, rerun_check)


def _rows(label: str, target, x, check_input: bool, dy, s: Settings, bar, rerun_check):
    before = Snapshot(target)
    probe = probe_layer(label, target, x, lambda y0: _upstream(dy, y0, label, s, "upstream"))
    moved = calls_leave_params_alone(label, target, before)
    rows = (target.rows(label) if isinstance(target, InputsAsParams) else []) + probe.rows
    rows += moved
    if not probe.deterministic or moved:
        return rows, {}, False
    point = layer_point(label, target, x, probe, s.dtype, check_input=check_input)
    found, first = point_rows(point, s, bar, target, x, rerun_check)
    return rows + found, first, True


def recheck_call(label: str, layer, args, dy, s: Settings, first: dict,
                 own: list[dict]) -> list[dict]:
    """One call again at the second point (its inputs ``args`` there, ``dy`` as ``G``): rows
    for tensors wrong there, notes on the given point's rows ``own``."""
    try:
        target, x2, check_input = _form(layer, args or ())
    except (TypeError, ValueError):   # not checked at the given point either
        return []
    with during(f"the forward of {label} at the second point"):
        raw = target.forward(x2.copy())
        if isinstance(raw, (tuple, list)):
            target, x2, check_input = _form(layer, args, several=True)
            raw = target.forward(x2)
    y2 = np.array(raw, copy=True)
    if not np.isfinite(y2).all():
        return []
    G2 = _upstream(dy, y2, label, s, "second point")
    (_, dx, grads, _), _ = first_backward(label, target, G2.copy(), G2)
    probe2 = LayerProbe(y0=y2, G=G2, dx=dx, grads=grads, mutates_input=True)
    return recheck_layer(label, target, x2, probe2, s, first, own, check_input=check_input)
