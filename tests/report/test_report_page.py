"""write_report on contract-shaped stand-ins: banner, findings, sections, escaping, files."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from diagnostics.report import write_report
from diagnostics.report.figures import MAX_POINTS, downsample

from .synthetic_runs import (
    fake_gradcheck,
    fake_monitor,
    fake_range_test,
    fake_sensitivity,
    layer_names,
)

LAYERS = layer_names(4)
VANISHING = ("critical", "vanishing_gradient", "0:Dense", "gradient norm 1e-9 near the input")
HIGH_RATIO = ("warning", "update_ratio", "3:Dense", "update ratio 0.2 is above 1e-2")


class Page(HTMLParser):
    """Collects element ids, links, image sources and the banner text of a report."""

    def __init__(self, text):
        super().__init__()
        self.ids, self.links, self.images, self.banner_class = set(), [], [], None
        self.findings_rows, self._in_findings_body = [], False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if attrs.get("id") == "verdict":
            self.banner_class = attrs["class"]
        if tag == "a":
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "table" and attrs.get("class") == "findings":
            self._in_findings_body = True
        if tag == "tr" and self._in_findings_body and "class" in attrs:
            self.findings_rows.append(attrs["class"])

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_findings_body = False


def render(tmp_path, **kwargs):
    path = write_report(tmp_path / "report.html", **kwargs)
    return path.read_text(encoding="utf-8")


def banner_text(html):
    return re.search(r'<p class="headline">(.*?)</p>', html, re.S).group(1)


def test_sick_run_banner_names_the_problem(tmp_path):
    html = render(tmp_path, monitor={"ok": fake_monitor(LAYERS),
                                     "deep": fake_monitor(LAYERS, decay=1e-2,
                                                          findings=[VANISHING])})
    page = Page(html)
    assert "sick" in page.banner_class.split()
    assert "vanishing gradients" in banner_text(html)
    assert "deep" in banner_text(html)


def test_healthy_run_banner_says_healthy(tmp_path):
    html = render(tmp_path, monitor=fake_monitor(LAYERS), gradcheck=fake_gradcheck(LAYERS))
    assert "healthy" in Page(html).banner_class.split()
    assert banner_text(html).startswith("Healthy")


def test_failed_gradient_check_makes_the_report_sick(tmp_path):
    html = render(tmp_path, gradcheck=fake_gradcheck(LAYERS, failing={("2:Dense", "W")}))
    assert "wrong gradients" in banner_text(html)
    assert 'class="status-fail"' in html


def test_layer_names_and_messages_are_escaped(tmp_path):
    evil = "<script>alert(1)</script>"
    layers = [f"0:{evil}", "1:Dense"]
    html = render(tmp_path, monitor=fake_monitor(layers, findings=[
        ("critical", "dead_relu", f"0:{evil}", f"layer {evil} is dead")]),
        gradcheck=fake_gradcheck(layers), title=evil)
    assert evil not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html


def test_findings_sorted_by_severity_and_linked_to_their_plots(tmp_path):
    html = render(tmp_path, monitor=fake_monitor(LAYERS, findings=[HIGH_RATIO, VANISHING]),
                  gradcheck=fake_gradcheck(LAYERS, failing={("1:Dense", "b")}))
    page = Page(html)
    assert page.findings_rows == ["sev-critical", "sev-critical", "sev-warning"]
    findings_links = re.findall(r'<a href="#([\w-]+)">show&nbsp;plot</a>', html)
    assert findings_links == ["grad-norms", "gradcheck-1", "update-ratio"]
    assert set(findings_links) <= page.ids


def test_sections_appear_only_with_their_data(tmp_path):
    only_check = Page(render(tmp_path, gradcheck=fake_gradcheck(LAYERS)))
    assert "gradcheck-1" in only_check.ids
    assert not {"grad-norms", "update-ratio", "units", "loss", "lr-range-1"} & only_check.ids
    everything = Page(render(tmp_path, monitor=fake_monitor(LAYERS),
                             gradcheck=fake_gradcheck(LAYERS),
                             lr=[fake_range_test(), fake_sensitivity()]))
    assert {"gradcheck-1", "grad-norms", "update-ratio", "units", "loss", "lr-range-1",
            "lr-sensitivity-1", "findings", "metadata"} <= everything.ids
    assert len(everything.images) == 7


def test_page_is_self_contained(tmp_path):
    html = render(tmp_path, monitor=fake_monitor(LAYERS), lr=fake_range_test())
    page = Page(html)
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert all(link.startswith("#") for link in page.links)
    without_data = re.sub(r'"data:image/png;base64,[^"]*"', '""', html)
    assert not re.search(r"(https?:)?//|url\(|@import", without_data)
    assert "default-src 'none'" in html


def test_metadata_lists_versions_parameters_and_seeds(tmp_path):
    html = render(tmp_path, monitor=fake_monitor(LAYERS), gradcheck=fake_gradcheck(LAYERS))
    metadata = html[html.index('id="metadata"'):]
    assert f"<td>{np.__version__}</td>" in metadata
    assert "<td>80</td>" in metadata  # n_params = 20 per layer in the stand-in
    assert "seed=0" in metadata


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "out" / "report.html"
    write_report(target, gradcheck=fake_gradcheck(LAYERS))
    before = target.read_bytes()
    with pytest.raises(TypeError, match="monitor must be a Monitor"):
        write_report(target, monitor=42)
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({}, ValueError, "at least one of"),
    ({"monitor": {}}, ValueError, "empty dict"),
    ({"gradcheck": "table"}, TypeError, "gradcheck must be a GradcheckReport"),
    ({"lr": [object()]}, TypeError, "lr must be an LRRangeResult"),
])
def test_bad_arguments_are_named(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        write_report(tmp_path / "r.html", **kwargs)


def test_downsample_bounds_points_and_keeps_the_mean():
    steps = np.arange(10_000)
    frame = pd.DataFrame({"layer": "a", "step": steps, "value": np.sin(steps / 500.0) + 2})
    small = downsample(frame, ["layer"])
    assert len(small) <= MAX_POINTS
    assert small["value"].mean() == pytest.approx(frame["value"].mean(), rel=1e-2)
    short = frame.iloc[:50]
    pd.testing.assert_frame_equal(downsample(short, ["layer"]), short)


def test_non_finite_values_render_and_are_flagged(tmp_path):
    run = fake_monitor(LAYERS, findings=[("critical", "non_finite", "2:Dense",
                                          "NaN in grads['W'] at step 30")])
    frame = run.frame
    blown = (frame["step"] >= 30) & frame["metric"].isin(["grad_norm", "loss", "update_ratio"])
    frame.loc[blown, "value"] = np.where(frame.loc[blown, "step"] % 2, np.nan, np.inf)
    marker = pd.DataFrame({"step": [30], "epoch": [4], "layer": ["2:Dense"], "tensor": ["W"],
                           "metric": ["non_finite"], "value": [1.0]})
    run.frame = pd.concat([frame, marker], ignore_index=True)
    html = render(tmp_path, monitor={"blown up": run})
    page = Page(html)
    assert "non-finite values (NaN/Inf)" in banner_text(html)
    assert {"grad-norms", "update-ratio", "loss"} <= page.ids
    assert '<a href="#grad-norms">show&nbsp;plot</a>' in html


def test_gradcheck_findings_are_one_per_failing_tensor_with_every_check_named():
    from diagnostics.report.inputs import checks_from
    from diagnostics.report.sections import check_table
    from diagnostics.report.verdict import gradcheck_findings
    from gradcheck import check_layer, check_model
    from reference_nets import Dense, Sequential, Tanh
    from reference_nets.losses import SoftmaxCrossEntropy

    class RowOff(Dense):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["W"][3] *= 1.01
            return dx

    class Accumulating(Dense):
        def backward(self, dy):
            before = self.grads["W"].copy()
            dx = super().backward(dy)
            self.grads["W"] += before
            return dx

    rng = np.random.default_rng(0)
    model = Sequential([Dense(6, 5, seed=1), Tanh(), RowOff(5, 4, seed=2)])
    report = check_model(model, SoftmaxCrossEntropy(), rng.normal(size=(8, 6)),
                         rng.integers(0, 4, 8))
    [check] = checks_from({"model": report})
    found = gradcheck_findings(check, "gc-0")
    assert list(found["layer"]) == ["2:RowOff"]
    message = found["message"].iloc[0]
    assert message.startswith("W (gradient, end_to_end): max relative error")
    assert "at index (3, " in message
    _, rows = check_table(check)
    statuses = [row["status"] for row in rows]
    assert statuses[:2] == ["fail", "fail"] and set(statuses[2:]) == {"pass"}   # failures first

    accumulating = check_layer(Accumulating(6, 5), rng.normal(size=(8, 6)))
    [check] = checks_from({"layer": accumulating})
    message = gradcheck_findings(check, "gc-1")["message"].iloc[0]
    assert message.startswith("W (accumulation")
    assert "do not accumulate" in message


def test_update_ratio_plot_follows_the_weight_tensors_like_the_finding():
    from diagnostics.report.inputs import Run
    from diagnostics.report.plots_training import _layer_update_ratios

    rows = [{"step": step, "epoch": 1, "layer": layer, "tensor": tensor, "value": value}
            for step in range(3)
            for layer, tensor, value in (("0:Dense", "W", 1e-7), ("0:Dense", "b", 0.3),
                                         ("1:Scale", "s", 2e-3))]
    meta = {"shapes": {"0:Dense": {"W": (4, 3), "b": (3,)}, "1:Scale": {"s": (3,)}}}
    run = Run("r", {"update_ratio": pd.DataFrame(rows)}, pd.DataFrame(), meta, pd.DataFrame())
    plotted = _layer_update_ratios(run).groupby("layer")["value"].max()
    assert plotted["0:Dense"] == pytest.approx(1e-7)   # the bias's 0.3 is left out
    assert plotted["1:Scale"] == pytest.approx(2e-3)   # no weight tensor: all tensors
