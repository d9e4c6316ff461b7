"""``resolve_session``: the command line over the ini file, paths from their own folders."""

from pathlib import Path

import pytest

from gradcheck.session.settings import resolve_session


def test_resolve_session_command_line_over_ini(tmp_path):
    cli = {"atol": "0.5", "seed": None, "strict": True, "report": None}
    ini = {"atol": "0.1", "seed": "4", "mode": "", "report": "out/checks.html", "strict": "no"}
    settings = resolve_session(cli, ini, {"cli": tmp_path / "cli", "ini": tmp_path})
    assert settings.check == {"atol": 0.5, "seed": 4, "strict": True}
    assert settings.report.path == tmp_path / "out" / "checks.html"
    assert settings.report.option == "ini key gradcheck_report (of --gradcheck-report)"
    assert (settings.json, settings.disabled_by, settings.skip_reason) == (None, None, None)


def test_resolve_session_without_sources_is_empty():
    settings = resolve_session({}, {}, {"cli": Path.cwd(), "ini": Path.cwd()})
    assert (dict(settings.check), settings.report, settings.json) == ({}, None, None)


def test_no_strict_on_the_command_line_overrides_a_strict_ini(tmp_path):
    bases = {"cli": tmp_path, "ini": tmp_path}
    assert resolve_session({"strict": False}, {"strict": "true"}, bases).check == {
        "strict": False}
    assert resolve_session({}, {"strict": "true"}, bases).check == {"strict": True}


def test_an_xdist_worker_leaves_the_output_files_out(tmp_path):
    bases = {"cli": tmp_path, "ini": tmp_path}
    given = {"report": "page.json", "json": "data.json", "seed": "3"}  # a bad suffix too
    settings = resolve_session(given, {}, bases, outputs=False)
    assert (settings.check, settings.report, settings.json) == ({"seed": 3}, None, None)
    with pytest.raises(ValueError, match="--gradcheck-report: cannot write"):
        resolve_session(given, {}, bases)
