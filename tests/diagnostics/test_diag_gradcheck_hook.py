"""GradcheckHook: catches a backward that breaks during training, names the step, leaves
training exactly as it would be without the hook, follows its schedule."""

import numpy as np
import pytest

from diagnostics import GradcheckHook

from . import toy_nets as t


class MaxWeight:
    """Largest |W| of a layer after each optimizer step (``steps[k]``: after k steps)."""

    def __init__(self, layer):
        self.layer, self.steps = layer, {0: np.abs(layer.params["W"]).max()}

    def on_step_end(self, step, model):
        self.steps[step + 1] = np.abs(self.layer.params["W"]).max()


@pytest.fixture(scope="module")
def late_break():
    """A run whose middle layer's backward goes wrong once a weight grows past its clip limit."""
    X, y = t.blobs(256, 8, 3)
    model = t.late_break_net()
    weights = MaxWeight(model.layers[2])
    hook = GradcheckHook(t.CrossEntropy(), every_epochs=None, every_steps=1, after_steps=0)
    t.fit(model, t.CrossEntropy(), t.SGD(0.1), X, y, epochs=2, batch_size=32,
          hooks=[hook, weights])
    return hook, weights.steps, model.layers[2].limit


def test_a_backward_that_breaks_after_some_steps_is_caught_at_that_step(late_break):
    hook, max_weight, limit = late_break
    timeline = hook.timeline
    broken = timeline[timeline["layer"] == "2:ClippedBackwardDense"].set_index("step")
    assert list(broken.index) == list(range(2 * 256 // 32 + 1))   # every step, and the end
    inside = [s for s in broken.index if max_weight[s] < 0.95 * limit]
    past = [s for s in broken.index if max_weight[s] > limit]
    assert inside[0] == 0 and len(inside) > 2 and past   # right at first, wrong later
    assert set(broken.loc[inside, "status"]) == {"pass"}
    assert set(broken.loc[past, "status"]) == {"fail"}
    first = int(broken.index[broken["status"] == "fail"][0])
    findings = hook.findings().set_index("layer")
    row = findings.loc["2:ClippedBackwardDense"]
    assert (row["severity"], row["check"]) == ("critical", "gradient_check")
    epoch = (first - 1) // (256 // 32) + 1
    assert (f"failed first at step {first} (epoch {epoch}; pass at step {first - 1})"
            in row["message"])
    assert "input (gradient)" in row["message"]   # dL/dx is what the clipped W breaks
    assert set(timeline.loc[timeline["layer"] == "4:Dense", "status"]) == {"pass"}


def test_cost_is_the_sum_of_the_checks_and_part_of_the_run(late_break):
    hook = late_break[0]
    seconds = [point.seconds for point in hook.checkpoints]
    assert hook.seconds == pytest.approx(sum(seconds))
    assert 0 < hook.seconds < hook.training_seconds
    assert set(hook.timeline["seconds"]) == set(seconds)


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
    model = t.late_break_net()
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
    with pytest.raises(ValueError, match="no check would run"):
        GradcheckHook(loss, every_epochs=None, at_end=False)
    with pytest.raises(ValueError, match="give both x and y"):
        GradcheckHook(loss, x=np.zeros((2, 8)))
    with pytest.raises(TypeError, match="loss must have forward"):
        GradcheckHook(object())
    with pytest.raises(RuntimeError, match=r"call on_train_begin\(model, optimizer\) first"):
        GradcheckHook(loss).on_batch_begin(0, np.zeros((2, 8)), np.zeros(2, int))
    hook = GradcheckHook(loss, every_epochs=1, after_steps=0)
    hook.on_train_begin(t.late_break_net())
    with pytest.raises(RuntimeError, match="no check batch yet"):
        hook.on_epoch_end(1, {})


def test_checks_that_prove_nothing_become_a_warning_naming_the_step():
    X, y = t.blobs(64, 8, 3)
    model = t.mlp((8, 16, 3))
    hook = GradcheckHook(t.CrossEntropy(), every_epochs=None, every_steps=1, after_steps=0,
                         x=X[:8], y=y[:8])
    hook.on_train_begin(model)                  # step 0: every unit alive
    model.layers[0].params["b"][:] = -1e3       # every ReLU unit dies
    hook.on_step_end(0)
    status = hook.timeline.set_index(["step", "layer"])["status"]
    assert status[0, "0:Dense"] == "pass" and status[1, "0:Dense"] == "vacuous"
    [warning] = hook.findings().itertuples()   # one warning for every layer it concerns
    assert (warning.severity, warning.layer) == ("warning", "0:Dense")
    assert warning.message.startswith("gradient check proved nothing first at step 1 "
                                      "(epoch 1; pass at step 0); proved nothing at 1 of 2")
    vacuous = [layer for (step, layer), s in status.items() if step == 1 and s == "vacuous"]
    assert warning.message.endswith(f". Also in {len(vacuous) - 1} more layer(s): "
                                    f"{', '.join(vacuous[1:])}")
    said = hook.checkpoints[1].report.table
    said = said.loc[(said["layer"] == "0:Dense") & (said["status"] == "vacuous"), "message"]
    assert warning.message.count(said.iloc[0]) == 1   # said once for all the layer's tensors
    assert "fail" not in set(hook.timeline["status"])


def test_a_model_holding_its_layers_as_attributes_is_checked_and_set_to_eval_mode():
    from tests.gradcheck.model_forms import Attributes

    class Dropoutless(Attributes):
        training = True

    X, y = t.blobs(16, 4, 2)
    model = Dropoutless()
    hook = GradcheckHook(t.CrossEntropy(), every_epochs=None, every_steps=10, after_steps=0,
                         x=X[:4], y=y[:4], at_end=False)
    hook.on_train_begin(model)
    [point] = hook.checkpoints
    assert point.report.passed and {"fc1:Linear", "fc2:Linear"} <= set(point.report.table.layer)
    assert model.training is True          # back to training mode after the check
    with pytest.raises(TypeError, match="must hold layers"):
        GradcheckHook(t.CrossEntropy(), x=X[:4], y=y[:4]).on_train_begin(object())
