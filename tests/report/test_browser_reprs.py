"""The notebook HTML views (GradcheckReport, findings, Monitor) rendered in headless
Chromium as Jupyter would show them: styled badges, whole messages, a screenshot."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from diagnostics import Monitor
from gradcheck import check_layer
from tests.diagnostics import toy_nets as t

from .test_browser import CHROMIUM, chromium

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(Debian package 'chromium'; .ci/run installs it)")

# Reads back what the browser made of the views: badge colours, table sizes, clipped cells.
PROBE = """<script>
window.addEventListener("load", () => {
  const badges = [...document.querySelectorAll(".gk .badge")].map(b =>
    [b.textContent, getComputedStyle(b).backgroundColor]);
  const tables = [...document.querySelectorAll(".gk table")].map(t =>
    t.getBoundingClientRect().width);
  const clipped = [...document.querySelectorAll(".gk td")].filter(c =>
    c.scrollWidth > c.clientWidth + 1).length;
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({badges, tables, clipped});
  document.body.appendChild(out);
});
</script>"""
RED, GREEN, AMBER = "rgb(198, 40, 40)", "rgb(46, 125, 50)", "rgb(163, 95, 0)"


class WrongBias(t.Dense):
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"] = self.grads["b"] * 1.1
        return dx


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    """A page with one notebook output cell per view, and the objects shown."""
    report = check_layer(WrongBias(4, 3, np.random.default_rng(0)),
                         np.random.default_rng(1).normal(size=(5, 4)))
    X, y = t.blobs(128, 8, 3)
    monitor = Monitor()
    t.fit(t.mlp((8, 16, 16, 3)), t.CrossEntropy(), t.SGD(50.0), X, y, epochs=2,
          batch_size=32, hooks=[monitor])
    views = [report._repr_html_(), monitor.findings()._repr_html_(), monitor._repr_html_()]
    body = "".join(f'<div class="output">{view}</div><hr>' for view in views)
    path = tmp_path_factory.mktemp("reprs") / "cells.html"
    path.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{body}'
                    "</body></html>", encoding="utf-8")
    return path, report, monitor


def test_views_render_with_coloured_badges_and_nothing_clipped(cells, tmp_path):
    path, report, monitor = cells
    probe_copy = tmp_path / "probe.html"
    probe_copy.write_text(path.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE),
                          encoding="utf-8")
    dom, log = chromium("--virtual-time-budget=5000", "--dump-dom", probe_copy.as_uri(),
                        user_dir=tmp_path / "profile")
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"probe did not run; chromium said:\n{log[-2000:]}"
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    colours = {"fail": RED, "critical": RED, "pass": GREEN, "warning": AMBER}
    findings = monitor.findings()
    expected = ([r["status"] for r in report.rows if r["status"] == "fail"]
                + [r["status"] for r in report.rows if r["status"] != "fail"]
                + list(findings["severity"]) * 2)   # the findings cell, then the summary
    assert [text for text, _ in probe["badges"]] == ["failed", *expected]
    for text, colour in probe["badges"]:
        assert colour == colours.get(text, RED), text
    assert len(probe["tables"]) == 3 and min(probe["tables"]) > 300
    assert probe["clipped"] == 0


def test_screenshot_of_the_views(cells, tmp_path):
    path, _, _ = cells
    shot = tmp_path / "reprs.png"
    chromium("--window-size=1200,1400", f"--screenshot={shot}", path.as_uri(),
             user_dir=tmp_path / "profile")
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    red = np.all(np.abs(pixels - (198, 40, 40)) < 12, axis=1).sum()
    green = np.all(np.abs(pixels - (46, 125, 50)) < 12, axis=1).sum()
    assert red > 500 and green > 500, "badges missing from the screenshot"
    print(f"screenshot: {shot}")
