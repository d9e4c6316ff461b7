"""The worst row of a check and the one-line headline of a failure (no pytest run)."""

import math

from gradcheck.report import GradcheckReport, problem_row
from gradcheck.session.headline import error_ratio, failure_headline, row_headline, worst_row


def row(tensor, status, abs_err, tolerance, layer="Dense", **extra):
    return {"layer": layer, "tensor": tensor, "status": status, "max_abs_err": abs_err,
            "max_rel_err": abs_err / 2, "tolerance": tolerance, "worst_index": "[0, 1]",
            "n_nondifferentiable": 0, "message": "", **extra}


def test_worst_row_takes_the_status_then_the_error_over_tolerance():
    rows = [row("W", "pass", 1e-9, 1e-8), row("b", "fail", 1.0, 1e-1),
            row("input", "fail", 1e-6, 1e-8), row("gamma", "nondifferentiable", 5.0, 1e-8)]
    assert worst_row(rows)["tensor"] == "input"  # 100 x its tolerance, b only 10 x
    assert worst_row(rows[:1] + rows[3:])["tensor"] == "gamma"
    assert worst_row([]) is None


def test_a_protocol_problem_is_the_worst_failure():
    problem = problem_row("Dense", "W", (3, 2), "probe", "backward accumulates into grads")
    rows = [row("b", "fail", 1e3, 1e-8), problem]
    assert math.isnan(error_ratio(problem))
    assert worst_row(rows) is problem
    assert row_headline(problem) == "Dense W: backward accumulates into grads"


def test_failure_headline_counts_the_other_failing_tensors():
    rows = [row("W", "fail", 0.5, 1e-7), row("b", "fail", 1e-6, 1e-7),
            row("b", "fail", 2e-6, 1e-7, layer="Dense"), row("input", "pass", 0.0, 1e-8)]
    report = GradcheckReport(rows, {})
    assert failure_headline(report) == (
        "Dense W: abs err 0.5 > tol 1e-07 at [0, 1] (rel err 0.25); 1 more failing tensor")
    assert failure_headline(GradcheckReport(rows[:1], {})).endswith("(rel err 0.25)")


def test_strict_failures_name_the_kink_or_the_vacuous_tensor():
    kink = row("input", "nondifferentiable", 0.1, 1e-8, layer="ReLU", n_nondifferentiable=3)
    vacuous = row("b", "vacuous", 0.0, 0.0)
    assert failure_headline(GradcheckReport([kink, vacuous], {})) == (
        "ReLU input: 3 values on a kink (nondifferentiable); strict mode counts it as a failure")
    assert failure_headline(GradcheckReport([vacuous], {})).startswith("Dense b: vacuous")
    assert error_ratio(vacuous) == 0.0
