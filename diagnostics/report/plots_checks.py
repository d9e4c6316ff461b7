"""Gradient-check plot: one heatmap cell per layer x tensor, annotated with the relative error."""

from __future__ import annotations

import warnings

import numpy as np
import seaborn as sns
from matplotlib.patches import Rectangle

from ..check_messages import STATUS_RANK
from .figures import FULL_WIDTH, layer_order, themed_figure

#: Colour range of log10(error / tolerance): green well inside, red well beyond.
_LOG_RANGE = (-4.0, 4.0)


def error_over_tolerance(table, options):
    """Each row's error as a multiple of what its check allowed (> 1 fails).

    Uses the table's ``tolerance`` column (allowed absolute error) when present,
    otherwise ``max_rel_err / rtol`` with ``rtol`` from the report options.
    """
    if "tolerance" in table:
        allowed = table["tolerance"].to_numpy(dtype=float)
        return table["max_abs_err"].to_numpy(dtype=float) / np.maximum(allowed, 1e-300)
    rtol = options.get("rtol") or 1e-5
    return table["max_rel_err"].to_numpy(dtype=float) / rtol


def _mark_cells(ax, rank):
    """Outline failed cells in red; grey out vacuous ones (all zero: their tiny error proves
    nothing, so they must not look like a green pass). ``rank``: (layers, tensors)."""
    for r, c in zip(*np.nonzero(rank == STATUS_RANK["fail"]), strict=True):
        ax.add_patch(Rectangle((c, r), 1, 1, fill=False, edgecolor="red", lw=2.5))
    vacuous = set(zip(*np.nonzero(rank == STATUS_RANK["vacuous"]), strict=True))
    for r, c in vacuous:
        ax.add_patch(Rectangle((c, r), 1, 1, facecolor="0.78", edgecolor="white", lw=0.5))
    for text in ax.texts:
        x, y = text.get_position()
        if (int(y), int(x)) in vacuous:
            text.set_color("0.15")


def relative_error_heatmap(check):
    """Heatmap with layers as rows and tensors as columns.

    Each cell shows the worst relative error of that tensor (over all of its checks)
    and is coloured by that error against its tolerance, so passing cells are green
    whatever their magnitude. Failing cells are outlined in red, vacuous ones (all
    values zero) are grey; tensors a layer does not have are left blank.

    Parameters
    ----------
    check : inputs.Check

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = check.table.assign(layer=check.table["layer"].astype(str),
                               ratio=error_over_tolerance(check.table, check.options),
                               rank=check.table["status"].map(STATUS_RANK).fillna(0))
    layers = layer_order(table["layer"].unique())
    tensors = sorted(table["tensor"].unique(), key=lambda t: (t != "input", t))
    cells = table.groupby(["layer", "tensor"])[["max_rel_err", "ratio", "rank"]].max()
    grid = {c: cells[c].unstack().reindex(index=layers, columns=tensors).to_numpy(dtype=float)
            for c in cells}
    colour = np.log10(np.clip(grid["ratio"], 10 ** _LOG_RANGE[0], None))
    labels = np.where(np.isnan(grid["max_rel_err"]), "",
                      np.char.mod("%.1e", np.nan_to_num(grid["max_rel_err"])))
    width = min(FULL_WIDTH, 3.2 + 1.1 * len(tensors))
    with themed_figure(1, width=width, height=1.3 + 0.3 * len(layers)) as (fig, (ax,)):
        with warnings.catch_warnings():  # seaborn 0.13 calls the deprecated cmap.set_bad
            warnings.filterwarnings("ignore", category=PendingDeprecationWarning,
                                    module="seaborn")
            sns.heatmap(colour, ax=ax, mask=np.isnan(colour), annot=labels, fmt="",
                        vmin=_LOG_RANGE[0], vmax=_LOG_RANGE[1], cmap="RdYlGn_r", center=0.0,
                        xticklabels=tensors, yticklabels=layers, linewidths=0.5,
                        annot_kws={"fontsize": 8},
                        cbar_kws={"label": "log10(error / tolerance); > 0 fails"})
        _mark_cells(ax, grid["rank"])
        ax.set(xlabel="tensor (input = ∂L/∂x); cell text = max relative error", ylabel="layer",
               title=f"{check.name}: gradient error")
        ax.tick_params(axis="y", rotation=0)
        return fig
