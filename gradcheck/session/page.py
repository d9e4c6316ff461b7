"""The session page: one sortable table of every check, failures first with their messages.

Its cost grows with the number of checks only by a few table rows each: no plot, no
per-check section, no navigation. Standard library only (the page template is
``page.html`` next to this module); every value is escaped.
"""

from __future__ import annotations

import math
from html import escape
from importlib import resources
from string import Template

from gradcheck.report_html import html_table
from gradcheck.session.headline import STATUS_ORDER, error_ratio, failure_headline
from gradcheck.session.results import CheckRecord, RaisedTest
from gradcheck.session.summary import totals_line

#: Columns of a failing check's rows (those that are not a plain pass).
FAILURE_COLUMNS = ["layer", "tensor", "check", "status", "worst_index", "analytic", "numeric",
                   "max_abs_err", "max_rel_err", "tolerance", "message", "likely_cause"]
#: Columns of the table of every check: (header, numeric?).
CHECK_COLUMNS = [("test", False), ("status", True), ("layer", False), ("worst tensor", False),
                 ("abs err", True), ("rel err", True), ("err / tolerance", True),
                 ("tensors", True), ("seconds", True)]


def _number(value: float, spec: str) -> str:
    """A numeric cell: the exact value to sort by, the formatted one to show."""
    shown = "" if math.isnan(value) else format(value, spec)
    return f'<td class="num" data-v="{value!r}">{shown}</td>'


def check_row(record: CheckRecord) -> str:
    """One row of the table of every check."""
    worst = record.worst or {}
    status = record.status
    cells = [f'<td class="name">{escape(record.name)}</td>',
             f'<td class="{status}" data-v="{STATUS_ORDER.index(status)}">{status}</td>',
             f"<td>{escape(str(worst.get('layer', '')))}</td>",
             f"<td>{escape(str(worst.get('tensor', '')))}</td>",
             _number(float(worst.get("max_abs_err", math.nan)), ".2e"),
             _number(float(worst.get("max_rel_err", math.nan)), ".2e"),
             _number(error_ratio(worst) if worst else math.nan, ".3g"),
             _number(record.n_tensors, "d"), _number(record.seconds, ".3f")]
    return f"<tr>{''.join(cells)}</tr>"


def _ordered(records: list[CheckRecord]) -> list[CheckRecord]:
    """Failures first, then kinks, vacuous checks and passes; by name within each."""
    return sorted(records, key=lambda r: (STATUS_ORDER.index(r.status), r.name))


def checks_table(records: list[CheckRecord]) -> str:
    """The sortable table of every check (click a header to sort by it)."""
    head = "".join(f'<th data-type="{"num" if numeric else "text"}">{escape(name)}</th>'
                   for name, numeric in CHECK_COLUMNS)
    body = "\n".join(check_row(record) for record in _ordered(records))
    return (f'<table class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>\n{body}\n</tbody></table>")


def failure_block(record: CheckRecord) -> str:
    """A failed check: its headline, the rows that did not pass, the full text report."""
    rows = [row for row in record.report.rows if row["status"] != "pass"]
    return (f"<h3>{escape(record.name)}</h3>"
            f'<p class="headline">{escape(failure_headline(record.report))}</p>'
            f'<div class="text">{html_table(FAILURE_COLUMNS, rows)}</div>'
            f"<details><summary>full report</summary><pre>{escape(str(record.report))}"
            "</pre></details>")


def raised_table(raised: list[RaisedTest]) -> str:
    """The gradient tests that failed other than by a failed check."""
    rows = [{"test": t.name, "phase": t.when, "where": t.location, "exception": t.exception,
             "message": t.message} for t in sorted(raised, key=lambda t: t.name)]
    columns = ["test", "phase", "where", "exception", "message"]
    return f'<div class="text">{html_table(columns, rows)}</div>'


def _section(title: str, count: int, body: str, note: str = "") -> str:
    note = f"<p>{escape(note)}</p>" if note else ""
    return f"<h2>{escape(title)} ({count})</h2>\n{note}{body}\n"


def render_page(records: list[CheckRecord], raised: list[RaisedTest], *, title: str,
                meta: str) -> str:
    """The whole session page.

    Parameters
    ----------
    records : list of CheckRecord
        Every check of the session (may be empty).
    raised : list of RaisedTest
        The gradient tests that raised (or failed an assertion of their own).
    title : str
        Page title and heading.
    meta : str
        One line under the totals: when, where, how the session ran.

    Returns
    -------
    str
        A self-contained HTML page (inline style and sorting script, no network).
    """
    failed = [r for r in sorted(records, key=lambda r: r.name) if not r.passed]
    sections = []
    if failed:
        sections.append(_section("Failed checks", len(failed),
                                 "\n".join(failure_block(r) for r in failed)))
    if raised:
        sections.append(_section(
            "Gradient tests that raised", len(raised), raised_table(raised),
            "Tests using the gradcheck fixture that failed other than by a failed check: "
            "an exception (in the test, its layer or the check's set-up) or an assertion "
            "of their own."))
    sections.append(_section("Every check", len(records), checks_table(records),
                             "Failures first; click a column header to sort by it."))
    template = Template(resources.files(__package__).joinpath("page.html").read_text("utf-8"))
    return template.substitute(title=escape(title), totals=escape(totals_line(records)),
                               meta=escape(meta), sections="\n".join(sections))
