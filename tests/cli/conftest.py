"""Fixtures of the CLI tests: a folder of user files made the current folder, and a runner
of ``gradkit`` in this process (fast; see helpers.gradkit for the subprocess one)."""

from __future__ import annotations

import sys

import pytest

from gradkit_cli.main import main

from .helpers import USER_LAYERS


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A folder with ``userlayers.py`` and ``broken_import.py``, made the current folder;
    the modules imported from it and the sys.path entry are dropped afterwards."""
    (tmp_path / "userlayers.py").write_text(USER_LAYERS)
    (tmp_path / "broken_import.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "broken_syntax.py").write_text("def make(:\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(tmp_path)):
            del sys.modules[name]


@pytest.fixture
def run_cli(capsys):
    """``run_cli(*args) -> (exit code, stdout, stderr)`` of ``main`` in this process."""

    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
