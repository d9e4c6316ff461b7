"""A model's second point: the whole model at a moved input and moved parameters, checked
along directions; where that fails, each layer again at the input it gets there (and when
none of them fails there, and none failed at the given point, the whole model's failing
tensors: a failure seen is never dropped)."""

from __future__ import annotations

import numpy as np

from gradcheck.joint_direction import check_jointly, measured_jointly, reweighed
from gradcheck.layer_check import SECOND_POINT_NOTES
from gradcheck.layer_point import (
    SECOND_POINT_MOVE,
    model_point,
    moved_parameters,
    moved_value,
    refilled_input,
)
from gradcheck.plan import check_point
from gradcheck.report import verdict_row
from gradcheck.selection import rng_for
from gradcheck.settings import Settings
from gradcheck.validation import NonFiniteLoss

__all__ = ["WHOLE_MODEL_NOTE", "model_second_point"]


def model_second_point(model, owners, loss, x, y, s: Settings, wrong: set[str],
                       layers_there, mutates_input: bool = True, given=None,
                       labels: dict | None = None, input_seen=None) -> list[dict] | None:
    """Rows of the layers wrong at the second point (none when the whole model passes there;
    None when the loss is not finite there, so that there is no second point).

    Parameters
    ----------
    model, loss, x, y
        As given to :func:`gradcheck.check_model`.
    owners : list of (str, layer)
        The layers whose parameters move, with the prefixes of their tensors' names
        (:func:`gradcheck.layer_point.model_point`).
    s : Settings
    wrong : set of str
        Names of the whole model's tensors that failed at the given point (left out).
    layers_there : callable
        ``layers_there(x2) -> rows``: every layer checked at the input it gets when the model
        runs at ``x2`` (the parameters are still moved while it runs).
    mutates_input : bool
        Whether ``model.forward`` may change its input in place (then every forward gets a
        copy of it).
    given : Joint, optional
        The joint direction of the whole model's tensors at the given point
        (``"input"``, ``"<i>.<key>"``): its directions and weights serve here too while
        they stay balanced (:func:`gradcheck.joint_direction.reweighed`; a direction is as
        good at any point, and drawing one costs more than a forward of a Dense layer), else
        its directions are reused in a plan of this point's own.
    labels : dict, optional
        The row label of each prefix of ``owners`` (default: the prefix itself), for the
        whole model's rows when no layer's own check fails at the second point and nothing
        failed at the given point.
    input_seen : ndarray, optional
        A private array holding ``x`` that the model's first layer last ran on; it is
        refilled with the moved input (default: a copy of ``x`` that one more forward
        runs on first; :func:`gradcheck.layer_point.refilled_input`).
    """
    rng = rng_for(s.seed, "model", "second point")
    move = SECOND_POINT_MOVE[s.dtype]
    x2 = moved_value(x, rng, move)
    # a model that gets a copy on every call cannot keep a cache keyed on its input array
    buffer = x2 if mutates_input else refilled_input(model.forward, x, x2, "the model",
                                                     input_seen)
    with moved_parameters([layer for _, layer in owners], rng, move):
        try:   # the move may leave the model's domain: numpy's warnings are the check's
            with np.errstate(all="ignore"):
                whole = model_point(model, owners, loss, buffer, y, s.dtype,
                                    mutates_input=mutates_input, noise_floor=s.loss_noise)
        except NonFiniteLoss:   # the loss is not finite there: no second point
            return None
        names = [n for n in whole.analytic if n not in wrong]
        there = s.at_second_point()
        here = None if given is None else reweighed(whole, given)   # projections taken once
        joint, by = (None, there) if here is None else measured_jointly(
            whole, lambda t: here.scaled(t.step / s.step), there)
        if (joint is not None and set(names) <= set(joint.names)
                and check_jointly(whole, joint, by).settled):
            return []
        drawn = None if given is None else dict(zip(given.names, given.directions, strict=True))
        results = check_point(whole, names, there, elements_first=False, locate=False,
                              drawn=drawn)
        if all(v[0].status != "fail" for v in results.values()):
            return []
        rows = layers_there(x2)
        if rows or wrong:   # the given point's failures explain the whole model's here
            return rows
        return _whole_model_rows(model, whole, results, labels or {})


#: the note of a tensor the whole model's directions find wrong at the second point where
#: no layer's own check there does (a random direction now and then all but misses an error)
WHOLE_MODEL_NOTE = (SECOND_POINT_NOTES["stale"] + "; found along the whole model's directions "
                    "there (the layer's own check at the second point did not resolve it)")


def _whole_model_rows(model, whole, results: dict, labels: dict) -> list[dict]:
    """Rows of the whole model's tensors that fail at the second point: ``"input"`` as the
    model's, ``"<prefix>.<key>"`` as its layer's (``labels[prefix]``, else the prefix)."""
    rows = []
    for name, verdicts in results.items():
        if verdicts[0].status == "fail":
            prefix, _, key = name.rpartition(".")
            label = labels.get(prefix, prefix) if prefix else f"model:{type(model).__name__}"
            rows.append(verdict_row(label, key, whole.live(name).shape, "second_point",
                                    verdicts[0], WHOLE_MODEL_NOTE))
    return rows
