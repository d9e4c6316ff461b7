"""Own training loops: the docstring example runs as written; calls out of order say
which call is missing."""

import contextlib
import io
import textwrap

import numpy as np
import pytest

from diagnostics import HookOrderError, Monitor

from . import toy_nets as t


def _example() -> str:
    doc = Monitor.__doc__
    block = doc.split("call the hook methods where ``train`` would::")[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line.strip() and not line.startswith(" " * 8):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


def test_docstring_own_loop_example_records_every_step_and_epoch():
    code = _example()
    X, y = t.blobs(96, 8, 3)
    model, opt = t.mlp((8, 16, 3)), t.SGD(0.1, 0.9)
    opt.bind(model)
    batches = [(X[i:i + 32], y[i:i + 32]) for i in range(0, 96, 32)]
    namespace = {"Monitor": Monitor, "model": model, "opt": opt, "loss": t.CrossEntropy(),
                 "batches": batches, "epochs": 2}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(code, namespace)
    monitor = namespace["monitor"]
    frame = monitor.frame
    steps = list(range(2 * len(batches)))
    assert sorted(set(frame[frame.metric == "loss"].step)) == steps
    assert sorted(set(frame[frame.metric == "grad_norm"].step)) == steps  # the dense start
    assert monitor.recorded_steps.tolist() == steps
    assert monitor.history["epoch"].tolist() == [1, 2]
    assert frame.groupby("epoch").step.max().tolist() == [2, 5]
    assert "severity" in out.getvalue()


@pytest.fixture
def started():
    model = t.mlp((8, 16, 3))
    monitor = Monitor()
    monitor.on_train_begin(model, None)
    return monitor, model


def _step(monitor, model, step, calls=3):
    """The first ``calls`` hook calls of one step, around its forward and backward."""
    x = np.random.default_rng(step).normal(size=(4, 8))
    if calls >= 1:
        monitor.on_batch_begin(step, x, np.zeros(4, int))
    model.backward(model.forward(x))
    if calls >= 2:
        monitor.on_backward_end(step, model, 1.0)
    if calls >= 3:
        monitor.on_step_end(step, model)


def test_hook_methods_before_on_train_begin_name_it():
    model = t.mlp((8, 16, 3))
    for call in (lambda m: m.on_backward_end(0, model, 1.0), lambda m: m.on_batch_begin(0),
                 lambda m: m.on_step_end(0, model), lambda m: m.on_epoch_end(1, {}),
                 lambda m: m.on_train_end(model)):
        with pytest.raises(HookOrderError, match=r"called before on_train_begin\(model"):
            call(Monitor())


@pytest.mark.parametrize(("done", "call", "missing"), [
    (1, lambda m, model: m.on_step_end(0, model), "on_backward_end"),
    (1, lambda m, model: m.on_batch_begin(1), "on_backward_end and on_step_end"),
    (2, lambda m, model: m.on_epoch_end(1, {}), "on_step_end"),
    (2, lambda m, model: m.on_backward_end(0, model, 1.0), "on_step_end and on_batch_begin"),
    (3, lambda m, model: m.on_backward_end(1, model, 1.0), "on_batch_begin"),
    (3, lambda m, model: m.on_step_end(1, model), "on_batch_begin and on_backward_end"),
])
def test_a_call_out_of_order_names_the_missing_call(started, done, call, missing):
    monitor, model = started
    _step(monitor, model, 0, calls=done)
    with pytest.raises(HookOrderError, match=rf"called before {missing} \(the last step begun "
                                             r"is 0\)"):
        call(monitor, model)


def test_steps_that_do_not_match_or_do_not_increase_are_refused(started):
    monitor, model = started
    _step(monitor, model, 0, calls=1)
    with pytest.raises(HookOrderError, match=r"on_backward_end\(step=1\) does not follow "
                                             r"the step before \(the last step begun is 0\)"):
        monitor.on_backward_end(1, model, 1.0)
    monitor.on_backward_end(0, model, 1.0)
    monitor.on_step_end(0, model)
    with pytest.raises(HookOrderError, match="steps increase within a run"):
        monitor.on_batch_begin(0)


def test_on_train_end_mid_step_ends_the_run_and_a_new_run_can_begin(started):
    monitor, model = started
    _step(monitor, model, 0, calls=1)
    monitor.on_train_end(model)
    assert all("forward" not in vars(layer) for layer in model.layers)  # taps removed
    with pytest.raises(HookOrderError, match="before on_train_begin"):
        monitor.on_batch_begin(1)
    monitor.on_train_begin(model, None)
    _step(monitor, model, 0)
    assert monitor.recorded_steps.tolist() == [0]
