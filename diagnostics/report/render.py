"""``write_report``: assemble the page from runs, gradient checks and LR results."""

from __future__ import annotations

import os

from jinja2 import Environment, PackageLoader, select_autoescape

from ..atomic import require_output_path, write_atomically
from . import meta
from .inputs import checks_from, lr_results_from, runs_from, timelines_from
from .sections import TIMELINE_ANCHOR, build_sections, check_anchor
from .verdict import collect_findings, verdict

HTML_SUFFIXES = (".html", ".htm")
_ENV = Environment(loader=PackageLoader("diagnostics.report", "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def write_report(path, *, monitor=None, gradcheck=None, lr=None, gradcheck_hook=None,
                 title=None):
    """Write one self-contained HTML report (inline CSS, embedded PNG plots, no network).

    Parameters
    ----------
    path : str or os.PathLike
        Output file ending in ``.html`` (or ``.htm``); missing parent folders are created.
        Checked before any work (:func:`diagnostics.atomic.require_output_path`), written
        atomically.
    monitor : Monitor or dict of str to Monitor, optional
        Monitored training run(s); several runs are shown side by side.
    gradcheck : GradcheckReport or dict of str to GradcheckReport, optional
        Gradient-check result(s).
    lr : LRRangeResult or LRSensitivityResult or list of them, optional
        Learning-rate experiments.
    gradcheck_hook : GradcheckHook or dict of str to GradcheckHook, optional
        Gradient checks made during training (keys: the runs' names); shown as a timeline,
        their failures as critical findings.
    title : str, optional
        Page title (default "gradkit report").

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    OutputPathError
        (a ValueError) If ``path`` cannot be written: a directory, another suffix, a parent
        that is a file, a folder that refuses new files. Raised before any rendering.
    ValueError
        If no data is given at all, or a Monitor's frame lacks contract columns.
    TypeError
        If an argument is not one of the accepted types.
    """
    if monitor is None and gradcheck is None and lr is None and gradcheck_hook is None:
        raise ValueError("write_report needs at least one of monitor=, gradcheck=, lr=, "
                         "gradcheck_hook=")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    require_output_path(path, option="write_report(path=...)", suffixes=HTML_SUFFIXES)
    runs, checks = runs_from(monitor), checks_from(gradcheck)
    ranges, sensitivities = lr_results_from(lr)
    timelines = timelines_from(gradcheck_hook)
    sections = build_sections(runs, checks, ranges, sensitivities, timelines)
    anchored = [(check, check_anchor(i)) for i, check in enumerate(checks)]
    findings = collect_findings(runs, anchored, {s["id"] for s in sections}, timelines,
                                TIMELINE_ANCHOR)
    html = _ENV.get_template("report.html").render(
        title=title or "gradkit report",
        verdict=verdict(findings, [run.name for run in runs],
                        [c.name for c in [*checks, *timelines]]),
        findings=findings.to_dict("records"),
        sections=sections,
        environment=meta.environment(),
        run_rows=meta.run_rows(runs),
        check_rows=meta.check_rows(checks),
        lr_rows=meta.lr_rows(ranges, sensitivities),
    )
    return write_atomically(path, html)

