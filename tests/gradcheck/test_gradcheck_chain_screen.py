"""The chain screen: every layer of a chain along one joint direction (gradcheck.chain_screen).

It may only ever pass tensors: a wrong layer anywhere in the chain, however small its error,
must make it stand aside so that the layer's own check names the layer, tensor and element.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck.chain_second_point
import gradcheck.model_check
from gradcheck import check_model
from reference_nets import Sequential
from reference_nets.layers.activations import Tanh
from reference_nets.layers.dense import Dense
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.zoo import mlp

RNG = np.random.default_rng(11)
X, Y = RNG.normal(size=(32, 20)), RNG.integers(0, 10, 32)
SCREEN = "tensors of"   # the screen's worst_index: "joint direction (7 tensors of 3 layers)"


class OffDense(Dense):
    """Dense whose backward scales one gradient by ``1 + error`` (dx, W or b)."""

    def __init__(self, *args, off="W", error=1e-6, **kwargs):
        super().__init__(*args, **kwargs)
        self.off, self.error = off, error

    def backward(self, dy):
        dx = super().backward(dy)
        if self.off == "input":
            return dx * (1 + self.error)
        self.grads[self.off] *= 1 + self.error
        return dx


def chain(middle):
    return Sequential([Dense(20, 16, init="xavier", seed=1), Tanh(), middle, Tanh(),
                       Dense(12, 10, init="xavier", seed=3)])   # every tensor > 8 elements


def test_a_correct_chain_is_settled_by_the_screen_with_both_objectives():
    report = check_model(chain(Dense(16, 12, init="xavier", seed=2)), SoftmaxCrossEntropy(),
                         X, Y)
    table = report.table
    assert report.passed
    assert table.worst_index.str.contains(SCREEN).all()
    assert set(table.layer) == {"0:Dense", "1:Tanh", "2:Dense", "3:Tanh", "4:Dense"}
    # as each layer's own check: an activation has only its local row
    assert set(table[table.layer == "1:Tanh"].check) == {"gradient"}
    assert set(table[table.layer == "2:Dense"].check) == {"gradient", "end_to_end"}


@pytest.mark.parametrize("off", ["input", "W", "b"])
def test_a_one_in_a_million_error_in_the_middle_of_the_chain_is_named(off):
    report = check_model(chain(OffDense(16, 12, init="xavier", seed=2, off=off)),
                         SoftmaxCrossEntropy(), X, Y)
    failed = report.table[(report.table.status == "fail") & (report.table.check == "gradient")]
    assert list(zip(failed.layer, failed.tensor, strict=True)) == [("2:OffDense", off)]
    assert not failed.worst_index.str.contains(SCREEN).any()


def test_a_wrong_model_backward_fails_end_to_end_rows_only():
    class ScaledBackward(Sequential):
        def backward(self, dy):
            dx = super().backward(dy)
            self.layers[0].grads["W"] *= 1 + 1e-5   # a factor outside the layers
            return dx

    model = ScaledBackward(chain(Dense(16, 12, init="xavier", seed=2)).layers)
    failed = check_model(model, SoftmaxCrossEntropy(), X, Y).table.query("status == 'fail'")
    assert list(zip(failed.layer, failed.tensor, failed.check, strict=True)) == [
        ("0:Dense", "W", "end_to_end")]


def test_a_small_tensor_joins_the_screens_direction():
    model = mlp((20, 16, 4), activation="tanh", init="xavier")   # b of the last layer: 4
    table = check_model(model, SoftmaxCrossEntropy(), X, RNG.integers(0, 4, 32)).table
    assert (table.status == "pass").all()
    assert table.worst_index.str.contains(SCREEN).all()   # the 4-element bias too
    assert list(table[table.layer == "2:Dense"].tensor) == ["input", "input", "W", "W",
                                                             "b", "b"]   # in tensor order


@pytest.mark.parametrize("element", [0, 3])
def test_one_wrong_element_of_a_small_tensor_in_the_screen_is_named(element):
    class OneBiasOff(Dense):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["b"][element] *= 1 + 1e-5
            return dx

    model = Sequential([Dense(20, 16, init="xavier", seed=1), Tanh(),
                        OneBiasOff(16, 4, init="xavier", seed=2)])
    table = check_model(model, SoftmaxCrossEntropy(), X, RNG.integers(0, 4, 32)).table
    failed = table[(table.status == "fail") & (table.check == "gradient")]
    assert list(zip(failed.layer, failed.tensor, failed.worst_index, strict=True)) == [
        ("2:OneBiasOff", "b", f"({element},)")]


def test_an_error_in_the_chain_to_the_loss_names_that_call():
    class Fragile(Tanh):
        calls = 0

        def forward(self, x):
            Fragile.calls += 1
            if Fragile.calls == 3:   # the walk, model.forward, then the chain's run at +h
                raise RuntimeError("boom")
            return super().forward(x)

    model = Sequential([Dense(20, 16, seed=1), Fragile(), Dense(16, 10, seed=2)])
    with pytest.raises(RuntimeError, match="boom") as info:
        check_model(model, SoftmaxCrossEntropy(), X, Y, second_point=False)
    assert any("the chain to the loss" in note for note in info.value.__notes__)


def test_the_second_point_reuses_the_screens_directions(monkeypatch):
    import gradcheck.joint_direction as joint

    sizes = []
    draw = joint.random_directions_of
    monkeypatch.setattr(joint, "LOW_PROJECTION", 0.0)   # no redraws: only first draws count
    monkeypatch.setattr(gradcheck.chain_second_point, "unsettled", lambda *a: True)
    monkeypatch.setattr(joint, "random_directions_of",
                        lambda rng, wanted: sizes.extend(wanted) or draw(rng, wanted))
    model = chain(Dense(16, 12, init="xavier", seed=2))
    assert check_model(model, SoftmaxCrossEntropy(), X, Y).passed
    # one per tensor of the screen (each layer's input and parameters), none again at the
    # second point, where the model's input and parameters move along the same directions
    expected = [a.size for i, layer in enumerate(model.layers)
                for a in (model_input_of(model, i), *layer.params.values())]
    assert sorted(sizes) == sorted(expected)


def model_input_of(model, i):
    h = X
    for layer in model.layers[:i]:
        h = layer.forward(h)
    return h


def test_a_backward_that_is_not_exactly_the_chain_is_not_screened():
    class ScaledUpstream(Sequential):
        def backward(self, dy):   # layer 2 gets 1.00001 times what layer 3 returned
            for i in range(len(self.layers) - 1, -1, -1):
                dy = self.layers[i].backward(dy)
                dy = dy * (1 + 1e-5) if i == 3 else dy
            return dy

    model = ScaledUpstream(chain(Dense(16, 12, init="xavier", seed=2)).layers)
    table = check_model(model, SoftmaxCrossEntropy(), X, Y).table
    assert not table.worst_index.str.contains(SCREEN).any()
    failed = table.query("status == 'fail'")
    assert set(failed.check) == {"end_to_end"}   # every layer right at the dy it got
    assert set(failed.layer) == {"0:Dense", "2:Dense"}


def test_a_chain_whose_screen_moves_only_inner_inputs_reaches_its_second_point(monkeypatch):
    # x (8 values) and every parameter (at most 8) are too small for a direction: the
    # screen's joint direction holds only the inner layers' inputs, none of the whole
    # model's tensors, so the second point (run as if the given point sat on kinks) plans
    # its own (it raised a ValueError)
    monkeypatch.setattr(gradcheck.chain_second_point, "unsettled", lambda *a: True)
    model = Sequential([Dense(2, 4, seed=1), Tanh(), Dense(4, 2, seed=2)])
    x, y = np.random.default_rng(0).normal(size=(4, 2)), np.array([0, 1, 1, 0])
    report = check_model(model, SoftmaxCrossEntropy(), x, y)
    assert report.passed, str(report)
