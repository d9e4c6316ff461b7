"""The report's figures, one function each, for notebooks and scripts.

Every function returns a :class:`matplotlib.figure.Figure` (shown inline by Jupyter,
saved with ``fig.savefig(path)``), built by the very code that draws ``write_report``'s
page, so a notebook shows the same pictures. No pyplot state is touched.

``monitor`` is a :class:`~diagnostics.Monitor` or a dict ``{run name: Monitor}`` (runs
side by side); a figure whose data no run recorded raises ``ValueError``.
"""

from __future__ import annotations

from diagnostics.report.inputs import checks_from, runs_from, timelines_from
from diagnostics.report.plots_checks import relative_error_heatmap
from diagnostics.report.plots_lr import range_test_figure, sensitivity_figure
from diagnostics.report.plots_timeline import timeline_figure
from diagnostics.report.plots_training import (
    grad_norm_figure,
    loss_figure,
    units_figure,
    update_ratio_figure,
)

__all__ = ["gradcheck_errors", "gradcheck_timeline", "gradient_norms", "loss", "range_test",
           "sensitivity", "units", "update_ratios"]


_MONITOR_DOC = """{summary}

    Parameters
    ----------
    monitor : Monitor or dict of str to Monitor
        One run, or runs side by side (dict keys are the panel titles).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        When no run recorded {what}.
    """


def _monitor_figure(name, builder, what, summary):
    """A public figure function ``name(monitor)`` drawn by the report's ``builder(runs)``."""
    def figure(monitor):
        if monitor is None:
            raise ValueError("monitor must be a Monitor or a dict {run_name: Monitor}, got None")
        fig = builder(runs_from(monitor, with_findings=False))
        if fig is None:
            raise ValueError(f"monitor: no run recorded {what}")
        return fig

    figure.__name__ = figure.__qualname__ = name
    figure.__doc__ = _MONITOR_DOC.format(summary=summary, what=what)
    return figure


gradient_norms = _monitor_figure(
    "gradient_norms", grad_norm_figure, "gradient norms",
    "Gradient L2 norm per layer over steps (log y), the global norm dashed, the first "
    "NaN/Inf marked.")
update_ratios = _monitor_figure(
    "update_ratios", update_ratio_figure, "update ratios",
    "Update-to-weight ratio per layer over steps, with the usual 1e-3 band.")
units = _monitor_figure(
    "units", units_figure, "dead or saturated units",
    "Share of dead (ReLU) and saturated (sigmoid/tanh) units per layer over steps.")
loss = _monitor_figure(
    "loss", loss_figure, "a loss",
    "Loss per step, loss per epoch (validation dashed) and accuracy per epoch.")


def range_test(result):
    """Loss against learning rate of a range test, suggestions marked.

    Parameters
    ----------
    result : LRRangeResult

    Returns
    -------
    matplotlib.figure.Figure
    """
    return range_test_figure(result)


def sensitivity(result):
    """Final loss against learning rate with the spread over seeds, and the loss per epoch
    of each rate.

    Parameters
    ----------
    result : LRSensitivityResult

    Returns
    -------
    matplotlib.figure.Figure
    """
    return sensitivity_figure(result)


def gradcheck_errors(report, name="gradient check"):
    """Heatmap of a gradient check: worst relative error per layer and tensor, coloured by
    error over tolerance (failures outlined).

    Parameters
    ----------
    report : GradcheckReport
    name : str
        Title of the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    [check] = checks_from({name: report})
    return relative_error_heatmap(check)


def gradcheck_timeline(hook):
    """Status per layer at each check point of gradient checks made during training, with
    the number of values on a kink.

    Parameters
    ----------
    hook : GradcheckHook or dict of str to GradcheckHook

    Returns
    -------
    matplotlib.figure.Figure
    """
    if hook is None:
        raise ValueError("hook must be a GradcheckHook or a dict {run_name: GradcheckHook}, "
                         "got None")
    fig = timeline_figure(timelines_from(hook))
    if fig is None:
        raise ValueError("hook: no check point yet (train with the hook first)")
    return fig
