"""Which steps a Monitor records: the fixed and the budget schedule, the middle mode,
and the same findings under the default schedule as with every step recorded."""

import math

import numpy as np
import pytest

from diagnostics import Monitor, write_report
from diagnostics.schedule import (
    PLANNED_SHARE,
    STEP_COST,
    UNTIMED_SHARE,
    DistanceSchedule,
    Schedule,
    describe,
    expand_runs,
    step_runs,
)

from . import toy_nets as t


def simulate(schedule, n_steps, step_time, record_cost):
    """Drive ``schedule`` with a fake clock: each step takes ``step_time`` seconds, each
    recorded step ``record_cost`` more (as timed) and ``UNTIMED_SHARE`` of that again
    later; return the recorded steps and the time spent recording and training."""
    now, spent, due, recorded = 0.0, 0.0, 0, []
    schedule.start(now)
    for step in range(n_steps):
        now += step_time
        if step >= due:
            now += record_cost
            spent += record_cost * (1 + UNTIMED_SHARE)
            recorded.append(step)
            due = schedule.next_step(step, record_cost, now)
            now += record_cost * UNTIMED_SHARE
    return recorded, spent, now - spent


def test_fixed_schedule_records_the_multiples_of_every():
    recorded, *_ = simulate(Schedule(every=3), 10, 1.0, 5.0)
    assert recorded == [0, 3, 6, 9]


@pytest.mark.parametrize("relative_cost", [0.02, 0.3, 1.5])
def test_budget_schedule_is_dense_first_then_keeps_its_cost_within_the_budget(relative_cost):
    budget, dense = 0.05, 20
    recorded, spent, training = simulate(Schedule("auto", budget, dense), 20_000, 1e-3,
                                         relative_cost * 1e-3)
    assert recorded[:dense] == list(range(dense))
    assert spent <= PLANNED_SHARE * budget * training  # the rest of the budget: margin
    charged = relative_cost * (1 + UNTIMED_SHARE) / (PLANNED_SHARE * budget - STEP_COST / 1e-3)
    steady = 2 ** math.ceil(math.log2(max(1.0, charged)))
    assert np.diff(recorded[-10:]).tolist() == [steady] * 9  # settles on the power of two
    assert all(step % steady == 0 for step in recorded[-10:])


def test_budget_schedule_covers_a_short_run_to_its_end_with_log_spaced_records():
    recorded, spent, training = simulate(Schedule("auto", 0.05, 20), 90, 1e-3, 0.3e-3)
    later = recorded[20:]
    assert later and later[-1] >= 90 // 2
    gaps, steps_run = np.diff(recorded[19:]), np.array(recorded[19:-1]) + 1
    assert (gaps <= steps_run).all()  # each gap at most the steps run before it
    assert spent > 0.05 * training  # the price: a short run costs more than the budget


def test_budget_schedule_spends_most_of_its_budget_on_a_long_run():
    budget = 0.05
    _, spent, training = simulate(Schedule("auto", budget), 20_000, 1e-3, 0.3e-3)
    # not needlessly sparse (intervals are powers of 2)
    assert spent > 0.5 * PLANNED_SHARE * budget * training


@pytest.mark.parametrize(("options", "name"), [({"every": 0}, "every"),
                                               ({"every": "often"}, "every"),
                                               ({"budget": 0}, "budget"),
                                               ({"budget": 1.5}, "budget"),
                                               ({"dense_steps": -1}, "dense_steps"),
                                               ({"grad_norms_every_step": "yes"},
                                                "grad_norms_every_step"),
                                               ({"distance_every": 0}, "distance_every"),
                                               ({"distance_every": 2.0}, "distance_every")])
def test_bad_schedule_options_name_the_argument(options, name):
    with pytest.raises(ValueError, match=f"Monitor: {name} must be"):
        Monitor(**options)


@pytest.mark.parametrize(("every", "recorded", "taken"), [
    (8, range(20), [0, 8, 16]),
    (8, [*range(20), 20, 22, 24, 32, 48, 64, 66], [0, 8, 16, 24, 32, 48, 64]),
    (8, [3, 5, 11, 12, 40], [3, 11, 40]),  # the first, then at or after each multiple
    (1, [0, 4, 8, 9], [0, 4, 8, 9]),
])
def test_distance_schedule_takes_the_first_step_and_one_per_multiple(every, recorded, taken):
    distances = DistanceSchedule(every)
    assert [step for step in recorded if distances.take(step)] == taken
    assert distances.steps == taken


def test_step_runs_compress_and_expand_the_recorded_steps():
    steps = [*range(20), 32, 64, 68, 72, 76, 80, 88, 96, 97]
    runs = step_runs(steps)
    assert expand_runs(runs) == steps
    assert runs[0] == [0, 19, 1] and [68, 80, 4] in runs
    assert describe(runs, 100).startswith(f"{len(steps)} of 100 steps: 0-19 every step, ")
    assert "68-80 every 4th" in describe(runs, 100)


def _fit(monitor, n=320, epochs=1, hooks=()):
    X, y = t.blobs(n, 8, 3)
    t.fit(t.mlp((8, 16, 3)), t.CrossEntropy(), t.SGD(0.1), X, y, epochs=epochs,
          hooks=[*hooks, monitor])
    return monitor


def _budget_steps(clock, **options):
    """The steps a budget-schedule Monitor on ``clock`` records of 50 steps."""
    monitor = _fit(Monitor(every="auto", clock=clock, **options), n=1600, hooks=[clock])
    return monitor.recorded_steps.tolist()


def test_the_budget_schedule_follows_its_clock_alone():
    steps = _budget_steps(t.StepClock(step=190e-6, call=5e-6), dense_steps=4)
    assert steps == [0, 1, 2, 3, 16, 32]  # whatever the load of the machine
    assert _budget_steps(t.StepClock(step=190e-6, call=5e-6), dense_steps=4) == steps
    assert _budget_steps(t.StepClock(step=2e-3, call=5e-6), dense_steps=4) == list(range(50))
    assert _budget_steps(t.StepClock(step=190e-6, call=50e-6), dense_steps=4) == [0, 1, 2, 3]


def test_a_clock_that_cannot_be_called_is_refused():
    with pytest.raises(ValueError, match="Monitor: clock must be callable"):
        Monitor(clock=0.0)


def test_recorded_steps_are_those_with_norms_kept_in_saved_meta_and_in_the_report(tmp_path):
    clock = t.StepClock()
    monitor = _fit(Monitor(every="auto", dense_steps=4, clock=clock), n=1600, hooks=[clock])
    frame = monitor.frame
    full = sorted(set(frame[frame.metric == "weight_norm"].step))
    assert monitor.recorded_steps.tolist() == full
    assert full == [0, 1, 2, 3, 16, 32]  # 50 steps: the budget thins them
    assert monitor.meta["recorded"].startswith(f"{len(full)} of 50 steps: 0-")
    loaded = Monitor.load(monitor.save(tmp_path / "run.jsonl"))
    assert loaded.recorded_steps.tolist() == full
    assert loaded.meta["recorded"] == monitor.meta["recorded"]
    html = write_report(tmp_path / "run.html", monitor=loaded).read_text(encoding="utf-8")
    metadata = html[html.index('id="metadata"'):]
    assert "<th>recorded steps</th>" in metadata
    assert f"<td>{monitor.meta['recorded']}</td>" in metadata


def test_middle_mode_records_gradient_norms_on_every_step_and_the_rest_every_k():
    class Grads:
        def on_backward_end(self, step, model, loss_value):
            self.last = {step: np.sqrt(sum(np.sum(g ** 2) for g in model.grads.values()))}
            self.norms = {**getattr(self, "norms", {}), **self.last}

    monitor, spy = Monitor(every=4, grad_norms_every_step=True), Grads()
    X, y = t.blobs(320, 8, 3)
    t.fit(t.mlp((8, 16, 3)), t.CrossEntropy(), t.SGD(0.1), X, y, epochs=1,
          hooks=[spy, monitor])
    frame = monitor.frame
    global_norm = frame[(frame.metric == "grad_norm") & (frame.tensor == "global")]
    assert global_norm.step.tolist() == list(range(10))
    np.testing.assert_allclose(global_norm.value, [spy.norms[s] for s in range(10)])
    assert sorted(set(frame[frame.metric == "weight_norm"].step)) == [0, 4, 8]
    assert monitor.recorded_steps.tolist() == [0, 4, 8]
