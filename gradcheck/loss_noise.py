"""A loss's round-off, measured where the bound from its value is too small.

The end-to-end objective is the loss, and its round-off is taken as ``eps_mach * (|L| +
sum|dL/dpred * pred|)`` (:func:`gradcheck.point.round_off`): right for a loss whose rounding
scales with its value and its first-order terms. A loss with a cancellation inside breaks
that: softmax cross-entropy of a confident, correct prediction is ``log(1 + s)`` with ``s``
tiny, computed from a sum rounded to the ulp of 1, so its value (and its gradient) are
about ``s`` while its rounding is about ``eps_mach``. Its finite differences then scatter
far beyond the allowance, the step halving makes them worse, and correct models fail their
end-to-end rows (a trained network, on a few batches in five).

So when a model check has a failing row, the loss alone is evaluated along a line through
the prediction (``POINTS`` points, spaced by the check's relative step, as its finite
differences move it). Its round-off is read from the scatter of the fifth and sixth
differences of those values (the median of their moduli, the smaller of the two), which a
smooth loss's own curvature does not reach at that spacing; values that repeat are
quantized more coarsely than the line moves them (a sum of exponentials a few ulps above 1),
and their round-off is at least the smallest gap between their levels; a line of one value
does not resolve its moves at all (the sum of exponentials exactly 1), and its round-off is
one ulp of a loss of 1. No line may claim more than ``CAP`` ulps of a loss of 1 (or of the
bound): a loss's inside is rarely larger, and a loss that a line sees as noisy for another
reason (the kinks of an L1 or hinge loss near its targets, a loss that rounds its
prediction) must not silence its own wrong gradient.

Where that is well above the bound (``RERUN_FACTOR``), the check runs again with it as the
least round-off of every end-to-end objective (``Settings.loss_noise``). The measurement
reads no gradient: a wrong layer or a wrong loss backward cannot widen its own tolerance
beyond ``CAP`` ulps, and a passing check pays nothing.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from gradcheck.finite_diff import rms
from gradcheck.model_check import check_model_rows
from gradcheck.point import machine_eps, round_off
from gradcheck.restore import kept_state
from gradcheck.selection import random_float32, rng_for
from gradcheck.settings import Settings
from gradcheck.validation import loss_value

__all__ = ["POINTS", "RERUN_FACTOR", "measured_loss_noise", "model_rows_within_loss_noise"]

POINTS = 25          # losses along a line: 20 fifth differences, a kink spoils 6
CAP = 16.0           # a measured round-off is at most this many ulps of a loss of 1 (or
#                      of the bound): a loss's inside is rarely larger than that
RERUN_FACTOR = 4.0   # a measured round-off this many times the bound reruns the check
_HALF_NORMAL_MEDIAN = 0.6745   # median of |N(0, 1)|


def model_rows_within_loss_noise(model, found, loss, x, y, s: Settings, rerun_check=None
                                 ) -> tuple[list[dict], Settings]:
    """:func:`gradcheck.model_check.check_model_rows`, run again with the loss's measured
    round-off when it has a failing row and the loss rounds far more than its value says."""
    rows, used = check_model_rows(model, found, loss, x, y, s, rerun_check)
    if s.loss_noise or not any(r["status"] == "fail" for r in rows):
        return rows, used
    bound, measured = measured_loss_noise(model, found, loss, x, y, s)
    if not measured > RERUN_FACTOR * bound:
        return rows, used
    return check_model_rows(model, found, loss, x, y, replace(s, loss_noise=measured),
                            rerun_check)


def measured_loss_noise(model, found, loss, x, y, s: Settings) -> tuple[float, float]:
    """``(bound, measured)``: the round-off of one evaluation of the loss at the model's
    prediction for ``x``, from its value (:func:`gradcheck.point.round_off`) and from the
    values along lines through it (module docstring); the model and the loss are restored
    after."""
    with kept_state([*(u.obj for u in found.units), loss], model):
        pred = np.array(model.forward(x.copy()), copy=True)
        loss0 = loss_value(loss, pred, y)
        dpred = np.asarray(loss.backward())
        if pred.dtype.kind != "f" or not pred.size or np.shape(dpred) != pred.shape:
            return 0.0, 0.0
        bound = round_off(s.dtype, dpred, pred, loss0)
        rng = rng_for(s.seed, "loss round-off", "line")
        move = s.step * (np.abs(pred) + (rms(pred) or 1.0)) * random_float32(
            rng, pred.shape, signed=True)
        line = _losses_along(loss, pred, y, move)
    if line is None:   # the loss leaves its domain along the line
        return bound, 0.0
    return bound, _round_off_of(line, max(machine_eps(pred), bound))   # least: an ulp of 1


def _losses_along(loss, pred: np.ndarray, y, move: np.ndarray) -> np.ndarray | None:
    """The loss at ``pred + k move`` for ``POINTS`` offsets ``k`` centred on 0, shape
    (POINTS,); None where one is not finite or the loss refuses it."""
    offsets = (np.arange(POINTS) - POINTS // 2).reshape(-1, *[1] * pred.ndim)
    moved = (pred + offsets * move).astype(pred.dtype, copy=False)
    try:
        with np.errstate(all="ignore"):
            values = np.array([float(np.asarray(loss.forward(p, y)).reshape(()))
                               for p in moved])
    except (ArithmeticError, ValueError, TypeError):
        return None
    return values if np.isfinite(values).all() else None


def _round_off_of(values: np.ndarray, least: float) -> float:
    """The round-off the losses ``values`` along one line show, at most ``CAP * least``:
    ``least`` where they are all equal, else the scatter of their fifth and sixth
    differences, and at least the smallest gap between their levels where some repeat."""
    levels = np.unique(values)
    if len(levels) == 1:   # the loss does not resolve moves of the step at all
        return least
    scatter = min(_scatter(values, 5), _scatter(values, 6))
    if len(levels) < len(values):   # quantized more coarsely than a step moves it
        scatter = max(scatter, float(np.diff(levels).min()))
    return min(scatter, CAP * least)


def _scatter(values: np.ndarray, order: int) -> float:
    """The standard deviation of independent rounding errors of ``values`` that their
    differences of ``order`` show (median of their moduli, scaled)."""
    spread = math.sqrt(math.comb(2 * order, order))   # of a difference of iid errors
    return float(np.median(np.abs(np.diff(values, order)))) / (_HALF_NORMAL_MEDIAN * spread)
