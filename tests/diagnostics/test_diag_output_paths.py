"""require_output_path: one-line errors, before any work, naming the option and the path."""

import re

import pytest

from diagnostics import Monitor, write_report
from diagnostics.atomic import OutputPathError, require_output_path
from diagnostics.report import render
from tests.output_paths import KINDS, bad_path, immutable_folder, missing_parent

from . import toy_nets as t


def test_a_writable_path_with_missing_folders_is_accepted_and_nothing_is_created(tmp_path):
    path = tmp_path / "a" / "b.html"
    assert require_output_path(path, option="--out", suffixes=(".html",)) == path
    assert not (tmp_path / "a").exists()


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(OutputPathError, match=r"^--out: cannot write .*: it is a directory"):
        require_output_path(tmp_path, option="--out")


def test_a_wrong_suffix_is_refused_with_the_accepted_ones(tmp_path):
    with pytest.raises(OutputPathError, match=r"suffix must be .csv or .parquet, not '.txt'"):
        require_output_path(tmp_path / "run.txt", option="--records",
                            suffixes=(".csv", ".parquet"))


def test_a_parent_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        require_output_path(blocker / "sub" / "r.html", option="--gradcheck-report")


def test_the_write_probe_leaves_the_folder_as_it_was(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    require_output_path(tmp_path / "r.html", option="--out", suffixes=(".html",))
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_an_immutable_folder_is_refused_although_root_ignores_permission_bits(tmp_path):
    with immutable_folder(tmp_path) as folder, pytest.raises(
            OutputPathError, match=r"^--out: cannot write .*: the folder .*immutable' is not "
            r"writable \(permission denied\)$"):
        require_output_path(folder / "sub" / "r.html", option="--out")


def test_a_kernel_folder_is_refused_even_where_permission_bits_would_allow_it():
    # /sys is sysfs: it creates no files for anyone; os.access may still say "writable" to
    # root on a read-write mount, so the probe (a real file creation) must decide
    with bad_path("kernel folder", None, ".html") as path, pytest.raises(
            OutputPathError, match=r"^--out: cannot write .*/sys.* is not writable"):
        require_output_path(path, option="--out")


class StepCounter:
    """A hook counting the training steps that ran."""

    def __init__(self):
        self.steps = 0

    def on_step_end(self, step, model):
        self.steps += 1


def _train(monitor, hooks=()):
    X, y = t.blobs(64, 4, 2)
    t.fit(t.mlp((4, 8, 2)), t.CrossEntropy(), t.SGD(0.1, 0.9), X, y, epochs=1,
          hooks=[*hooks, monitor])


def _one_line_error(kind, option):
    """The pattern of the one-line error of ``option`` for a path of failure ``kind``."""
    return rf"^{re.escape(option)}: cannot write '[^\n]*{KINDS[kind]}[^\n]*$"


@pytest.mark.parametrize("kind", KINDS)
def test_monitor_refuses_a_bad_path_at_construction_before_any_step(tmp_path, kind):
    steps = StepCounter()
    with bad_path(kind, tmp_path, ".jsonl") as path, pytest.raises(
            OutputPathError, match=_one_line_error(kind, "Monitor(path=...)")):
        _train(Monitor(path=path), hooks=[steps])
    assert steps.steps == 0


@pytest.mark.parametrize("kind", KINDS)
def test_monitor_save_refuses_a_bad_path_in_one_line(tmp_path, kind):
    monitor = Monitor()
    _train(monitor)
    with bad_path(kind, tmp_path, ".csv") as path, pytest.raises(
            OutputPathError, match=_one_line_error(kind, "Monitor.save(path)")):
        monitor.save(path)


@pytest.mark.parametrize("kind", KINDS)
def test_write_report_refuses_a_bad_path_before_rendering_anything(tmp_path, monkeypatch, kind):
    rendered = []
    monkeypatch.setattr(render, "build_sections", lambda *args: rendered.append(args))
    monitor = Monitor()
    _train(monitor)
    with bad_path(kind, tmp_path, ".html") as path, pytest.raises(
            OutputPathError, match=_one_line_error(kind, "write_report(path=...)")):
        write_report(path, monitor=monitor)
    assert rendered == []


def test_missing_parent_folders_are_created_by_each_api(tmp_path):
    monitor = Monitor(path=missing_parent(tmp_path / "live", ".jsonl"))
    _train(monitor)
    assert Monitor.load(monitor.path).history["epoch"].tolist() == [1]
    saved = monitor.save(missing_parent(tmp_path / "saved", ".csv"))
    assert Monitor.load(saved).history["epoch"].tolist() == [1]
    page = write_report(missing_parent(tmp_path / "page", ".html"), monitor=monitor)
    assert page.read_text().startswith("<!DOCTYPE html>")
