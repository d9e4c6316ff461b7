"""train(): hook protocol, history columns, clipping and schedules inside the loop, progress."""

import numpy as np
import pandas as pd
import pytest

import reference_nets as rn
from reference_nets.losses import MSE, SoftmaxCrossEntropy
from reference_nets.optim import SGD, StepLR
from reference_nets.train import HookError
from reference_nets.zoo import mlp

RNG = np.random.default_rng(0)
X = RNG.standard_normal((22, 4))
Y = RNG.integers(0, 3, 22)


class Recorder:
    """Implements every hook method with the exact protocol signature and logs the calls."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, model, optimizer):
        self.calls.append(("on_train_begin", model, optimizer))

    def on_batch_begin(self, step, x, y):
        self.calls.append(("on_batch_begin", step, x.shape, y.shape))

    def on_backward_end(self, step, model, loss_value):
        grads = {k: g.copy() for k, g in model.grads.items()}
        self.calls.append(("on_backward_end", step, loss_value, grads, model.training))

    def on_step_end(self, step, model):
        self.calls.append(("on_step_end", step))

    def on_epoch_end(self, epoch, history_row):
        self.calls.append(("on_epoch_end", epoch, history_row))

    def on_train_end(self, model):
        self.calls.append(("on_train_end", model))

    def named(self, name):
        return [call[1:] for call in self.calls if call[0] == name]


class OnlyEpochs:
    def __init__(self):
        self.epochs = []

    def on_epoch_end(self, epoch, history_row):
        self.epochs.append(epoch)


def run(hooks=(), model=None, **options):
    model = model or mlp((4, 8, 3))
    options = {"epochs": 3, "batch_size": 5, **options}
    return rn.train(model, SoftmaxCrossEntropy(), SGD(0.1, momentum=0.9), X, Y, hooks=hooks,
                    **options)


def test_hooks_are_called_with_protocol_arguments_in_order_and_counts():
    rec, partial = Recorder(), OnlyEpochs()
    model, opt = mlp((4, 8, 3)), SGD(0.1)
    history = rn.train(model, SoftmaxCrossEntropy(), opt, X, Y, epochs=3, batch_size=5,
                       hooks=[rec, partial])
    steps_per_epoch = 5                                   # ceil(22 / 5), last batch of 2
    assert rec.calls[0] == ("on_train_begin", model, opt)
    assert rec.calls[-1] == ("on_train_end", model)
    assert [s for s, *_ in rec.named("on_batch_begin")] == list(range(3 * steps_per_epoch))
    assert [s for s, *_ in rec.named("on_step_end")] == list(range(3 * steps_per_epoch))
    assert rec.named("on_batch_begin")[4][1:] == ((2, 4), (2,))
    per_step = [c[0] for c in rec.calls[1:4]]
    assert per_step == ["on_batch_begin", "on_backward_end", "on_step_end"]
    assert [e for e, _ in rec.named("on_epoch_end")] == [1, 2, 3] == partial.epochs
    assert [row for _, row in rec.named("on_epoch_end")] == history.to_dict("records")
    step, loss_value, grads, training = rec.named("on_backward_end")[0]
    assert step == 0
    assert isinstance(loss_value, float) and training
    assert set(grads) == set(model.params) and any(np.abs(g).max() > 0 for g in grads.values())


def test_a_raising_hook_stops_training_with_its_class_name():
    class Exploder:
        def on_step_end(self, step, model):
            if step == 2:
                raise FloatingPointError("loss is NaN")

    rec = Recorder()
    with pytest.raises(HookError, match=r"hook Exploder\.on_step_end raised "
                                        r"FloatingPointError: loss is NaN") as info:
        run(hooks=[rec, Exploder()])
    assert isinstance(info.value.__cause__, FloatingPointError)
    assert len(rec.named("on_step_end")) == 3 and not rec.named("on_epoch_end")


def test_history_has_the_documented_columns():
    history = run(epochs=2)
    assert isinstance(history, pd.DataFrame)
    assert list(history.columns) == ["epoch", "train_loss", "train_accuracy", "lr", "seconds"]
    assert history["epoch"].tolist() == [1, 2]
    assert (history["seconds"] > 0).all() and (history["lr"] == 0.1).all()
    with_val = run(epochs=2, validation=(X[:6], Y[:6]))
    assert list(with_val.columns) == ["epoch", "train_loss", "train_accuracy", "val_loss",
                                      "val_accuracy", "lr", "seconds"]
    regression = rn.train(mlp((4, 8, 1)), MSE(), SGD(0.01), X, Y[:, None].astype(float),
                          epochs=1, batch_size=5)
    assert list(regression.columns) == ["epoch", "train_loss", "lr", "seconds"]


def test_train_loss_is_the_batch_size_weighted_mean_of_batch_losses():
    rec = Recorder()
    history = run(hooks=[rec], epochs=1, shuffle=False)
    losses = [loss for _, loss, *_ in rec.named("on_backward_end")]
    sizes = [5, 5, 5, 5, 2]
    assert history["train_loss"].iloc[0] == pytest.approx(np.dot(losses, sizes) / 22)


def test_same_seed_same_run_and_shuffle_changes_order():
    a, b = run(seed=3), run(seed=3)
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))
    c = run(seed=4)
    assert not np.allclose(a["train_loss"], c["train_loss"])


def test_model_is_in_training_mode_during_training_even_if_it_was_in_eval():
    model = mlp((4, 8, 3)).eval()
    rec = Recorder()
    run(hooks=[rec], model=model, validation=(X, Y))
    assert all(training for *_, training in rec.named("on_backward_end"))
    assert model.training


def test_clip_norm_limits_the_gradients_seen_by_hooks():
    rec = Recorder()
    run(hooks=[rec], clip_norm=0.01, clip_value=0.004)
    for *_, grads, _ in rec.named("on_backward_end"):
        flat = np.concatenate([g.ravel() for g in grads.values()])
        assert np.linalg.norm(flat) <= 0.01 + 1e-9 and np.abs(flat).max() <= 0.004


def test_schedule_sets_the_lr_recorded_per_epoch():
    opt = SGD(0.1)
    history = rn.train(mlp((4, 8, 3)), SoftmaxCrossEntropy(), opt, X, Y, epochs=4,
                       batch_size=5, schedule=StepLR(opt, step_size=2, gamma=0.5))
    assert history["lr"].tolist() == pytest.approx([0.1, 0.1, 0.05, 0.05])
    assert opt.lr == pytest.approx(0.025)


def test_no_progress_output_when_stderr_is_not_a_terminal(capfd):
    run(epochs=2)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_progress_true_draws_a_bar(capfd):
    run(epochs=2, progress=True)
    assert "epoch" in capfd.readouterr().err
