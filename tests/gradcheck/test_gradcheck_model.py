"""check_model specifics, grouped perturbations, auto mode naming an element, progress bar."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck.progress
import gradcheck.value_sets
from gradcheck import check_layer, check_model
from reference_nets import Dropout, Sequential
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.zoo import mlp
from tests.gradcheck import zoo_layers as z

RNG = np.random.default_rng(11)


class Counting(z.Linear):
    calls = 0

    def forward(self, x):
        Counting.calls += 1
        return super().forward(x)


def test_grouped_and_single_perturbations_agree(monkeypatch):
    layer, x = Counting(70, 6), RNG.normal(size=(6, 70))   # W: 420 elements, batch 6 == n_out
    grouped = check_layer(layer, x, mode="full").table.set_index("tensor")
    grouped_calls, Counting.calls = Counting.calls, 0
    monkeypatch.setattr(gradcheck.value_sets, "STRUCTURE_MIN_ELEMENTS", 10**9)
    single = check_layer(layer, x, mode="full").table.set_index("tensor")
    # one forward per element and offset without groups; W's columns and x's rows share them
    assert Counting.calls >= 2 * (420 + 420 + 6)
    assert grouped_calls < Counting.calls / 4
    assert (grouped.status == "pass").all()
    assert np.allclose(grouped.numeric, single.numeric, rtol=1e-8)
    assert np.allclose(grouped.max_abs_err, single.max_abs_err, atol=1e-9)


def test_larger_model_full_check_uses_groups_and_still_localises():
    model = Sequential([z.Linear(30, 12, seed=1), z.Tanh(), z.OneWrongRow(12, 4, seed=2)])
    x, y = RNG.normal(size=(9, 30)), RNG.normal(size=(9, 4))
    report = check_model(model, z.MSE(), x, y, mode="full")
    failed = report.table[report.table.status == "fail"]
    assert set(zip(failed.layer, failed.tensor, failed.check, strict=True)) == {
        ("2:OneWrongRow", "W", "gradient"), ("2:OneWrongRow", "W", "end_to_end")}
    assert failed.worst_index.str.startswith("(2,").all()
    w0 = report.table.query("layer == '0:Linear' and tensor == 'W'")
    assert (w0.checked == 360).all() and (w0.status == "pass").all()


def test_reference_mlp_full_check_matches_its_size():
    model = mlp((20, 16, 5), activation="tanh")
    x, y = RNG.normal(size=(12, 20)), RNG.integers(0, 5, 12)
    report = check_model(model, SoftmaxCrossEntropy(), x, y, mode="full")
    assert report.passed, str(report)
    e2e = report.table[report.table.check == "end_to_end"]
    assert e2e.checked.sum() == sum(p.size for p in model.params.values())


def test_random_layer_in_a_model_is_named_and_end_to_end_is_skipped():
    model = mlp((6, 8, 3))
    model.layers.insert(2, Dropout(0.5))
    x, y = RNG.normal(size=(5, 6)), RNG.integers(0, 3, 5)
    report = check_model(model, SoftmaxCrossEntropy(), x, y)
    failed = report.table[report.table.status == "fail"]
    assert list(zip(failed.layer, failed.check, strict=True)) == [("2:Dropout", "determinism")]
    assert "end_to_end" not in set(report.table.check)


def test_accumulating_layer_in_a_model_is_named():
    model = Sequential([z.Linear(4, 3), z.Tanh(), z.Accumulating(3, 2, seed=5)])
    x, y = RNG.normal(size=(5, 4)), RNG.normal(size=(5, 2))
    report = check_model(model, z.MSE(), x, y)
    rows = report.table.query("check == 'accumulation'")
    assert list(zip(rows.layer, rows.tensor, strict=True)) == [("2:Accumulating", "W")]


def test_a_model_whose_forward_is_not_its_layers_in_order_is_checked_as_it_runs():
    class Doubled(Sequential):
        def forward(self, x):
            return super().forward(x) * 2   # backward forgets the factor

    model = Doubled([z.Linear(4, 2)])
    report = check_model(model, z.MSE(), RNG.normal(size=(3, 4)), RNG.normal(size=(3, 2)))
    failed = report.table[report.table.status == "fail"]
    assert set(zip(failed.layer, failed.tensor, failed.check, strict=True)) == {
        ("0:Linear", "W", "end_to_end"), ("0:Linear", "b", "end_to_end"),
        ("model:Doubled", "input", "end_to_end")}
    assert np.allclose(failed.numeric / failed.analytic, 2.0)
    assert (failed.cause_label == "composition").all()   # every layer passes on its own


def test_auto_mode_names_an_element_of_a_large_wrong_tensor():
    layer = z.MeanBias(40, 30)   # b has 30 elements: "auto" checks it along a direction
    report = check_layer(layer, RNG.normal(size=(7, 40)))
    row = report.table.query("tensor == 'b'").iloc[0]
    assert row.status == "fail"
    assert row.worst_index.startswith("(")   # an element, checked once the direction failed
    assert row.checked == 30   # every element of the failing tensor
    passing = report.table.query("tensor != 'b'")
    assert (passing.status == "pass").all()
    assert passing.worst_index.str.contains("direction").all()


def test_progress_bar_only_on_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(gradcheck.progress, "PROGRESS_MIN_ELEMENTS", 10)
    check_layer(z.Linear(), RNG.normal(size=(5, 4)), mode="full")
    assert "gradcheck" not in capsys.readouterr().err
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    check_layer(z.Linear(), RNG.normal(size=(5, 4)), mode="full")
    assert "gradcheck" in capsys.readouterr().err


def test_parameters_are_restored_even_when_a_forward_raises():
    class Fragile(z.Linear):
        def forward(self, x):
            if not np.array_equal(self.params["W"], self.original):
                raise FloatingPointError("boom")   # fails while W is perturbed
            return super().forward(x)

    layer = Fragile(70, 6)
    layer.original = layer.params["W"].copy()
    before = {k: v.copy() for k, v in layer.params.items()}
    for mode in ("full", "auto"):
        with pytest.raises(FloatingPointError):
            check_layer(layer, RNG.normal(size=(6, 70)), mode=mode)
        for key, value in before.items():
            assert np.array_equal(layer.params[key], value)


@pytest.mark.parametrize("second_point", [False, True])
def test_model_backward_doubles_as_each_layers_first_backward(second_point):
    calls = []

    class CountingBackward(z.Linear):
        def backward(self, dy):
            calls.append(self)
            return super().backward(dy)

    layers = [CountingBackward(4, 3, seed=1), z.Tanh(), CountingBackward(3, 2, seed=2)]
    report = check_model(Sequential(layers), z.MSE(), RNG.normal(size=(5, 4)),
                         RNG.normal(size=(5, 2)), second_point=second_point)
    assert report.passed, str(report)
    # one call inside model.backward (recorded), then either the accumulation/linearity
    # probe or, with the moved point first, the backward there instead
    assert [calls.count(layers[0]), calls.count(layers[2])] == [2, 2]
    assert not any("backward" in vars(layer) for layer in layers)   # the recorder is gone


class _FiniteNearItsFirstPrediction(z.MSE):
    """MSE that is infinite a little away from the first prediction it gets (so that a
    model has no second point)."""

    def forward(self, pred, target):
        self.first = getattr(self, "first", pred.copy())
        near = np.abs(pred - self.first).max() < 1e-3
        return super().forward(pred, target) if near else float("inf")


class _FirstUpstream(z.Linear):
    """Bug: backward keeps the dy of its first call (a stale upstream gradient)."""

    def backward(self, dy):
        self.dy = getattr(self, "dy", dy.copy())
        return super().backward(self.dy)


@pytest.mark.parametrize(("layer", "loss", "check"), [
    (z.Accumulating(3, 2, seed=5), z.MSE(), "accumulation"),   # grads zero before
    (z.Accumulating(3, 2, seed=5), _FiniteNearItsFirstPrediction(), "accumulation"),
    (_FirstUpstream(3, 2, seed=5), z.MSE(), "linearity"),
])
def test_a_backward_right_at_the_first_point_that_accumulates_or_ignores_dy_is_named(
        layer, loss, check):
    model = Sequential([z.Linear(4, 3), z.Tanh(), layer])
    report = check_model(model, loss, RNG.normal(size=(5, 4)), RNG.normal(size=(5, 2)))
    named = report.table.query("status == 'fail' and check == @check")
    tensor = "W" if check == "accumulation" else "input"
    assert (named.layer.iloc[0], named.tensor.iloc[0]) == (f"2:{type(layer).__name__}",
                                                           tensor), str(report)


def test_a_model_backward_that_bypasses_the_layer_attribute_still_gets_probes():
    class ClassCalls(Sequential):
        def backward(self, dy):
            for layer in reversed(self.layers):
                dy = type(layer).backward(layer, dy)   # the recorder never sees these calls
            return dy

    model = ClassCalls([z.Linear(4, 3, seed=1), z.Tanh(), z.OneWrongRow(3, 2, seed=2)])
    report = check_model(model, z.MSE(), RNG.normal(size=(5, 4)), RNG.normal(size=(5, 2)))
    failed = report.table[report.table.status == "fail"]
    assert set(zip(failed.layer, failed.tensor, failed.check, strict=True)) == {
        ("2:OneWrongRow", "W", "gradient"), ("2:OneWrongRow", "W", "end_to_end")}


class OneRowSlightlyOff(z.Linear):
    """Bug: row 5 of dW is 0.1 % too large, every other row right."""

    def weight_grad(self, dy):
        g = self.x.T @ dy
        g[5] *= 1 + 1e-3
        return g


def test_auto_mode_names_the_worst_element_of_one_slightly_wrong_row():
    layer = OneRowSlightlyOff(60, 40, seed=3)   # W: 2,400 elements, checked along a direction
    x = RNG.normal(size=(16, 60))
    full = check_layer(layer, x, mode="full").table.query("tensor == 'W'").iloc[0]
    auto = check_layer(layer, x).table.query("tensor == 'W'").iloc[0]
    assert auto.status == full.status == "fail"
    assert auto.worst_index == full.worst_index
    assert auto.worst_index.startswith("(5, ")


class ScalesItsInputInPlace(Sequential):
    """A chain whose forward halves its input in place before the layers (and undoes it)."""

    def forward(self, x):
        x *= 0.5
        out = super().forward(x * 2.0)
        x *= 2.0 + 1e-3   # leaves its argument changed, as careless preprocessing does
        return out


@pytest.mark.parametrize("stale", [False, True])
def test_a_model_that_changes_its_input_in_place_is_checked_for_stale_caches(stale):
    from tests.gradcheck import bug_zoo_layers
    from tests.gradcheck.bug_zoo import StaleInput  # keeps its first input for dW

    first = StaleInput(4) if stale else bug_zoo_layers.Dense(4)
    model = ScalesItsInputInPlace([first, z.Tanh(), bug_zoo_layers.Dense(4)])
    x = RNG.normal(size=(6, 4))
    given = x.copy()
    report = check_model(model, SoftmaxCrossEntropy(), x, RNG.integers(0, 4, 6))
    assert np.array_equal(x, given)   # the caller's input is never the one changed
    assert report.passed is not stale
    if stale:   # found at the given point, after the model ran once at a moved point
        assert set(report.table.query("status == 'fail' and check == 'gradient'")
                   .cause_label) == {"stale_cache"}
