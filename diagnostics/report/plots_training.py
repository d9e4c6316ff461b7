"""Training-dynamics plots: gradient norms, update ratios, unit health, loss and accuracy.

Each function takes the list of :class:`~diagnostics.report.inputs.Run` and returns a
:class:`matplotlib.figure.Figure`, or ``None`` when no run recorded the metrics it
needs. Runs are drawn side by side with a shared y axis, so a sick run stands out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..health import weight_tensors
from .figures import (
    downsample,
    empty_panel,
    integer_ticks,
    layer_colors,
    layer_order,
    legend_below,
    run_colors,
    themed_figure,
)

STEP_LABEL = "training step (mini-batch)"


def _per_layer_lines(ax, run, frame):
    """Draw one downsampled line per layer of ``frame`` (columns layer, step, value).

    Lines are drawn in network order with depth-ordered colours; returns the line count.
    """
    layers = layer_order(frame["layer"].unique(), run.layers)
    colors = layer_colors(layers)
    small = downsample(frame, ["layer"])
    for layer in layers:
        part = small[small["layer"] == layer]
        ax.plot(part["step"], part["value"], color=colors[layer], label=layer)
    return len(layers)


def _runs_with(runs, metric):
    return [run for run in runs if metric in run.metrics]


def _legend_cols(n_panels):
    """Legend columns that fit under one of ``n_panels`` side-by-side panels."""
    return {1: 6, 2: 4}.get(n_panels, 3)


def _per_layer_panels(runs, metric, per_layer, *, ylabel, decorate):
    """Side-by-side panels, one per run that recorded ``metric``, each with a line per
    layer (log y) of ``per_layer(run)`` (columns layer, step, value); ``None`` without data.
    """
    runs = _runs_with(runs, metric)
    if not runs:
        return None
    with themed_figure(len(runs), height=3.9, sharey=True) as (fig, axes):
        for ax, run in zip(axes, runs, strict=True):
            frame = per_layer(run)
            if frame.empty:
                empty_panel(ax, "nothing recorded")
                continue
            n_lines = _per_layer_lines(ax, run, frame)
            decorate(ax, run)
            ax.set_yscale("log")
            ax.set_title(run.name)
            ax.set_xlabel(STEP_LABEL)
            legend_below(ax, n_lines + 2, max_cols=_legend_cols(len(runs)))
        axes[0].set_ylabel(ylabel)
        return fig


def _layer_grad_norms(run):
    """L2 norm of each layer's full gradient (all its tensors) per step."""
    grads = run.metrics["grad_norm"]
    grads = grads[grads["layer"] != "model"]
    squares = grads.assign(value=grads["value"].astype(float) ** 2)
    norms = squares.groupby(["layer", "step"], sort=False)["value"].sum(min_count=1) ** 0.5
    return norms.reset_index()


def _mark_global_and_non_finite(ax, run):
    grads = run.metrics["grad_norm"]
    total = downsample(grads[grads["layer"] == "model"], ["layer"])
    if not total.empty:
        ax.plot(total["step"], total["value"], color="black", ls="--", lw=1.0, label="global")
    bad = run.metrics.get("non_finite")
    if bad is not None and not bad.empty:
        ax.axvline(bad["step"].min(), color="crimson", ls=":", lw=1.5, label="first NaN/Inf")


def grad_norm_figure(runs):
    """Gradient L2 norm per layer over steps (log y), global norm dashed."""
    return _per_layer_panels(runs, "grad_norm", _layer_grad_norms,
                             ylabel="‖∂L/∂θ‖₂ (log scale)", decorate=_mark_global_and_non_finite)


def _layer_update_ratios(run):
    """Layer update/weight ratio ‖Δθ‖/‖θ‖ of its weight tensors, per step.

    Weight tensors are those with 2 or more dimensions (``meta["shapes"]``), as in the
    ``update_ratio`` finding: biases start at zero, so their ratios say little. A layer
    without such a tensor (or a run without shapes) uses all its tensors. Tensor ratios
    are combined as ``sqrt(sum((r_t * |θ_t|)^2) / sum(|θ_t|^2))`` using the recorded
    weight norms (equal weights when those are missing).
    """
    ratios = _weight_tensors(run.metrics["update_ratio"], run.meta.get("shapes", {}))
    keys = ["layer", "tensor", "step"]
    weights = run.metrics.get("weight_norm")
    if weights is None:
        merged = ratios.assign(weight=1.0)
    else:
        merged = ratios.merge(weights[[*keys, "value"]].rename(columns={"value": "weight"}),
                              on=keys, how="left").fillna({"weight": 1.0})
    w2 = merged["weight"].astype(float) ** 2
    parts = pd.DataFrame({"layer": merged["layer"], "step": merged["step"],
                          "num": w2 * merged["value"].astype(float) ** 2, "den": w2})
    sums = parts.groupby(["layer", "step"], sort=False)[["num", "den"]].sum()
    return (sums["num"] / sums["den"]).pow(0.5).rename("value").reset_index()


def _healthy_band(ax, _run):
    ax.axhspan(1e-4, 1e-2, color="seagreen", alpha=0.12, lw=0, label="1e-4..1e-2")
    ax.axhline(1e-3, color="seagreen", ls="--", lw=1.0, label="1e-3")


def _weight_tensors(frame, shapes):
    """Rows of ``frame`` on weight tensors (``health.weight_tensors``), for the layers
    that have any."""
    pairs = weight_tensors(shapes)
    is_weight = pd.MultiIndex.from_frame(frame[["layer", "tensor"]]).isin(pairs)
    has_weight = frame["layer"].isin({layer for layer, _ in pairs}).to_numpy()
    return frame[is_weight | ~has_weight]


def update_ratio_figure(runs):
    """Update-to-weight ratio per layer over steps, with the usual 1e-3 band."""
    return _per_layer_panels(runs, "update_ratio", _layer_update_ratios,
                             ylabel="‖Δθ‖ / ‖θ‖ (log scale)", decorate=_healthy_band)


_UNIT_METRICS = {"dead_fraction": "dead units (zero output)",
                 "saturation_fraction": "saturated units"}


def units_figure(runs):
    """Share of dead and of saturated units per layer over steps.

    One panel per run and metric that has data (a ReLU net has no saturation panel).
    """
    cells = [(run, metric, run.metrics[metric]) for run in runs for metric in _UNIT_METRICS
             if metric in run.metrics and not run.metrics[metric].empty]
    if not cells:
        return None
    with themed_figure(len(cells), height=3.4, sharey=True) as (fig, axes):
        for ax, (run, metric, frame) in zip(axes, cells, strict=True):
            percent = frame.assign(value=frame["value"].astype(float) * 100)
            n_lines = _per_layer_lines(ax, run, percent)
            ax.set_ylim(-3, 103)
            ax.set(title=f"{run.name}: {_UNIT_METRICS[metric]}", xlabel=STEP_LABEL,
                   ylabel="units (%)")
            legend_below(ax, n_lines, max_cols=_legend_cols(min(len(cells), 3)))
        return fig


def _epoch_curves(ax, runs, columns, ylabel, colors):
    """Per-epoch curves from ``run.history``: train solid, validation dashed; ``colors``
    maps every run of the figure to its colour, so a run keeps it across panels."""
    drawn = 0
    for run in runs:
        for column, style in zip(columns, ("-", "--"), strict=True):
            if column in run.history and run.history[column].notna().any():
                ax.plot(run.history["epoch"], run.history[column], style, marker="o", ms=3,
                        color=colors[run.name], label=f"{run.name} ({column.split('_')[0]})")
                drawn += 1
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    integer_ticks(ax.xaxis)
    legend_below(ax, drawn, max_cols=2)
    return drawn


def _use_log_scale(ax, values):
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() > 20 * values.min():
        ax.set_yscale("log")


def loss_figure(runs):
    """Loss per step, loss per epoch (train and validation) and accuracy per epoch."""
    stepped = _runs_with(runs, "loss")
    with_history = [run for run in runs if "epoch" in run.history and not run.history.empty]
    has_accuracy = any("train_accuracy" in run.history or "val_accuracy" in run.history
                       for run in with_history)
    n_panels = bool(stepped) + bool(with_history) + has_accuracy
    if not n_panels:
        return None
    colors = run_colors([run.name for run in runs])
    with themed_figure(n_panels, height=3.6) as (fig, axes):
        axes = iter(axes)
        if stepped:
            ax = next(axes)
            for run in stepped:
                line = downsample(run.metrics["loss"], [])
                ax.plot(line["step"], line["value"], color=colors[run.name], label=run.name)
                _use_log_scale(ax, line["value"].to_numpy(dtype=float))
            ax.set(title="loss per step", xlabel=STEP_LABEL, ylabel="loss (mean over batch)")
            legend_below(ax, len(stepped), max_cols=3)
        if with_history:
            ax = next(axes)
            _epoch_curves(ax, with_history, ("train_loss", "val_loss"), "loss", colors)
            ax.set_title("loss per epoch")
        if has_accuracy:
            ax = next(axes)
            _epoch_curves(ax, with_history, ("train_accuracy", "val_accuracy"),
                          "accuracy (fraction correct)", colors)
            ax.set_title("accuracy per epoch")
        return fig
