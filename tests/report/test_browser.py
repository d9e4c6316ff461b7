"""The demo report in headless Chromium: no console errors, every image decoded,
the findings table present, no network request. Also leaves a screenshot to look at."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from gradkit_cli.demo import build_demo

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]

# Injected into a test copy only: records errors, CSP violations (= any network request,
# since the page's policy allows data: images only), resource loads and image decoding.
PROBE = """<script>
const gk = {errors: [], blocked: [], resources: []};
window.addEventListener("error", e => gk.errors.push(String(e.message || e.target.src)), true);
document.addEventListener("securitypolicyviolation", e => gk.blocked.push(e.blockedURI));
window.addEventListener("load", () => {
  const images = [...document.images];
  gk.images = images.length;
  gk.undecoded = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt);
  gk.findingsTable = !!document.querySelector("#findings table.findings, #findings p.none");
  gk.resources = performance.getEntriesByType("resource").map(r => r.name)
    .filter(n => !n.startsWith("data:"));
  const out = document.createElement("pre");
  out.id = "gradkit-probe";
  out.textContent = JSON.stringify(gk);
  document.body.appendChild(out);
});
</script>"""


def chromium(*args, user_dir):
    """Run headless Chromium; return (stdout, stderr)."""
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={user_dir}", *args],
                          capture_output=True, text=True, timeout=120, check=False)
    return done.stdout, done.stderr


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """The report of ``gradkit demo --quick``: healthy vs sick runs, checks, LR results."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    path, _ = build_demo(tmp_path_factory.mktemp("browser") / "demo.html", quick=True)
    return path


def test_report_loads_cleanly_in_chromium(demo_report, tmp_path):
    html = demo_report.read_text(encoding="utf-8")
    policy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    assert policy in html
    probe_copy = tmp_path / "probe.html"
    probe_copy.write_text(html.replace(policy, policy + "; script-src 'unsafe-inline'")
                          .replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    dom, log = chromium("--virtual-time-budget=10000", "--dump-dom", probe_copy.as_uri(),
                        user_dir=tmp_path / "profile")
    found = re.search(r'<pre id="gradkit-probe">(.*?)</pre>', dom, re.S)
    assert found, f"probe did not run; chromium said:\n{log[-2000:]}"
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    console = [line for line in log.splitlines() if "CONSOLE" in line]
    assert console == []
    assert probe["errors"] == []
    assert probe["blocked"] == []
    assert probe["resources"] == []
    assert probe["images"] == html.count("<img ") > 0
    assert probe["undecoded"] == []
    assert probe["findingsTable"]


def test_screenshot_of_the_report(demo_report, tmp_path):
    shot = tmp_path / "shot.png"
    chromium("--window-size=1400,2000", f"--screenshot={shot}", demo_report.as_uri(),
             user_dir=tmp_path / "profile")
    assert shot.stat().st_size > 50_000, "screenshot missing or blank"
    print(f"screenshot: {shot}")
