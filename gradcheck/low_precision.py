"""Forwards that compute in less precision than their arrays hold.

A float64 layer whose forward runs its product in float32, or adds a large offset inside and
takes it away, rounds away most of each small move of float64's finite differences: its
numeric gradient is rounding noise (often exactly 0) and a correct backward fails. Such a
forward is told by its output: its changes at moves of 1, 2 and 4 of the check's steps, per
step, are not the straight line a smooth float64 forward's are, in most of its elements, and
leave it further at smaller moves (a curvature's bend shrinks with the moves). A
layer check that failed in float64 asks this of its failing tensors (a chain's check, of
each failing layer on its own forward at its input), and when one is rounded away, runs
again by float32's rules (the lowest precision involved), with a warning.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gradcheck.restore import kept_state
from gradcheck.selection import rng_for
from gradcheck.settings import Settings
from gradcheck.user_warning import warn_user
from gradcheck.validation import layer_name

__all__ = ["OUTPUT_SPACINGS", "RESIDUAL_SHARE", "ROUNDED_OUTPUTS", "SHRINK",
           "chain_rounded_away", "failing_tensors", "layer_rounded_away", "rounded_away",
           "unless_rounded_away", "warn_rounded_away"]

RESIDUAL_SHARE = 1e-4   # float32's rounding at float64's step: about 1e-2 of a change
OUTPUT_SPACINGS = 64    # the output's own float64 rounding, at most
ROUNDED_OUTPUTS = 0.5   # the share of the changing outputs it bends
SHRINK = 1024           # the smaller moves, in fractions of the step
FLOAT32_STEP = 2.0 ** -8   # float32's central step, where the forward must be smooth ...
FLOAT32_SHARE = 1e-2       # ... to this share of a change, for float32's rules to judge it


def failing_tensors(rows: list[dict]) -> dict[str, set[str]]:
    """Per layer label, the tensors of its failing numeric rows (gradient, end-to-end and
    second-point checks)."""
    found: dict[str, set[str]] = {}
    for row in rows:
        if row["status"] == "fail" and row["check"] in ("gradient", "end_to_end",
                                                         "second_point"):
            found.setdefault(row["layer"], set()).add(row["tensor"])
    return found


def rounded_away(run, tensors: dict[str, np.ndarray], seed: int, step: float) -> list[str]:
    """The names of ``tensors`` (float64 arrays ``run()`` reads, moved in place and restored
    exactly) whose moves of ``step`` ``run`` rounds away.

    Parameters
    ----------
    run : callable
        ``run() -> ndarray``: the output (any shape) at the arrays' current values;
        deterministic.
    tensors : dict of str to ndarray
        The arrays to move, one at a time: each value by 1, 2 and 4 ``step`` of itself,
        with a random sign (exact zeros stay).
    seed : int
        The check's seed (the signs).
    step : float
        The check's relative step.

    Returns
    -------
    list of str
        The tensors whose move of ``step`` the output does not follow (:func:`_rounds_away`);
        none when ``run`` raises.
    """
    try:
        y0 = np.asarray(run(), dtype=float).copy()
        return [name for name, a in tensors.items()
                if a.dtype == np.float64 and a.size and a.flags.writeable
                and _rounds_away(run, a, y0, step, rng_for(seed, "precision", name))]
    except Exception:   # a forward that refuses the moves proves nothing either way
        return []


def _rounds_away(run, a: np.ndarray, y0: np.ndarray, step: float,
                 rng: np.random.Generator) -> bool:
    """Most outputs that change are bent by rounding at ``a``'s moves of the check's step
    (:func:`_bends`), and bent more, or not moved at all, at ``SHRINK`` times smaller moves
    (rounding's bend grows as the moves shrink, until it swallows them; a curvature's, a
    feature narrower than the step, shrinks with them, and a smooth forward never stops
    following them; a kink crossed by the moves bends a few outputs only); and most follow
    moves of float32's step in a line (float32's rules can judge the forward: not so a large
    offset's moves, wider than the data's spread, or a kink next to every value)."""
    signs = np.where(rng.random(a.shape) < 0.5, -1.0, 1.0)
    scale = np.abs(a) * signs   # each value relative to itself
    saved = a.copy()
    try:
        at_step, changing = _bends(run, a, saved, scale, y0, step)
        if not changing.any():
            return False
        smaller, still = _bends(run, a, saved, scale, y0, step / SHRINK)
        at_float32, moving = _bends(run, a, saved, scale, y0, FLOAT32_STEP, FLOAT32_SHARE)
    finally:
        np.copyto(a, saved)
    own_rounding = OUTPUT_SPACINGS * np.spacing(np.abs(y0)) / step   # float64's, per step
    # an output at exactly 0 that stops moving is clipped (a ReLU off), not rounded away
    rounded = (at_step > own_rounding) & ((smaller > at_step) | (~still & (y0 != 0)))
    smooth = ((at_float32 == 0) & moving)[changing]   # float32's rules would judge it
    return bool(rounded[changing].mean() >= ROUNDED_OUTPUTS
                and smooth.mean() >= ROUNDED_OUTPUTS)


def _bends(run, a, saved, scale, y0, step, share: float = 0.0) -> tuple[np.ndarray,
                                                                         np.ndarray]:
    """Per output, how far its changes at moves of 1, 2 and 4 ``step`` (per step) leave the
    straight line a smooth forward's follow (the residual at 1 of the line through 2 and 4,
    per unit of move, where it exceeds ``share``, default ``RESIDUAL_SHARE``, of the change;
    else 0), and which outputs change at all."""
    slopes = []
    for steps in (1, 2, 4):
        np.add(saved, steps * step * scale, out=a)
        with np.errstate(all="ignore"):
            slopes.append((np.asarray(run(), dtype=float) - y0) / steps)
    residual = np.abs(slopes[0] - 1.5 * slopes[1] + 0.5 * slopes[2])
    size = np.abs(slopes[0])
    with np.errstate(all="ignore"):
        bent = np.where(residual > (share or RESIDUAL_SHARE) * size, residual, 0.0)
    return np.nan_to_num(bent / step, nan=0.0), np.abs(slopes[2]) > 0


def unless_rounded_away(checked: tuple[list[dict], Settings], where: str, rounded, rerun,
                        kept: list, holder=None) -> tuple[list[dict], Settings]:
    """A check's ``checked`` rows and settings, or, when it judged by float64's rules and
    ``rounded(failing)`` (failing tensors by row label, :func:`failing_tensors`) names
    tensors whose float64 moves the forward rounds away, ``rerun(settings)`` by float32's
    rules, with a warning. ``rounded`` None: nothing to ask. The objects the probe runs
    (``kept``, and the ``holder`` of them, :func:`gradcheck.restore.kept_state`) are put
    back after it."""
    rows, s = checked
    failing = failing_tensors(rows) if s.dtype == "float64" and rounded else {}
    if not failing:
        return rows, s
    with kept_state(kept, holder):
        low = rounded(failing)
    if not low:
        return rows, s
    warn_rounded_away(where, low)
    return rerun(replace(s, rounds_like_float32=True))


def warn_rounded_away(where: str, names: list[str]) -> None:
    """The warning of a check judged by float32's rules because its forward rounds away
    float64 moves of ``names``."""
    warn_user(f"{where}: checking in float32: the forward rounds away float64 moves of "
              f"{', '.join(names)} (float32 arithmetic inside, or a large offset added and "
              "taken away), so float64's finite differences see only rounding; finite "
              "differences of float32's size resolve about 1e-3")


def layer_rounded_away(layer, x: np.ndarray | None, failing: set[str], seed: int,
                       step: float) -> list[str]:
    """:func:`rounded_away` of a layer's failing tensors ``failing`` (``"input"`` and
    parameter keys) on its forward at ``x``; none when ``x`` is None (inputs that are not
    one array, which this probe does not move)."""
    box = None if x is None else np.array(x, copy=True)
    tensors = {"input": box} if box is not None and "input" in failing else {}
    tensors.update({k: v for k, v in layer.params.items() if k in failing})
    return rounded_away(lambda: layer.forward(box.copy()), tensors, seed, step) \
        if box is not None else []


def chain_rounded_away(layers, x: np.ndarray, failing: dict[str, set[str]], seed: int,
                       step: float) -> list[str]:
    """:func:`layer_rounded_away` of each layer of a chain with failing tensors (row label
    ``"<i>:<Class>"`` in ``failing``), at the input the layers before it give ``x``; names
    ``"<label>.<tensor>"``. Each layer is asked on its own forward: a kink crossed by the
    moves bends every output after it."""
    h, found = np.array(x, copy=True), []
    for i, layer in enumerate(layers):
        label = layer_name(i, layer)
        if label in failing:
            found += [f"{label}.{n}" for n in layer_rounded_away(layer, h, failing[label],
                                                                 seed, step)]
        try:
            h = np.asarray(layer.forward(h.copy()))
        except Exception:   # the check reported it; nothing further to ask
            break
    return found
