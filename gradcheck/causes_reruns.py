"""Context reruns of a failing layer: does it pass on one sample, in eval mode, and does its
backward behave (repeatable, linear in dy, following the latest forward)?

Everything runs on deep copies of the layer, through the layer protocol and a caller-given
``check`` (``gradcheck.check_layer`` or a partial of it), so the user's layer is untouched.
A rerun that cannot run (the layer cannot be copied, rejects one sample, raises) leaves its
key out: no evidence either way.
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np

__all__ = ["RERUN_KEYS", "rerun_evidence"]

RERUN_KEYS = {
    "passes_single_sample": "check(layer, x[:1]) passes the tensor (only when n > 1)",
    "passes_eval_mode": "check passes with layer.training = False (only for a training layer)",
    "repeat_calls_agree": "a second forward + backward(dy) gives the same gradient",
    "linear_in_dy": "backward(-2 dy) = -2 backward(dy) (only when repeat_calls_agree)",
    "follows_new_forward": "False when after a forward at another point (x's values "
                           "rolled by one) the analytic directional derivative stays the same "
                           "while the numeric one changes (a stale cache)",
}
_SAME = 1e-6      # relative agreement of two backward results that should be equal
_MOVED = 1e-3     # relative change of the numeric derivative that counts as a change


def rerun_evidence(layer, x: np.ndarray, check, tensor: str, *, seed: int = 0) -> dict:
    """Run the context reruns for one failing tensor of a layer.

    Parameters
    ----------
    layer : object with the layer protocol
    x : ndarray, shape (n, ...)
        The checked input batch (one array: a layer with several inputs gets no reruns).
    check : callable
        ``check(layer, x) -> report`` with ``report.table`` holding ``tensor`` and
        ``status`` columns, e.g. ``gradcheck.check_layer``.
    tensor : str
        ``"input"`` or a parameter key.
    seed : int
        Seed of the upstream gradient and the direction of the protocol reruns.

    Returns
    -------
    dict of str to bool
        Keys of :data:`RERUN_KEYS` that could be measured.
    """
    out = {}
    if not isinstance(x, np.ndarray):
        return out
    with np.errstate(all="ignore"):   # user layers at one sample may divide by zero
        _run_reruns(out, layer, x, check, tensor, seed)
    return out


def _run_reruns(out: dict, layer, x, check, tensor: str, seed: int) -> None:
    """Fill ``out`` with the reruns that could be measured."""
    if len(x) > 1:
        _record(out, "passes_single_sample",
                lambda: _passes(check, copy.deepcopy(layer), x[:1], tensor))
    if getattr(layer, "training", None) is True:
        _record(out, "passes_eval_mode", lambda: _passes(check, _evaluating(layer), x, tensor))
    with contextlib.suppress(Exception):
        out.update(_backward_reruns(copy.deepcopy(layer), x, tensor, seed))


def _record(out: dict, key: str, run) -> None:
    """``out[key] = run()``, or nothing when the rerun raises (a user layer may reject it)."""
    with contextlib.suppress(Exception):
        out[key] = run()


def _evaluating(layer):
    """A deep copy of ``layer`` in eval mode."""
    twin = copy.deepcopy(layer)
    twin.training = False
    return twin


def _passes(check, layer, x, tensor: str) -> bool:
    """Every row of ``tensor`` in ``check(layer, x)`` has status ``"pass"``; raises when the
    tensor's gradient is 0 there (a pass that proves nothing). ``layer``: a copy to use up."""
    dy = np.random.default_rng(0).standard_normal(np.shape(layer.forward(x.copy())))
    if not np.any(_gradient(layer, x, dy, tensor)):
        raise ValueError("vacuous rerun")
    table = check(layer, x).table
    rows = table[table["tensor"] == tensor]
    return len(rows) > 0 and bool((rows["status"] == "pass").all())


def _gradient(layer, x, dy, tensor: str) -> np.ndarray:
    """A fresh forward at ``x``, ``backward(dy)``, and a copy of ``tensor``'s gradient."""
    layer.forward(x.copy())
    dx = layer.backward(dy.copy())
    return np.array(layer.grads[tensor] if tensor in layer.params else dx, float, copy=True)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes and values up to :data:`_SAME` relative to ``b``'s largest magnitude."""
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= _SAME * np.abs(b).max()))


def _backward_reruns(layer, x, tensor: str, seed: int) -> dict:
    """``repeat_calls_agree``, ``linear_in_dy`` and ``follows_new_forward``."""
    rng = np.random.default_rng(seed)
    dy = rng.standard_normal(np.shape(layer.forward(x.copy())))
    first = _gradient(layer, x, dy, tensor)
    out = {"repeat_calls_agree": _same(_gradient(layer, x, dy, tensor), first)}
    if out["repeat_calls_agree"]:
        out["linear_in_dy"] = _same(_gradient(layer, x, -2 * dy, tensor), -2 * first)
        other = np.roll(x.ravel(), 1).reshape(x.shape)
        direction = rng.choice([-1.0, 1.0], size=first.shape)
        slopes = [(float(np.vdot(_gradient(layer, p, dy, tensor), direction)),
                   _slope(layer, p, dy, tensor, direction)) for p in (x, other)]
        (a1, n1), (a2, n2) = slopes
        stuck = abs(a1 - a2) <= _SAME * abs(a1)
        moved = abs(n1 - n2) > _MOVED * max(abs(n1), abs(n2))
        out["follows_new_forward"] = not (stuck and moved)
    return out


def _slope(layer, x, dy, tensor: str, direction) -> float:
    """Central difference of ``<dy, forward>`` at ``x`` along ``direction`` in ``tensor``."""
    base = layer.params.get(tensor, x)
    h = 2.0**-17 * max(1.0, float(np.abs(base).max()))
    kept = base.copy()
    values = []
    for s in (h, -h):
        if tensor in layer.params:
            base[...] = kept + s * direction
            values.append(float(np.vdot(dy, layer.forward(x.copy()))))
            base[...] = kept
        else:
            values.append(float(np.vdot(dy, layer.forward(kept + s * direction))))
    return (values[0] - values[1]) / (2 * h)
