"""Learning-rate plots: the range test curve and the sensitivity sweep with seed spread."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.colors import LogNorm

from .figures import integer_ticks, legend_below, themed_figure

_SUGGESTION_STYLES = {"steepest": ("tab:green", "--"), "min_over_10": ("tab:blue", "-.")}


def _loss_limits(loss):
    """Y limits that keep the useful part of a range-test curve (not the blow-up)."""
    finite = loss[np.isfinite(loss)]
    if not finite.size:
        return None
    low, start = finite.min(), finite[: max(len(finite) // 10, 1)].mean()
    top = min(finite.max(), start + 2.0 * max(start - low, abs(start) * 0.1))
    return low - 0.05 * (top - low), top + 0.05 * (top - low)


def range_test_figure(result):
    """Loss against learning rate (log x), raw and smoothed, suggestions marked.

    Parameters
    ----------
    result : LRRangeResult
        ``curve`` (lr, loss, smoothed_loss), ``suggestions`` ({name: lr}), ``diverged_at``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    curve, suggestions = result.curve, result.suggestions or {}
    with themed_figure(1, width=7.5, height=3.8) as (fig, (ax,)):
        ax.plot(curve["lr"], curve["loss"], color="0.7", lw=1.0, label="loss")
        ax.plot(curve["lr"], curve["smoothed_loss"], color="tab:purple", lw=2.0, label="smoothed")
        for name, lr in suggestions.items():
            color, style = _SUGGESTION_STYLES.get(name, ("tab:gray", ":"))
            ax.axvline(lr, color=color, ls=style, lw=1.5, label=f"{name}: {lr:.2g}")
        diverged = getattr(result, "diverged_at", None)
        if diverged is not None:
            ax.axvline(diverged, color="crimson", ls=":", lw=1.5, label=f"diverged: {diverged:.2g}")
        limits = _loss_limits(curve["smoothed_loss"].to_numpy(dtype=float))
        if limits:
            ax.set_ylim(*limits)
        ax.set_xscale("log")
        ax.set(title="learning-rate range test", xlabel="learning rate (log scale)",
               ylabel="training loss")
        legend_below(ax, 2 + len(suggestions) + (diverged is not None))
        return fig


def sensitivity_figure(result):
    """Final loss against learning rate (mean +- std over seeds, each seed a dot) and
    loss per epoch for each learning rate (band = seed spread).

    Parameters
    ----------
    result : LRSensitivityResult
        ``runs`` (lr, seed, epoch, loss), ``summary`` (lr, final_mean, final_std, ...),
        ``stable_range`` ((lo, hi) or None), ``best_lr``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    runs, summary = result.runs, result.summary.sort_values("lr")
    with themed_figure(2, height=3.8) as (fig, (left, right)):
        mean, std = summary["final_mean"].to_numpy(float), summary["final_std"].to_numpy(float)
        left.fill_between(summary["lr"], mean - std, mean + std, color="tab:blue", alpha=0.2,
                          lw=0, label="mean ± std over seeds")
        left.plot(summary["lr"], mean, "o-", color="tab:blue", label="mean final loss")
        final = runs.loc[runs.groupby(["lr", "seed"])["epoch"].idxmax()]
        left.scatter(final["lr"], final["loss"], s=12, color="0.3", zorder=3, label="one seed")
        stable = result.stable_range
        if stable is not None:
            left.axvspan(*stable, color="seagreen", alpha=0.12, label="stable range")
        left.axvline(result.best_lr, color="tab:green", ls="--",
                     label=f"best: {result.best_lr:.2g}")
        left.set_xscale("log")
        left.set(title="sensitivity: final loss", xlabel="learning rate (log scale)",
                 ylabel="final training loss")
        legend_below(left, 5)
        _per_epoch_spread(right, runs)
        right.set(title="sensitivity: loss per epoch", xlabel="epoch", ylabel="training loss")
        integer_ticks(right.xaxis)
        legend_below(right, runs["lr"].nunique())
        return fig



def _per_epoch_spread(ax, runs):
    """Mean loss per epoch for each learning rate, with a +-std band over seeds."""
    lrs = np.sort(runs["lr"].unique())
    colors = mpl.colormaps["viridis"](LogNorm(lrs[0], lrs[-1] * 1.0001)(lrs) * 0.9)
    stats = runs.groupby(["lr", "epoch"])["loss"].agg(["mean", "std"]).fillna({"std": 0.0})
    for lr, color in zip(lrs, colors, strict=True):
        part = stats.loc[lr]
        ax.fill_between(part.index, part["mean"] - part["std"], part["mean"] + part["std"],
                        color=color, alpha=0.2, lw=0)
        ax.plot(part.index, part["mean"], color=color, label=f"lr {lr:.2g}")
