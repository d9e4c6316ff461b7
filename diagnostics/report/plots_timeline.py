"""Gradient checks during training: one status cell per layer and check point."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

from ..check_messages import STATUS_RANK
from .figures import FULL_WIDTH, layer_order, themed_figure

__all__ = ["STATUS_COLORS", "timeline_figure"]

#: Cell colour of each status, in ``STATUS_RANK`` order (best first).
STATUS_COLORS = {"pass": "#4caf50", "vacuous": "#bdbdbd", "nondifferentiable": "#ffb300",
                 "fail": "#d32f2f"}
#: Check points up to which every cell is annotated and every step labelled.
ANNOTATE_UP_TO = 24


def _grid(frame, layers):
    """``(ranks, kinks, steps)``: status rank and kink count per (layer, check point);
    ``"constant"`` rows (held fixed, not checked) do not count."""
    frame = frame[frame["status"] != "constant"]
    ranks = frame.assign(rank=frame["status"].map(STATUS_RANK).fillna(1))
    steps = np.sort(frame["step"].unique())
    wide = {c: ranks.pivot_table(index="layer", columns="step", values=c, aggfunc="max")
            .reindex(index=layers, columns=steps).to_numpy(dtype=float)
            for c in ("rank", "n_nondifferentiable")}
    return wide["rank"], wide["n_nondifferentiable"], steps


def _panel(ax, timeline, layers):
    """Draw one run's grid on ``ax``; cells show kink counts (and ✗ on failures)."""
    ranks, kinks, steps = _grid(timeline.frame, layers)
    colors = ListedColormap(list(STATUS_COLORS.values()))
    norm = BoundaryNorm(np.arange(len(STATUS_COLORS) + 1) - 0.5, len(STATUS_COLORS))
    ax.imshow(np.ma.masked_invalid(ranks), cmap=colors, norm=norm, aspect="auto",
              interpolation="nearest")
    if len(steps) <= ANNOTATE_UP_TO:
        for (r, c), rank in np.ndenumerate(ranks):
            label = ("✗ " if rank == STATUS_RANK["fail"] else "") + (
                f"{kinks[r, c]:.0f}" if kinks[r, c] > 0 else "")
            ax.text(c, r, label.strip(), ha="center", va="center", fontsize=8,
                    fontweight="bold", color="white" if rank == STATUS_RANK["fail"] else "0.1")
    shown = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 12)).round().astype(int))
    ax.set_xticks(shown, [str(steps[i]) for i in shown])
    ax.set_yticks(range(len(layers)), layers)
    ax.set_xticks(np.arange(len(steps) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(layers) + 1) - 0.5, minor=True)
    ax.grid(False)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set(title=timeline.name, xlabel="check point (optimizer steps done)")


def timeline_figure(timelines):
    """Status of every layer at every check point, one panel per run.

    Cells are coloured by the worst status of the layer's rows (green pass, grey vacuous,
    amber nondifferentiable, red fail, marked ✗); the number in a cell counts the values
    on a kink (ReLU at 0, max-pool ties), which grows as units die or saturate.

    Parameters
    ----------
    timelines : list of inputs.Timeline

    Returns
    -------
    matplotlib.figure.Figure or None
        ``None`` when no run has a check point.
    """
    timelines = [t for t in timelines if not t.frame.empty]
    if not timelines:
        return None
    layer_lists = [layer_order(t.frame["layer"].unique()) for t in timelines]
    height = 1.5 + 0.2 * max(len(layers) for layers in layer_lists)
    n_points = max(t.frame["step"].nunique() for t in timelines)
    width = min(FULL_WIDTH, max(4.5, 2.5 + 0.4 * n_points) * len(timelines))
    with themed_figure(len(timelines), width=width, height=height) as (fig, axes):
        for ax, timeline, layers in zip(axes, timelines, layer_lists, strict=True):
            _panel(ax, timeline, layers)
        axes[0].set_ylabel("layer")
        handles = [Patch(color=c, label=s) for s, c in STATUS_COLORS.items()]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
                   frameon=False)
        return fig
