"""Shared plotting machinery: one seaborn theme, layer colours, downsampling, PNG embedding.

Figures are :class:`ThemedFigure` objects built directly (Agg canvas), so rendering a
report never touches pyplot's global state or the user's backend, and a figure looks the
same embedded in the page as shown inline in a notebook.
"""

from __future__ import annotations

import base64
import io
from contextlib import contextmanager
from typing import NamedTuple

import matplotlib as mpl
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

#: Width of a full-width figure in inches; the page shows it at 1104 CSS pixels.
FULL_WIDTH = 11.5
#: Pixels per inch of the embedded PNGs (about 1.5x the CSS size: crisp on laptop screens).
DPI = 144
#: CSS pixels per figure inch on the page.
CSS_PX_PER_INCH = 96
#: Upper bound on plotted points per line; longer series are averaged into bins.
MAX_POINTS = 300

_THEME = {
    **sns.axes_style("whitegrid"),
    **sns.plotting_context("notebook", font_scale=0.85),
    "axes.titleweight": "bold",
    "axes.titlesize": 11,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "lines.linewidth": 1.4,
}


class ThemedFigure(Figure):
    """A :class:`matplotlib.figure.Figure` that draws under the report theme wherever it is
    rendered (report page, notebook, ``savefig``): tick density and label sizes are read from
    the style at draw time, not only when the figure is built."""

    def draw(self, renderer):
        with mpl.rc_context(_THEME):
            super().draw(renderer)


@contextmanager
def themed_figure(n_panels=1, *, height=3.6, width=FULL_WIDTH, max_cols=3, sharey=False):
    """Yield ``(fig, axes)`` styled with the report theme.

    Parameters
    ----------
    n_panels : int
        Number of axes; they are laid out ``max_cols`` per row.
    height : float
        Height of one row in inches.
    width : float
        Total figure width in inches.
    max_cols : int
        Maximum panels per row.
    sharey : bool
        Share the y axis between panels (used to compare runs side by side).

    Yields
    ------
    fig : ThemedFigure
    axes : list of matplotlib.axes.Axes, length ``n_panels``
        Unused grid cells are removed.
    """
    n_cols = min(n_panels, max_cols)
    n_rows = -(-n_panels // n_cols)
    with mpl.rc_context(_THEME):
        fig = ThemedFigure(figsize=(width, height * n_rows), layout="constrained")
        grid = np.atleast_1d(fig.subplots(n_rows, n_cols, sharey=sharey, squeeze=False)).ravel()
        for ax in grid[n_panels:]:
            ax.remove()
        yield fig, list(grid[:n_panels])


class Plot(NamedTuple):
    """An embedded plot: ``src`` is a PNG ``data:`` URI, ``width`` its display width in CSS px."""

    src: str
    width: int


def to_data_uri(fig):
    """Render ``fig`` to a palette PNG embedded as a ``data:`` URI.

    Quantising to 128 colours keeps line plots about four times smaller than a
    true-colour PNG with no visible loss, which keeps reports within a few MB.

    Returns
    -------
    Plot
        The URI and the display width (96 CSS px per figure inch, so a figure
        shows at its intended size with about 1.5 image pixels per CSS pixel).
    """
    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=DPI)
    image = Image.open(raw).convert("RGB").quantize(colors=128, method=Image.Quantize.FASTOCTREE)
    packed = io.BytesIO()
    image.save(packed, format="png", optimize=True)
    src = "data:image/png;base64," + base64.b64encode(packed.getvalue()).decode("ascii")
    return Plot(src, round(fig.get_figwidth() * CSS_PX_PER_INCH))


def layer_colors(layers):
    """Map layer names to colours ordered by depth (dark = input side, light = output side).

    Parameters
    ----------
    layers : sequence of str
        Layer names in network order.

    Returns
    -------
    dict
        ``{layer: RGB tuple}``; the same layer gets the same colour in every plot.
    """
    cmap = mpl.colormaps["plasma"]
    positions = np.linspace(0.0, 0.85, max(len(layers), 1))
    return {layer: cmap(p)[:3] for layer, p in zip(layers, positions, strict=True)}


def layer_order(names, preferred=()):
    """Sort layer names by network position.

    Names listed in ``preferred`` (e.g. ``monitor.meta["layers"]``) come first in
    that order; the rest sort by their ``"<index>:"`` prefix, then alphabetically.
    """
    rank = {name: i for i, name in enumerate(preferred)}

    def key(name):
        prefix = name.split(":", 1)[0]
        index = int(prefix) if prefix.isdigit() else float("inf")
        return (rank.get(name, len(rank)), index, name)

    return sorted(set(names), key=key)


def downsample(frame, by, *, x="step", y="value", max_points=MAX_POINTS):
    """Average a long series into at most ``max_points`` bins per group.

    Parameters
    ----------
    frame : pandas.DataFrame
        Tidy rows with columns ``by``, ``x`` and ``y``; non-finite ``y`` are dropped.
    by : list of str
        Columns identifying one line (e.g. ``["layer"]``).
    x, y : str
        Column names of the abscissa and the value.
    max_points : int
        Maximum number of points kept per line.

    Returns
    -------
    pandas.DataFrame
        Columns ``by + [x, y]``; unchanged (but for dropped non-finite values)
        when the series is already short.
    """
    frame = frame.loc[np.isfinite(frame[y].to_numpy(dtype=float)), [*by, x, y]]
    if frame.empty or frame[x].nunique() <= max_points:
        return frame
    lo, hi = frame[x].min(), frame[x].max()
    binned = frame.assign(_bin=(frame[x] - lo) * max_points // (hi - lo + 1))
    out = binned.groupby([*by, "_bin"], sort=False)[[x, y]].mean().reset_index()
    return out.drop(columns="_bin")


def legend_below(ax, n_items, max_cols=5):
    """Place a compact legend under ``ax`` (clear of its x label) in up to ``max_cols`` columns."""
    if n_items:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), borderaxespad=5.0,
                  ncols=min(n_items, max_cols),
                  frameon=False, handlelength=1.5, columnspacing=1.0)


def integer_ticks(axis):
    """Only whole numbers on ``axis`` (epochs)."""
    axis.set_major_locator(MaxNLocator(integer=True))


def empty_panel(ax, text):
    """Show ``text`` in the middle of an axis that has nothing to plot."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])



def run_colors(names):
    """Map run names to distinct categorical colours (colour-blind safe palette)."""
    return dict(zip(names, sns.color_palette("colorblind", len(names)), strict=True))
