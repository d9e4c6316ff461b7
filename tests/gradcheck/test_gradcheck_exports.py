"""The package's lazy exports are the functions, whatever was imported before them."""

from __future__ import annotations

import subprocess
import sys


def test_adapt_is_the_function_after_the_checks_were_imported():
    # a submodule named like an export (gradcheck/adapt.py) must not be imported by the
    # checker: the import system would bind the module to the package's attribute
    code = ("import inspect, gradcheck.checks, gradcheck.model_check\n"
            "from gradcheck import adapt\n"
            "assert inspect.isfunction(adapt), adapt\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
