"""The session page rendered directly: structure, escaping, size, and sorting in Chromium."""

import json
import re

import pytest

from gradcheck import check_layer
from gradcheck.report import GradcheckReport, problem_row
from gradcheck.session.page import CHECK_COLUMNS, check_row, render_page
from gradcheck.session.results import CheckRecord, RaisedTest
from tests.plugin.plugin_layers import Scale, batch
from tests.plugin.session_page import parse_html, table_rows
from tests.report.test_browser import CHROMIUM, chromium


def records(n):
    """``n`` checks of Scale layers of varied sizes, every seventh one broken."""
    made = []
    for k in range(n):
        size, broken = 2 + k % 4, k % 7 == 3
        report = check_layer(Scale(size, broken=broken), batch(size, seed=k))
        made.append(CheckRecord(name=f"test_s.py::test_scale[{k}]", passed=report.passed,
                                report=report))
    return made


def test_rows_are_ordered_failures_first_then_by_name():
    made = records(14)
    rows = table_rows(render_page(made, [], title="t", meta="m"), "sortable")
    failed = sorted(r.name for r in made if not r.passed)
    assert len(failed) == 2
    assert [row[0] for row in rows] == failed + sorted(r.name for r in made if r.passed)
    assert all(len(row) == len(CHECK_COLUMNS) for row in rows)


def test_a_protocol_problem_and_user_text_are_escaped():
    problem = problem_row("My<Layer>", "W", (2,), "probe", "forward changed <x> & more")
    record = CheckRecord(name="t.py::test_x[<a>]", passed=False,
                         report=GradcheckReport([problem], records(1)[0].report.options))
    raised = RaisedTest(name="t.py::test_y", when="setup", exception="KeyError",
                        message="'<missing>'", location="t.py:3")
    html = render_page([record], [raised], title="a <title>", meta="b & c")
    text = parse_html(html)
    assert "forward changed <x> & more" in text and "<missing>" not in html
    assert "My<Layer> W: forward changed <x> & more" in text  # the headline
    assert "t.py::test_x[<a>]" in text and "a <title>" in text


def test_a_passing_check_adds_only_its_table_row():
    made = records(13)
    extra = made.pop(0)  # passes; 12 and 13 checks, 36 and 39 tensors: no count gains a digit
    before = render_page(made, [], title="t", meta="m")
    after = render_page([*made, extra], [], title="t", meta="m")
    assert extra.passed
    assert len(after) - len(before) == len(check_row(extra)) + 1  # the row and its newline
    assert "<img" not in after and "data:" not in after


CLICK = """<script>
window.addEventListener("load", () => {
  const heads = [...document.querySelectorAll("table.sortable th")];
  const names = () => [...document.querySelectorAll("table.sortable tbody tr")]
    .map(row => row.cells[0].textContent);
  const out = {initial: names()};
  const column = heads.findIndex(h => h.textContent === "abs err");
  heads[column].click(); out.ascending = names();
  heads[column].click(); out.descending = names();
  heads[0].click(); out.byName = names();
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def test_headers_sort_the_table_in_chromium(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    made = records(12)
    page = tmp_path / "page.html"
    page.write_text(render_page(made, [], title="t", meta="m").replace("</body>", CLICK
                                                                        + "</body>"))
    dom, log = chromium("--virtual-time-budget=5000", "--dump-dom", page.as_uri(),
                        user_dir=tmp_path / "profile")
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not run; chromium said:\n{log[-2000:]}"
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    errors = {r.name: r.worst["max_abs_err"] for r in made}
    assert [errors[n] for n in seen["ascending"]] == sorted(errors.values())
    assert [errors[n] for n in seen["descending"]] == sorted(errors.values(), reverse=True)
    assert seen["byName"] == sorted(errors)
    assert seen["initial"][0] in {r.name for r in made if not r.passed}
