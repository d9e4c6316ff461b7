"""A third-party-style layer library checked with at most a few lines of glue per class."""

import copy

import numpy as np
import pytest

from gradcheck import adapt, check_layer
from tests.gradcheck import thirdparty_lib as lib

RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 4))
IDS = np.array([0, 3, 3, 7, 9, 3])

# The whole glue: the library's conventions once, then at most two lines per class.
CONVENTIONS = {"params": "parameters", "grads": "gradients", "accumulate": "zero_grad",
               "forward": "__call__", "backward": "backprop"}
GLUE = {
    "FC": lambda bug: (adapt(lib.FC(4, 3, bug=bug), name="FC1", **CONVENTIONS), X),
    "LazyFC": lambda bug: (adapt(lib.LazyFC(3, bug=bug), lazy=True, **CONVENTIONS), X),
    "Concat2": lambda bug: (adapt(lib.Concat2(4, bug=bug), packed_inputs=True,
                                  **CONVENTIONS), X, X[:, ::-1] ** 2),
    "Lookup": lambda bug: (adapt(lib.Lookup(10, 4, bug=bug), **CONVENTIONS), IDS),
    "BatchNorm": lambda bug: (adapt(lib.BatchNorm(4, bug=bug), **CONVENTIONS,
                                    buffers=["running_mean", "running_var"]), X),
    "NoisyScale": lambda bug: (adapt(lib.NoisyScale(4, bug=bug), seed=0, **CONVENTIONS), X),
}
WRONG = {"FC": "weight", "LazyFC": "bias", "Concat2": "input1", "Lookup": "table",
         "BatchNorm": "input", "NoisyScale": "s"}


@pytest.mark.parametrize("name", sorted(GLUE))
def test_every_correct_layer_of_the_library_passes(name):
    layer, *inputs = GLUE[name](False)
    report = check_layer(layer, *inputs)
    assert report.passed, str(report)
    assert not [r for r in report.rows if r["status"] == "vacuous"], str(report)


@pytest.mark.parametrize("name", sorted(GLUE))
def test_every_buggy_layer_fails_on_the_tensor_its_bug_is_in(name):
    layer, *inputs = GLUE[name](True)
    report = check_layer(layer, *inputs)
    failing = {r["tensor"] for r in report.rows if r["status"] == "fail"}
    assert failing == {WRONG[name]}, f"{lib.BUGS[name]}\n{report}"


@pytest.mark.parametrize("name", sorted(GLUE))
def test_the_library_layers_are_left_exactly_as_found(name):
    layer, *inputs = GLUE[name](False)
    layer.forward(*inputs)                     # state of an earlier call, to be kept
    before = copy.deepcopy(vars(layer.layer))
    state = np.random.get_state()  # noqa: NPY002
    check_layer(layer, *inputs)
    after = vars(layer.layer)
    assert set(after) == set(before)
    for key, value in before.items():
        if isinstance(value, dict):
            assert value.keys() == after[key].keys()
            assert all(np.array_equal(value[k], after[key][k]) for k in value), key
        elif isinstance(value, np.ndarray):
            assert np.array_equal(value, after[key]), key
    assert all(np.array_equal(a, b) for a, b in
               zip(state[1:3], np.random.get_state()[1:3], strict=True))  # noqa: NPY002


def test_rows_carry_the_adapters_name_and_buffers_are_constant_rows():
    layer, x = GLUE["BatchNorm"](False)
    rows = {r["tensor"]: r for r in check_layer(layer, x).rows}
    assert rows["running_mean"]["status"] == rows["running_var"]["status"] == "constant"
    assert {r["layer"] for r in check_layer(*GLUE["FC"](False)).rows} == {"FC1"}


def test_without_the_adapter_the_conventions_get_clear_errors():
    with pytest.raises(TypeError, match="layer protocol"):
        check_layer(lib.FC(4, 3), X)
    with pytest.raises(TypeError, match="no method 'forward'"):
        adapt(lib.FC(4, 3), params="parameters")


def test_accumulating_gradients_without_zeroing_are_reported_as_accumulation():
    layer = adapt(lib.FC(4, 3), **{**CONVENTIONS, "accumulate": False})
    rows = check_layer(layer, X).rows
    assert {r["check"] for r in rows if r["status"] == "fail"} == {"accumulation"}
    assert any("adapt(layer, accumulate=True)" in r["message"] for r in rows)


def test_a_layer_drawing_from_the_global_random_state_needs_the_seed_option():
    layer = adapt(lib.NoisyScale(4), **CONVENTIONS)
    rows = check_layer(layer, X).rows
    assert [r["check"] for r in rows if r["status"] == "fail"] == ["determinism"]
