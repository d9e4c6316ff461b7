"""``Loss.forward_each``: the losses of stacked predictions in one call, each exactly what
``forward`` gives for it, nothing kept for ``backward``, clear errors for bad stacks."""

from __future__ import annotations

import numpy as np
import pytest

from reference_nets.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy

RNG = np.random.default_rng(4)
N, C = 33, 7


def _cases(dtype):
    labels = RNG.integers(0, C, N)
    return [(SoftmaxCrossEntropy(), labels), (SoftmaxCrossEntropy(), np.eye(C)[labels]),
            (SoftmaxCrossEntropy(), labels.astype(float)), (MSE(), RNG.normal(size=(N, C))),
            (BinaryCrossEntropy(), RNG.integers(0, 2, (N, C)).astype(dtype))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", range(5))
def test_forward_each_is_forward_of_each_prediction_exactly(dtype, case):
    loss, target = _cases(dtype)[case]
    preds = (RNG.normal(size=(5, N, C)) * 4).astype(dtype)
    each = loss.forward_each(preds, target)
    # the same arithmetic on a stacked axis: equal to the last bit, not just close
    assert each.shape == (5,)
    assert each.tolist() == [loss.forward(p, target) for p in preds]


def test_forward_each_keeps_nothing_for_backward():
    loss, labels = SoftmaxCrossEntropy(), RNG.integers(0, C, N)
    pred = RNG.normal(size=(N, C))
    loss.forward(pred, labels)
    grad = loss.backward()
    loss.forward_each(RNG.normal(size=(3, N, C)), labels)
    np.testing.assert_array_equal(loss.backward(), grad)


@pytest.mark.parametrize(("loss", "preds", "target", "match"), [
    (SoftmaxCrossEntropy(), np.zeros((4, 3)), np.zeros(4, int),
     r"SoftmaxCrossEntropy.forward_each: preds must have shape \(K, N, C\), got shape \(4, 3\)"),
    (MSE(), np.zeros((0, 4, 3)), np.zeros((4, 3)),
     r"MSE.forward_each: preds must stack at least one prediction .* got shape \(0, 4, 3\)"),
    (MSE(), np.zeros((2, 0, 3)), np.zeros((0, 3)), r"MSE.forward_each: preds is empty"),
    (MSE(), np.zeros((2, 4, 3)), np.zeros((4, 2)),
     r"MSE: target has shape \(4, 2\), expected \(4, 3\)"),
    (SoftmaxCrossEntropy(), np.zeros((2, 4, 3)), np.array([0, 1, 2, 3]),
     r"target holds labels in \[0, 3\], expected labels in \[0, 2\]"),
])
def test_forward_each_rejects_bad_stacks_clearly(loss, preds, target, match):
    with pytest.raises(ValueError, match=match):
        loss.forward_each(preds, target)


def test_forward_each_rejects_non_numeric_predictions():
    with pytest.raises(TypeError, match=r"MSE.forward_each: preds must be a numeric"):
        MSE().forward_each(np.array([[["x"]]]), np.zeros((1, 1)))
