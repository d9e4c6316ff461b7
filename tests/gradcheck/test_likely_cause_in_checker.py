"""The checker names the likely cause: the bug zoo through ``check_layer`` itself."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import GradcheckError, check_layer, check_model
from reference_nets import Dense, Sequential
from reference_nets.losses import SoftmaxCrossEntropy
from tests.gradcheck.bug_zoo import BUGS, CORRECT


def _labels(report, tensor: str) -> set[str]:
    rows = report.table.query("tensor == @tensor and check == 'gradient'")
    return {label for text in rows.cause_label for label in text.split(",") if label}


@pytest.mark.parametrize("name", sorted(BUGS))
def test_each_zoo_bug_gets_its_cause_from_the_checker(name):
    bug = BUGS[name]
    report = check_layer(bug.make(), bug.inputs())
    assert not report.passed, str(report)
    if bug.expected is None:   # no simple pattern: no cause claimed
        assert not _labels(report, bug.tensor)
    else:
        assert bug.expected in _labels(report, bug.tensor), str(report)


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_layers_never_get_a_cause(name):
    make, shape = CORRECT[name]
    report = check_layer(make(), np.random.default_rng(11).normal(size=shape))
    assert report.passed, str(report)
    assert (report.table.likely_cause == "").all()


class SumInsteadOfMean(Dense):
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] = self.grads["W"] * len(dy)
        return dx


def test_the_cause_reaches_the_text_the_error_and_the_model_rows():
    rng = np.random.default_rng(0)
    report = check_layer(SumInsteadOfMean(5, 3), rng.normal(size=(6, 5)))
    assert "likely cause: analytic = 6.0000 x numeric" in str(report)
    assert "6 is the batch size" in str(report)
    with pytest.raises(GradcheckError, match="6 is the batch size"):
        report.raise_for_failure()
    model = Sequential([SumInsteadOfMean(8, 4), Dense(4, 3, seed=1)])
    found = check_model(model, SoftmaxCrossEntropy(), rng.normal(size=(6, 8)),
                        rng.integers(0, 3, 6))
    row = found.table.query("layer == '0:SumInsteadOfMean' and tensor == 'W'").iloc[0]
    assert row.cause_label == "mean_scale"
    passing = found.table[found.table.status != "fail"]
    assert (passing.likely_cause == "").all()


def test_the_html_report_and_the_pytest_failure_show_the_cause(tmp_path):
    from diagnostics import write_report
    from gradcheck import assert_gradients

    x = np.random.default_rng(1).normal(size=(6, 5))
    write_report(tmp_path / "page.html", gradcheck=check_layer(SumInsteadOfMean(5, 3), x))
    page = (tmp_path / "page.html").read_text()
    assert page.count("6 is the batch size") >= 2   # the findings and the check's own table
    with pytest.raises(GradcheckError, match=r"likely cause: analytic = 6\.0000 x numeric"):
        assert_gradients(SumInsteadOfMean(5, 3), x, label="test_node")
