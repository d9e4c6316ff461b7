"""check_model of a model fed integer token ids (an embedding first): the ids are a constant
input, the model's parameters are checked as usual."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_model
from reference_nets import Dense, Flatten, Sequential, Tanh
from reference_nets.losses import SoftmaxCrossEntropy


class Embedding:
    """Rows of a table by token id; no gradient for the ids (backward returns None)."""

    def __init__(self, vocabulary: int, width: int, seed: int = 0):
        self.params = {"E": np.random.default_rng(seed).normal(size=(vocabulary, width))}
        self.grads = {"E": np.zeros((vocabulary, width))}

    def forward(self, ids):
        self.ids = ids
        return self.params["E"][ids]

    def backward(self, dy):
        grad = np.zeros_like(self.params["E"])
        self.accumulate(grad, dy)
        self.grads["E"] = grad
        return None

    def accumulate(self, grad, dy):
        np.add.at(grad, self.ids, dy)


class RepeatedIdsOverwritten(Embedding):
    """The classic bug: ``grad[ids] += dy`` keeps one of the rows of a repeated id."""

    def accumulate(self, grad, dy):
        grad[self.ids] += dy


def model_and_data(layer_class, seed: int):
    rng = np.random.default_rng(seed)
    model = Sequential([layer_class(7, 5, seed=seed), Flatten(), Tanh(),
                        Dense(15, 3, seed=seed)])
    return model, rng.integers(0, 7, size=(6, 3)), rng.integers(0, 3, size=6)


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
@pytest.mark.parametrize("seed", range(3))
def test_a_correct_embedding_model_passes_with_its_ids_constant(seed, dtype):
    model, ids, y = model_and_data(Embedding, seed)
    report = check_model(model, SoftmaxCrossEntropy(), ids.astype(dtype), y)
    assert report.passed
    table = report.table
    first = table[table.layer == "0:Embedding"]
    assert first[first.tensor == "input"].status.tolist() == ["constant"]
    assert set(first[first.tensor == "E"].status) == {"pass"}
    assert set(table[table.layer == "3:Dense"].status) == {"pass"}


@pytest.mark.parametrize("seed", range(3))
def test_repeated_ids_overwritten_in_the_embedding_s_gradient_fail(seed):
    model, ids, y = model_and_data(RepeatedIdsOverwritten, seed)
    ids[1, 0] = ids[0, 0]   # a repeated id
    report = check_model(model, SoftmaxCrossEntropy(), ids, y)
    failing = report.table[report.table.status == "fail"]
    assert ("0:RepeatedIdsOverwritten", "E") in set(zip(failing.layer, failing.tensor,
                                                        strict=True))


def test_the_ids_are_never_changed():
    model, ids, y = model_and_data(Embedding, 0)
    given = ids.copy()
    check_model(model, SoftmaxCrossEntropy(), ids, y)
    np.testing.assert_array_equal(ids, given)


def test_a_float_model_input_still_needs_finite_values():
    model = Sequential([Dense(3, 2, seed=0)])
    with pytest.raises(ValueError, match="x must be finite"):
        check_model(model, SoftmaxCrossEntropy(), np.array([[np.nan, 0.0, 1.0]]), [0])


class MeanOfEmbeddings:
    """Not a chain: the embeddings of each row's ids averaged, then tanh and a Dense."""

    def __init__(self, layer_class):
        self.emb, self.act, self.fc = layer_class(7, 5), Tanh(), Dense(5, 3, seed=1)

    def forward(self, ids):
        return self.fc.forward(self.act.forward(self.emb.forward(ids).mean(1)))

    def backward(self, dy):
        g = self.act.backward(self.fc.backward(dy))
        self.emb.backward(np.repeat(g[:, None, :], 3, 1) / 3)


def test_a_model_that_is_not_a_chain_takes_ids_too():
    rng = np.random.default_rng(0)
    ids, y = rng.integers(0, 7, (6, 3)), rng.integers(0, 3, 6)
    ids[1, 0] = ids[0, 0]
    good = check_model(MeanOfEmbeddings(Embedding), SoftmaxCrossEntropy(), ids, y)
    assert good.passed
    assert "constant" in set(good.table[good.table.tensor == "input"].status)
    bad = check_model(MeanOfEmbeddings(RepeatedIdsOverwritten), SoftmaxCrossEntropy(), ids, y)
    failing = bad.table[bad.table.status == "fail"]
    assert "emb:RepeatedIdsOverwritten" in set(failing.layer)
