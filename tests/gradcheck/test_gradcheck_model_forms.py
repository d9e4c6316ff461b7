"""check_model on models that are not a plain list: layers as attributes, in a dict, nested,
residual, branching, tied; causes before symptoms; clear rows and errors for odd models."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import gradcheck.model_check
from gradcheck import check_model
from reference_nets import Sequential
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.zoo import mlp
from tests.gradcheck import model_forms as f
from tests.gradcheck import zoo_layers as z

RNG = np.random.default_rng(5)


def run(model, n_in=4, n_out=2, **options):
    x, y = RNG.normal(size=(6, n_in)), RNG.normal(size=(6, n_out))
    return check_model(model, z.MSE(), x, y, **options)


def failing(report, check=None):
    """``(layer, tensor, check)`` of the failing rows, in report order."""
    t = report.table
    t = t[(t.status == "fail") & ((t.check == check) if check else True)]
    return list(zip(t.layer, t.tensor, t.check, strict=True))


def layers(report) -> set[str]:
    return set(report.table.layer)


def test_layers_as_attributes_are_found_by_name_and_checked_locally_and_end_to_end():
    report = run(f.Attributes())
    assert report.passed, str(report)
    assert layers(report) == {"fc1:Linear", "act:Tanh", "fc2:Linear", "model:Attributes"}
    checks = set(zip(report.table.layer, report.table.tensor, report.table.check, strict=True))
    assert {("fc1:Linear", "W", "gradient"), ("fc1:Linear", "W", "end_to_end"),
            ("model:Attributes", "input", "end_to_end")} <= checks
    broken = run(f.Attributes(fc2=z.OneWrongRow))
    assert {layer for layer, _, _ in failing(broken, "gradient")} == {"fc2:OneWrongRow"}


def test_a_dict_of_named_layers_is_named_by_key():
    report = run(f.Named())
    assert report.passed, str(report)
    assert {"parts.enc:Linear", "parts.act:Tanh", "parts.dec:Linear"} <= layers(report)


def test_nested_blocks_are_named_by_path_and_checked_as_blocks_too():
    report = run(f.Nested(), n_in=3)
    assert report.passed, str(report)
    assert {"outer.fc:Linear", "outer.inner.fc1:Linear", "outer.inner.act:Tanh",
            "outer.inner:Residual", "outer:_Outer", "head:Linear"} <= layers(report)
    block = report.table.query("layer == 'outer.inner:Residual'")
    assert list(block.tensor) == ["input"]   # a block's own check: its dx (no own params)


def test_two_branches_added_or_concatenated():
    for merge in ("add", "cat"):
        report = run(f.Branches(merge))
        assert report.passed, (merge, str(report))
        broken = run(f.Branches(merge, a=z.MeanBias))
        assert failing(broken, "gradient") == [("a:MeanBias", "b", "gradient")]


def test_a_merge_layer_with_two_inputs_gets_a_row_per_input():
    report = run(f.Merged())
    assert report.passed, str(report)
    merge = report.table.query("layer == 'cat:Concat'")
    assert set(merge.tensor) == {"input0", "input1"}
    assert (merge.status == "pass").all()


def test_a_block_with_a_parameter_of_its_own_checks_it_locally_and_end_to_end():
    class Model(f.Attributes):
        def __init__(self):
            super().__init__()
            self.block = f.Scaled(5, seed=4)

        def forward(self, x):
            return self.fc2.forward(self.block.forward(self.act.forward(self.fc1.forward(x))))

        def backward(self, dy):
            return self.fc1.backward(self.act.backward(self.block.backward(
                self.fc2.backward(dy))))

    report = run(Model())
    assert report.passed, str(report)
    gamma = report.table.query("layer == 'block:Scaled'")
    assert set(zip(gamma.tensor, gamma.check, strict=True)) == {
        ("input", "gradient"), ("gamma", "gradient"), ("gamma", "end_to_end")}


def test_a_tied_layer_is_one_layer_checked_at_each_call():
    report = run(f.Tied(), n_out=4)
    assert report.passed, str(report)
    assert {"fc:Linear", "fc:Linear (call 2)"} <= layers(report)
    assert len(report.table.query("layer == 'fc:Linear' and check == 'end_to_end'")) == 2
    # the calls pass on their own; the model keeps only one call's share of the grads
    broken = run(f.TiedNotSummed(), n_out=4)
    assert failing(broken) == [("fc:Linear", "W", "end_to_end"), ("fc:Linear", "b", "end_to_end")]
    assert set(broken.table[broken.table.status == "fail"].cause_label) == {"composition"}


RESIDUAL_ORDER = ["stem", "blocks.0", "blocks.1", "blocks.2", "blocks.3", "head"]


def _position(label: str) -> int:
    """Forward order of the block (or stem/head) a row's layer belongs to (the model's
    input: -1)."""
    return max((i for i, p in enumerate(RESIDUAL_ORDER) if label.startswith(p)), default=-1)


@pytest.mark.parametrize("broken", [
    f.SkipForgotten,                                   # the block's own backward
    functools.partial(f.Residual, fc2=z.DoubleInputGrad),   # a layer inside the block
], ids=["skip_forgotten", "layer_inside"])
def test_residual_model_with_one_broken_block_names_it_first_and_alone(broken):
    report = run(f.resnet(broken=broken, at=2), n_in=3)
    rows = failing(report)
    local = failing(report, "gradient")
    assert rows[0] == local[0] and local[0][0].startswith("blocks.2")   # the cause first
    assert {layer.split(".")[0:2] == ["blocks", "2"] or layer.startswith("blocks.2:")
            for layer, _, _ in local} == {True}                    # alone among local rows
    symptoms = [row for row in rows if row[2] == "end_to_end"]
    assert symptoms, "the wrong dx corrupts the end-to-end gradients before block 2"
    assert rows.index(symptoms[0]) > rows.index(local[-1])          # symptoms after causes
    # only what lies before block 2 (or the block itself) can inherit its wrong dx
    assert max(_position(layer) for layer, _, _ in symptoms) <= RESIDUAL_ORDER.index("blocks.2")
    assert set(report.table[report.table.check == "end_to_end"]
               .query("status == 'fail'").cause_label) == {"symptom"}


def test_correct_residual_model_passes_and_checks_every_layer():
    model = f.resnet(n_blocks=3)
    report = run(model, n_in=3)
    assert report.passed, str(report)
    assert {f"blocks.{i}.{n}" for i in range(3) for n in ("fc1:Linear", "act:Tanh",
                                                           "fc2:Linear")} <= layers(report)
    assert {f"blocks.{i}:Residual" for i in range(3)} <= layers(report)


def test_sequential_residual_leaves_put_the_cause_before_the_symptoms():
    model = Sequential([z.Linear(3, 4, seed=1), f.ResidualLeaf(seed=2), f.ResidualLeaf(seed=3),
                        f.SkipForgottenLeaf(seed=4), f.ResidualLeaf(seed=5),
                        z.Linear(4, 2, seed=6)])
    report = run(model, n_in=3)
    rows = failing(report)
    assert failing(report, "gradient") == [("3:SkipForgottenLeaf", "input", "gradient")]
    assert rows[0] == ("3:SkipForgottenLeaf", "input", "gradient")
    assert {layer for layer, _, check in rows[1:]} <= {"0:Linear", "1:ResidualLeaf",
                                                        "2:ResidualLeaf"}
    assert {check for _, _, check in rows[1:]} == {"end_to_end"}


def test_a_plain_layers_list_takes_the_chain_path(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the general path ran for a sequential model")

    monkeypatch.setattr(gradcheck.model_check, "graph_rows", refuse)
    model = mlp((6, 5, 3), activation="tanh")
    report = check_model(model, SoftmaxCrossEntropy(), RNG.normal(size=(4, 6)),
                         RNG.integers(0, 3, 4))
    assert report.passed, str(report)
    assert layers(report) == {"0:Dense", "1:Tanh", "2:Dense"}


def test_the_same_layers_as_a_list_or_as_attributes_give_the_same_verdicts():
    chain = mlp((4, 5, 2), activation="tanh")

    class AsAttributes:
        def __init__(self, layers):
            self.first, self.act, self.last = layers

        def forward(self, x):
            return self.last.forward(self.act.forward(self.first.forward(x)))

        def backward(self, dy):
            return self.first.backward(self.act.backward(self.last.backward(dy)))

    x, y = RNG.normal(size=(6, 4)), RNG.integers(0, 2, 6)
    listed = check_model(chain, SoftmaxCrossEntropy(), x, y, mode="full").table
    named = check_model(AsAttributes(chain.layers), SoftmaxCrossEntropy(), x, y,
                        mode="full").table
    short = {"0:Dense": "first:Dense", "1:Tanh": "act:Tanh", "2:Dense": "last:Dense"}
    listed = listed.assign(layer=listed.layer.map(short)).set_index(["layer", "tensor", "check"])
    named = named.set_index(["layer", "tensor", "check"]).drop(
        ("model:AsAttributes", "input", "end_to_end"))
    assert sorted(listed.index) == sorted(named.index)
    assert (named.loc[listed.index].status == listed.status).all()
    assert np.allclose(named.loc[listed.index].analytic, listed.analytic, rtol=1e-9)


def test_a_model_with_no_layers_is_a_clear_error():
    class Empty:
        def forward(self, x):
            return x

        def backward(self, dy):
            return dy

    with pytest.raises(TypeError, match="found no layers in Empty"):
        run(Empty())


def test_a_layer_the_forward_never_calls_gets_a_vacuous_row():
    report = run(f.WithSpare())
    assert report.passed, str(report)
    spare = report.table.query("layer == 'spare:Linear'")
    assert list(zip(spare.status, spare.check, strict=True)) == [("vacuous", "not_checked")]
    assert "never called it" in spare.message.iloc[0]


def test_a_backward_that_does_not_reach_a_layer_is_named():
    report = run(f.Unreached())
    rows = failing(report)
    assert rows[0] == ("fc1:Linear", "dy", "backward_reach")
    assert "0 time(s) for 1 forward call(s)" in report.table.message.iloc[0]
    assert {("fc1:Linear", "W", "end_to_end"), ("fc1:Linear", "b", "end_to_end")} <= set(rows)
    assert not [r for r in rows if r[2] == "gradient"]   # every layer is right on its own


def test_a_random_layer_inside_a_block_is_named_and_end_to_end_is_skipped():
    class Noisy(f.Attributes):
        def __init__(self):
            super().__init__()
            self.act = z.RandomDropout()

    report = run(Noisy())
    assert failing(report) == [("act:RandomDropout", "output", "determinism")]
    assert "end_to_end" not in set(report.table.check)


def test_the_model_and_its_layers_are_left_as_found_also_when_forward_raises():
    model = f.resnet(n_blocks=2)
    units = [model, model.stem, model.head, *model.blocks,
             *[layer for b in model.blocks for layer in (b.fc1, b.act, b.fc2)]]
    arrays = {(id(u), k): v.copy() for u in units for k, v in getattr(u, "params", {}).items()}
    run(model, n_in=3)
    assert all(np.array_equal(p, arrays[(id(u), k)]) for u in units
               for k, p in getattr(u, "params", {}).items())
    assert not any({"forward", "backward"} & set(vars(u)) for u in units)

    class Failing(f.ResNet):
        def forward(self, x):
            raise FloatingPointError("boom")

    with pytest.raises(FloatingPointError):
        run(Failing(model.blocks), n_in=3)
    assert not any({"forward", "backward"} & set(vars(u)) for u in units)


def test_one_weight_array_in_two_layers_is_one_tensor_whose_gradient_is_their_sum():
    report = run(f.SharedWeight(), n_out=4)
    assert report.passed, str(report)
    e2e = report.table.query("check == 'end_to_end'")
    assert set(zip(e2e.layer, e2e.tensor, strict=True)) == {
        ("fc1:Linear", "W"), ("fc1:Linear", "b"), ("fc2:Linear", "b"),
        ("model:SharedWeight", "input")}
    viewed = run(f.SharedWeight(view=True), n_out=4)
    assert viewed.passed, str(viewed)
    rows = viewed.table.query("tensor == 'W' and check == 'end_to_end'")
    assert list(zip(rows.layer, rows.status, strict=True)) == [("fc1:Linear", "vacuous"),
                                                               ("fc2:Linear", "vacuous")]
    assert rows.message.str.contains("a view").all()


def test_a_stale_cache_inside_a_model_fails_at_the_second_point():
    model = f.Attributes(fc2=f.StaleTranspose)
    report = run(model)
    rows = report.table.query("status == 'fail'")
    assert set(zip(rows.layer, rows.tensor, rows.check, strict=True)) == {
        ("fc2:StaleTranspose", "input", "second_point")}
    assert "cached" in rows.message.iloc[0]
    assert not hasattr(model.fc2, "wt")   # the cache the check's calls made is gone
    assert run(f.Attributes(fc2=f.StaleTranspose), second_point=False).passed


def test_a_model_of_adapted_third_party_layers_is_named_by_path_and_adapter_name():
    from gradcheck import adapt
    from tests.gradcheck import thirdparty_lib as lib

    conventions = {"params": "parameters", "grads": "gradients", "accumulate": "zero_grad",
                   "forward": "__call__", "backward": "backprop"}

    class Model(f.Attributes):
        def __init__(self, bug):
            super().__init__()
            self.fc1 = adapt(lib.FC(4, 5, seed=1), name="FC", **conventions)
            self.fc2 = adapt(lib.FC(5, 2, bug=bug, seed=2), name="FC", **conventions)

    assert run(Model(bug=False)).passed
    report = run(Model(bug=True))
    assert {layer for layer, _, _ in failing(report, "gradient")} == {"fc2:FC"}
    listed = check_model(Sequential([Model(False).fc1, z.Tanh()]), z.MSE(),
                         RNG.normal(size=(6, 4)), RNG.normal(size=(6, 5)))
    assert {"0:FC", "1:Tanh"} == set(listed.table.layer)
