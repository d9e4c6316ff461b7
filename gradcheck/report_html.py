"""HTML for notebooks: a :class:`~gradcheck.report.GradcheckReport` as a coloured table.

``GradcheckReport._repr_html_`` calls :func:`report_html`. The small table builder and the
style are public (``html_table``, ``STYLE``) so that ``diagnostics`` shows its findings the
same way. Standard library only; every value is escaped.
"""

from __future__ import annotations

import math
from html import escape

__all__ = ["STYLE", "html_table", "report_html"]

#: Scoped CSS (class ``gk``) for every gradkit notebook view: status and severity badges.
STYLE = """<style>
.gk {font-family: system-ui, sans-serif; font-size: 13px; line-height: 1.4; max-width: 1200px}
.gk p {margin: 4px 0}
.gk table {border-collapse: collapse; margin: 6px 0}
.gk th, .gk td {border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left;
  vertical-align: top}
.gk th {background: #f2f2f2}
.gk td.num {text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums}
.gk .badge {border-radius: 9px; padding: 1px 8px; color: #fff; font-weight: 600;
  white-space: nowrap}
.gk .pass, .gk .healthy {background: #2e7d32}
.gk .fail, .gk .critical {background: #c62828}
.gk .nondifferentiable, .gk .warning {background: #a35f00}
.gk .vacuous {background: #6d6d6d}
.gk .info, .gk .constant {background: #1565c0}
</style>"""

_ORDER = {"fail": 0, "nondifferentiable": 1, "vacuous": 2, "pass": 3, "constant": 4}
_NUMBERS = {"max_abs_err": ".2e", "max_rel_err": ".2e", "tolerance": ".1e",
            "analytic": ".4g", "numeric": ".4g"}


def html_table(columns, rows, *, badge=None) -> str:
    """An escaped HTML table.

    Parameters
    ----------
    columns : list of str
        Keys of ``rows`` to show, in order (also the headers).
    rows : iterable of dict
        Cell values: floats are formatted (``_NUMBERS`` specs by column, ``.4g`` otherwise)
        and right-aligned, anything else shown as text, in full.
    badge : str, optional
        Column shown as a coloured badge whose CSS class is its value (a status or severity).

    Returns
    -------
    str
    """
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            if c == badge:
                cells.append(f'<td><span class="badge {escape(str(value))}">'
                             f"{escape(str(value))}</span></td>")
            elif isinstance(value, float):
                text = "" if math.isnan(value) else format(value, _NUMBERS.get(c, ".4g"))
                cells.append(f'<td class="num">{text}</td>')
            else:
                cells.append(f"<td>{escape('' if value is None else str(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def report_html(report) -> str:
    """A report as HTML: a verdict line (with the options) and every row, failures first.

    Parameters
    ----------
    report : GradcheckReport
        Uses ``rows``, ``options``, ``seconds``, ``passed``, ``n_failed``.

    Returns
    -------
    str
        Self-contained HTML (scoped style, no scripts). ``likely_cause`` is a column when
        some row has one.
    """
    rows = sorted(report.rows, key=lambda r: _ORDER.get(r.get("status"), 2))
    columns = ["layer", "tensor", "check", "status", "worst_index", "analytic", "numeric",
               "max_abs_err", "max_rel_err", "tolerance", "message"]
    columns = [c for c in columns if any(c in r for r in rows)]
    if any(r.get("likely_cause") for r in rows):
        columns.append("likely_cause")
    verdict = "passed" if report.passed else "failed"
    options = ", ".join(f"{k}={v}" for k, v in report.options.items())
    counts = {s: sum(r.get("status") == s for r in rows) for s in _ORDER}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return (f'{STYLE}<div class="gk"><p><b>gradcheck</b> <span class="badge '
            f'{"pass" if report.passed else "fail"}">{verdict}</span> {len(rows)} rows: '
            f"{escape(summary)} ({report.seconds:.3f} s; {escape(options)})</p>"
            f"{html_table(columns, rows, badge='status')}</div>")
