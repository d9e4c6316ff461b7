"""pytest plugin for gradcheck: hooks, options and fixtures only.

Registered through the ``pytest11`` entry point, so installing gradkit activates it.
The logic lives in :mod:`gradcheck.session` and :mod:`gradcheck.assertions`; the
modules that need numpy or pandas are imported only when a check runs.
"""

from __future__ import annotations

import argparse

import pytest

from gradcheck.session.results import SessionResults
from gradcheck.session.settings import (
    MARKER_KEYWORDS,
    SETTINGS,
    SessionSettings,
    marker_options,
    resolve_session,
)

_SETTINGS_KEY = pytest.StashKey[SessionSettings]()
_RESULTS_KEY = pytest.StashKey[SessionResults]()
_MARKER_KEY = pytest.StashKey[dict]()
_WORKER_OUTPUT = "gradcheck"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks (gradcheck)")
    for setting in SETTINGS:
        value = {"action": argparse.BooleanOptionalAction}
        if setting.metavar is not None:
            value = {"type": setting.convert, "metavar": setting.metavar}
        group.addoption(setting.flag, dest=setting.dest, default=None, help=setting.help, **value)
        parser.addini(setting.ini, f"default for {setting.flag}: {setting.help}", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gradcheck(" + ", ".join(f"{k}=..." for k in MARKER_KEYWORDS) + "): defaults of the "
        "gradcheck fixture for this test (call keywords override them)",
    )
    cli = {s.name: config.getoption(s.dest) for s in SETTINGS}
    ini = {s.name: config.getini(s.ini) for s in SETTINGS}
    try:
        settings = resolve_session(cli, ini, config.invocation_params.dir)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[_SETTINGS_KEY] = settings
    config.stash[_RESULTS_KEY] = SessionResults()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    __tracebackhide__ = True
    try:
        item.stash[_MARKER_KEY] = marker_options(item.iter_markers("gradcheck"))
    except ValueError as error:
        raise pytest.UsageError(f"{item.nodeid}: {error}") from None


@pytest.fixture
def gradcheck(request: pytest.FixtureRequest):
    """Check a layer's (or a model's) gradients; fail the test with the report table.

    Call it as ``gradcheck(layer, x, **options)`` or
    ``gradcheck(model, x, loss=loss, y=y, **options)``; it returns the
    ``GradcheckReport`` when the check passes and raises ``GradcheckError`` otherwise.
    Options: keyword > ``@pytest.mark.gradcheck(...)`` > ``--gradcheck-*`` > ini.
    """
    from gradcheck.session.checker import Checker

    config = request.config
    defaults = {**config.stash[_SETTINGS_KEY].check, **request.node.stash.get(_MARKER_KEY, {})}
    return Checker(defaults, config.stash[_RESULTS_KEY], request.node.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    results = config.stash[_RESULTS_KEY]
    if hasattr(config, "workeroutput"):
        config.workeroutput[_WORKER_OUTPUT] = results.dumps()
        return
    report = config.stash[_SETTINGS_KEY].report
    if report is not None and results.records:
        from gradcheck.session.output import write_session_report

        write_session_report(report, results.records)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist: merge the checks of a worker that finished into the session."""
    output = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
    if output is not None:
        node.config.stash[_RESULTS_KEY].merge(output)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    records = config.stash[_RESULTS_KEY].records
    report = config.stash[_SETTINGS_KEY].report
    if not records and report is None:
        return
    from gradcheck.session.summary import summary_lines

    terminalreporter.write_sep("-", "gradcheck")
    for line in summary_lines(records, config.getoption("verbose"), report):
        terminalreporter.write_line(line)
