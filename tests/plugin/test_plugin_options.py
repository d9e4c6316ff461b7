"""Every option is an ini key too, and every bad value is a usage error at start-up.

The tables below have one entry per setting of ``gradcheck.session.options.SETTINGS``
(checked first), so a new option without a test here fails this file.
"""

import glob
import json
from pathlib import Path

import pytest

from gradcheck import check_layer
from gradcheck.finite_diff import METHODS
from gradcheck.session.options import SETTINGS
from gradcheck.session.settings import ini_label
from gradcheck.settings import MODES
from tests.plugin.plugin_layers import Scale, batch

BY_NAME = {setting.name: setting for setting in SETTINGS}

# Writes the options the check used, so the outer test sees what the option did.
PROBE = """
import json
from plugin_layers import Scale, batch

def test_probe(gradcheck):
    with open("ran", "w") as handle:
        handle.write("ran")
    report = gradcheck(Scale(), batch())
    with open("options.json", "w") as handle:
        json.dump(report.options, handle)
"""
KINK = """
from plugin_layers import ReLU, batch

def test_kink(gradcheck):
    x = batch()
    x[0, 0] = 0.0
    gradcheck(ReLU(), x)
"""


def used_option(name, value):
    """Effect check of a check option: the report's options hold ``value``."""

    def effect(result, folder):
        result.assert_outcomes(passed=1)
        options = json.loads((folder / "options.json").read_text())
        assert options[name] == value

    return effect


def strict_fails(result, folder):
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E*nondifferentiable points (strict mode counts them*"])


def page_written(result, folder):
    result.assert_outcomes(passed=1)
    page = (folder / "out" / "page.html").read_text(encoding="utf-8")
    assert "test_probe.py::test_probe" in page and page.startswith("<!DOCTYPE html>")


def json_written(result, folder):
    result.assert_outcomes(passed=1)
    document = json.loads((folder / "out" / "data.json").read_text(encoding="utf-8"))
    assert [check["name"] for check in document["checks"]] == ["test_probe.py::test_probe"]


def skipped(source):
    def effect(result, folder):
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines([f"SKIPPED *gradient checks disabled by {source}"])
        assert not (folder / "ran").exists()

    return effect


# name -> (value as typed; "true" for an on/off flag, the test module, effect(source))
VALID = {
    "mode": ("full", PROBE, lambda source: used_option("mode", "full")),
    "method": ("forward", PROBE, lambda source: used_option("method", "forward")),
    "eps": ("1e-05", PROBE, lambda source: used_option("eps", 1e-05)),
    "atol": ("0.01", PROBE, lambda source: used_option("atol", 0.01)),
    "rtol": ("0.02", PROBE, lambda source: used_option("rtol", 0.02)),
    "seed": ("5", PROBE, lambda source: used_option("seed", 5)),
    "strict": ("true", KINK, lambda source: strict_fails),
    "report": ("out/page.html", PROBE, lambda source: page_written),
    "json": ("out/data.json", PROBE, lambda source: json_written),
    "disable": ("true", PROBE, skipped),
}

# name -> [(bad value as typed, what the error says was expected)]
INVALID = {
    "mode": [("fast", f"expected one of {', '.join(MODES)}, got 'fast'")],
    "method": [("backward", f"expected one of {', '.join(METHODS)}, got 'backward'")],
    "eps": [("0", "expected a finite number > 0"), ("-1e-6", "> 0"), ("tiny", "> 0"),
            ("nan", "> 0")],
    "atol": [("-0.1", "expected a finite number >= 0"), ("tight", ">= 0"), ("inf", ">= 0")],
    "rtol": [("-1", "expected a finite number >= 0"), ("loose", ">= 0")],
    "seed": [("-1", "expected an integer >= 0"), ("7.5", ">= 0"), ("seven", ">= 0")],
    "strict": [("maybe", "maybe")],
    "report": [("out.json", "the suffix must be .html or .htm"),
               (".", "it is a directory"),
               ("plugin_layers.py/page.html", "is a file, not a folder")],
    "json": [("out.html", "the suffix must be .json"), (".", "it is a directory")],
    "disable": [("sometimes", "sometimes")],
}


def test_the_tables_cover_every_setting():
    assert set(VALID) == set(BY_NAME) == set(INVALID)


def test_valid_values_differ_from_the_defaults():
    defaults = check_layer(Scale(), batch()).options
    for name in ("mode", "method", "eps", "atol", "rtol", "seed"):
        assert str(defaults[name]) != VALID[name][0], name


def command_line(setting, value):
    """The option as a user types it: a bare flag for on/off settings."""
    return [setting.flag] if setting.metavar is None else [setting.flag, value]


@pytest.mark.parametrize("source", ["option", "ini"])
@pytest.mark.parametrize("name", list(VALID))
def test_every_setting_works_as_option_and_as_ini_key(layer_project, name, source):
    setting = BY_NAME[name]
    value, module, effect = VALID[name]
    layer_project.makepyfile(test_probe=module)
    if source == "option":
        layer_project.makeini("[pytest]\n")
        result = layer_project.runpytest("-rs", *command_line(setting, value))
        effect(setting.flag)(result, layer_project.path)
    else:
        layer_project.makeini(f"[pytest]\n{setting.ini} = {value}\n")
        result = layer_project.runpytest("-rs")
        effect(ini_label(setting))(result, layer_project.path)


INVALID_CASES = [(name, value, expected) for name, cases in INVALID.items()
                 for value, expected in cases]


@pytest.mark.parametrize("source", ["option", "ini"])
@pytest.mark.parametrize(("name", "value", "expected"), INVALID_CASES)
def test_every_bad_value_is_a_usage_error_naming_it(layer_project, name, value, expected,
                                                    source):
    setting = BY_NAME[name]
    layer_project.makepyfile(test_probe=PROBE)
    if source == "option":
        layer_project.makeini("[pytest]\n")
        result = layer_project.runpytest(f"{setting.flag}={value}")
        named = setting.flag
    else:
        layer_project.makeini(f"[pytest]\n{setting.ini} = {value}\n")
        result = layer_project.runpytest()
        named = ini_label(setting)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{glob.escape(named)}*{glob.escape(expected)}*"])
    assert not (layer_project.path / "ran").exists()


def test_an_empty_output_path_on_the_command_line_is_refused(pytester):
    result = pytester.runpytest("--gradcheck-report=")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --gradcheck-report: expected a file path, got an "
                                 "empty value"])


def test_help_lists_every_option_ini_key_and_allowed_value(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["gradient checks (gradcheck):"])
    for setting in SETTINGS:
        result.stdout.fnmatch_lines([f"  {setting.flag}*", f"  {setting.ini} (string):"])
    text = " ".join(result.stdout.str().split())
    assert all(mode in text for mode in MODES) and all(method in text for method in METHODS)


def test_help_still_shows_with_a_bad_ini_value(pytester):
    pytester.makeini("[pytest]\ngradcheck_atol = tight\n")
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["  --gradcheck-atol=ATOL*"])


def test_command_line_beats_ini_and_no_flag_beats_an_ini_true(layer_project):
    layer_project.makeini("[pytest]\ngradcheck_seed = 4\ngradcheck_disable = true\n")
    layer_project.makepyfile(test_probe=PROBE)
    result = layer_project.runpytest("--gradcheck-seed", "9", "--no-gradcheck-disable")
    result.assert_outcomes(passed=1)
    assert json.loads((layer_project.path / "options.json").read_text())["seed"] == 9


def test_paths_start_from_the_invocation_folder_or_the_ini_file_folder(layer_project,
                                                                       monkeypatch):
    layer_project.makeini("[pytest]\ngradcheck_report = out/from-ini.html\n")
    layer_project.makepyfile(test_probe=PROBE)
    below = layer_project.mkdir("below")
    monkeypatch.chdir(below)
    result = layer_project.runpytest("--gradcheck-json", "out/from-cli.json",
                                     str(layer_project.path / "test_probe.py"))
    result.assert_outcomes(passed=1)
    assert (layer_project.path / "out" / "from-ini.html").is_file()
    assert (below / "out" / "from-cli.json").is_file()
    assert not (below / "out" / "from-ini.html").exists()


def test_unset_options_keep_check_layer_defaults(layer_project):
    defaults = check_layer(Scale(), batch()).options
    layer_project.makepyfile(
        f"""
        from plugin_layers import Scale, batch

        def test_defaults(gradcheck):
            assert gradcheck(Scale(), batch()).options == {defaults!r}
        """
    )
    layer_project.runpytest().assert_outcomes(passed=1)


def test_no_gradcheck_option_leaves_a_plain_session_quiet(pytester):
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "- gradcheck -" not in result.stdout.str()
    assert not list(Path(pytester.path).glob("**/*.html"))


def test_readme_documents_every_option_and_ini_key():
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert f"`{setting.flag}" in readme and f"`{setting.ini}`" in readme, setting.name
    for value in (*MODES, *METHODS):
        assert f"`{value}`" in readme
