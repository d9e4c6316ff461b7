"""``main``'s rule from what went wrong to the exit code (in this process)."""

from __future__ import annotations

from pathlib import Path

import pytest

import gradcheck
from diagnostics.atomic import OutputPathError
from gradkit_cli import report
from gradkit_cli.common import UsageError

REPORT = ("report", "run.jsonl", "--out", "r.html")


def run_raising(exc, folder):
    """A ``run(args)`` that raises ``exc`` from a file in ``folder`` (its code object says
    so: nothing is written there)."""
    scope = {"EXC": exc}
    exec(compile("def run(args):\n    raise EXC\n", str(folder / "simulated.py"), "exec"), scope)
    return scope["run"]


GRADKIT = Path(gradcheck.__file__).parent


@pytest.mark.parametrize(("exc", "code", "line"), [
    (UsageError("--out: nothing"), 2, "--out: nothing"),
    (OutputPathError("--out: cannot write 'x'"), 2, "--out: cannot write 'x'"),
    (ValueError("check_model: rejected\n  the targets"), 2, "check_model: rejected the targets"),
    (TypeError("check_layer: x must be a float array"), 2,
     "check_layer: x must be a float array"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_what_gradkit_raised_gives_the_exit_code_and_one_line(tmp_path, monkeypatch, run_cli,
                                                              exc, code, line):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(report, "run", run_raising(exc, GRADKIT))
    assert run_cli(*REPORT) == (code, "", f"gradkit report: error: {line}\n")


def test_the_same_error_raised_in_the_users_file_is_exit_3(tmp_path, monkeypatch, run_cli):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(report, "run", run_raising(ValueError("bad shape"), tmp_path))
    code, out, err = run_cli(*REPORT)
    assert (code, out) == (3, "")
    assert err.splitlines()[:3] == [
        "gradkit report: error: your code raised ValueError: bad shape",
        "Traceback of your code (most recent call last):",
        f'  File "{tmp_path / "simulated.py"}", line 2, in run']


def test_anything_else_raised_in_gradkits_own_code_is_a_bug_and_keeps_its_traceback(
        tmp_path, monkeypatch, run_cli):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(report, "run", run_raising(KeyError("internal"), GRADKIT))
    with pytest.raises(KeyError, match="internal"):
        run_cli(*REPORT)


def test_a_value_refused_by_the_training_loop_is_its_one_line(run_cli):
    from gradkit_cli.training import load_problem

    n = len(load_problem("spirals").X_train)
    code, _, err = run_cli("train", "--dataset", "spirals", "--epochs", "1", "--batch-size",
                           "100000")
    assert code == 2
    assert err == (f"gradkit train: error: train: batch_size=100000 is larger than the data "
                   f"set (X has {n} samples); expected 1 <= batch_size <= {n}\n")
