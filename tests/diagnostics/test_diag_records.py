"""Saving, loading, appending per epoch, and what a crash leaves behind."""

import json

import numpy as np
import pandas as pd
import pytest

from diagnostics import Monitor

from . import toy_nets as t


class CrashAt:
    """Raises at a given step (a crash in the middle of an epoch)."""

    def __init__(self, step):
        self.step = step

    def on_batch_begin(self, step, x, y):
        if step == self.step:
            raise KeyboardInterrupt("simulated crash")


def _train(monitor, epochs=3, hooks=()):
    X, y = t.blobs(160, 8, 3)  # 5 steps per epoch
    t.fit(t.mlp((8, 16, 3)), t.CrossEntropy(), t.SGD(0.1, 0.9), X, y, epochs=epochs,
          hooks=[*hooks, monitor])


def test_save_load_round_trip(tmp_path):
    monitor = Monitor(every=2)
    _train(monitor)
    path = monitor.save(tmp_path / "run.jsonl")
    loaded = Monitor.load(path)
    pd.testing.assert_frame_equal(loaded.frame, monitor.frame)
    pd.testing.assert_frame_equal(loaded.history, monitor.history)
    assert loaded.meta == json.loads(json.dumps(monitor.meta))
    pd.testing.assert_frame_equal(loaded.findings(), monitor.findings())
    assert [p.name for p in tmp_path.iterdir()] == ["run.jsonl"]  # no temporary left


def test_path_appends_each_epoch_and_equals_the_saved_records(tmp_path):
    monitor = Monitor(path=tmp_path / "live.jsonl")
    _train(monitor)
    lines = (tmp_path / "live.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["kind"] == "history" for line in lines) == 3
    loaded = Monitor.load(tmp_path / "live.jsonl")
    pd.testing.assert_frame_equal(loaded.frame, monitor.frame)
    pd.testing.assert_frame_equal(loaded.history, monitor.history)


def test_crash_mid_epoch_loses_at_most_that_epoch(tmp_path):
    path = tmp_path / "crash.jsonl"
    monitor = Monitor(path=path)
    with pytest.raises(KeyboardInterrupt):
        _train(monitor, epochs=5, hooks=[CrashAt(step=12)])  # in epoch 3
    loaded = Monitor.load(path)
    frame = loaded.frame
    assert loaded.history["epoch"].tolist() == [1, 2]
    assert sorted(set(frame[frame.metric == "loss"].step)) == list(range(10))
    kept = monitor.frame[monitor.frame.step < 10].reset_index(drop=True)
    pd.testing.assert_frame_equal(frame[frame.step < 10].reset_index(drop=True), kept)


def test_torn_last_line_is_ignored_but_a_broken_middle_is_an_error(tmp_path):
    monitor = Monitor(path=tmp_path / "torn.jsonl")
    _train(monitor, epochs=2)
    text = (tmp_path / "torn.jsonl").read_text()
    (tmp_path / "torn.jsonl").write_text(text + '{"kind": "records", "step": [1')
    assert len(Monitor.load(tmp_path / "torn.jsonl").frame) == len(monitor.frame)
    lines = text.splitlines()
    lines[1] = lines[1][:20]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="line 2 is not valid JSON"):
        Monitor.load(tmp_path / "bad.jsonl")


def test_not_a_records_file_is_rejected(tmp_path):
    (tmp_path / "other.jsonl").write_text('{"a": 1}\n')
    with pytest.raises(ValueError, match="not a diagnostics records file"):
        Monitor.load(tmp_path / "other.jsonl")


def test_non_finite_values_survive_the_round_trip(tmp_path):
    monitor = Monitor()
    monitor.on_train_begin(t.mlp((2, 3, 2)), None)
    monitor.on_backward_end(0, None, float("nan"))
    monitor.on_train_end()
    loaded = Monitor.load(monitor.save(tmp_path / "nan.jsonl"))
    values = loaded.frame.set_index("metric")["value"]
    assert np.isnan(values["loss"]) and values["non_finite"] == 1.0
