"""Every name ``gradcheck`` exports is what it says, whatever was imported before it: a
submodule of the same name, imported by another module first, would shadow the lazy export
(``from gradcheck import adapt`` gave the module ``gradcheck.adapt``)."""

import subprocess
import sys


def test_exports_are_not_shadowed_by_submodules():
    code = ("import types, gradcheck, gradcheck.checks, gradcheck.model_check\n"
            "bad = [n for n in gradcheck.__all__\n"
            "       if isinstance(getattr(gradcheck, n), types.ModuleType)]\n"
            "print(bad)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
