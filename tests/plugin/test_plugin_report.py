"""``--gradcheck-report`` and ``--gradcheck-json``: the session's page and document, the
tests that raised, a write failure at the end, and the merge across pytest-xdist workers."""

import json
import re
from html import escape

import pytest

from gradcheck import check_layer
from gradcheck.session.results import CheckRecord
from tests.plugin.plugin_layers import Scale, batch
from tests.plugin.session_page import parse_html, table_rows

SESSION = """
import pytest
from plugin_layers import Scale, batch

@pytest.mark.parametrize("n", [2, 3, 4])
def test_good(gradcheck, n):
    gradcheck(Scale(n), batch(n))

def test_bad(gradcheck):
    gradcheck(Scale(broken=True), batch())

def test_raises_before_its_check(gradcheck):
    raise RuntimeError("set-up broke")

def test_raises_inside_its_check(gradcheck):
    gradcheck(Scale(3), batch(4))

def test_asserts_after_its_check(gradcheck):
    report = gradcheck(Scale(), batch())
    assert report.options["seed"] == 99

def test_plain_failure():
    assert False, "not a gradient test"
"""
NAMES = [f"test_session.py::test_good[{n}]" for n in (2, 3, 4)] + [
    "test_session.py::test_bad", "test_session.py::test_asserts_after_its_check"]
VERDICTS = {name: name != "test_session.py::test_bad" for name in NAMES}


def line_of(text):
    """``test_session.py:N``, N the line of SESSION (as written) holding ``text``."""
    lines = SESSION.strip().splitlines()
    return f"test_session.py:{next(i for i, line in enumerate(lines, 1) if text in line)}"


# test name -> (exception, where it was raised: in the test, or in the layer's file)
RAISED = {"test_session.py::test_raises_before_its_check": ("RuntimeError",
                                                            line_of("raise RuntimeError")),
          "test_session.py::test_raises_inside_its_check": ("ValueError", "plugin_layers.py:"),
          "test_session.py::test_asserts_after_its_check": ("AssertionError",
                                                            line_of("== 99"))}
OUTCOMES = {"passed": 3, "failed": 5}


def check_document(path):
    """The JSON document names every check and raised test, with verdicts and totals."""
    document = json.loads(path.read_text(encoding="utf-8"))
    records = [CheckRecord.from_dict(item) for item in document["checks"]]
    assert {record.name: record.passed for record in records} == VERDICTS
    assert [r.report.passed for r in records] == [r.passed for r in records]
    assert document["totals"]["checks"] == len(NAMES)
    assert document["totals"]["failed_checks"] == 1
    assert document["totals"]["raised_tests"] == len(RAISED)
    raised = {item["name"]: item for item in document["raised"]}
    assert set(raised) == set(RAISED)
    for name, (exception, where) in RAISED.items():
        assert raised[name]["exception"] == exception and raised[name]["when"] == "call"
        assert raised[name]["location"].startswith(where)
    assert "set-up broke" in raised["test_session.py::test_raises_before_its_check"]["message"]


def check_page(path):
    """The page: one sortable row per check, failures first, the raised tests listed."""
    html = path.read_text(encoding="utf-8")
    text = parse_html(html)
    checks = table_rows(html, "sortable")
    assert sorted(row[0] for row in checks) == sorted(NAMES)
    assert checks[0][:2] == ["test_session.py::test_bad", "fail"]
    assert {row[1] for row in checks[1:]} == {"pass"}
    expected = check_layer(Scale(broken=True), batch()).table.query("status == 'fail'")
    for column in ("message", "likely_cause"):
        assert escape(expected[column].iloc[0], quote=False) in html
    assert text.index("Failed checks (1)") < text.index("Gradient tests that raised (3)") < \
        text.index(f"Every check ({len(NAMES)})")
    for name, (exception, where) in RAISED.items():
        assert re.search(rf"{re.escape(name)}.*?call.*?{re.escape(where)}.*?{exception}", text,
                         re.S)
    assert "test_plain_failure" not in text  # not a gradient test
    assert "<a " not in html and "badge" not in html  # no per-check navigation or pills
    return html


def test_report_and_json_of_a_session(layer_project):
    layer_project.makepyfile(test_session=SESSION)
    result = layer_project.runpytest("--gradcheck-report", "out/session.html",
                                     "--gradcheck-json", "out/session.json")
    result.assert_outcomes(**OUTCOMES)
    check_page(layer_project.path / "out" / "session.html")
    check_document(layer_project.path / "out" / "session.json")
    result.stdout.fnmatch_lines([
        "3 gradient tests raised outside a check:",
        "  test_session.py::test_raises_before_its_check (call): RuntimeError at "
        + line_of("raise RuntimeError"),
        f"gradcheck report: {layer_project.path / 'out' / 'session.html'}",
        f"gradcheck json: {layer_project.path / 'out' / 'session.json'}",
    ])


def test_json_on_its_own(layer_project):
    layer_project.makepyfile(test_session=SESSION)
    result = layer_project.runpytest("--gradcheck-json", "data.json")
    result.assert_outcomes(**OUTCOMES)
    check_document(layer_project.path / "data.json")
    assert list(layer_project.path.glob("**/*.htm*")) == []


def test_files_are_written_when_no_check_ran(pytester):
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest("--gradcheck-report", "none.html", "--gradcheck-json",
                                "none.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["no gradient checks ran", "gradcheck report: *none.html"])
    assert "no gradient checks ran" in parse_html((pytester.path / "none.html").read_text())
    document = json.loads((pytester.path / "none.json").read_text())
    assert (document["checks"], document["raised"]) == ([], [])


def test_a_failure_to_write_at_the_end_is_one_line_after_the_summary(layer_project):
    layer_project.makepyfile(
        test_session="""
        from pathlib import Path
        from plugin_layers import Scale, batch

        def test_takes_the_folder(gradcheck):
            gradcheck(Scale(), batch())
            Path("out").write_text("a file where the report's folder was to be")
        """
    )
    result = layer_project.runpytest_subprocess(
        "--gradcheck-report", "out/page.html", "--gradcheck-json", "data.json",
        "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    page = layer_project.path / "out" / "page.html"
    result.stdout.fnmatch_lines([
        "*- gradcheck -*",
        "1 check, 3 tensors checked, 0 failed checks*",
        f"gradcheck json: {layer_project.path / 'data.json'}",
        f"ERROR: --gradcheck-report: could not write '{page}': File exists: "
        f"{layer_project.path / 'out'}",
        "*= 1 passed in *",
    ])
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert len(json.loads((layer_project.path / "data.json").read_text())["checks"]) == 1


def test_xdist_workers_merge_into_one_session(layer_project):
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    layer_project.makepyfile(test_session=SESSION)
    layer_project.makeini("[pytest]\ngradcheck_report = merged.html\n"
                          "gradcheck_json = merged.json\n")
    result = layer_project.runpytest_subprocess("-n", "2", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(**OUTCOMES)
    for worker in ("gw0", "gw1"):
        result.stdout.fnmatch_lines([f"*[[]{worker}[]]*test_session.py::*"])
    result.stdout.fnmatch_lines(["5 checks, * 1 failed check*",
                                 "FAILED test_session.py::test_bad - Scale w: abs err *"])
    check_page(layer_project.path / "merged.html")
    check_document(layer_project.path / "merged.json")
