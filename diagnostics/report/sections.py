"""The report's sections in page order; each is built only when its data is present."""

from __future__ import annotations

import numpy as np

from ..check_messages import proved_nothing
from .figures import to_data_uri
from .plots_checks import relative_error_heatmap
from .plots_lr import range_test_figure, sensitivity_figure
from .plots_timeline import timeline_figure
from .plots_training import grad_norm_figure, loss_figure, units_figure, update_ratio_figure

#: (anchor, title, figure builder, what to look for) for the monitored-run sections.
_TRAINING = [
    ("grad-norms", "Gradient norms per layer", grad_norm_figure,
     "One line per layer, dark = near the input, light = near the output. Healthy nets keep "
     "the lines within a decade or two of each other; lines falling steadily towards the "
     "input mean vanishing gradients, lines shooting up mean exploding gradients."),
    ("update-ratio", "Update-to-weight ratio", update_ratio_figure,
     "Size of each optimizer step relative to the weights. Around 1e-3 (green band) is "
     "typical; far below means the layer barely learns, far above means the step is too "
     "large."),
    ("units", "Dead and saturated units", units_figure,
     "Share of units that output zero for the whole batch (ReLU) or sit in the flat tails "
     "of a sigmoid/tanh. Both pass (almost) no gradient."),
    ("loss", "Loss and accuracy", loss_figure,
     "Training loss per step and per epoch, validation dashed where recorded."),
]

_CHECK_COLUMNS = ["layer", "tensor", "check", "status", "shape", "checked", "max_abs_err",
                  "max_rel_err", "tolerance", "worst_index", "analytic", "numeric", "message",
                  "likely_cause"]


def _fmt(value, spec):
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else format(value, spec)
    return "" if value is None else str(value)


def check_table(check):
    """Rows of a gradient-check table as strings, with the columns the table has: failures
    first, then nondifferentiable points, then vacuous checks, then passes, each in layer
    order."""
    columns = [c for c in _CHECK_COLUMNS if c in check.table.columns]
    specs = {"max_abs_err": ".2e", "max_rel_err": ".2e", "tolerance": ".1e",
             "analytic": ".6g", "numeric": ".6g"}
    rank = check.table["status"].map({"fail": 0, "nondifferentiable": 1, "vacuous": 2}).fillna(3)
    table = check.table.iloc[np.argsort(rank.to_numpy(), kind="stable")]
    rows = [{c: _fmt(row[c], specs.get(c, "")) for c in columns}
            for row in table[columns].to_dict("records")]
    return columns, rows


def check_anchor(index):
    """Anchor of the ``index``-th gradient-check section (0-based)."""
    return f"gradcheck-{index + 1}"


#: Anchor of the section with the gradient checks made during training.
TIMELINE_ANCHOR = "gradcheck-timeline"
_TIMELINE_CAPTION = (
    "Every layer at every check point of GradcheckHook (weights after that many optimizer "
    "steps; same small batch each time): green pass, grey vacuous (all zero, proves nothing), "
    "amber nondifferentiable, red fail (✗). The number counts values on a kink (ReLU at 0, "
    "max-pool ties): it grows as units die or saturate. A layer that turns red later in "
    "training has a backward that breaks as the weights move (a clip, a branch, a cache).")


def _badge(check):
    """``(css class, word)`` of a check's section: failed, vacuous (proved nothing) or passed."""
    if not check.passed:
        return "critical", "failed"
    return ("warning", "vacuous") if proved_nothing(check.table) else ("healthy", "passed")


def _check_sections(checks):
    for i, check in enumerate(checks):
        columns, rows = check_table(check)
        yield {"id": check_anchor(i), "kind": "gradcheck",
               "title": "Gradient check" + (f": {check.name}" if len(checks) > 1 else ""),
               "passed": check.passed, "badge": _badge(check),
               "image": to_data_uri(relative_error_heatmap(check)),
               "columns": columns, "rows": rows, "caption": "Worst relative error per layer "
               "and tensor, coloured by error over tolerance (green passes, red fails; failed "
               "cells outlined; grey: vacuous, every value zero, so it proved nothing)."}


def _cost(timeline):
    """``"5 check points (steps 0-340), 0.21 s = 1.2% of the run's time"``."""
    steps = timeline.frame["step"]
    share = (f" = {timeline.seconds / timeline.training_seconds:.1%} of the run's time"
             if timeline.training_seconds > 0 else "")
    return (f"{steps.nunique()} check points (steps {steps.min()}-{steps.max()}), "
            f"{timeline.seconds:.2f} s{share}")


def _timeline_sections(timelines):
    fig = timeline_figure(timelines)
    if fig is not None:
        yield {"id": TIMELINE_ANCHOR, "kind": "figure", "title": "Gradient checks during "
               "training", "image": to_data_uri(fig), "caption": _TIMELINE_CAPTION,
               "facts": {t.name: _cost(t) for t in timelines if not t.frame.empty}}


def _training_sections(runs):
    for anchor, title, builder, caption in _TRAINING:
        fig = builder(runs) if runs else None
        if fig is not None:
            yield {"id": anchor, "kind": "figure", "title": title, "image": to_data_uri(fig),
                   "caption": caption}


def _lr_sections(ranges, sensitivities):
    for i, result in enumerate(ranges):
        yield {"id": f"lr-range-{i + 1}", "kind": "lr", "title": "Learning-rate range test",
               "image": to_data_uri(range_test_figure(result)),
               "caption": getattr(result, "caveat", ""),
               "facts": {k: f"{v:.3g}" for k, v in result.suggestions.items()}}
    for i, result in enumerate(sensitivities):
        stable = result.stable_range
        yield {"id": f"lr-sensitivity-{i + 1}", "kind": "lr",
               "title": "Learning-rate sensitivity",
               "image": to_data_uri(sensitivity_figure(result)),
               "caption": "Each learning rate trained with several seeds; the band and dots "
               "show how much the outcome depends on the seed.",
               "facts": {"best lr": f"{result.best_lr:.3g}", "stable range":
                         f"{stable[0]:.3g} to {stable[1]:.3g}" if stable else "none"}}


def build_sections(runs, checks, ranges, sensitivities, timelines=()):
    """All sections present in the report, in page order.

    Parameters
    ----------
    runs, checks, timelines : lists of inputs.Run, inputs.Check, inputs.Timeline
    ranges, sensitivities : lists of LRRangeResult, LRSensitivityResult

    Returns
    -------
    list of dict
        Each with ``id``, ``title``, ``kind`` ("gradcheck", "figure" or "lr"),
        ``image`` (a ``figures.Plot``), ``caption`` and kind-specific fields.
    """
    return [*_check_sections(checks), *_timeline_sections(timelines),
            *_training_sections(runs), *_lr_sections(ranges, sensitivities)]
