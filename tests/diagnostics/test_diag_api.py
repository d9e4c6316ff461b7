"""Public names, and the lazy report import."""

import subprocess
import sys

import diagnostics


def test_public_names():
    assert {"Monitor", "lr_range_test", "lr_sensitivity", "write_report"} <= set(
        diagnostics.__all__)
    for name in diagnostics.__all__:
        assert getattr(diagnostics, name) is not None


def test_import_is_cheap_and_write_report_is_lazy():
    code = ("import sys, diagnostics; heavy = {'matplotlib', 'diagnostics.report', 'jinja2'}; "
            "print(sorted(heavy & set(sys.modules))); diagnostics.write_report; "
            "print('diagnostics.report' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[:2] == ["[]", "True"]
