"""HTML for notebooks: the findings table and the ``Monitor`` summary.

``Findings._repr_html_`` and ``Monitor._repr_html_`` call these; the table builder and
the style are gradcheck's (:mod:`gradcheck.report_html`), so a check and a run look alike.
"""

from __future__ import annotations

from html import escape

from gradcheck.report_html import STYLE, html_table

__all__ = ["findings_html", "monitor_html"]

#: Findings shown in a Monitor's summary; the rest are counted.
MOST = 5


def findings_html(findings) -> str:
    """Findings as an HTML table: a coloured severity badge, the full message.

    Parameters
    ----------
    findings : pandas.DataFrame
        Columns ``severity, check, layer, message`` (more are shown too).

    Returns
    -------
    str
    """
    if findings.empty:
        return f'{STYLE}<div class="gk"><p>No findings: every check passed.</p></div>'
    table = html_table(list(findings.columns), findings.to_dict("records"), badge="severity")
    return f'{STYLE}<div class="gk">{table}</div>'


def _counts(frame, meta, n_epochs) -> str:
    """``"340 steps (steps 0-339), norms on 340, 3 epochs, 5 layers, 8,970 parameters"``."""
    loss = frame.loc[frame["metric"] == "loss", "step"]
    recorded = frame.loc[frame["metric"] != "loss", "step"].nunique()
    span = f" (steps {loss.min()}-{loss.max()})" if len(loss) else ""
    params = f", {int(meta['n_params']):,} parameters" if "n_params" in meta else ""
    return (f"{loss.nunique()} steps{span}, norms recorded on {recorded}, {n_epochs} epochs, "
            f"{len(meta.get('layers', []))} layers{params}")


def monitor_html(monitor) -> str:
    """A Monitor's summary: what was recorded, the model, the worst findings.

    Parameters
    ----------
    monitor : Monitor
        Uses ``frame``, ``meta``, ``history`` and ``findings()``.

    Returns
    -------
    str
        Self-contained HTML; the model summary folds open.
    """
    frame, meta = monitor.frame, monitor.meta
    if frame.empty:
        return f'{STYLE}<div class="gk"><p><b>Monitor</b>: nothing recorded yet.</p></div>'
    findings = monitor.findings()
    top = findings.head(MOST)
    more = (f"<p>... and {len(findings) - MOST} more: <code>monitor.findings()</code></p>"
            if len(findings) > MOST else "")
    model = escape(str(meta.get("model", "")))
    worst = findings_html(top).removeprefix(STYLE)
    return (f'{STYLE}<div class="gk"><p><b>Monitor</b>: '
            f"{escape(_counts(frame, meta, len(monitor.history)))}.</p>"
            f"<details><summary>model</summary><pre>{model}</pre></details>"
            f"<p><b>{len(findings)} finding(s)</b>, most severe first:</p>{worst}{more}</div>")
