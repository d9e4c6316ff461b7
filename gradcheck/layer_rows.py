"""The rows of a layer check: its probes, its tensors at the given point and at a second
point (:func:`gradcheck.check_layer`'s body)."""

from __future__ import annotations

from gradcheck.layer_check import point_rows, second_point_rows
from gradcheck.layer_point import layer_point
from gradcheck.probe_calls import SeveralOutputs, upstream_like
from gradcheck.probes import calls_leave_params_alone, probe_layer
from gradcheck.progress import progress_bar
from gradcheck.restore import Snapshot, kept_state
from gradcheck.selection import rng_for
from gradcheck.settings import Settings
from gradcheck.several_inputs import PLACEHOLDER, InputsAsParams
from gradcheck.validation import buffer_rows, trainable

__all__ = ["checked_layer"]


def checked_layer(name: str, layer, inputs, s: Settings, rerun_check):
    """Every row of :func:`gradcheck.check_layer` of ``layer`` (row label ``name``) at
    ``inputs`` (:func:`gradcheck.several_inputs.parse_inputs`), and the settings as applied;
    the layer restored. ``rerun_check(layer, x)`` is the likely cause's quick check."""
    with kept_state([layer]) as (before,):
        rows = buffer_rows(name, layer)
        try:
            if not inputs.plain:
                raise SeveralOutputs
            found, s = _layer_rows(name, layer, inputs.arrays[0], s, before,
                                   {"x": inputs.arrays[0]}, rerun_check)
            return rows + found, s
        except SeveralOutputs:   # several inputs or outputs, integer inputs: inputs as params
            before.restore()
            view = InputsAsParams(layer, inputs)
            named = dict(zip(inputs.names, inputs.arrays, strict=True))
            found, s = _layer_rows(name, view, PLACEHOLDER, s, Snapshot(view), named,
                                   rerun_check, check_input=False)
            return rows + view.rows(name) + found, s


def _layer_rows(name: str, layer, x, s: Settings, before, named: dict, rerun_check, *,
                check_input=True):
    """Probe rows and verdict rows of ``layer`` at ``x`` (``named``: the inputs, for the
    dtype rule), the second point's when ``s.second_point``; and the settings as applied."""
    probe = probe_layer(name, layer, x, lambda y0: upstream_like(y0, rng_for(s.seed, "upstream")))
    s = s.for_arrays({**named, **{f"params[{k!r}]": v for k, v in trainable(layer.params).items()
                                  if k not in named}, "the output": probe.y0}, "check_layer")
    moved = calls_leave_params_alone(name, layer, before)
    rows = list(probe.rows) + moved
    if probe.deterministic and not moved:
        point = layer_point(name, layer, x, probe, s.dtype, check_input=check_input)
        with progress_bar(_full_size(s.mode, point.tensors)) as bar:
            found, first = point_rows(point, s, bar, layer, x, rerun_check)
        rows += found
        if s.second_point:   # not again for tensors whose backward already broke a rule
            broken = {r["tensor"] for r in probe.rows if r["status"] == "fail"}
            first = {k: v for k, v in first.items() if k not in broken}
            rows += second_point_rows(name, layer, x, probe, s, first, found,
                                      check_input=check_input)
    return rows, s


def _full_size(mode: str, tensors) -> int:
    """Elements checked one by one in ``"full"`` mode (the progress bar's total), else 0."""
    return sum(t.live.size for t in tensors) if mode == "full" else 0
