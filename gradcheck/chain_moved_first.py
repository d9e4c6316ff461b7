"""A chain's run at a moved point before its given point (:mod:`gradcheck.moved_first`), and
what the check makes of it: which failing layers are stale caches, and whether the given
point still leaves something to a second point."""

from __future__ import annotations

import numpy as np

from gradcheck.model_backward import guarded_backward
from gradcheck.moved_first import STALE_CAUSE, history_changes_gradient, moved_call_first
from gradcheck.moved_run_check import MovedRun, moved_run_of, trainable_arrays
from gradcheck.restore import Snapshot
from gradcheck.settings import Settings
from gradcheck.validation import layer_name

__all__ = ["chain_moved_first", "name_stale_caches", "unsettled"]


def chain_moved_first(model, layers, loss, x, y, s: Settings, loss_before: Snapshot,
                      dtype: str) -> tuple[np.ndarray, bool, MovedRun | None]:
    """:func:`gradcheck.moved_first.moved_call_first` of the model: its move set by
    ``dtype`` (that of the lowest-precision float of ``x`` and the parameters,
    :func:`gradcheck.settings.check_dtype`), its backward's ``dy`` the loss's
    gradient at the moved prediction (where that is finite), after which the loss is put
    back as ``loss_before`` (its snapshot from before the check) holds it.

    Parameters
    ----------
    model, loss, x, y
        As given to :func:`gradcheck.check_model` (``x`` of shape (n, ...)).
    layers : list
        The chain's layers (their parameters move).
    s : Settings
    loss_before : Snapshot
    dtype : str

    Returns
    -------
    given : ndarray, shape of ``x``
        The private array holding ``x`` that the model's forward last ran on.
    backward_ran : bool
        Whether the moved backward ran (the forward was finite there).
    run : MovedRun or None
        What the moved run left (its point, loss and gradients), when its backward got the
        loss's gradient, for :func:`gradcheck.moved_run_check.moved_run_disagrees`.
    """
    seen: dict = {}

    def upstream(pred):
        seen["loss"], grad = _loss_gradient(loss, pred, y, loss_before)
        return grad

    def record(x_moved, dx):
        seen["run"] = moved_run_of(layers, x_moved, trainable_arrays(layers), seen["loss"], dx)

    given, ran = moved_call_first(model.forward, lambda dy: guarded_backward(model, layers, dy),
                                  layers, x, s.seed, dtype, "the model", upstream, record)
    return given, ran, seen.get("run")


def _loss_gradient(loss, pred: np.ndarray, y, before: Snapshot
                   ) -> tuple[float, np.ndarray | None]:
    """The loss and ``dL/dpred`` at ``pred``, the gradient None where the loss is not finite
    there or rejects it (the moved point is the check's choice, not the user's); the loss's
    state is put back to ``before`` after (a loss that keeps its first prediction must see
    the given point's first)."""
    try:   # numpy's warnings are off: moved_call_first runs this inside np.errstate
        value = float(loss.forward(pred, y))
        grad = np.array(loss.backward(), copy=True)
    except Exception:   # any loss error at a moved point: a random dy instead
        return float("nan"), None
    finally:
        before.restore()
    usable = np.isfinite(value) and grad.shape == pred.shape and np.isfinite(grad).all()
    return value, grad if usable else None


def unsettled(firsts: list[dict], s: Settings, arrays, params) -> bool:
    """Whether the given point leaves something to a second point, where every value
    moves off where it was.

    Parameters
    ----------
    firsts : list of dict
        Per layer, its verdicts at the given point by tensor name.
    s : Settings
    arrays : list of ndarray, each shape (n, ...)
        The layers' inputs and upstream gradients at the given point, batch first.
    params : list of ndarray
        The layers' trainable parameters.

    Returns
    -------
    bool
        True for any of:

        - a tensor on kinks, or seen only as zeros (a bug may hide behind them);
        - a feature that is exactly 0 on every sample of one of ``arrays``: an input that
          is always 0, a dead unit, or the ``dy`` above one multiplies part of a layer's
          gradient by nothing on the whole batch, and a wrong gradient there would go
          unseen (zeros on some samples only, a ReLU's, leave every part of the gradient
          seen through the others);
        - a parameter at a value where wrong formulas agree with the right one
          (:func:`_special`): a BatchNorm's ``gamma`` of ones at its initialisation hides
          a missing factor of ``gamma``, an identity weight a missing transpose;
        - sampled elements (the second point's directions see every element);
        - float32: its finite differences resolve about 1e-3 of a joint direction's value,
          below which a stale cache's error fell at 2 of 150 given points; its second point
          (three random directions) leaves about one in ten thousand.
    """
    if s.mode == "sample" or s.dtype == "float32" or any(
            v.status in ("nondifferentiable", "vacuous")
            for first in firsts for verdicts in first.values() for v in verdicts):
        return True
    return (any(a is not None and np.ndim(a) and _has_a_zero_feature(a) for a in arrays)
            or any(_special(p) for p in params))


def _special(p: np.ndarray) -> bool:
    """``p`` is constant (all ones, all 0.5, a zero matrix; not a vector of zeros, as biases
    start, which multiplies nothing in a gradient), a square matrix equal to its transpose
    (an identity, a symmetric initialisation), or a single value of 1 or -1 (a scale at its
    start, which hides a missing factor of itself)."""
    if p.size < 2:
        return p.size == 1 and abs(float(p.flat[0])) == 1.0
    first = p.flat[0]   # two values that differ settle each question at once, as they do
    constant = (first == p.flat[-1] and (p.ndim >= 2 or first != 0)   # for random weights
                and p.min() == p.max())
    square = p.ndim == 2 and p.shape[0] == p.shape[1]
    return bool(constant or (square and p[0, -1] == p[-1, 0] and np.array_equal(p, p.T)))


def _has_a_zero_feature(a: np.ndarray) -> bool:
    """Some element (all axes but the first, the batch) is 0 on every sample of ``a``: only
    the features that are 0 on the first sample are read further (none, the usual case,
    settles it after one sample)."""
    if not a.size:
        return False
    flat = a.reshape(len(a), -1)
    candidates = np.flatnonzero(flat[0] == 0)
    if not candidates.size:
        return False
    return bool(np.logical_and.reduce(flat[:, candidates] == 0, axis=0).any())


def name_stale_caches(layers, acts, probes, snapshots, rows: list[dict]) -> None:
    """The likely cause of the failing local rows of each layer whose gradient at its input
    changes when it is put back as the check found it: a stale cache
    (:func:`gradcheck.moved_first.history_changes_gradient`).

    Not for a random layer, nor for a layer whose accumulation/linearity probe failed (a
    backward that adds into its grads, or keeps an earlier ``dy``: that probe names the
    history), nor for a layer at two places of the chain (its state is that of its other
    place).

    Parameters
    ----------
    layers : list
        The chain's layers.
    acts : list of ndarray
        Each layer's input at the given point (then the prediction).
    probes : list of LayerProbe
        Each layer's probe there (``G``, ``dx``, ``grads``, ``rows``).
    snapshots : list of Snapshot
        Each layer's state from before the check.
    rows : list of dict
        The check's rows; the ``likely_cause`` and ``cause_label`` of a stale layer's
        failing rows are replaced.
    """
    failing = {r["layer"] for r in rows if r["status"] == "fail" and r["check"] == "gradient"}
    for i, layer in enumerate(layers):
        label, probe = layer_name(i, layer), probes[i]
        if (label not in failing or probe.G is None or not probe.deterministic
                or sum(other is layer for other in layers) > 1
                or _accumulates(probe.rows)):
            continue
        analytic = {k: v for k, v in {"input": probe.dx, **probe.grads}.items()
                    if v is not None}
        if history_changes_gradient(layer, snapshots[i], acts[i], probe.G, analytic):
            for row in rows:
                if row["layer"] == label and row["status"] == "fail":
                    row["likely_cause"], row["cause_label"] = STALE_CAUSE, "stale_cache"


def _accumulates(probe_rows: list[dict]) -> bool:
    """The probes found the backward adding into its grads, or not linear in ``dy``."""
    return any(r["status"] == "fail" and r["check"] in ("accumulation", "linearity")
               for r in probe_rows)
