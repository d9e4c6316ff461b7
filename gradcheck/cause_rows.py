"""The likely cause of each failing tensor of a point, written into its rows.

The checker's side of :mod:`gradcheck.causes`: the full analytic and numeric arrays of the
failing tensor (the numeric one from the plan's element checks, or computed in full now),
the verdict's tolerance, the layer's other statuses and the context reruns.
"""

from __future__ import annotations

import numpy as np

from gradcheck.causes import Evidence, likely_causes, rerun_evidence
from gradcheck.plan import full_numeric
from gradcheck.point import Point
from gradcheck.settings import Settings

__all__ = ["NO_PATTERN", "TOO_LARGE", "add_likely_causes"]

NO_PATTERN = "no simple pattern"
TOO_LARGE = "not analysed: the tensor is too large for a full numeric gradient"


def add_likely_causes(point: Point, results: dict, details: dict, rows: list[dict],
                      s: Settings, layer=None, x: np.ndarray | None = None,
                      rerun_check=None) -> None:
    """Fill ``likely_cause`` and ``cause_label`` of the local rows of every failing tensor.

    Parameters
    ----------
    point : Point
    results : dict of str to list of Verdict
        The point's verdicts by tensor name (local first).
    details : dict
        ``name -> (numeric, tolerance)`` the plan kept (see :func:`gradcheck.plan.check_point`).
    rows : list of dict
        The point's rows (changed in place).
    layer, x, rerun_check : optional
        The layer, its input and ``rerun_check(layer, x) -> report`` (a quick check), for the
        context reruns on deep copies of the layer; any None: no reruns.
    """
    statuses = {n: v[0].status for n, v in results.items()}
    for name in [n for n, st in statuses.items() if st == "fail"]:
        arrays = details.get(name) or full_numeric(point, name, s)
        if arrays is None:
            text, labels = TOO_LARGE, ""
        else:
            causes = likely_causes(_evidence(point, name, arrays, statuses, layer, x,
                                             rerun_check))
            text = "; ".join(causes) if causes else NO_PATTERN
            labels = ",".join(c.label for c in causes)
        for row in rows:
            if row["tensor"] == name and row["check"] == "gradient":
                row["likely_cause"], row["cause_label"] = text, labels


def _evidence(point: Point, name: str, arrays, statuses: dict, layer, x,
              rerun_check) -> Evidence:
    numeric, tolerance = arrays
    reruns = ({} if layer is None or x is None or rerun_check is None
              else rerun_evidence(layer, x, rerun_check, name))
    live = point.live(name)
    return Evidence(layer=point.label, tensor=name, analytic=np.asarray(point.analytic[name]),
                    numeric=numeric, tolerance=tolerance, value=np.array(live, copy=True),
                    upstream=point.G, batch_size=_batch_size(layer, x),
                    statuses=statuses, reruns=reruns)


def _batch_size(layer, x) -> int | None:
    """The batch size the likely cause may quote: ``len(x)``, or what a several-input view
    of the layer says (its ``x`` is a placeholder)."""
    told = getattr(layer, "gradcheck_batch_size", None)
    if isinstance(told, int):
        return told
    return len(x) if x is not None and np.ndim(x) else None
