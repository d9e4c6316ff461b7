"""Likely cause: the probable bug behind one failing gradient, with the numbers that show it.

:func:`likely_causes` reads an :class:`Evidence` (the failing tensor's full analytic and
numeric arrays, the tolerance the verdict used, and the check's context) and returns at most
two causes, in this order:

1. the first array pattern that fits (:data:`gradcheck.causes_patterns.PATTERNS`: a
   rearrangement, a constant factor, overwritten repeats, one wrong slice, a factor per
   slice, an extra ``c x dy`` or ``c x value`` term, a small one-signed error);
2. what the context reruns showed (:func:`gradcheck.causes_reruns.rerun_evidence`):
   accumulation, a backward not linear in dy, one that ignores the latest forward (a stale
   cache), wrong only at batch size > 1,
   wrong only in training mode; unless the array pattern already explains it;
3. a path hint from which of the layer's tensors pass and which fail.

A cause is claimed only on a decisive test; ``[]`` means "no simple pattern". A tensor that
passes (or whose status is not ``"fail"``), or whose numeric gradient is not finite, never
gets a cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from gradcheck.causes_case import Cause, make_case
from gradcheck.causes_patterns import PATTERNS
from gradcheck.causes_reruns import RERUN_KEYS, rerun_evidence

__all__ = ["MAX_CAUSES", "RERUN_KEYS", "Cause", "Evidence", "likely_causes", "rerun_evidence"]

MAX_CAUSES = 2


@dataclass(frozen=True, eq=False)
class Evidence:
    """Everything the analysis may use about one failing tensor.

    Attributes
    ----------
    layer : str
        Row label, e.g. ``"Dense"`` or ``"2:Dense"``.
    tensor : str
        ``"input"``, ``"input0"``, ... or a parameter key.
    analytic, numeric : ndarray, shape s
        The layer's gradient for the tensor and its finite-difference estimate, in full.
    tolerance : ndarray, broadcastable to s
        The per-element tolerance of the verdict.
    value : ndarray, shape s, optional
        The tensor's own values (for the weight-decay test).
    upstream : ndarray, optional
        The upstream gradient dy fed to backward (shape of the layer's output).
    batch_size : int, optional
        n of the input batch.
    statuses : mapping of str to str
        Status (``"pass"``, ``"fail"``, ...) of the layer's tensors, this one included or not.
    reruns : mapping of str to bool
        Outcomes of the context reruns, keys :data:`RERUN_KEYS`.
    """

    layer: str
    tensor: str
    analytic: np.ndarray
    numeric: np.ndarray
    tolerance: np.ndarray
    value: np.ndarray | None = None
    upstream: np.ndarray | None = None
    batch_size: int | None = None
    statuses: Mapping[str, str] = field(default_factory=dict)
    reruns: Mapping[str, bool] = field(default_factory=dict)


# rerun key, the outcome that points at a bug, label, message, labels of array patterns
# that already explain that outcome
_RERUN_CAUSES = (
    ("repeat_calls_agree", False, "accumulation",
     "a second backward on the same dy gave another gradient: backward accumulates into "
     "grads (+=) or keeps state across calls; overwrite it (grads[k][...] = g)", ()),
    ("linear_in_dy", False, "nonlinear",
     "backward(-2 dy) is not -2 backward(dy): the gradient is not linear in dy (dy ignored, "
     "squared or clipped, or a term that does not depend on dy)", ("value_term",)),
    ("follows_new_forward", False, "ignores_forward",
     "after a forward at another point backward gave the same gradient while the numeric one "
     "changed: backward ignores the latest forward, through a stale cache from an earlier "
     "forward (store what backward needs on every forward) or an input-dependent factor left "
     "out (a mask, an argmax, an activation derivative)", ()),
    ("passes_single_sample", True, "batch_leak",
     "the same check on one sample (x[:1]) passes: wrong only at batch size > 1, samples leak "
     "into each other (a sum or mean over the batch axis where the forward treats samples "
     "separately, or the reverse)", ("mean_scale", "overwrite")),
    ("passes_eval_mode", True, "training_only",
     "the same check with layer.training = False passes: wrong only in training mode (batch "
     "statistics, a dropout mask or its 1/(1-p) scale)", ()),
)


def likely_causes(e: Evidence) -> list[Cause]:
    """At most :data:`MAX_CAUSES` likely causes of a failing tensor, each quoting its numbers.

    Each :class:`Cause` is the message (a ``str``) with a ``label`` naming the pattern
    (``"mean_scale"``, ``"layout"``, ``"overwrite"``, ...). ``[]`` when the tensor passes,
    is not ``"fail"`` in ``e.statuses``, or no simple pattern fits.
    """
    if e.statuses.get(e.tensor, "fail") != "fail":
        return []
    with np.errstate(all="ignore"):
        case = make_case(e)
        if not case.bad.any() or not np.isfinite(case.numeric).all():
            return []
        found = next((c for c in (test(case) for test in PATTERNS) if c is not None), None)
    causes = [found] if found is not None else []
    for key, flagged, label, message, explained in _RERUN_CAUSES:
        if e.reruns.get(key) is flagged and getattr(found, "label", None) not in explained:
            causes.append(Cause(label, message))
    hint = _path_hint(e)
    return (causes + ([hint] if hint else []))[:MAX_CAUSES]


def _role(key: str) -> str:
    """``"q"``, ``"k"`` or ``"v"`` for attention projections (``Wq``, ``w_k``, ``v``), else key."""
    short = key.lower().removeprefix("w").lstrip("_")
    return short if short in ("q", "k", "v") else key


def _path_hint(e: Evidence) -> Cause | None:
    """Which of the layer's tensors pass and fail, as a hint about the wrong path."""
    status = {**e.statuses, e.tensor: "fail"}
    failing = sorted(k for k, s in status.items() if s == "fail")
    passing = sorted(k for k, s in status.items() if s == "pass")
    roles = {_role(k): k for k in status}
    if {"q", "k", "v"} <= roles.keys():
        q, k, v = (status[roles[r]] for r in "qkv")
        if q == k == "fail" and v == "pass":
            return Cause("path", f"{roles['q']} and {roles['k']} fail while {roles['v']} "
                                 "passes: the score path is wrong (Q K^T, its scale or the "
                                 "softmax backward); the value path is right")
        if v == "fail" and q == k == "pass":
            return Cause("path", f"{roles['v']} fails while {roles['q']} and {roles['k']} "
                                 "pass: the value path is wrong (weights @ V); the scores are "
                                 "right")
    if len(failing) < 2 or not passing:
        return None
    return Cause("path", f"{', '.join(failing)} fail while {', '.join(passing)} pass: the bug "
                         "lies on the part of backward that only the failing tensors go "
                         "through")
