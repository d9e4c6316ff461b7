"""Every output option of every subcommand refuses a path it cannot write before any work:
exit 2, one line naming the option and the path; no data loaded, no model run, no check
made, no records read, the user's module not even imported. A missing parent folder is
created and the command succeeds."""

from __future__ import annotations

import sys

import pytest

import gradcheck
import reference_nets.data
from diagnostics import Monitor
from reference_nets.model import Sequential
from tests.output_paths import KINDS, bad_path, missing_parent

TRAIN = ("train", "--dataset", "spirals", "--epochs", "1")
ENTRY_POINTS = {   # name: (arguments before the output option, option, a suffix it accepts)
    "train --report": (TRAIN, "--report", ".html"),
    "train --records": (TRAIN, "--records", ".jsonl"),
    "lr-find --report": (("lr-find", "--dataset", "spirals", "--steps", "5"), "--report",
                         ".html"),
    "demo --out": (("demo", "--quick"), "--out", ".html"),
    "report --out": (("report", "{records}"), "--out", ".html"),
    "check --report": (("check", "userlayers:good", "--input-shape", "8,16"), "--report",
                       ".html"),
}


@pytest.fixture
def work(monkeypatch):
    """The names of the work functions called: data loading, any reference-net forward
    (every training step, range test and model check makes one), gradient checks and
    reading records."""
    called = []

    def spy(owner, name, *, wrap=lambda f: f):
        original = getattr(owner, name)

        def recording(*args, **kwargs):
            called.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrap(recording))

    for name in ("load_digits", "two_spirals"):
        spy(reference_nets.data, name)
    spy(Sequential, "forward")
    for name in ("check_layer", "check_model"):
        spy(gradcheck, name)
    load = Monitor.load.__func__
    monkeypatch.setattr(Monitor, "load", classmethod(
        lambda cls, path: called.append("Monitor.load") or load(cls, path)))
    return called


def command(entry, path, records):
    head, option, _ = ENTRY_POINTS[entry]
    return [arg.format(records=records) for arg in head] + [option, path]


@pytest.fixture
def records(tmp_path):
    """A valid (empty) records file for ``gradkit report``."""
    return Monitor().save(tmp_path / "records" / "run.jsonl")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_bad_output_path_fails_in_one_line_before_any_work(user_dir, run_cli, work, records,
                                                             entry, kind):
    option, suffix = ENTRY_POINTS[entry][1:]
    with bad_path(kind, user_dir, suffix) as path:
        code, out, err = run_cli(*command(entry, path, records))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"gradkit {entry.split()[0]}: error: {option}: cannot write "
                          f"'{path}': ")
    assert KINDS[kind] in err
    assert work == [], f"work ran before the path was checked: {work}"
    assert "userlayers" not in sys.modules


@pytest.mark.parametrize("entry", ["check --report", "report --out"])
def test_a_missing_parent_folder_is_created(user_dir, run_cli, records, entry):
    # the other entry points are shown in test_cli_subprocess (train, lr-find, demo)
    path = missing_parent(user_dir, ".html")
    code, out, err = run_cli(*command(entry, path, records))
    assert code == 0, err
    assert f"report: {path}" in out
    assert path.read_text().startswith("<!DOCTYPE html>")
