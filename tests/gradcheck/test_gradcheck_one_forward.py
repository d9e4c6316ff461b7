"""check_model walks a chain with one recorded model.forward; a second one runs only when a
check relies on the layers being deterministic, and a model whose second forward differs
is checked again from the start, with the report two forwards up front would give."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck.model_check
from gradcheck import check_model
from reference_nets import Dense, Dropout, Sequential, Tanh
from reference_nets.losses import MSE, SoftmaxCrossEntropy
from tests.gradcheck import zoo_layers as z

RNG = np.random.default_rng(23)


class CountedForwards(Dense):
    calls = 0

    def forward(self, x):
        CountedForwards.calls += 1
        return super().forward(x)


class Drifting(z.Linear):
    """Stateful: forward updates a running mean and normalises with it (no random draws)."""

    def forward(self, x):
        self.running = getattr(self, "running", np.zeros(x.shape[1])) * 0.9 + 0.1 * x.mean(0)
        return super().forward(x - self.running)


def two_forwards_report(monkeypatch, model, loss, x, y):
    """The check as it runs when the walk compares two forwards up front."""
    rows = gradcheck.model_check.model_rows
    monkeypatch.setattr(gradcheck.model_check, "model_rows",
                        lambda *a, one_forward=False, **k: rows(*a, **k))
    report = check_model(model, loss, x, y)
    monkeypatch.setattr(gradcheck.model_check, "model_rows", rows)
    return report


def model_forwards(monkeypatch, model, loss, x, y) -> tuple[int, int]:
    """The forward calls of the model's first layer in a passing check_model, and in the
    same check with two forwards up front."""
    counts = []
    for check in (check_model, lambda *args: two_forwards_report(monkeypatch, *args)):
        CountedForwards.calls = 0
        assert check(model, loss, x, y).passed
        counts.append(CountedForwards.calls)
    return counts[0], counts[1]


def test_a_model_the_screen_settles_runs_one_forward_at_the_given_point(monkeypatch):
    model = Sequential([CountedForwards(12, 16, seed=1), Tanh(), Dense(16, 10, seed=2)])
    x, y = RNG.normal(size=(8, 12)), RNG.integers(0, 10, 8)
    one, two = model_forwards(monkeypatch, model, SoftmaxCrossEntropy(), x, y)
    # the model's run at a moved point first, the walk, the screen's pair of runs, the
    # moved run's check along the screen's direction (no second point: the given point sat
    # on no kink and saw no zeros, and the moved run's gradients agree with its loss)
    assert (one, two) == (1 + 1 + 2 + 1, 1 + 2 + 2 + 1)


def test_a_layer_left_to_its_own_point_costs_the_second_forward(monkeypatch):
    # targets whose mean residual is almost 0: the last bias's gradient is too small beside
    # the weights' to join the screen's direction, so its layer gets its own point
    model = Sequential([CountedForwards(12, 16, seed=1), Tanh(), Dense(16, 1, seed=2)])
    x, noise = RNG.normal(size=(8, 12)), RNG.normal(size=(8, 1))
    y = model.forward(x) + noise - noise.mean() + 1e-6
    report = check_model(model, MSE(), x, y)
    bias = report.table[(report.table.layer == "2:Dense") & (report.table.tensor == "b")]
    assert not bias.worst_index.str.contains("tensors of").any()
    one, two = model_forwards(monkeypatch, model, MSE(), x, y)
    assert one == two


def spied_walks(monkeypatch) -> list[bool]:
    """The ``one_forward`` of each model_rows call of the checks that follow."""
    walks, rows = [], gradcheck.model_check.model_rows

    def spy(*args, one_forward=False, **kwargs):
        walks.append(one_forward)
        return rows(*args, one_forward=one_forward, **kwargs)
    monkeypatch.setattr(gradcheck.model_check, "model_rows", spy)
    return walks


COLUMNS = ["layer", "tensor", "check", "status", "message"]


@pytest.mark.parametrize("middle", [lambda: Dropout(0.5, seed=3), lambda: Drifting(16, 16)],
                         ids=["random", "stateful"])
def test_a_layer_whose_second_forward_differs_starts_the_check_again(monkeypatch, middle):
    x, y = RNG.normal(size=(8, 12)), RNG.integers(0, 10, 8)

    def model():
        return Sequential([Dense(12, 16, seed=1), middle(), Dense(16, 10, seed=2)])
    expected = two_forwards_report(monkeypatch, model(), SoftmaxCrossEntropy(), x, y)
    walks = spied_walks(monkeypatch)
    report = check_model(model(), SoftmaxCrossEntropy(), x, y)
    assert walks == [True, False]   # one forward, then again with two up front
    assert report.table[COLUMNS].equals(expected.table[COLUMNS])
    failed = report.table[report.table.status == "fail"]
    assert list(zip(failed.layer, failed.check, strict=True)) == [
        (f"1:{type(middle()).__name__}", "determinism")]


def test_a_deterministic_model_is_checked_once(monkeypatch):
    walks = spied_walks(monkeypatch)
    model = Sequential([Dense(12, 16, seed=1), Tanh(), Dense(16, 1, seed=2)])
    assert check_model(model, MSE(), RNG.normal(size=(8, 12)), RNG.normal(size=(8, 1))).passed
    assert walks == [True]
