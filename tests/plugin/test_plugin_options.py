"""Options, ini settings and markers: registration, validation and precedence."""

from pathlib import Path

import pytest

from gradcheck.session.settings import MARKER_KEYWORDS, SETTINGS, marker_options, resolve_session

PRECEDENCE = """
import pytest
from plugin_layers import Scale, batch

def test_ini_and_command_line(gradcheck):
    options = gradcheck(Scale(), batch()).options
    assert (options["atol"], options["rtol"], options["seed"]) == (0.01, 0.25, 7)

@pytest.mark.gradcheck(atol=0.001, seed=3)
def test_marker_over_command_line(gradcheck):
    options = gradcheck(Scale(), batch()).options
    assert (options["atol"], options["rtol"], options["seed"]) == (0.001, 0.25, 3)

@pytest.mark.gradcheck(atol=0.001)
def test_keyword_over_marker(gradcheck):
    assert gradcheck(Scale(), batch(), atol=0.0001).options["atol"] == 0.0001

@pytest.mark.gradcheck(atol=0.002, rtol=0.5)
class TestNearestMarkerWins:
    @pytest.mark.gradcheck(atol=0.003)
    def test_function_marker_over_class_marker(self, gradcheck):
        options = gradcheck(Scale(), batch()).options
        assert (options["atol"], options["rtol"]) == (0.003, 0.5)
"""


def test_precedence_keyword_marker_command_line_ini(layer_project):
    layer_project.makeini(
        "[pytest]\ngradcheck_atol = 0.1\ngradcheck_rtol = 0.25\ngradcheck_seed = 7\n"
    )
    layer_project.makepyfile(test_precedence=PRECEDENCE)
    result = layer_project.runpytest("--gradcheck-atol", "0.01")
    result.assert_outcomes(passed=4)


def test_unset_options_keep_check_layer_defaults(layer_project):
    from gradcheck import check_layer
    from tests.plugin.plugin_layers import Scale, batch

    defaults = check_layer(Scale(), batch()).options
    layer_project.makepyfile(
        f"""
        from plugin_layers import Scale, batch

        def test_defaults(gradcheck):
            assert gradcheck(Scale(), batch()).options == {defaults!r}
        """
    )
    layer_project.runpytest().assert_outcomes(passed=1)


def test_unknown_marker_keyword_is_a_setup_error_listing_allowed_names(layer_project):
    layer_project.makepyfile(
        """
        import pytest

        @pytest.mark.gradcheck(tolerance=0.1)
        def test_typo(gradcheck):
            pass
        """
    )
    result = layer_project.runpytest()
    result.assert_outcomes(errors=1)
    allowed = ", ".join(MARKER_KEYWORDS)
    result.stdout.fnmatch_lines(
        [f"*UsageError*test_typo*unknown keywords tolerance; allowed keywords: {allowed}"]
    )


def test_help_lists_every_option_and_ini_key(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["gradient checks (gradcheck):"])
    for setting in SETTINGS:
        result.stdout.fnmatch_lines([f"  {setting.flag}*", f"  {setting.ini} (string):"])


def test_marker_is_registered(pytester):
    pytester.runpytest("--markers").stdout.fnmatch_lines(["@pytest.mark.gradcheck(mode=*"])


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        ((), "gradcheck_seed = seven", "*ini option gradcheck_seed: invalid literal*"),
        (("--gradcheck-report", "out.json"), "", "*expects an HTML file path, got 'out.json'"),
        (("--gradcheck-atol", "tight"), "", "*--gradcheck-atol: invalid float value: 'tight'"),
    ],
)
def test_bad_values_are_usage_errors(pytester, args, ini, message):
    pytester.makeini(f"[pytest]\n{ini}\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_resolve_session_command_line_over_ini(tmp_path):
    cli = {"atol": 0.5, "seed": None, "strict": True, "report": None}
    ini = {"atol": "0.1", "seed": "4", "mode": "", "report": "out/checks.html", "strict": "no"}
    settings = resolve_session(cli, ini, tmp_path)
    assert settings.check == {"atol": 0.5, "seed": 4, "strict": True}
    assert settings.report == tmp_path / "out" / "checks.html"


def test_resolve_session_without_sources_is_empty():
    settings = resolve_session({}, {}, Path.cwd())
    assert (dict(settings.check), settings.report) == ({}, None)


def test_marker_options_rejects_positional_arguments():
    mark = pytest.mark.gradcheck(1e-3).mark
    with pytest.raises(ValueError, match=r"positional arguments \(0\.001,\); allowed"):
        marker_options([mark])


def test_no_strict_on_the_command_line_overrides_a_strict_ini(tmp_path):
    settings = resolve_session({"strict": False}, {"strict": "true"}, tmp_path)
    assert settings.check == {"strict": False}
    assert resolve_session({}, {"strict": "true"}, tmp_path).check == {"strict": True}
