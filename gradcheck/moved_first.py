"""Stale caches: a forward and a backward at a moved point before the given point's first.

A backward that keeps a value from an earlier call (the first input it saw, a transposed
weight cached on the first backward or before an optimizer step, the ``dy`` of its first
call, a cache keyed on an array's identity) is right wherever it is first called and wrong
after. So a model check first runs ``forward`` and ``backward`` once at a moved input with
moved parameters (:func:`gradcheck.layer_point.moved_values`, by :data:`MOVED_FIRST_MOVE`), then
puts the parameters back in place and refills the very input array with the given point.
Any cache a backward keeps from an earlier call then holds moved values, and the given
point's own check (central differences, each layer's own check) finds the gradient wrong
there: one forward and one backward, where a second point checked along directions costs
two forwards, a backward and the moves of its finite differences. The moved backward also
leaves every layer's grads nonzero, so a backward that adds into its grads (``+=``) instead
of setting them is wrong at the given point too.

:func:`history_changes_gradient` then tells such a failure from others: the layer, put back
as the check found it, gives another gradient at the same input.
"""

from __future__ import annotations

import numpy as np

from gradcheck.arrays import same_values
from gradcheck.layer_point import moved_parameters, moved_value
from gradcheck.point import machine_eps
from gradcheck.probe_calls import during, upstream_like
from gradcheck.restore import Snapshot
from gradcheck.selection import rng_for

__all__ = ["MOVED_FIRST_MOVE", "STALE_CAUSE", "history_changes_gradient", "moved_call_first"]

#: relative move of every value to the moved point, by the check's dtype. Only caches see
#: that point, so float32 moves further than at a second point
#: (:data:`gradcheck.layer_point.SECOND_POINT_MOVE`, 5 %): a stale cache is then wrong by 4
#: times as much at the given point, where float32's finite differences resolve about
#: 1e-3 of a joint direction's value (stale inputs in a float32 tanh chain passed 10 of 150
#: random points at 5 %, 2 at 20 %); float64 resolves a 1 % move's error at every one
MOVED_FIRST_MOVE = {"float64": 1e-2, "float32": 0.2}

STALE_CAUSE = (
    "a stale cache: put back as the check found it, this layer gives another gradient at "
    "the same input and dy than after the check's forward and backward at a moved point "
    f"(input and parameters moved by about {MOVED_FIRST_MOVE['float64']:.0%}, "
    f"{MOVED_FIRST_MOVE['float32']:.0%} in float32, the same arrays refilled): backward "
    "uses a value cached by an earlier call (the first input, a transposed weight, the "
    "first dy, a cache keyed on an array's id) instead of the current one")


def moved_call_first(forward, backward, layers, x: np.ndarray, seed: int, dtype: str,
                     label: str, upstream, record=None) -> tuple[np.ndarray, bool]:
    """Run ``forward`` and ``backward`` once at a moved point; the array it ran on, now
    holding ``x`` again, for the given point's first forward.

    Parameters
    ----------
    forward, backward : callable
        ``forward(x) -> y`` and ``backward(dy)`` of the model (or layer).
    layers : list
        The objects whose ``params`` move (put back exactly after).
    x : ndarray, shape (n, ...)
        The given point's input (never written to).
    seed : int
        The check's seed (the move is drawn from it and ``label``).
    dtype : str
        The check's dtype (``"float64"`` or ``"float32"``), which sets the move.
    label : str
        What runs, for messages (``"the model"``).
    upstream : callable
        ``upstream(y) -> dy`` (or None), the ``dy`` of the moved backward: a loss's gradient
        there is of the size of the given point's, so that the grads it leaves show in an
        accumulating backward at any scale of the loss. Where it gives None, a standard
        normal ``dy``.
    record : callable, optional
        ``record(x_moved, dx)``, called right after a backward on ``upstream``'s ``dy``
        (the parameters still moved): what the moved run left, for a check of it.

    Returns
    -------
    given : ndarray, shape of ``x``
        A private array holding ``x`` that ``forward`` last ran on: a cache keyed on the
        input array's identity is stale when the given point runs on it.
    backward_ran : bool
        False when the forward's output was not finite there (no backward then: its grads
        would be NaN).
    """
    rng = rng_for(seed, label, "moved call first")
    move = MOVED_FIRST_MOVE[dtype]
    buffer = moved_value(x, rng, move)
    with moved_parameters(layers, rng, move), np.errstate(all="ignore"):
        with during(f"the forward of {label} at a moved point, before the given point"):
            y = np.asarray(forward(buffer))
        backward_ran = bool(y.dtype.kind in "fc" and np.isfinite(y).all())
        if backward_ran:
            dy = upstream(y)
            with during(f"the backward of {label} at a moved point, before the given point"):
                dx = backward(upstream_like(y, rng) if dy is None else dy)
            if record is not None and dy is not None:
                record(buffer, dx)
    np.copyto(buffer, x)
    return buffer, backward_ran


def history_changes_gradient(layer, before: Snapshot, x: np.ndarray, G: np.ndarray,
                             analytic: dict) -> bool:
    """Whether ``layer``, put back into the state ``before`` (as the check found it), gives
    other gradients at ``x`` and ``G`` than ``analytic``; the layer's state is put back as
    it is now after.

    Parameters
    ----------
    layer : object with the layer protocol
    before : Snapshot
    x : ndarray, shape (n, ...)
        The layer's input.
    G : ndarray, shape of the layer's output
        The upstream gradient its ``analytic`` gradients were computed with.
    analytic : dict of str to ndarray
        Its ``"input"`` and parameter gradients after the check's calls.

    Returns
    -------
    bool
        False too when the layer raises on the rerun (no evidence either way).
    """
    now = Snapshot(layer)
    before.restore()
    try:
        layer.forward(x.copy())
        dx = layer.backward(G.copy())
        fresh = {"input": dx, **dict(layer.grads)}
        return any(fresh.get(name) is not None and _differ(np.asarray(fresh[name]), value)
                   for name, value in analytic.items())
    except Exception:   # the rerun is the check's idea: a layer that refuses it is no cause
        return False
    finally:
        now.restore()


def _differ(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` and ``b`` differ by more than the round-off of recomputing ``b`` (a thousand
    machine epsilons of its largest value; the same calls may round differently when an
    array is aligned otherwise)."""
    if a.shape != b.shape:
        return True
    scale = float(np.abs(b).max(initial=0.0))
    return not same_values(a, b) and not (
        np.abs(a - b).max(initial=0.0) <= 1e3 * machine_eps(a, b) * scale)
