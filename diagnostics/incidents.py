"""Run-level findings that lead the table: a divergence (with its first non-finite value)
and a run that does not learn.

One incident, one finding: a diverged loss and the NaN/Inf values that follow it are a
single ``loss_divergence`` finding naming the first non-finite tensor; non-finite
values without a divergence are a single ``non_finite`` finding. :func:`divergence`
also returns the step the incident starts at, so that :mod:`diagnostics.health` judges
the per-layer checks on the records before it (a blown-up run's vanishing gradients or
dead units are consequences, not causes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["divergence", "no_learning"]

#: Checks whose findings may explain a run that does not learn.
_CAUSES = ("vanishing_gradient", "dead_relu", "saturation", "update_ratio", "exploding_gradient")
_DIVERGED_ADVICE = ("Try a learning rate 3-10x smaller (see lr_range_test), gradient clipping "
                    "(clip_norm), or a warm-up.")
_NON_FINITE_ADVICE = ("Look for overflow or a division by zero in exp/log/division in this "
                      "layer's forward and backward; try a smaller learning rate or gradient "
                      "clipping (clip_norm).")


def divergence(loss, non_finite, factor, alpha):
    """The divergence or non-finite incident of a run, as at most one finding.

    Parameters
    ----------
    loss, non_finite : pandas.DataFrame
        Records of the metrics ``loss`` and ``non_finite`` (step, epoch, layer, tensor).
    factor, alpha : float
        ``diverge_factor`` and ``loss_smoothing`` of :func:`health.findings`.

    Returns
    -------
    (list of tuple, int or None)
        The finding rows (severity, check, layer, message) and the step the incident
        starts at (None without one).
    """
    diverged = _diverged(loss, factor, alpha)
    first = _first_non_finite(non_finite)
    if diverged is not None:
        parts = [diverged[1], *([first[1]] if first else [])]
        start = min(diverged[0], first[0]) if first else diverged[0]
        return [("critical", "loss_divergence", "model",
                 "; ".join(parts) + ". " + _DIVERGED_ADVICE)], start
    if first is not None:
        return [("critical", "non_finite", first[2], first[1] + ". " + _NON_FINITE_ADVICE)], \
            first[0]
    return [], None


def _diverged(loss, factor, alpha):
    """``(step, message)`` of the first step where the loss is non-finite or its moving
    average ran away, or None."""
    loss = loss.sort_values("step", kind="stable")
    values, steps = loss["value"].to_numpy(), loss["step"].to_numpy()
    if len(values) < 2:
        return None
    bad = np.flatnonzero(~np.isfinite(values))
    finite = np.where(np.isfinite(values), values, np.nan)
    smooth = pd.Series(finite).ffill().ewm(alpha=alpha, adjust=False).mean().to_numpy()
    best = np.fmin.accumulate(smooth)
    rising = np.flatnonzero((smooth > factor * best) & (smooth > smooth[0]))
    candidates = bad[:1].tolist() + rising[:1].tolist()
    if not candidates:
        return None
    i = min(candidates)
    if np.isfinite(values[i]):  # found by the moving average, not as a NaN/Inf
        seen = (f"the smoothed loss {smooth[i]:.4g} is {smooth[i] / best[i]:.1f}x its minimum "
                f"{best[i]:.4g} and above its start {smooth[0]:.4g}")
    else:
        seen = f"the loss became {values[i]}"
    epoch = loss["epoch"].iloc[i]
    return int(steps[i]), f"loss diverged at step {steps[i]} (epoch {epoch}): {seen}"


def _first_non_finite(rows):
    """``(step, message, layer)`` of the first non-finite value, or None.

    Rows are ordered by step, then by their value: the order of discovery, which within
    a step is the order the values arose in (see :mod:`diagnostics.nonfinite`); the
    message counts the tensors that followed.
    """
    if rows.empty:
        return None
    ordered = rows.iloc[np.lexsort((rows["value"].to_numpy(), rows["step"].to_numpy()))]
    head = ordered.iloc[0]
    name = "the loss" if head["tensor"] == "loss" else f"{head['layer']}.{head['tensor']}"
    message = f"first non-finite value in {name} at step {head['step']} (epoch {head['epoch']})"
    rest = ordered.iloc[1:]
    if len(rest):
        tensors = rest[rest["tensor"] != "loss"]
        message += (f", then in {len(rest)} more ({len(tensors)} tensor(s) of "
                    f"{tensors['layer'].nunique()} layer(s)) by step {rest['step'].max()}")
    return int(head["step"]), message, str(head["layer"])


def no_learning(history, loss, chance, found, *, chance_margin, loss_drop):
    """A critical finding when accuracy stays at chance or the loss does not fall.

    Parameters
    ----------
    history : pandas.DataFrame or None
        Per-epoch rows; ``val_accuracy`` (else ``train_accuracy``) is judged when present.
    loss : pandas.DataFrame
        Records of the metric ``loss``; judged when the history has no accuracy.
    chance : float or None
        Accuracy of always predicting the most frequent class (``meta["chance_accuracy"]``).
    found : list of tuple
        The other findings of the run: those of ``_CAUSES`` are named as likely causes.
    chance_margin, loss_drop : float
        See :func:`health.findings`.

    Returns
    -------
    list of tuple
        At most one finding (severity, check, layer, message).
    """
    column = next((c for c in ("val_accuracy", "train_accuracy")
                   if history is not None and c in history), None)
    if column is not None and chance is not None:
        best = float(history[column].max())
        limit = chance + chance_margin * (1.0 - chance)
        if not best > limit:
            seen = (f"accuracy stays at chance: the best {column} over {len(history)} epoch(s) "
                    f"is {best:.3f}, chance (always the most frequent class) {chance:.3f}, "
                    f"threshold {limit:.3f}")
            return [("critical", "no_learning", "model", _advice(seen, found))]
        return []
    values = loss["value"].to_numpy()
    values = values[np.isfinite(values)]
    if column is not None or len(values) < 20:
        return []
    start = float(np.median(values[:max(5, len(values) // 20)]))
    end = float(np.median(values[-max(2, len(values) // 10):]))
    if start > 0 and end > (1.0 - loss_drop) * start:
        seen = (f"the loss does not fall: median {end:.4g} over the last tenth of the steps, "
                f"{start:.4g} at the start (threshold: {loss_drop:.0%} lower)")
        return [("critical", "no_learning", "model", _advice(seen, found))]
    return []


def _advice(seen, found):
    """The no-learning message: what was seen, the likely causes among ``found``, advice."""
    causes = dict.fromkeys(f"{check} ({layer})" for severity, check, layer, _ in found
                           if check in _CAUSES and severity != "info")
    because = f"; likely cause, see below: {', '.join(causes)}" if causes else ""
    return (f"the model does not learn: {seen}{because}. Try lr_range_test for a working "
            "learning rate, check that the labels belong to the inputs, and fix the causes "
            "found (ReLU-like activations or normalisation for deep sigmoid nets, He "
            "initialisation against dead units).")
