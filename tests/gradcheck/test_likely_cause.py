"""Likely cause: the bug zoo gets its expected causes, correct layers none, and every pattern is
claimed exactly when its decisive test holds (synthetic arrays)."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_layer
from gradcheck.causes import MAX_CAUSES, RERUN_KEYS, Evidence, likely_causes, rerun_evidence
from gradcheck.causes_case import num
from tests.gradcheck import bug_zoo_layers as z
from tests.gradcheck.bug_zoo import BUGS, CORRECT, evidence

RTOL = 1e-5


def labels(e: Evidence) -> list[str]:
    return [c.label for c in likely_causes(e)]


def synthetic(analytic, numeric, **context) -> Evidence:
    """Evidence with the default-like tolerance ``RTOL max|numeric|``."""
    tol = RTOL * np.abs(numeric).max()
    return Evidence("Layer", context.pop("tensor", "W"), analytic, numeric, tol, **context)


@pytest.fixture
def grad():
    return np.random.default_rng(0).normal(size=(5, 6))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(BUGS))
def test_zoo_bug_gets_its_expected_cause(name, seed):
    bug = BUGS[name]
    e = evidence(bug.make, bug.inputs(seed), bug.tensor, seed=seed)
    assert e.statuses[bug.tensor] == "fail", "the zoo bug must really break its tensor"
    found = likely_causes(e)
    assert len(found) <= MAX_CAUSES
    if bug.expected is None:
        assert found == []
    else:
        assert bug.expected in [c.label for c in found], found


@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_layer_passes_and_gets_no_cause(name):
    make, shape = CORRECT[name]
    x = np.random.default_rng(11).normal(size=shape)
    first = evidence(make, x, "input")
    for tensor in first.statuses:
        e = evidence(make, x, tensor)
        assert e.statuses[tensor] == "pass"
        assert likely_causes(e) == []
        healthy = {"passes_single_sample": True, "passes_eval_mode": True,
                   "repeat_calls_agree": True, "linear_in_dy": True, "follows_new_forward": True}
        assert {k: healthy[k] for k in e.reruns} == dict(e.reruns)


@pytest.mark.parametrize("factor, label", [(6.0, "mean_scale"), (1 / 6, "mean_scale"),
                                           (2.0, "scale"), (0.5, "scale"), (-1.0, "sign"),
                                           (1.7, "scale"), (-3.0, "sign"), (0.0, "zero")])
def test_constant_ratio_is_named(grad, factor, label):
    [cause] = likely_causes(synthetic(factor * grad, grad, batch_size=6))
    assert cause.label == label
    assert str(grad.size) in cause
    if factor:
        assert num(factor) in cause
    if label == "mean_scale":
        assert "batch size" in cause


@pytest.mark.parametrize("inverse", [False, True])
def test_a_ratio_equal_to_the_tensor_size_is_a_mean_over_all_elements(grad, inverse):
    factor = 1 / grad.size if inverse else grad.size
    [cause] = likely_causes(synthetic(factor * grad, grad, batch_size=len(grad)))
    words = (f"1/{grad.size}: divided by the number of elements" if inverse
             else f"{grad.size} is the number of elements")
    assert cause.label == "mean_scale" and words in cause


def test_a_ratio_that_is_not_constant_is_no_pattern(grad):
    noise = np.random.default_rng(1).uniform(-1e-3, 1e-3, grad.shape)
    assert labels(synthetic(6 * grad * (1 + noise), grad, batch_size=6)) == []


def test_batch_size_two_is_not_told_apart_from_a_factor_two(grad):
    [cause] = likely_causes(synthetic(2 * grad, grad, batch_size=2))
    assert cause.label == "scale" and "batch size" not in cause


def _rearranged():
    rng = np.random.default_rng(2)
    sq, mat = rng.normal(size=(4, 4)), rng.normal(size=(6, 4))
    cube, kernel = rng.normal(size=(3, 3, 2)), rng.normal(size=(2, 3, 3, 3))
    return [("transposed", sq, sq.T), ("axes 0 and 1 swapped", cube, cube.swapaxes(0, 1)),
            ("last two axes", kernel, kernel[..., ::-1, ::-1]),
            ("reversed along axis 0", mat, mat[::-1]),
            ("shifted by 1 along axis 1", mat, np.roll(mat, 1, 1)),
            ("order='F'", mat, mat.ravel("F").reshape(mat.shape)),
            ("without the transpose back", kernel, kernel.reshape(2, -1).T.reshape(kernel.shape))]


@pytest.mark.parametrize("words, numeric, analytic", _rearranged())
def test_rearranged_values_are_a_layout_bug(words, numeric, analytic):
    [cause] = likely_causes(synthetic(analytic, numeric))
    assert cause.label == "layout" and words in cause


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("where", [0, -1])
@pytest.mark.parametrize("factor", [3.0, 0.0])
def test_one_wrong_slice_is_located(axis, where, factor):
    numeric = np.random.default_rng(3).normal(size=(4, 5, 6))
    analytic = numeric.copy()
    index = [slice(None)] * 3
    index[axis] = where
    analytic[tuple(index)] *= factor
    [cause] = likely_causes(synthetic(analytic, numeric))
    k = range(numeric.shape[axis])[where]
    assert cause.label == "one_slice"
    assert f"axis {axis} index {k}" in cause and f"= {num(factor)} x numeric" in cause
    # an off-by-one drops the edge slice; a slice merely scaled there is not one
    edge = "the last index" if where == -1 else "the first index"
    assert (edge in cause) == (factor == 0.0)


def test_one_wrong_element_inside_is_not_an_off_by_one(grad):
    analytic = grad.copy()
    analytic[2, 3] = 0.0
    [cause] = likely_causes(synthetic(analytic, grad))
    assert cause.label == "one_slice" and "W[2, 3]" in cause and "off-by-one" not in cause


def test_a_factor_per_column_is_a_slice_scale(grad):
    factors = np.random.default_rng(4).uniform(0.5, 1.5, grad.shape[1])
    [cause] = likely_causes(synthetic(grad * factors, grad))
    assert cause.label == "slice_scale" and "column" in cause
    assert all(num(f) in cause for f in factors)


def test_overwritten_repeats_are_found():
    rng = np.random.default_rng(5)
    ids, dy = rng.integers(0, 6, 10), rng.normal(size=(10, 3))
    numeric, analytic = np.zeros((6, 3)), np.zeros((6, 3))
    np.add.at(numeric, ids, dy)
    analytic[ids] = dy
    [cause] = likely_causes(synthetic(analytic, numeric, upstream=dy))
    assert cause.label == "overwrite" and "np.add.at" in cause
    analytic[analytic != numeric] += 0.1   # no longer upstream values
    assert "overwrite" not in labels(synthetic(analytic, numeric, upstream=dy))


@pytest.mark.parametrize("c, words", [(-1.0, "missing"), (1.0, "twice"), (0.3, "wrong weight")])
def test_an_extra_dy_term_is_a_skip_bug(grad, c, words):
    dy = np.random.default_rng(6).normal(size=grad.shape)
    [cause] = likely_causes(synthetic(grad + c * dy, grad, upstream=dy, tensor="input"))
    assert cause.label == "dy_term" and words in cause and num(c) in cause


def test_an_extra_value_term_is_weight_decay(grad):
    w = np.random.default_rng(7).normal(size=grad.shape)
    [cause] = likely_causes(synthetic(grad - 0.02 * w, grad, value=w))
    assert cause.label == "value_term" and num(-0.02) in cause


@pytest.mark.parametrize("sign", [1, -1])
def test_a_small_one_signed_error_is_a_different_formula(grad, sign):
    rel = np.random.default_rng(8).uniform(1e-4, 1e-3, grad.shape)
    [cause] = likely_causes(synthetic(grad * (1 + sign * rel), grad))
    assert cause.label == "small_bias" and ("larger" if sign > 0 else "smaller") in cause
    mixed = rel * np.where(np.arange(grad.size).reshape(grad.shape) % 2, 1, -1)
    assert labels(synthetic(grad * (1 + mixed), grad)) == []


@pytest.mark.parametrize("key, outcome, label",
                         [("repeat_calls_agree", False, "accumulation"),
                          ("linear_in_dy", False, "nonlinear"),
                          ("follows_new_forward", False, "ignores_forward"),
                          ("passes_single_sample", True, "batch_leak"),
                          ("passes_eval_mode", True, "training_only")])
def test_rerun_outcomes_become_causes(grad, key, outcome, label):
    scrambled = np.random.default_rng(9).permutation(grad.ravel()).reshape(grad.shape)
    assert labels(synthetic(scrambled, grad, reruns={key: outcome})) == [label]
    assert labels(synthetic(scrambled, grad, reruns={key: not outcome})) == []
    assert key in RERUN_KEYS


def test_a_pattern_that_explains_a_rerun_replaces_it(grad):
    single = {"passes_single_sample": True}
    assert labels(synthetic(6 * grad, grad, batch_size=6, reruns=single)) == ["mean_scale"]
    assert labels(synthetic(2 * grad, grad, batch_size=6, reruns=single)) == ["scale",
                                                                             "batch_leak"]
    w = np.random.default_rng(7).normal(size=grad.shape)
    affine = {"linear_in_dy": False}
    assert labels(synthetic(grad + 0.1 * w, grad, value=w, reruns=affine)) == ["value_term"]


def test_never_more_than_two_causes(grad):
    everything = {"repeat_calls_agree": False, "follows_new_forward": False,
                  "passes_eval_mode": True}
    assert len(likely_causes(synthetic(2 * grad, grad, reruns=everything))) == MAX_CAUSES


def test_a_non_finite_analytic_value_is_named_and_a_non_finite_numeric_gets_nothing(grad):
    analytic = grad.copy()
    analytic[1, 2] = np.nan
    [cause] = likely_causes(synthetic(analytic, grad))
    assert cause.label == "non_finite" and "(1, 2)" in cause
    numeric = grad.copy()
    numeric[0, 0] = np.inf
    assert likely_causes(Evidence("L", "W", 2 * grad, numeric, 1e-5)) == []


def test_zero_dimensional_tensors_are_analysed():
    assert labels(synthetic(np.float64(-3.0), np.float64(1.5))) == []   # one element: no ratio
    assert labels(synthetic(np.float64(np.nan), np.float64(1.5))) == ["non_finite"]


def test_no_cause_on_passing_or_nondifferentiable_tensors(grad):
    flagged = {"repeat_calls_agree": False}
    assert likely_causes(synthetic(grad * (1 + 1e-7), grad, reruns=flagged)) == []
    kink = {"W": "nondifferentiable"}
    assert likely_causes(synthetic(6 * grad, grad, statuses=kink, reruns=flagged)) == []


@pytest.mark.parametrize("failing, passing, words", [(("Wq", "Wk"), ("Wv",), "score path"),
                                                      (("Wv",), ("Wq", "Wk"), "value path"),
                                                      (("U", "input"), ("W", "b"), "only the")])
def test_statuses_give_a_path_hint(grad, failing, passing, words):
    scrambled = np.random.default_rng(9).permutation(grad.ravel()).reshape(grad.shape)
    statuses = {**dict.fromkeys(failing, "fail"), **dict.fromkeys(passing, "pass")}
    [cause] = likely_causes(synthetic(scrambled, grad, tensor=failing[0], statuses=statuses))
    assert cause.label == "path" and words in cause


class _Uncopyable(z.Dense):
    def __deepcopy__(self, memo):
        raise TypeError("cannot copy")


class _NeedsTwo(z.Dense):
    def forward(self, x):
        if len(x) < 2:
            raise ValueError("needs two samples")
        return super().forward(x)


def test_reruns_that_cannot_run_leave_their_keys_out():
    x = np.random.default_rng(0).normal(size=(5, 4))

    def check(*_):
        raise AssertionError("never called")

    assert rerun_evidence(_Uncopyable(), x, check, "W") == {}
    assert rerun_evidence(z.Dense(), (x, x), check, "W") == {}
    assert "passes_single_sample" not in rerun_evidence(_NeedsTwo(), x, check, "W")


def test_reruns_leave_the_layer_untouched():
    layer, x = z.Dense(), np.random.default_rng(0).normal(size=(5, 4))
    before = {k: v.copy() for k, v in {**layer.params, **layer.grads}.items()}
    rerun_evidence(layer, x, check_layer, "W")
    after = {**layer.params, **layer.grads}
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert not hasattr(layer, "x")
