"""The rest of a model after a perturbed layer (gradcheck.rest_of_model): a group's output kept
whole through the layers that keep its slices apart, copies folded into one batch, one loss
call for many copies; each the same loss changes as one copy at a time through every layer."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_model
from gradcheck.rest_of_model import Downstream
from reference_nets import Sequential
from reference_nets.losses import MSE, SoftmaxCrossEntropy
from reference_nets.zoo import mlp
from tests.gradcheck import zoo_layers as z

RNG = np.random.default_rng(23)
STEP = 1e-3   # large enough that every loss change is far above the loss's round-off
# one copy at a time and the shortcuts compute the same sums in other orders: they agree to
# the round-off of a loss of order 1 (a few hundred eps), far below the changes (~STEP)
ROUNDING = 1e-13


def _rest(layers, x0, loss, target):
    """The cached inputs of ``layers`` at ``x0`` and the loss there."""
    acts = [x0]
    for layer in layers:
        acts.append(np.array(layer.forward(acts[-1].copy()), copy=True))
    return acts, loss.forward(acts[-1], target)


def _one_at_a_time(layers, outputs, loss, target, loss0):
    """The reference: each output through every layer and the loss, on its own."""
    changes = []
    for h in outputs:
        for layer in layers:
            h = layer.forward(h.copy())
        changes.append(loss.forward(h, target) - loss0)
    return np.array(changes)


def _group(first, x, name, coords):
    """``(y, singles, region)``: the first layer's output with the elements ``coords`` of
    ``name`` (input or W) moved by STEP together, and with each moved alone."""
    shape = x.shape if name == "input" else first.params["W"].shape
    elements = np.ravel_multi_index(coords, shape)
    structure = [(0, 0)] if name == "input" else [(1, 1)]

    def out(moved):
        flat = np.zeros(int(np.prod(shape)))
        flat[moved] = STEP
        if name == "input":
            return first.forward(x + flat.reshape(shape))
        saved = first.params["W"].copy()
        first.params["W"] += flat.reshape(shape)
        try:
            return np.array(first.forward(x), copy=True)
        finally:
            first.params["W"][...] = saved

    return out(elements), np.stack([out([e]) for e in elements]), (elements, shape, structure)


CHAINS = {
    # tanh keeps the columns apart (expanded before the Linear), all per-sample: folded
    "tanh-linear, forward_each": (lambda: [z.Tanh(), z.Linear(6, 3, seed=2)],
                                  SoftmaxCrossEntropy, lambda: RNG.integers(0, 3, 8)),
    # batch norm keeps the columns apart but mixes samples: no fold after it, one copy each
    "batchnorm-linear-batchnorm": (lambda: [z.BatchNorm(6), z.Linear(6, 3, seed=2),
                                            z.BatchNorm(3, seed=1)],
                                   MSE, lambda: RNG.normal(size=(8, 3))),
    # a loss without forward_each: one forward per copy
    "tanh-linear, plain loss": (lambda: [z.Tanh(), z.Linear(6, 3, seed=2)],
                                z.MSE, lambda: RNG.normal(size=(8, 3))),
}


@pytest.mark.parametrize("name", ["W", "input"])
@pytest.mark.parametrize("chain", CHAINS)
def test_a_group_gives_the_loss_changes_of_its_elements_one_at_a_time(chain, name):
    make_layers, make_loss, make_target = CHAINS[chain]
    first, layers, loss, target = z.Linear(5, 6, seed=1), make_layers(), make_loss(), make_target()
    x = RNG.normal(size=(8, 5))
    acts, loss0 = _rest(layers, first.forward(x), loss, target)
    coords = ([0, 1, 2, 3, 4, 0], [0, 1, 2, 3, 4, 5]) if name == "W" else (
        [0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 0, 1, 2])
    y, singles, region = _group(first, x, name, coords)
    down = Downstream(layers, acts, loss, target, loss0, 1e-6, lambda: np.random.default_rng(0))
    got = down.changes(y, region)
    want = _one_at_a_time(layers, singles, loss, target, loss0)
    assert np.abs(want).min() > 1e3 * ROUNDING   # the changes are real, not round-off
    np.testing.assert_allclose(got, want, rtol=0, atol=ROUNDING)
    np.testing.assert_allclose(down.changes(singles[0], None), want[:1], rtol=0, atol=ROUNDING)


SEEN: dict[str, list] = {}   # outside the objects: a check restores their state after it


class Rows(z.Tanh):
    """A tanh that records the shape of every input it gets."""

    def forward(self, x):
        SEEN["tanh"].append(np.shape(x))
        return super().forward(x)


class CountingLoss(SoftmaxCrossEntropy):
    """The reference loss, recording its calls."""

    def forward(self, pred, target):
        SEEN["loss"].append("forward")
        return super().forward(pred, target)

    def forward_each(self, preds, target):
        SEEN["loss"].append("forward_each")
        return super().forward_each(preds, target)


def test_full_check_runs_the_activation_once_per_group_and_the_loss_once_per_batch():
    model = mlp((100, 16, 5), activation="tanh")
    model.layers[1] = Rows()
    SEEN.update(tanh=[], loss=[])
    loss, (x, y) = CountingLoss(), (RNG.normal(size=(12, 100)), RNG.integers(0, 5, 12))
    report = check_model(model, loss, x, y, mode="full", second_point=False)
    assert report.passed, str(report)
    # each of the first weight's 1,600 elements has its end-to-end loss change measured, but
    # the tanh after it only ever gets batches of 12 samples: groups of 16 elements (one per
    # column) pass it as one array, expanded into 16 copies only before the second Dense
    assert report.table.query("layer == '0:Dense' and tensor == 'W'").checked.tolist() == [
        1600, 1600]
    assert {s[0] for s in SEEN["tanh"]} == {12}
    # and the copies reach the loss in one forward_each per group and offset, not one
    # forward each: at least 100 groups x 2 offsets, far fewer forwards than 2 x 1,600
    assert SEEN["loss"].count("forward_each") >= 2 * 100
    assert SEEN["loss"].count("forward") < 1600


class Doubled(SoftmaxCrossEntropy):
    """A forward_each that disagrees with forward (twice the loss)."""

    def forward_each(self, preds, target):
        return 2 * super().forward_each(preds, target)


class Refusing(SoftmaxCrossEntropy):
    """A forward_each that cannot take a stack."""

    def forward_each(self, preds, target):
        raise ValueError("no stacks here")


class Mixing(SoftmaxCrossEntropy):
    """A forward_each that averages the stacked copies (right for a stack of one only)."""

    def forward_each(self, preds, target):
        return np.full(len(preds), super().forward_each(preds, target).mean())


class Plain(SoftmaxCrossEntropy):
    forward_each = None   # no forward_each at all


@pytest.mark.parametrize("bad, why", [(Doubled, r"gave \[[0-9., ]+\] where forward gives"),
                                      (Mixing, r"gave \[[0-9., ]+\] where forward gives"),
                                      (Refusing, "raised ValueError: no stacks here")])
def test_a_forward_each_that_disagrees_with_forward_is_not_used(bad, why):
    model = mlp((30, 8, 4), activation="tanh")
    x, y = RNG.normal(size=(6, 30)), RNG.integers(0, 4, 6)
    with pytest.warns(RuntimeWarning, match=f"{bad.__name__}.forward_each.*{why}.*"
                                            f"calls {bad.__name__}.forward once per"):
        report = check_model(model, bad(), x, y, mode="full", second_point=False)
    plain = check_model(model, Plain(), x, y, mode="full", second_point=False)
    assert report.passed
    columns = ["layer", "tensor", "check", "status", "numeric", "max_abs_err"]
    assert report.table[columns].equals(plain.table[columns])


class ReusedBuffer:
    """Correct row centring ``y = x - mean(x, axis=0)`` (mixes samples), written into one
    output buffer that every forward reuses."""

    def __init__(self):
        self.params, self.grads, self._out = {}, {}, None

    def forward(self, x):
        if self._out is None or self._out.shape != x.shape:
            self._out = np.empty_like(x)
        np.subtract(x, x.mean(axis=0), out=self._out)
        return self._out

    def backward(self, dy):
        return dy - dy.mean(axis=0)


def test_copies_through_a_layer_that_reuses_its_output_buffer_stay_apart():
    model = Sequential([z.Linear(70, 4, seed=3), z.Tanh(), ReusedBuffer()])
    x, y = RNG.normal(size=(5, 70)), RNG.normal(size=(5, 4))
    report = check_model(model, MSE(), x, y, mode="full", second_point=False)
    e2e = report.table.query("check == 'end_to_end'")
    assert len(e2e) == 2 and report.passed, str(report)
