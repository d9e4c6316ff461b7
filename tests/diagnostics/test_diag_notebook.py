"""Notebook and terminal views: findings in full, the Monitor summary, a gradient-check
report as HTML, one-line learning-rate results."""

import re
from html import unescape

import numpy as np
import pandas as pd

from diagnostics import Findings, LRRangeResult, LRSensitivityResult, Monitor, notebook_html
from gradcheck import GradcheckReport, check_layer

from . import toy_nets as t

LONG = ("loss diverged at step 5 (epoch 1): the loss became nan; first non-finite value in "
        "2:Dense.W at step 4. Try a learning rate 3-10x smaller (see lr_range_test), gradient "
        "clipping (clip_norm), or a warm-up; <check> the exp/log in the loss & its backward.")


def findings():
    return Findings([("critical", "loss_divergence", "model", LONG),
                     ("warning", "dead_relu", "1:ReLU", "45% of 64 units are dead")],
                    columns=["severity", "check", "layer", "message"])


def words(text):
    return " ".join(text.split())


def test_printed_findings_keep_every_word_of_the_message():
    printed = str(findings())
    assert words(LONG) in words(printed)
    assert words(LONG) not in words(str(pd.DataFrame(findings())))   # pandas cuts it
    assert max(len(line) for line in printed.splitlines()) <= 104
    assert repr(findings().iloc[:0]) == "no findings"


def test_findings_stay_a_dataframe_that_keeps_its_class():
    frame = findings()
    critical = frame[frame["severity"] == "critical"]
    assert isinstance(critical, pd.DataFrame) and type(critical) is Findings
    assert critical.to_dict("records")[0]["message"] == LONG
    assert type(frame[["check", "layer"]]) is Findings
    assert "check" in str(frame[["check", "layer"]])   # other columns: pandas' own table


def test_findings_html_colours_severities_and_escapes_full_messages():
    html = findings()._repr_html_()
    assert re.findall(r'class="badge (\w+)"', html) == ["critical", "warning"]
    assert "&lt;check&gt; the exp/log in the loss &amp; its backward" in html
    cells = [unescape(c) for c in re.findall(r"<td>(.*?)</td>", html)]
    assert LONG in cells


def trained_monitor(lr, epochs=2):
    X, y = t.blobs(128, 8, 3)
    monitor = Monitor()
    t.fit(t.mlp((8, 16, 16, 3)), t.CrossEntropy(), t.SGD(lr), X, y, epochs=epochs,
          batch_size=32, hooks=[monitor])
    return monitor


def test_monitor_summary_says_what_was_recorded_and_the_worst_findings(monkeypatch):
    monitor = trained_monitor(lr=50.0)
    found = monitor.findings()
    most = len(found) - 1
    monkeypatch.setattr(notebook_html, "MOST", most)
    assert isinstance(found, Findings) and most >= 1
    html = monitor._repr_html_()
    steps = 2 * 128 // 32
    assert f"{steps} steps (steps 0-{steps - 1}), norms recorded on {steps}, 2 epochs, " \
           f"{len(monitor.meta['layers'])} layers" in html
    assert f"{monitor.meta['n_params']:,} parameters" in html
    assert re.findall(r'class="badge (\w+)"', html) == list(found["severity"][:most])
    assert "and 1 more" in html
    assert "Monitor: nothing recorded yet" in unescape(
        re.sub("<[^>]+>", "", Monitor()._repr_html_()))


def _broken_layer_report():
    class OffByTen(t.Dense):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["b"] = self.grads["b"] * 1.1
            return dx

    return check_layer(OffByTen(4, 3, np.random.default_rng(0)),
                       np.random.default_rng(1).normal(size=(5, 4)))


def test_gradcheck_report_html_lists_failures_first_with_their_message():
    report = _broken_layer_report()
    html = report._repr_html_()
    statuses = re.findall(r'<span class="badge (\w+)">\1</span>', html)
    assert statuses[0] == "fail" and set(statuses[1:]) == {"pass"}
    assert len(statuses) == len(report.rows)
    failing = next(r for r in report.rows if r["status"] == "fail")
    assert failing["message"] in unescape(html)
    assert failing["likely_cause"] and failing["likely_cause"] in unescape(html)


def test_gradcheck_report_html_has_a_likely_cause_column_only_when_a_row_has_one():
    report = _broken_layer_report()
    rows = [{**r, "likely_cause": "analytic = 1.100 x numeric" if r["status"] == "fail" else ""}
            for r in report.rows]
    html = GradcheckReport(rows, report.options)._repr_html_()
    assert "<th>likely_cause</th>" in html
    assert "<td>analytic = 1.100 x numeric</td>" in html
    without = [{**r, "likely_cause": ""} for r in report.rows]
    assert "likely_cause" not in GradcheckReport(without, report.options)._repr_html_()


def test_lr_results_repr_in_one_line_without_the_curve():
    lrs = np.geomspace(1e-4, 1.0, 100)
    curve = pd.DataFrame({"lr": lrs, "loss": 1 / lrs, "smoothed_loss": 1 / lrs})
    text = repr(LRRangeResult(curve, {"steepest": 0.0123, "min_over_10": 0.00456}, 1.5))
    assert text == ("LRRangeResult(100 steps, lr 0.0001 to 1, diverged at 1.5; suggestions: "
                    "steepest=0.0123, min_over_10=0.00456)")
    runs = pd.DataFrame({"lr": [0.01, 0.01, 0.1, 0.1], "seed": [0, 1, 0, 1],
                         "epoch": 1, "loss": [1.0, 1.1, 0.5, 0.6]})
    summary = pd.DataFrame({"lr": [0.01, 0.1]})
    text = repr(LRSensitivityResult(runs, summary, (0.01, 0.1), 0.1))
    assert text == ("LRSensitivityResult(2 learning rates 0.01 to 0.1 x 2 seeds; best_lr=0.1, "
                    "stable range 0.01 to 0.1)")
    assert "stable range none" in repr(LRSensitivityResult(runs, summary, None, 0.1))
