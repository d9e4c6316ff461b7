"""check_layer with several inputs and outputs, integer inputs, buffers and nested state."""

import numpy as np
import pytest

from gradcheck import check_layer
from tests.gradcheck import inputs_layers as il

RNG = np.random.default_rng(0)
A, B = RNG.standard_normal((5, 3)), RNG.standard_normal((5, 4))


def _rows(report):
    return {r["tensor"]: r for r in report.rows}


def test_two_inputs_are_checked_each_under_its_own_name():
    report = check_layer(il.Bilinear(), A, B)
    assert report.passed, str(report)
    assert [r["tensor"] for r in report.rows if r["check"] == "gradient"] == \
        ["input0", "input1", "W"]


def test_a_bug_in_the_second_input_alone_fails_that_input_and_names_its_element():
    report = check_layer(il.Bilinear(bug="db"), A, B)
    rows = _rows(report)
    assert rows["input1"]["status"] == "fail"
    assert rows["input0"]["status"] == rows["W"]["status"] == "pass"
    worst = tuple(int(i) for i in rows["input1"]["worst_index"].strip("()").split(","))
    slope = np.abs(A @ il.Bilinear().params["W"])     # db = dy * h: the worst error sits
    assert slope[worst] > 0                           # where |h| is large, inside B's shape
    assert len(worst) == 2 and all(0 <= i < n for i, n in zip(worst, B.shape, strict=True))
    assert "1.001" in rows["input1"]["likely_cause"]


def test_keyword_inputs_are_passed_by_name_and_rows_named_after_them():
    q, k, v = (RNG.standard_normal((4, 3)) for _ in range(3))
    report = check_layer(il.KeywordAttention(), {"q": q, "k": k, "v": v})
    assert report.passed, str(report)
    assert {r["tensor"] for r in report.rows} == {"q", "k", "v"}


def test_integer_ids_are_constants_and_the_embedding_is_checked():
    ids = np.array([1, 3, 3, 9, 0])
    rows = _rows(check_layer(il.Embedding(), ids))
    assert rows["E"]["status"] == "pass"
    assert rows["input"]["status"] == "constant"
    assert "int64 input: a constant" in rows["input"]["message"]


def test_a_wrong_embedding_gradient_is_caught_with_integer_ids():
    ids = np.array([1, 3, 3, 9, 0])
    report = check_layer(il.Embedding(bug=True), ids)
    assert _rows(report)["E"]["status"] == "fail"
    assert not report.passed


def test_a_boolean_mask_beside_a_float_input_is_a_constant_and_backward_may_return_none():
    x = RNG.standard_normal((6, 3))
    mask = RNG.random((6, 3)) > 0.3
    rows = _rows(check_layer(il.MaskedScale(), x, mask))
    assert rows["input0"]["status"] == rows["s"]["status"] == "pass"
    assert rows["input1"]["status"] == "constant" and "bool" in rows["input1"]["message"]


def test_several_outputs_get_one_upstream_gradient_each():
    x = RNG.standard_normal((4, 5))
    assert check_layer(il.SquareAndSine(), x).passed
    report = check_layer(il.SquareAndSine(bug=True), x)
    assert _rows(report)["input"]["status"] == "fail"


@pytest.mark.parametrize(("bug", "said"), [
    ("count", "backward returned 1 values for 2 inputs: return one dx per input"),
    ("one", "backward returned one array for 2 inputs"),
])
def test_a_backward_that_does_not_return_one_dx_per_input_is_told_how(bug, said):
    report = check_layer(il.Bilinear(bug=bug), A, B)
    problems = [r for r in report.rows if r["check"] == "missing_grad"]
    assert problems and all(said in r["message"] for r in problems), str(report)


def test_a_forward_that_writes_into_an_input_is_named_and_the_callers_arrays_are_kept():
    a, b = RNG.standard_normal((3, 2)), RNG.standard_normal((3, 2))
    a0, b0 = a.copy(), b.copy()
    report = check_layer(il.ScalesItsInput(), a, b)
    mutation = [r for r in report.rows if r["check"] == "mutation"]
    assert [r["tensor"] for r in mutation] == ["input1"]
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


def test_a_tuple_as_the_one_input_is_refused_with_both_remedies():
    with pytest.raises(TypeError, match=r"check_layer\(layer, a, b\).*packed_inputs=True"):
        check_layer(il.Bilinear(), (A, B))


def test_no_input_at_all_is_a_clear_error():
    with pytest.raises(TypeError, match="give the layer's input"):
        check_layer(il.Bilinear())


def test_buffers_are_constant_rows_and_all_nested_state_is_restored_bit_for_bit():
    layer = il.RunningNorm()
    x = RNG.standard_normal((8, 3))
    layer.forward(x[:4])                       # some state before the check
    cache, history, buffers = layer.cache, layer.cache.history, layer.buffers
    saved = (layer.buffers["mean"].copy(), layer.buffers["var"].copy(),
             layer.params["steps"].copy(), layer.cache.x.copy(), [h.copy() for h in history])
    report = check_layer(layer, x)
    rows = _rows(report)
    assert rows["gamma"]["status"] == rows["input"]["status"] == "pass", str(report)
    assert {rows[k]["status"] for k in ("mean", "var", "steps")} == {"constant"}
    assert layer.cache is cache and layer.cache.history is history and layer.buffers is buffers
    now = (layer.buffers["mean"], layer.buffers["var"], layer.params["steps"], layer.cache.x,
           layer.cache.history)
    assert all(np.array_equal(a, b) for a, b in zip(now[:4], saved[:4], strict=True))
    assert len(now[4]) == len(saved[4])
    assert all(np.array_equal(a, b) for a, b in zip(now[4], saved[4], strict=True))


def test_live_objects_a_layer_holds_are_left_alone():
    import logging
    import threading

    layer = il.Bilinear()
    layer.log, layer.lock = logging.getLogger("gradkit-test-layer"), threading.Lock()
    handlers = list(layer.log.handlers)
    assert check_layer(layer, A, B).passed
    assert layer.log is logging.getLogger("gradkit-test-layer")
    assert layer.log.handlers == handlers and not layer.lock.locked()


class _DrawsFromNumpysGlobalRandom:
    """A correct scaling layer whose forward also draws from numpy's global generator, with
    ``draw`` (a uniform, one Gaussian, or nothing)."""

    def __init__(self, draw):
        self.draw, self.params, self.grads = draw, {"w": np.array([1.5, -0.5, 2.0])}, {}

    def forward(self, x):
        self.draw()
        self.x = x.copy()
        return x * self.params["w"]

    def backward(self, dy):
        self.grads["w"] = (dy * self.x).sum(axis=0)
        return dy * self.params["w"]


@pytest.mark.parametrize("draw", [lambda: None, lambda: np.random.rand(),  # noqa: NPY002
                                  lambda: np.random.randn()])  # noqa: NPY002
@pytest.mark.parametrize("cached_gaussian", [False, True])
def test_numpys_global_random_state_is_left_exactly_as_found(draw, cached_gaussian):
    np.random.seed(7)  # noqa: NPY002
    if cached_gaussian:
        np.random.randn()  # noqa: NPY002  (draws a pair: one Gaussian stays cached)
    state = np.random.get_state()  # noqa: NPY002
    assert state[3] == int(cached_gaussian)
    check_layer(_DrawsFromNumpysGlobalRandom(draw), RNG.standard_normal((4, 3)))
    after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(after[1], state[1]) and after[2:] == state[2:]
