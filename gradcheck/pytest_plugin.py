"""pytest plugin for gradcheck: hooks, options and fixtures only.

Registered through the ``pytest11`` entry point, so installing gradkit activates it.
The logic lives in :mod:`gradcheck.session` and :mod:`gradcheck.assertions`; the
modules that need numpy are imported only when a check runs.

Every ``--gradcheck-<name>`` option is also the ini key ``gradcheck_<name>``
(:data:`gradcheck.session.options.SETTINGS`), parsed and checked at start-up. Tests
using the ``gradcheck`` fixture get the ``gradcheck`` marker at collection, so
``pytest -m gradcheck`` runs only them and ``-m "not gradcheck"`` all the others.
"""

from __future__ import annotations

import argparse

import pytest

from gradcheck.session.options import MARKER_KEYWORDS, SETTINGS
from gradcheck.session.results import SessionResults
from gradcheck.session.settings import SessionSettings, marker_options, resolve_session

_SETTINGS_KEY = pytest.StashKey[SessionSettings]()
_RESULTS_KEY = pytest.StashKey[SessionResults]()
_FILES_KEY = pytest.StashKey[tuple]()
_MARKER_KEY = pytest.StashKey[dict]()
_WORKER_OUTPUT = "gradcheck"
_MARKER_HELP = (
    "gradcheck(" + ", ".join(f"{k}=..." for k in MARKER_KEYWORDS) + "): defaults of the "
    "gradcheck fixture for this test (call keywords override them); every test using the "
    "fixture carries this marker, so -m gradcheck selects the gradient tests"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks (gradcheck)")
    for setting in SETTINGS:
        kind = {"metavar": setting.metavar}
        if setting.metavar is None:
            kind = {"action": argparse.BooleanOptionalAction}
        group.addoption(setting.flag, dest=setting.ini, default=None, help=setting.help, **kind)
        parser.addini(setting.ini, f"default for {setting.flag}: {setting.help}", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)
    config.stash[_RESULTS_KEY] = SessionResults()
    if config.getoption("help"):  # a bad value must not hide the help that explains it
        config.stash[_SETTINGS_KEY] = SessionSettings(check={})
        return
    cli = {s.name: config.getoption(s.ini) for s in SETTINGS}
    ini = {s.name: config.getini(s.ini) for s in SETTINGS}
    ini_folder = config.inipath.parent if config.inipath else config.rootpath
    try:
        settings = resolve_session(cli, ini, {"cli": config.invocation_params.dir,
                                              "ini": ini_folder},
                                   outputs=not hasattr(config, "workerinput"))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[_SETTINGS_KEY] = settings


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests using the fixture, before ``-m`` selects by markers."""
    for item in items:
        if "gradcheck" in getattr(item, "fixturenames", ()):
            item.add_marker("gradcheck")


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
    Under ``--gradcheck-disable`` the test is skipped, the reason shown.
    """
    config = request.config
    settings = config.stash[_SETTINGS_KEY]
    if settings.skip_reason:
        pytest.skip(settings.skip_reason)
    from gradcheck.session.checker import Checker

    defaults = {**settings.check, **request.node.stash.get(_MARKER_KEY, {})}
    return Checker(defaults, config.stash[_RESULTS_KEY], request.node.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed check's headline in the short summary; other failures of gradient tests
    recorded for the session report."""
    report = (yield).get_result()
    if not report.failed or call.excinfo is None:
        return
    from gradcheck.session.outcomes import raised_test, use_headline

    if not use_headline(report, call.excinfo) and item.get_closest_marker("gradcheck"):
        raised = raised_test(report, call.excinfo, item.config.rootpath)
        item.config.stash[_RESULTS_KEY].raised.append(raised)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    results = config.stash[_RESULTS_KEY]
    if hasattr(config, "workeroutput"):
        config.workeroutput[_WORKER_OUTPUT] = results.dumps()
        return
    settings = config.stash[_SETTINGS_KEY]
    if settings.report is None and settings.json is None:
        return
    from gradcheck.session.output import describe, write_outputs

    meta = describe(config.invocation_params.args, config.rootpath, settings)
    files = write_outputs(settings, results, title="gradcheck: test session", meta=meta)
    config.stash[_FILES_KEY] = files
    if files[1] and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist: merge the checks of a worker that finished into the session."""
    output = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
    if output is not None:
        node.config.stash[_RESULTS_KEY].merge(output)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    results = config.stash[_RESULTS_KEY]
    reason = config.stash[_SETTINGS_KEY].skip_reason
    written, errors = config.stash.get(_FILES_KEY, ([], []))
    if not (results.records or results.raised or written or errors or reason):
        return
    from gradcheck.session.summary import summary_lines

    terminalreporter.write_sep("-", "gradcheck")
    tail = [reason] * bool(reason) + written
    for line in summary_lines(results.records, results.raised, config.getoption("verbose"),
                              tail):
        terminalreporter.write_line(line)
    for error in errors:
        terminalreporter.write_line(f"ERROR: {error}", red=True, bold=True)
