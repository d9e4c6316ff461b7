"""``--gradcheck-report``: the HTML page and JSON of a session, also merged across xdist."""

import json
from html.parser import HTMLParser

import pytest

from gradcheck.session.results import CheckRecord

SESSION = """
import pytest
from plugin_layers import Scale, batch

@pytest.mark.parametrize("n", [2, 3, 4])
def test_good(gradcheck, n):
    gradcheck(Scale(n), batch(n))

def test_bad(gradcheck):
    gradcheck(Scale(broken=True), batch())
"""
NAMES = [f"test_session.py::test_good[{n}]" for n in (2, 3, 4)] + ["test_session.py::test_bad"]
VOID_ELEMENTS = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


class TagBalance(HTMLParser):
    """Collects mismatched tags and the page text (html.parser itself never fails)."""

    def __init__(self):
        super().__init__()
        self.open, self.problems, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID_ELEMENTS:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:]}")
        else:
            self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text):
    """Parse ``text`` and return the page's text; fails on unbalanced tags."""
    parser = TagBalance()
    parser.feed(text)
    parser.close()
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert parser.problems == [] and parser.open == []
    return "".join(parser.text)


def check_session_files(html_path):
    """The report pair names every check, with the right verdicts and totals."""
    page = parse_html(html_path.read_text(encoding="utf-8"))
    assert all(name in page for name in NAMES)
    document = json.loads(html_path.with_suffix(".json").read_text(encoding="utf-8"))
    records = [CheckRecord.from_dict(item) for item in document["checks"]]
    verdicts = {record.name: record.passed for record in records}
    assert verdicts == {name: name.endswith("]") for name in NAMES}
    assert document["totals"]["checks"] == len(NAMES)
    assert document["totals"]["failed_checks"] == 1
    assert [r.report.passed for r in records] == [r.passed for r in records]


def test_report_writes_valid_html_and_json(layer_project):
    layer_project.makepyfile(test_session=SESSION)
    # In a subprocess: an in-process run would drop the modules the renderer imports
    # (matplotlib, scipy, ...) from sys.modules afterwards, and numpy refuses to load
    # its extension modules a second time in later tests.
    result = layer_project.runpytest_subprocess("--gradcheck-report", "out/session.html",
                                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    html_path = layer_project.path / "out" / "session.html"
    check_session_files(html_path)
    result.stdout.fnmatch_lines([f"gradcheck report: {html_path}"])


def test_xdist_workers_merge_into_one_session_report(layer_project):
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    layer_project.makepyfile(test_session=SESSION)
    layer_project.makeini("[pytest]\ngradcheck_report = merged.html\n")
    result = layer_project.runpytest_subprocess("-n", "2", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    for worker in ("gw0", "gw1"):
        result.stdout.fnmatch_lines([f"*[[]{worker}[]]*test_session.py::*"])
    result.stdout.fnmatch_lines(["4 checks, * 1 failed check*"])
    check_session_files(layer_project.path / "merged.html")


def test_no_report_file_when_no_check_ran(pytester):
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest("--gradcheck-report", "none.html")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["no gradient checks ran", "*none.html not written *"])
    assert not (pytester.path / "none.html").exists()
    assert not (pytester.path / "none.json").exists()
