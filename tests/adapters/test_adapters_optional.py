"""The adapters are optional: the core never imports torch or jax, and an adapter whose
library is missing says which extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

_FOREIGN = "sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'jax', 'jaxlib'))"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)


def test_the_core_never_imports_torch_or_jax():
    code = ("import importlib, pkgutil, sys, gradcheck\n"
            "gradcheck.check_layer\n"
            "for m in pkgutil.walk_packages(gradcheck.__path__, 'gradcheck.'):\n"
            "    if m.name not in ('gradcheck.adapters.torch', 'gradcheck.adapters.jax'):\n"
            "        importlib.import_module(m.name)\n"
            f"print(len(sys.modules), {_FOREIGN})")
    done = _run(code)
    assert done.returncode == 0, done.stderr
    n_modules, foreign = done.stdout.split(" ", 1)
    assert int(n_modules) > 100   # the whole core was imported
    assert foreign.strip() == "[]"


@pytest.mark.parametrize(("library", "extra"), [("torch", "gradkit[torch]"),
                                                ("jax", "gradkit[jax]")])
def test_a_missing_library_names_its_extra(library, extra):
    done = _run(f"import sys; sys.modules[{library!r}] = None\n"
                f"import gradcheck.adapters.{library}")
    assert done.returncode != 0
    assert "needs" in done.stderr and extra in done.stderr
