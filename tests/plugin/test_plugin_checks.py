"""The ``gradcheck`` fixture in a pytester project: verdicts, failure text, summary."""

import glob
from pathlib import Path

from gradcheck import check_layer
from gradcheck.session.results import nondifferentiable_points, tensors
from tests.plugin.plugin_layers import ReLU, Scale, batch

EXAMPLE = Path(__file__).parents[2] / "examples" / "test_my_layer.py"


def test_passing_layer_returns_the_report(layer_project):
    layer_project.makepyfile(
        """
        from plugin_layers import Scale, batch

        def test_scale(gradcheck):
            report = gradcheck(Scale(), batch())
            assert report.passed and set(report.table["tensor"]) == {"input", "w", "b"}
        """
    )
    result = layer_project.runpytest()
    result.assert_outcomes(passed=1)
    n_tensors = len(tensors(check_layer(Scale(), batch())))
    result.stdout.fnmatch_lines(
        [
            "*- gradcheck -*",
            f"1 check, {n_tensors} tensors checked, 0 failed checks (0 failed tensors), "
            "0 nondifferentiable points, 0 vacuous tensors",
        ]
    )


def test_failure_names_parameter_set_tensor_and_numbers(layer_project):
    layer_project.makepyfile(
        test_param="""
        import pytest
        from plugin_layers import Scale, batch

        @pytest.mark.parametrize("broken", [False, True], ids=["good", "bad"])
        def test_scale(gradcheck, broken):
            gradcheck(Scale(broken=broken), batch())
        """
    )
    result = layer_project.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    expected = check_layer(Scale(broken=True), batch())
    assert list(expected.table.loc[expected.table["status"] == "fail", "tensor"]) == ["w"]
    header = (
        "E*GradcheckError: gradcheck failed in test_param.py::test_scale[[]bad[]]: "
        f"1 of {len(tensors(expected))} tensors failed"
    )
    # every line of the report but its headline (which holds the check's wall time)
    table = [f"E*{glob.escape(line.strip())}" for line in str(expected).splitlines()[1:]]
    result.stdout.fnmatch_lines([header, *table])
    result.stdout.fnmatch_lines(["2 checks, * 1 failed check (1 failed tensor)*"])


def test_verbose_lists_every_check_and_numbers_repeated_checks(layer_project):
    layer_project.makepyfile(
        """
        from plugin_layers import Scale, batch

        def test_twice(gradcheck):
            gradcheck(Scale(), batch())
            gradcheck(Scale(2), batch(2))
        """
    )
    result = layer_project.runpytest("-v")
    result.assert_outcomes(passed=1)
    first, second = (len(tensors(check_layer(Scale(n), batch(n)))) for n in (3, 2))
    result.stdout.fnmatch_lines(
        [
            "every check:",
            f"  PASS *s  {first} tensors  test_verbose_*.py::test_twice",
            f"  PASS *s  {second} tensors  test_verbose_*.py::test_twice #2",
        ]
    )


def test_strict_counts_nondifferentiable_points_as_failures(layer_project):
    x = batch()
    x[0, 0] = 0.0
    kinks = nondifferentiable_points(check_layer(ReLU(), x))
    assert kinks > 0
    layer_project.makepyfile(
        test_kink="""
        from plugin_layers import ReLU, batch

        def test_relu(gradcheck):
            x = batch()
            x[0, 0] = 0.0
            gradcheck(ReLU(), x)
        """
    )
    lenient = layer_project.runpytest()
    lenient.assert_outcomes(passed=1)
    lenient.stdout.fnmatch_lines([f"1 check, *, {kinks} nondifferentiable point*"])
    strict = layer_project.runpytest("--gradcheck-strict")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(
        [f"E*gradcheck failed in test_kink.py::test_relu: {kinks} nondifferentiable points*"]
    )


def test_example_file_passes(pytester):
    pytester.makepyfile(test_my_layer=EXAMPLE.read_text())
    pytester.runpytest().assert_outcomes(passed=3)


def test_short_summary_line_says_layer_tensor_and_worst_error(layer_project, monkeypatch):
    layer_project.makepyfile(
        test_param="""
        from plugin_layers import Scale, batch

        def test_scale(gradcheck):
            gradcheck(Scale(broken=True), batch())
        """
    )
    report = check_layer(Scale(broken=True), batch())
    (row,) = report.table.query("status == 'fail'").to_dict("records")
    start = f"FAILED test_param.py::test_scale - Scale w: abs err {row['max_abs_err']:.3g} > tol "
    full = (f"{start}{row['tolerance']:.2g} at {row['worst_index']} "
            f"(rel err {row['max_rel_err']:.3g})")
    for variable in ("CI", "BUILD_NUMBER"):  # pytest never trims the line on CI
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    trimmed = layer_project.runpytest()
    trimmed.assert_outcomes(failed=1)
    trimmed.stdout.fnmatch_lines([f"{glob.escape(start)}*"])
    whole = layer_project.runpytest("-vv")
    whole.stdout.fnmatch_lines([glob.escape(full)])
    whole.stdout.fnmatch_lines(["E*GradcheckError: gradcheck failed in test_param.py::test_scale*"])


def test_short_summary_line_of_a_model_and_of_strict_mode(layer_project):
    layer_project.makepyfile(
        test_more="""
        import numpy as np
        from plugin_layers import ReLU, Scale, batch
        from reference_nets import Dense, Sequential
        from reference_nets.losses import MSE

        def test_model(gradcheck):
            model = Sequential([Scale(4, broken=True), Dense(4, 2)])
            gradcheck(model, batch(4), loss=MSE(), y=np.zeros((4, 2)))

        def test_kink(gradcheck):
            x = batch()
            x[0, 0] = 0.0
            gradcheck(ReLU(), x, strict=True)
        """
    )
    x = batch()
    x[0, 0] = 0.0
    kinks = nondifferentiable_points(check_layer(ReLU(), x))
    result = layer_project.runpytest("-vv")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["FAILED test_more.py::test_model - 0:Scale w: abs err * > tol *",
         f"FAILED test_more.py::test_kink - ReLU input: {kinks} values on a kink "
         "(nondifferentiable); strict mode counts it as a failure"]
    )


def test_only_gradient_failures_get_a_headline(layer_project):
    layer_project.makepyfile(
        test_other="""
        def test_plain():
            assert 1 == 2, "plain failure"
        """
    )
    result = layer_project.runpytest()
    result.stdout.fnmatch_lines(["FAILED test_other.py::test_plain - AssertionError: plain fail*"])
