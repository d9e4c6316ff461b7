"""Findings: turn recorded metrics into problems a person can act on.

:func:`findings` reads a tidy records frame (``Monitor.frame``) and its ``meta``;
every threshold is a keyword argument with a documented default. A healthy run
yields no ``warning`` or ``critical`` finding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from diagnostics import incidents
from diagnostics.step_stats import step_median

__all__ = ["CHECKS", "SEVERITY_ORDER", "findings", "weight_tensors"]

CHECKS = ("vanishing_gradient", "exploding_gradient", "dead_relu", "saturation",
          "update_ratio", "non_finite", "loss_divergence", "no_learning")
COLUMNS = ["severity", "check", "layer", "message"]
#: Severities, most severe first.
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def findings(frame: pd.DataFrame, meta: dict, *, history=None, vanishing_ratio=1e-3,
             exploding_growth=100.0, spike_factor=50.0, dead_fraction=0.4, dead_critical=0.9,
             saturation_fraction=0.5, update_low=1e-5, update_high=0.1, diverge_factor=4.0,
             loss_smoothing=0.1, chance_margin=0.1, loss_drop=0.05) -> pd.DataFrame:
    """Findings of one recorded run, most severe first, the run's incident leading.

    The first finding of a run that diverged is the divergence (``loss_divergence``),
    naming the first non-finite tensor; NaN/Inf without a divergence give one
    ``non_finite`` finding; a run that does not learn gets ``no_learning`` (critical),
    naming the likely causes among the other findings. After an incident, dead and saturated
    units and update ratios are judged on the records before it, and vanishing gradients
    not at all (a blown-up run's tiny gradients are a consequence, not a cause). Medians
    over the records of a series weight each record by the steps it stands for
    (:mod:`diagnostics.step_stats`), so they hardly depend on the recording schedule.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy records (``step, epoch, layer, tensor, metric, value``).
    meta : dict
        ``Monitor.meta`` (uses ``layers``, ``shapes``, ``units``, ``dead_window``,
        ``chance_accuracy``).
    history : pandas.DataFrame, optional
        ``Monitor.history``: its ``val_accuracy`` (else ``train_accuracy``) column is
        compared with chance.
    vanishing_ratio : float
        Warn when the median RMS gradient of some layer is below this fraction of the
        last layer's (default 1e-3: three orders of magnitude).
    exploding_growth : float
        Warn when the median global gradient norm of the last tenth of the records is
        this many times that of the first tenth (default 100).
    spike_factor : float
        Warn about steps whose global gradient norm exceeds this multiple of the
        median of the 20 recorded steps before (default 50).
    dead_fraction, dead_critical : float
        Share of a ReLU layer's units dead over the last window that gives a warning
        (default 0.4) or a critical finding (default 0.9); from a quarter of
        ``dead_fraction`` on, an info finding.
    saturation_fraction : float
        Warn when the median share of saturated outputs over the last quarter of the
        records reaches this value (default 0.5).
    update_low, update_high : float
        Warn when the median update-to-weight ratio of a weight tensor (2 or more
        dimensions; biases start at zero) is outside ``[update_low, update_high]``
        (defaults 1e-5 and 0.1: two orders of magnitude around the usual 1e-3).
    diverge_factor : float
        The loss diverged when its exponential moving average exceeds this multiple
        of its running minimum and its starting value (default 4), or is non-finite.
    loss_smoothing : float
        Weight of the newest loss in that moving average (default 0.1).
    chance_margin : float
        The accuracy stays at chance when its best value is at most ``chance +
        chance_margin * (1 - chance)`` (default 0.1), chance being the share of the most
        frequent class (``meta["chance_accuracy"]``).
    loss_drop : float
        Without an accuracy, the loss does not fall when the median of its last tenth is
        above ``1 - loss_drop`` times that of its first twentieth (default 0.05).

    Returns
    -------
    pandas.DataFrame
        Columns ``severity`` (critical, warning, info), ``check`` (see ``CHECKS``),
        ``layer``, ``message``.
    """
    get = _metrics(frame)
    incident, start = incidents.divergence(get("loss"), get("non_finite"), diverge_factor,
                                           loss_smoothing)
    before = get if start is None else _metrics(frame[frame["step"] < start])
    rows = [*([] if incident else _vanishing(get("grad_norm"), meta, vanishing_ratio)),
            *_exploding(get("grad_norm"), exploding_growth, spike_factor),
            *_dead(before("dead_fraction"), meta, dead_fraction, dead_critical),
            *_saturation(before("saturation_fraction"), saturation_fraction),
            *_update_ratio(before("update_ratio"), meta, update_low, update_high)]
    stuck = [] if incident else incidents.no_learning(
        history, get("loss"), meta.get("chance_accuracy"), rows, chance_margin=chance_margin,
        loss_drop=loss_drop)
    rows = [*incident, *stuck, *rows]
    result = pd.DataFrame(rows, columns=COLUMNS)
    order = result["severity"].map(SEVERITY_ORDER)
    return result.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)


def _metrics(frame):
    """``metric -> rows of frame`` (an empty frame for a metric without records)."""
    by_metric = {name: group for name, group in frame.groupby("metric", sort=False)}
    empty = frame.iloc[:0]
    return lambda metric: by_metric.get(metric, empty)


def _layer_rms(grads, meta) -> pd.Series:
    """Median over steps of each layer's RMS gradient (norm / sqrt(parameter count))."""
    grads = grads[(grads["layer"] != "model") & np.isfinite(grads["value"])]
    sizes = {layer: sum(float(np.prod(shape)) for shape in shapes.values())
             for layer, shapes in meta.get("shapes", {}).items()}
    squares = grads.assign(sq=grads["value"] ** 2)
    per_step = squares.groupby(["layer", "step"])["sq"].sum().reset_index()
    counts = {layer: sizes.get(layer, 0) for layer in per_step["layer"].unique()}
    per_step["rms"] = np.sqrt(per_step["sq"] / per_step["layer"].map(counts))
    order = [name for name in meta.get("layers", []) if name in counts]
    medians = {layer: step_median(group["step"], group["rms"])  # groups are sorted by step
               for layer, group in per_step.groupby("layer")}
    return pd.Series(medians, dtype=np.float64).reindex(order)


def _vanishing(grads, meta, ratio):
    """Some layer's RMS gradient orders of magnitude below the last layer's."""
    rms = _layer_rms(grads, meta)
    if len(rms) < 2 or not rms.iloc[-1] > 0:
        return
    rel = rms.iloc[:-1] / rms.iloc[-1]
    worst = rel.idxmin()
    if rel[worst] < ratio:
        yield ("warning", "vanishing_gradient", worst,
               f"median RMS gradient of {worst} is {rms[worst]:.2e}, {rel[worst]:.1e} times "
               f"that of the last layer {rms.index[-1]} ({rms.iloc[-1]:.2e}); per layer: "
               + ", ".join(f"{k} {v:.1e}" for k, v in rms.items())
               + ". The early layers barely learn: try ReLU-like activations, He/Xavier "
               "initialisation, normalisation layers, or a shallower model.")


def _exploding(grads, growth, spike):
    """Global gradient norm growing over the run, or spiking above its recent median."""
    norms = grads[(grads["layer"] == "model") & (grads["tensor"] == "global")]
    values, steps = norms["value"].to_numpy(), norms["step"].to_numpy()
    finite = np.isfinite(values)
    values, steps = values[finite], steps[finite]
    if len(values) < 10:
        return
    tenth = max(1, len(values) // 10)
    start, end = np.median(values[:tenth]), np.median(values[-tenth:])
    if start > 0 and end / start >= growth:
        yield ("warning", "exploding_gradient", "model",
               f"the global gradient norm grew {end / start:.3g}x (median {start:.3g} in the "
               f"first tenth of the run, {end:.3g} in the last). Try a smaller learning rate "
               "or gradient clipping (clip_norm).")
    recent = pd.Series(values).rolling(20, min_periods=5).median().shift(1).to_numpy()
    with np.errstate(invalid="ignore"):
        spikes = np.flatnonzero(values > spike * recent)
    if len(spikes):
        first = spikes[0]
        yield ("warning", "exploding_gradient", "model",
               f"{len(spikes)} gradient spike(s) above {spike:g}x the median global norm of "
               f"the 20 recorded steps before, first at step {steps[first]} (norm "
               f"{values[first]:.3g}, median before {recent[first]:.3g}). Try gradient "
               "clipping (clip_norm) or a smaller learning rate.")


def _dead(dead, meta, threshold, critical):
    """Dead-unit share of the last window, per ReLU-like layer."""
    window = meta.get("dead_window")
    for layer, group in dead.groupby("layer", sort=False):
        fraction = group.sort_values("step", kind="stable")["value"].iloc[-1]
        units = meta.get("units", {}).get(layer)
        if fraction < threshold / 4:
            continue
        severity = ("critical" if fraction >= critical else
                    "warning" if fraction >= threshold else "info")
        of = f" of {units} units" if units else ""
        yield (severity, "dead_relu", layer,
               f"{fraction:.0%}{of} are dead (zero for every example of the last "
               f"{window} recorded batches; threshold {threshold:.0%})."
               + ("" if severity == "info" else " Try a smaller learning rate, He "
                  "initialisation, non-negative bias init, or LeakyReLU."))


def _saturation(saturated, threshold):
    """Median saturated share over the last quarter of the run's steps, per saturating
    layer (weighted by the steps each record stands for)."""
    for layer, group in saturated.groupby("layer", sort=False):
        group = group.sort_values("step", kind="stable")
        steps, values = group["step"].to_numpy(), group["value"].to_numpy()
        late = steps >= steps[-1] - (steps[-1] - steps[0]) / 4
        share = step_median(steps[late], values[late])
        if share >= threshold:
            yield ("warning", "saturation", layer,
                   f"{share:.0%} of the outputs are saturated (near their limits; median over "
                   f"the last quarter of the run, threshold {threshold:.0%}): their gradient "
                   "is almost zero. Try smaller initial weights, normalised inputs, "
                   "normalisation layers, or ReLU-like activations.")


def _update_ratio(ratios, meta, low, high):
    """One finding per direction (too small, too large) over the weight tensors whose median
    update/weight ratio is outside ``[low, high]``; ``layer`` is the most extreme one and the
    message lists every affected tensor."""
    outside = [(layer, tensor, median) for layer, tensor, median in _median_ratios(ratios, meta)
               if median < low or median > high]
    for too_small in (True, False):
        group = sorted(((m, layer, t) for layer, t, m in outside if (m < low) == too_small),
                       reverse=not too_small)
        if not group:
            continue
        bound, advice = ((f"below {low:g}", "the weights barely move: try a larger learning rate")
                         if too_small else (f"above {high:g}", "each step changes the weights "
                                            "a lot: try a smaller learning rate"))
        listed = ", ".join(f"{layer} {t} {m:.2e}" for m, layer, t in group)
        yield ("warning", "update_ratio", group[0][1],
               f"median update/weight ratio {bound} in {len(group)} weight tensor(s) (rule of "
               f"thumb about 1e-3): {listed}; {advice}.")


def weight_tensors(shapes) -> set[tuple[str, str]]:
    """``(layer, tensor)`` pairs of the weight tensors (2 or more dimensions) in
    ``meta["shapes"]``; biases start at zero, so their update ratios say little."""
    return {(layer, tensor) for layer, tensors in shapes.items()
            for tensor, shape in tensors.items() if len(shape) >= 2}


def _median_ratios(ratios, meta):
    """(layer, tensor, median ratio) of every weight tensor (see :func:`weight_tensors`)."""
    weights = weight_tensors(meta.get("shapes", {}))
    for (layer, tensor), group in ratios.groupby(["layer", "tensor"], sort=False):
        if (layer, tensor) not in weights:
            continue
        group = group[np.isfinite(group["value"])].sort_values("step", kind="stable")
        if len(group):
            yield layer, tensor, step_median(group["step"], group["value"])
