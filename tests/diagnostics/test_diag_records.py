"""Saving, loading, appending per epoch (JSON lines and CSV), and what a crash leaves."""

import json

import numpy as np
import pandas as pd
import pytest

from diagnostics import Monitor
from diagnostics.records import FRAME_COLUMNS

from . import toy_nets as t

FORMATS = pytest.mark.parametrize("suffix", [".jsonl", ".csv"])


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


class Reload:
    """At each epoch end (after the Monitor's), loads the Monitor's file."""

    def __init__(self, path):
        self.path, self.loaded = path, []

    def on_epoch_end(self, epoch, row):
        self.loaded.append(Monitor.load(self.path))


@FORMATS
def test_save_load_round_trip(tmp_path, suffix):
    monitor = Monitor(every=2)
    _train(monitor)
    path = monitor.save(tmp_path / f"run{suffix}")
    loaded = Monitor.load(path)
    pd.testing.assert_frame_equal(loaded.frame, monitor.frame)
    pd.testing.assert_frame_equal(loaded.history, monitor.history)
    assert loaded.meta == json.loads(json.dumps(monitor.meta))
    pd.testing.assert_frame_equal(loaded.findings(), monitor.findings())
    assert [p.name for p in tmp_path.iterdir()] == [f"run{suffix}"]  # no temporary left
    pd.testing.assert_frame_equal(Monitor.load(loaded.save(tmp_path / f"again{suffix}")).frame,
                                  monitor.frame)


@FORMATS
def test_path_appends_each_epoch_and_equals_the_saved_records(tmp_path, suffix):
    path = tmp_path / f"live{suffix}"
    monitor = Monitor(path=path)
    reload = Reload(path)
    X, y = t.blobs(160, 8, 3)  # 5 steps per epoch; hooks are called in order: Reload last
    t.fit(t.mlp((8, 16, 3)), t.CrossEntropy(), t.SGD(0.1, 0.9), X, y, epochs=3,
          hooks=[monitor, reload])
    for epoch, loaded in enumerate(reload.loaded, 1):
        assert loaded.history["epoch"].tolist() == list(range(1, epoch + 1))
        assert loaded.frame.step.max() == 5 * epoch - 1  # 5 steps per epoch
    loaded = Monitor.load(path)
    pd.testing.assert_frame_equal(loaded.frame, monitor.frame)
    pd.testing.assert_frame_equal(loaded.history, monitor.history)


def test_csv_table_is_the_tidy_frame_plus_history_entries(tmp_path):
    monitor = Monitor()
    _train(monitor)
    table = pd.read_csv(monitor.save(tmp_path / "run.csv"), comment="#")
    records = table[table.kind == "record"][FRAME_COLUMNS].reset_index(drop=True)
    frame = monitor.frame
    pd.testing.assert_frame_equal(records, frame, check_dtype=False)
    history = table[table.kind == "history"].pivot(index="step", columns="metric",
                                                   values="value")
    np.testing.assert_allclose(history[monitor.history.columns].to_numpy(),
                               monitor.history.to_numpy())


@pytest.mark.parametrize("suffix", [".json", ".txt", ""])
def test_a_path_without_a_format_suffix_is_rejected(tmp_path, suffix):
    with pytest.raises(ValueError, match=r"^Monitor\(path=\.\.\.\): .*the suffix must be "
                       r"\.jsonl or \.csv"):
        Monitor(path=tmp_path / f"run{suffix}")
    with pytest.raises(ValueError, match=r"^Monitor\.save\(path\): .*suffix must be \.jsonl"):
        Monitor().save(tmp_path / f"run{suffix}")


@FORMATS
def test_crash_mid_epoch_loses_at_most_that_epoch(tmp_path, suffix):
    path = tmp_path / f"crash{suffix}"
    monitor = Monitor(path=path)
    with pytest.raises(KeyboardInterrupt):
        _train(monitor, epochs=5, hooks=[CrashAt(step=12)])  # in epoch 3
    loaded = Monitor.load(path)
    frame = loaded.frame
    assert loaded.history["epoch"].tolist() == [1, 2]
    assert sorted(set(frame[frame.metric == "loss"].step)) == list(range(10))
    kept = monitor.frame[monitor.frame.step < 10].reset_index(drop=True)
    pd.testing.assert_frame_equal(frame[frame.step < 10].reset_index(drop=True), kept)


@pytest.mark.parametrize(("suffix", "torn", "line", "message"), [
    (".jsonl", '{"kind": "records", "step": [1', 2, "line 2 is not valid JSON"),
    (".csv", "record,12,3,1:ReLU,out", 5, "line 5 is not a records row")])
def test_torn_last_line_is_ignored_but_a_broken_middle_is_an_error(tmp_path, suffix, torn,
                                                                    line, message):
    monitor = Monitor(path=tmp_path / f"torn{suffix}")
    _train(monitor, epochs=2)
    text = (tmp_path / f"torn{suffix}").read_text()
    (tmp_path / f"torn{suffix}").write_text(text + torn)
    assert len(Monitor.load(tmp_path / f"torn{suffix}").frame) == len(monitor.frame)
    lines = text.splitlines()
    lines[line - 1] = lines[line - 1][:12]
    (tmp_path / f"bad{suffix}").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=message):
        Monitor.load(tmp_path / f"bad{suffix}")


@pytest.mark.parametrize(("name", "text"), [("other.jsonl", '{"a": 1}\n'),
                                            ("other.csv", "a,b\n1,2\n")])
def test_not_a_records_file_is_rejected(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match="not a diagnostics records file"):
        Monitor.load(tmp_path / name)


@FORMATS
def test_non_finite_values_survive_the_round_trip(tmp_path, suffix):
    monitor = Monitor()
    model = t.mlp((2, 3, 2))
    monitor.on_train_begin(model, None)
    monitor.on_batch_begin(0)
    monitor.on_backward_end(0, model, float("nan"))
    monitor.on_train_end()
    loaded = Monitor.load(monitor.save(tmp_path / f"nan{suffix}"))
    values = loaded.frame.set_index("metric")["value"]
    assert np.isnan(values["loss"]) and values["non_finite"] == 1.0
