"""Gradient-check plot: relative error per layer x tensor as an annotated heatmap."""

from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.patches import Rectangle

from .figures import FULL_WIDTH, layer_order, themed_figure, to_data_uri

#: Colour range of log10(relative error): green near 1e-12 (exact), red near 1 (wrong).
_LOG_RANGE = (-12.0, 0.0)


def relative_error_heatmap(check):
    """Heatmap of ``max_rel_err`` (log10) with layers as rows and tensors as columns.

    Parameters
    ----------
    check : inputs.Check

    Returns
    -------
    figures.Plot
        The embedded heatmap. Failing cells are outlined in red; tensors a layer does not
        have are left blank.
    """
    table = check.table
    layers = layer_order(table["layer"].astype(str).unique())
    tensors = sorted(table["tensor"].unique(), key=lambda t: (t != "input", t))
    errors = table.pivot_table(index="layer", columns="tensor", values="max_rel_err",
                               aggfunc="max").reindex(index=layers, columns=tensors)
    status = table.pivot_table(index="layer", columns="tensor", values="status",
                               aggfunc="first").reindex(index=layers, columns=tensors)
    log_err = np.log10(np.clip(errors.to_numpy(dtype=float), 1e-16, None))
    labels = np.where(np.isnan(errors.to_numpy(dtype=float)), "",
                      np.char.mod("%.1e", np.nan_to_num(errors.to_numpy(dtype=float))))
    width = min(FULL_WIDTH, 3.0 + 1.3 * len(tensors))
    with themed_figure(1, width=width, height=1.2 + 0.32 * len(layers)) as (fig, (ax,)):
        sns.heatmap(log_err, ax=ax, mask=np.isnan(log_err), annot=labels, fmt="",
                    vmin=_LOG_RANGE[0], vmax=_LOG_RANGE[1], cmap="RdYlGn_r",
                    xticklabels=tensors, yticklabels=layers, linewidths=0.5,
                    annot_kws={"fontsize": 8},
                    cbar_kws={"label": "log10(max relative error)"})
        rows, cols = np.nonzero(status.to_numpy() == "fail")
        for r, c in zip(rows, cols, strict=True):
            ax.add_patch(Rectangle((c, r), 1, 1, fill=False, edgecolor="red", lw=2.5))
        ax.set(xlabel="tensor (input = ∂L/∂x)", ylabel="layer",
               title=f"{check.name}: relative error")
        ax.tick_params(axis="y", rotation=0)
        return to_data_uri(fig)

