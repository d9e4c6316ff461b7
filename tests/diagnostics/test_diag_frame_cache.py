"""Monitor.frame is built once per change of the records: reused by findings() and
write_report, rebuilt after new steps or finished statistics, safe to modify."""

import pandas as pd
import pytest

from diagnostics import Monitor, monitor_results

from . import toy_nets as t


@pytest.fixture
def counted(monkeypatch):
    """Counts the tidy-frame builds of every Monitor."""
    calls = []

    def counting(chunks):
        calls.append(1)
        return tidy(chunks)

    tidy = monitor_results.tidy_frame
    monkeypatch.setattr(monitor_results, "tidy_frame", counting)
    return calls


def trained(epochs=2):
    X, y = t.blobs(128, 8, 3)
    monitor = Monitor()
    t.fit(t.mlp((8, 16, 3)), t.CrossEntropy(), t.SGD(0.1), X, y, epochs=epochs,
          batch_size=32, hooks=[monitor])
    return monitor


def test_report_builds_the_frame_once(counted, tmp_path):
    from diagnostics import write_report

    monitor = trained()
    write_report(tmp_path / "run.html", monitor=monitor)
    monitor.findings()
    assert len(counted) == 1


def test_frame_follows_new_steps_and_finished_statistics(counted):
    X, y = t.blobs(128, 8, 3)
    model, monitor = t.mlp((8, 16, 3)), Monitor(dead_window=3)
    monitor.on_train_begin(model)
    for step in range(2):
        monitor.on_batch_begin(step)
        value = t.CrossEntropy().forward(model.forward(X[:32]), y[:32])
        monitor.on_backward_end(step, model, value)
        monitor.on_step_end(step, model)
    early = monitor.frame
    assert monitor.frame.equals(early) and len(counted) == 1
    monitor.on_train_end(model)   # the dead-unit window ends early: new values, same steps
    finished = monitor.frame
    assert len(counted) == 2
    assert set(finished["metric"]) - set(early["metric"]) == {"dead_fraction"}
    assert finished["step"].max() == early["step"].max() == 1


def test_changing_a_returned_frame_leaves_the_next_one_alone():
    monitor = trained(epochs=1)
    first = monitor.frame
    expected = first.copy()
    first.loc[:, "value"] = -1.0
    first.loc[first.index[:5], "layer"] = "changed"
    pd.testing.assert_frame_equal(monitor.frame, expected)
