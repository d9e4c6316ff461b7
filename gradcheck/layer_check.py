"""One layer's rows: its probes, its tensors at the given point, and at a second point."""

from __future__ import annotations

import numpy as np

from gradcheck.cause_rows import add_likely_causes
from gradcheck.layer_point import (
    SECOND_POINT_MOVE,
    layer_point,
    moved_parameters,
    moved_value,
    refilled_input,
)
from gradcheck.plan import check_point
from gradcheck.point import Point
from gradcheck.probe_calls import LayerProbe, during, first_backward, upstream_like
from gradcheck.report import verdict_row
from gradcheck.selection import rng_for
from gradcheck.settings import Settings

__all__ = ["SECOND_POINT_NOTES", "point_rows", "recheck_layer", "second_point_rows",
           "second_point_verdict_rows"]

SECOND_POINT_NOTES = {
    "stale": "passes at the given point but fails at a second point (input and parameters "
             "moved by about 1%, 5% in float32, both refilled in place) after a forward "
             "there: backward may use a value cached by an earlier call (the first input, a "
             "transposed weight, a cache keyed on an array's id) instead of the current one",
    "kink": "the given point sits on kinks; at a second point nearby, without them, the "
            "gradient is wrong",
    "smooth": "at a second point nearby (every input and parameter moved) it passes",
    "zeros": "the given point's check saw only zeros (it proved nothing there); at a second "
             "point nearby the gradient is wrong",
    "sampled": "fails at a second point, along random directions that see every element: "
               "the elements sampled at the given point missed the wrong ones",
    "marginal": "fails at a second point by about the relative error it already had at the "
                "given point, where that was still within the tolerance: the gradient is "
                "likely wrong by this much everywhere, an error at the limit of what the "
                "dtype's finite differences resolve",
}
_CHECKS = ("gradient", "end_to_end")


def point_rows(point: Point, s: Settings, progress=None, layer=None,
               x: np.ndarray | None = None, rerun_check=None,
               settled: dict | None = None) -> tuple[list[dict], dict]:
    """Verdict rows of every tensor of ``point`` that has an analytic gradient, with the
    likely cause of each failing one (context reruns of ``rerun_check`` on copies of
    ``layer`` at ``x`` when given). ``settled`` holds verdicts already reached for some of
    the tensors (by :mod:`gradcheck.chain_screen`), which are not checked again.

    Returns the rows and the verdicts by tensor name (for the second point's notes).
    """
    names = [t.name for t in point.tensors if t.name in point.analytic and t.live.size]
    settled = {n: v for n, v in (settled or {}).items() if n in names}
    details = {}
    results = check_point(point, [n for n in names if n not in settled], s, progress,
                          details=details)
    results = {n: settled[n] if n in settled else results[n] for n in names}
    rows = [verdict_row(point.label, n, point.live(n).shape, check, v)
            for n in names for check, v in zip(_CHECKS, results[n], strict=False)]
    if s.likely_cause:
        add_likely_causes(point, results, details, rows, s, layer, x, rerun_check)
    return rows, results


def second_point_rows(label: str, layer, x: np.ndarray, probe: LayerProbe, s: Settings,
                      first: dict, rows: list[dict], *, check_input=True) -> list[dict]:
    """Check ``layer`` again at a second point; rows for tensors wrong there.

    ``first`` holds the verdicts at the given point; the given point's ``rows`` of tensors
    that sit on kinks there get a note on how they fare at the second point.
    """
    rng = rng_for(s.seed, label, "second point")
    move = SECOND_POINT_MOVE[s.dtype]
    x2 = moved_value(x, rng, move) if check_input else x
    # a layer that gets a copy on every call cannot keep a cache keyed on its input array
    buffer = x2.copy() if probe.mutates_input else refilled_input(layer.forward, x, x2, label)
    with moved_parameters([layer], rng, move):
        with during(f"the forward of {label} at the second point"), np.errstate(all="ignore"):
            y2 = np.array(layer.forward(buffer), copy=True)   # no second point if not finite
        if not np.isfinite(y2).all():
            return []
        G2 = upstream_like(y2, rng)
        (_, dx, grads, _), _ = first_backward(label, layer, G2.copy(), G2)
        probe2 = LayerProbe(y0=y2, G=G2, dx=dx, grads=grads, mutates_input=probe.mutates_input)
        return recheck_layer(label, layer, x2, probe2, s, first, rows,
                             check_input=check_input)


def recheck_layer(label: str, layer, x2: np.ndarray, probe2: LayerProbe, s: Settings,
                  first: dict, rows: list[dict], *, check_input=True) -> list[dict]:
    """A layer's tensors that did not fail at the given point (verdicts ``first``), checked
    along directions at the second point (input ``x2``, forward and backward in ``probe2``);
    rows for those wrong there, notes on the given point's ``rows``."""
    point = layer_point(label, layer, x2, probe2, s.dtype, check_input=check_input)
    names = [n for n in first if n in point.analytic and first[n][0].status != "fail"]
    again = check_point(point, names, s.at_second_point(), elements_first=False)
    return second_point_verdict_rows(point, first, again, rows, s.mode == "sample")


def second_point_verdict_rows(point: Point, first: dict, again: dict, rows: list[dict],
                              sampled: bool = False) -> list[dict]:
    """Rows for tensors wrong at the second point (verdicts ``again``), and notes on the
    given point's ``rows`` of tensors that sat on kinks there but pass at the second."""
    extra = []
    for name, verdicts in again.items():
        before = first[name][0].status
        if verdicts[0].status == "fail":
            note = SECOND_POINT_NOTES[_note_key(first[name][0], verdicts[0], sampled)]
            extra.append(verdict_row(point.label, name, point.live(name).shape,
                                     "second_point", verdicts[0], note))
        elif before == "nondifferentiable":
            for row in rows:
                if row["tensor"] == name and row["status"] == "nondifferentiable":
                    row["message"] += f"; {SECOND_POINT_NOTES['smooth']}"
    return extra


def _note_key(first, again, sampled: bool) -> str:
    """Which :data:`SECOND_POINT_NOTES` explains a tensor that did not fail at the given point
    (verdict ``first``) but fails at the second (``again``)."""
    if first.status in ("nondifferentiable", "vacuous"):
        return {"nondifferentiable": "kink", "vacuous": "zeros"}[first.status]
    if sampled:
        return "sampled"
    close = first.tolerance > 0 and first.max_abs_err >= 0.1 * first.tolerance
    similar = first.max_rel_err > 0 and again.max_rel_err <= 10 * first.max_rel_err
    return "marginal" if close and similar else "stale"
