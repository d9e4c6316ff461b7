"""GradcheckHook: catches a backward that breaks during training, names the step, leaves
training exactly as it would be without the hook, follows its schedule."""

import numpy as np
import pytest

from diagnostics import GradcheckHook

from . import toy_nets as t


@pytest.fixture(scope="module")
def stale_hook():
    X, y = t.blobs(128, 8, 3)
    hook = GradcheckHook(t.CrossEntropy(), every_epochs=None, every_steps=1, after_steps=0)
    t.fit(t.stale_net(), t.CrossEntropy(), t.SGD(0.1), X, y, epochs=1, batch_size=32,
          hooks=[hook])
    return hook


def test_a_cache_that_goes_stale_after_the_first_step_is_caught_at_step_1(stale_hook):
    timeline = stale_hook.timeline
    stale = timeline[timeline["layer"] == "2:StaleTransposeDense"]
    assert list(stale["step"]) == [0, 1, 2, 3, 4]   # 128 rows / 32 per batch, and the end
    assert list(stale["status"]) == ["pass"] + ["fail"] * 4
    findings = stale_hook.findings()
    row = findings[findings["layer"] == "2:StaleTransposeDense"].iloc[0]
    assert (row["severity"], row["check"]) == ("critical", "gradient_check")
    assert "failed first at step 1 (epoch 1), after passing at step 0" in row["message"]
    assert "input (gradient)" in row["message"]   # dL/dx is what the stale W.T breaks
    # the healthy layers after it stay green; the one before fails only end to end
    assert set(timeline.loc[timeline["layer"] == "4:Dense", "status"]) == {"pass"}
    assert "0:Dense" in set(findings["layer"])
    assert "W (end_to_end)" in findings.set_index("layer").loc["0:Dense", "message"]


def test_cost_is_the_sum_of_the_checks_and_part_of_the_run(stale_hook):
    seconds = [point.seconds for point in stale_hook.checkpoints]
    assert stale_hook.seconds == pytest.approx(sum(seconds))
    assert 0 < stale_hook.seconds < stale_hook.training_seconds
    assert set(stale_hook.timeline["seconds"]) == set(seconds)


def _train_reference(hooks):
    from reference_nets import Dense, Dropout, ReLU, Sequential, train
    from reference_nets.losses import SoftmaxCrossEntropy
    from reference_nets.optim import SGD

    X, y = t.blobs(96, 8, 3)
    model = Sequential([Dense(8, 16, seed=1), ReLU(), Dropout(0.3, seed=2), Dense(16, 3, seed=3)])
    history = train(model, SoftmaxCrossEntropy(), SGD(0.02), X, y, epochs=4,
                    batch_size=16, hooks=hooks, seed=0)
    return model, history


def test_training_with_the_hook_is_bit_for_bit_training_without_it():
    from reference_nets.losses import SoftmaxCrossEntropy

    hook = GradcheckHook(SoftmaxCrossEntropy(), every_epochs=1, every_steps=5, after_steps=3)
    checked, history = _train_reference([hook])
    plain, plain_history = _train_reference([])
    for key, value in plain.params.items():
        np.testing.assert_array_equal(checked.params[key], value)
    assert history.drop(columns="seconds").equals(plain_history.drop(columns="seconds"))
    assert checked.training and all(layer.training for layer in checked.layers)
    assert hook.findings().empty   # dropout is off during the checks: no determinism failure


def test_schedule_burn_in_epochs_steps_and_end():
    from reference_nets.losses import SoftmaxCrossEntropy

    hook = GradcheckHook(SoftmaxCrossEntropy(), every_epochs=2, every_steps=7, after_steps=3)
    _train_reference([hook])
    per_epoch, epochs = 96 // 16, 4
    by_steps = list(range(3, per_epoch * epochs + 1, 7))
    by_epochs = [per_epoch * e for e in range(2, epochs + 1, 2)]
    expected = sorted({*by_steps, *by_epochs, per_epoch * epochs})
    assert [p.step for p in hook.checkpoints] == expected
    # a check belongs to the epoch of the last update it sees
    assert [p.epoch for p in hook.checkpoints] == [(s - 1) // per_epoch + 1 for s in expected]


def test_explicit_batch_checks_before_any_step_in_on_train_begin():
    X, y = t.blobs(64, 8, 3)
    model = t.stale_net()
    hook = GradcheckHook(t.CrossEntropy(), every_epochs=None, every_steps=10, after_steps=0,
                         x=X[:4], y=y[:4], at_end=False)
    hook.on_train_begin(model)
    [point] = hook.checkpoints
    assert point.step == 0 and point.report.passed
    assert point.report.table["checked"].sum() > 0


def test_clear_errors_name_the_argument_or_the_missing_call():
    loss = t.CrossEntropy()
    with pytest.raises(ValueError, match="every_steps must be a positive int or None"):
        GradcheckHook(loss, every_steps=0)
    with pytest.raises(ValueError, match="after_steps must be an int >= 0"):
        GradcheckHook(loss, after_steps=-1)
    with pytest.raises(ValueError, match="give both x and y"):
        GradcheckHook(loss, x=np.zeros((2, 8)))
    with pytest.raises(TypeError, match="loss must have forward"):
        GradcheckHook(object())
    with pytest.raises(RuntimeError, match=r"call on_train_begin\(model, optimizer\) first"):
        GradcheckHook(loss).on_batch_begin(0, np.zeros((2, 8)), np.zeros(2, int))
    hook = GradcheckHook(loss, every_epochs=1, after_steps=0)
    hook.on_train_begin(t.stale_net())
    with pytest.raises(RuntimeError, match="no check batch yet"):
        hook.on_epoch_end(1, {})
