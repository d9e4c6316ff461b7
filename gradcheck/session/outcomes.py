"""What the plugin makes of a test's failure: a gradient failure gets a headline, any
other failure of a gradient test is a :class:`RaisedTest` for the session report."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from gradcheck.session.results import RaisedTest

MAX_MESSAGE = 4000  # characters of an exception's text kept for the report


def gradcheck_error(excinfo: Any) -> Any:
    """The ``GradcheckError`` of ``excinfo`` (a pytest ``ExceptionInfo``), else None.

    Looked up in ``sys.modules``: when :mod:`gradcheck.report` was never imported, no
    such error can have been raised, and the lookup imports nothing.
    """
    module = sys.modules.get("gradcheck.report")
    if excinfo is None or module is None:
        return None
    error = excinfo.value
    return error if isinstance(error, module.GradcheckError) else None


def use_headline(report: Any, excinfo: Any) -> bool:
    """Make a failed check's headline the crash message pytest's short summary shows.

    Parameters
    ----------
    report : pytest.TestReport
        The failed phase's report; its ``longrepr.reprcrash.message`` (normally
        ``"gradcheck.report.GradcheckError: gradcheck failed in ..."``, cut after 40
        characters or so) becomes the headline, ``"<layer> <tensor>: abs err ..."``; the
        full message stays in the failure's text.
    excinfo : pytest.ExceptionInfo or None

    Returns
    -------
    bool
        Whether the failure was a gradient check's (with a report).
    """
    from gradcheck.session.headline import failure_headline

    error = gradcheck_error(excinfo)
    crash = getattr(report.longrepr, "reprcrash", None)
    if error is None or error.report is None:
        return False
    if crash is not None:
        crash.message = failure_headline(error.report)
    return True


def _location(report: Any, root: Path) -> str:
    """``path:line`` of the crash, the path relative to ``root`` when inside it."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is None:
        return report.location[0]
    path = Path(crash.path)
    inside = path.is_absolute() and path.is_relative_to(root)
    return f"{os.path.relpath(path, root) if inside else path}:{crash.lineno}"


def raised_test(report: Any, excinfo: Any, root: Path) -> RaisedTest:
    """The record of a gradient test that failed other than by a failed check.

    Parameters
    ----------
    report : pytest.TestReport
        The failed phase's report.
    excinfo : pytest.ExceptionInfo
        What was raised.
    root : pathlib.Path
        pytest's root folder; locations are given relative to it.

    Returns
    -------
    RaisedTest
    """
    text = str(excinfo.value)
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + f" [... {len(text) - MAX_MESSAGE} more characters]"
    return RaisedTest(name=report.nodeid, when=report.when, exception=excinfo.typename,
                      message=text, location=_location(report, root))
