"""The session report files: an HTML page (the diagnostics renderer) and a JSON twin."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from gradcheck.session.results import CheckRecord, totals


def _write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def write_session_report(html: Path, records: list[CheckRecord]) -> Path:
    """Write the JSON summary and the HTML report of every check of the session.

    Parameters
    ----------
    html : pathlib.Path
        The HTML file (not ending in ``.json``); the JSON goes next to it, with the
        same name and suffix ``.json``.
    records : list of CheckRecord
        Every check of the session.

    Returns
    -------
    pathlib.Path
        The JSON path.
    """
    from diagnostics import write_report

    data = html.with_suffix(".json")
    document = {"totals": totals(records), "checks": [r.to_dict() for r in records]}
    _write_text_atomic(data, json.dumps(document, indent=1))
    html.parent.mkdir(parents=True, exist_ok=True)
    write_report(
        html,
        gradcheck={r.name: r.report for r in records},
        title="gradcheck: test session",
    )
    return data
