"""The session report files: an HTML page (the diagnostics renderer) and a JSON twin."""

from __future__ import annotations

import json
from pathlib import Path

from gradcheck.session.results import CheckRecord, totals


def write_session_report(html: Path, records: list[CheckRecord]) -> Path:
    """Write the JSON summary and the HTML report of every check of the session.

    Both files are written atomically (temporary file, then rename), by the report
    renderer's writer.

    Parameters
    ----------
    html : pathlib.Path
        The HTML file (not ending in ``.json``); the JSON goes next to it, with the
        same name and suffix ``.json``.
    records : list of CheckRecord
        Every check of the session; at least one (the renderer needs data).

    Returns
    -------
    pathlib.Path
        The JSON path.
    """
    from diagnostics import write_report
    from diagnostics.atomic import write_atomically

    document = {"totals": totals(records), "checks": [r.to_dict() for r in records]}
    data = write_atomically(html.with_suffix(".json"), json.dumps(document, indent=1))
    write_report(
        html,
        gradcheck={r.name: r.report for r in records},
        title="gradcheck: test session",
    )
    return data
