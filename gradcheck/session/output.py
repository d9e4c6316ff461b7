"""The session's files, written at its end: the HTML page and the JSON document.

Their paths were checked at start-up (:mod:`.settings`); a file that cannot be written
after all (its folder removed or replaced, a full disk) gives one line naming the option
and the path, and the other file is still written.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from gradcheck.session.results import SessionResults
from gradcheck.session.settings import OutputFile, SessionSettings


def _write(target: OutputFile, content: Callable[[], str]) -> str | None:
    """Write ``content()`` to ``target`` atomically; the one-line error, or None."""
    from diagnostics.atomic import write_atomically

    try:
        write_atomically(target.path, content())
    except OSError as error:
        return f"{target.option}: could not write {str(target.path)!r}: {_reason(error, target)}"
    return None


def _reason(error: OSError, target: OutputFile) -> str:
    """What the system said, naming the file it refused unless that is the temporary one."""
    if error.strerror is None:
        return str(error)
    refused = Path(error.filename) if error.filename else target.path
    temporary = refused.name.startswith(f".{target.path.name}.")
    return error.strerror if temporary or refused == target.path else f"{error.strerror}: {refused}"


def describe(args: Sequence[str], root: Path, settings: SessionSettings) -> str:
    """The page's line on how the session ran: when (UTC), where, the command, the options.

    Parameters
    ----------
    args : sequence of str
        pytest's command-line arguments.
    root : pathlib.Path
        pytest's root folder.
    settings : SessionSettings
        The options every check got (beyond its marker and keywords).
    """
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    options = ", ".join(f"{k}={v}" for k, v in settings.check.items()) or "none set"
    disabled = f"; {settings.skip_reason}" if settings.skip_reason else ""
    return (f"{when}, in {root}: pytest {shlex.join(args)}; session options: "
            f"{options}{disabled}")


def write_outputs(
    settings: SessionSettings, results: SessionResults, *, title: str, meta: str
) -> tuple[list[str], list[str]]:
    """Write the files the session was asked for.

    Parameters
    ----------
    settings : SessionSettings
        Its ``report`` (HTML page) and ``json`` (document) outputs; None ones are skipped.
    results : SessionResults
        Every check and raised test of the session (none is fine: the files say so).
    title, meta : str
        The page's title and its line on how the session ran.

    Returns
    -------
    written : list of str
        ``"gradcheck report: PATH"`` / ``"gradcheck json: PATH"`` per file written.
    errors : list of str
        One line per file that could not be written.
    """
    from gradcheck.session.page import render_page

    jobs = [
        ("report", settings.report,
         lambda: render_page(results.records, results.raised, title=title, meta=meta)),
        ("json", settings.json, lambda: json.dumps(results.document(), indent=1)),
    ]
    written, errors = [], []
    for label, target, content in jobs:
        if target is None:
            continue
        error = _write(target, content)
        if error is None:
            written.append(f"gradcheck {label}: {target.path}")
        else:
            errors.append(error)
    return written, errors
