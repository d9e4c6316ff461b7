"""The ``gradcheck`` marker: precedence of its keywords, its errors, and ``-m gradcheck``."""

import pytest

from gradcheck.session.options import MARKER_KEYWORDS
from gradcheck.session.settings import marker_options

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

SELECTION = """
import pytest
from plugin_layers import Scale, batch

@pytest.fixture
def checked_scale(gradcheck):
    return gradcheck(Scale(), batch())

def test_uses_the_fixture(gradcheck):
    gradcheck(Scale(), batch())

def test_uses_it_through_another_fixture(checked_scale):
    assert checked_scale.passed

@pytest.mark.gradcheck(seed=1)
def test_only_marked():
    pass

def test_plain():
    pass
"""
GRADIENT_TESTS = ["test_uses_the_fixture", "test_uses_it_through_another_fixture",
                  "test_only_marked"]


def test_precedence_keyword_marker_command_line_ini(layer_project):
    layer_project.makeini(
        "[pytest]\ngradcheck_atol = 0.1\ngradcheck_rtol = 0.25\ngradcheck_seed = 7\n"
    )
    layer_project.makepyfile(test_precedence=PRECEDENCE)
    result = layer_project.runpytest("--gradcheck-atol", "0.01")
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize(
    ("expression", "selected"),
    [("gradcheck", GRADIENT_TESTS), ("not gradcheck", ["test_plain"])],
)
def test_dash_m_gradcheck_selects_the_tests_using_the_fixture(layer_project, expression,
                                                               selected):
    layer_project.makepyfile(test_selection=SELECTION)
    result = layer_project.runpytest("-m", expression, "-v")
    result.assert_outcomes(passed=len(selected), deselected=4 - len(selected))
    ran = [line.split("::")[1].split()[0] for line in result.outlines if " PASSED" in line]
    assert sorted(ran) == sorted(selected)


def test_disable_skips_only_the_tests_using_the_fixture(layer_project):
    layer_project.makepyfile(test_selection=SELECTION)
    result = layer_project.runpytest("--gradcheck-disable", "-rs")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(
        ["*- gradcheck -*", "no gradient checks ran",
         "gradient checks disabled by --gradcheck-disable",
         *["SKIPPED [[]1[]] test_selection.py:*: gradient checks disabled by "
           "--gradcheck-disable"] * 2]
    )


def test_marker_is_registered_and_documents_the_selection(pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.gradcheck(mode=*-m gradcheck selects the "
                                 "gradient tests"])


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


def test_marker_options_rejects_positional_arguments():
    mark = pytest.mark.gradcheck(1e-3).mark
    with pytest.raises(ValueError, match=r"positional arguments \(0\.001,\); allowed"):
        marker_options([mark])
