"""GradcheckReport (table, str, raise, round trip) and clear errors for bad input."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from gradcheck import GradcheckError, GradcheckReport, check_layer, check_model
from gradcheck.report import COLUMNS
from reference_nets import Sequential
from reference_nets.losses import SoftmaxCrossEntropy
from tests.gradcheck import zoo_layers as z

X = np.random.default_rng(4).normal(size=(5, 4))


@pytest.fixture(scope="module")
def failed() -> GradcheckReport:
    return check_layer(z.OneWrongRow(), X, mode="full")


def test_table_has_the_contract_columns_first(failed):
    contract = ["layer", "tensor", "shape", "checked", "max_abs_err", "max_rel_err",
                "worst_index", "analytic", "numeric", "status", "message"]
    assert list(failed.table.columns[:len(contract)]) == contract
    assert list(failed.table.columns) == list(COLUMNS)
    assert set(failed.options) == {"mode", "method", "eps", "atol", "rtol", "dtype", "seed",
                                   "second_point"}
    assert failed.seconds > 0
    assert (failed.n_failed, failed.n_nondifferentiable) == (1, 0)


def test_str_lists_failing_tensors_first_with_the_numbers(failed):
    text = str(failed)
    lines = text.splitlines()
    assert lines[0].startswith("gradcheck FAILED: 1 of 3 rows fail")
    assert lines[2].split()[:4] == ["OneWrongRow", "W", "gradient", "fail"]
    row = failed.table.query("status == 'fail'").iloc[0]
    assert row.worst_index in lines[2]
    assert f"{row.tolerance:.4g}" in lines[2]
    assert "analytic" in lines[1] and "tolerance" in lines[1]
    assert "disagree" in text
    assert all(line == line.rstrip() for line in lines)


def test_the_text_table_has_no_trailing_spaces_when_its_last_column_is_padded(failed):
    from gradcheck.report import _format_rows

    rows = [dict(r) for r in failed.rows]
    rows[0]["tolerance"] = 1.0   # "1": shorter than the header and the other rows
    lines = _format_rows(rows)
    assert len({len(line) for line in lines}) > 1
    assert all(line == line.rstrip() for line in lines)
    assert any(line.endswith(" 1") for line in lines)


def test_raise_for_failure(failed):
    with pytest.raises(GradcheckError) as info:
        failed.raise_for_failure()
    assert isinstance(info.value, AssertionError)
    assert info.value.report is failed
    assert "OneWrongRow" in str(info.value)
    ok = check_layer(z.Linear(), X)
    assert ok.raise_for_failure() is ok
    assert str(ok).startswith("gradcheck PASSED")


def test_to_dict_from_dict_round_trip_through_json(failed):
    again = GradcheckReport.from_dict(json.loads(json.dumps(failed.to_dict())))
    pd.testing.assert_frame_equal(again.table, failed.table)
    assert again.options == failed.options
    assert again.seconds == failed.seconds
    assert str(again) == str(failed)


def test_float32_warning_is_issued_once_per_check():
    layer = z.Linear(dtype=np.float32)
    with pytest.warns(UserWarning, match="float32") as record:
        check_layer(layer, X.astype(np.float32))
    assert len([w for w in record if "float32" in str(w.message)]) == 1


class NotALayer:
    def forward(self, x):
        return x


class ListParams(z.Linear):
    def __init__(self):
        super().__init__()
        self.params["b"] = [0.0, 0.0, 0.0]


@pytest.mark.parametrize(("layer", "x", "error", "match"), [
    (NotALayer(), X, TypeError, "layer protocol.*params"),
    (42, X, TypeError, "layer protocol"),
    (ListParams(), X, TypeError, r"layer.params\['b'\] must be a numpy array, got list"),
    (z.Linear(), np.where(X > 1, np.nan, X), ValueError, "NaN"),
    (z.Linear(), np.where(X > 1, np.inf, X), ValueError, "Inf"),
    (z.Linear(), np.ones((5, 4), dtype="U1"), TypeError, "float array.*U1"),
    (z.Linear(), np.ones((0, 4)), ValueError, "non-empty batch"),
    (z.Linear(), "abc", TypeError, "float array"),
])
def test_bad_input_is_named(layer, x, error, match):
    with pytest.raises(error, match=match):
        check_layer(layer, x)


@pytest.mark.parametrize(("option", "value", "match"), [
    ("mode", "everything", "mode must be one of"),
    ("method", "backward", "method must be one of"),
    ("eps", -1.0, "eps must be a positive"),
    ("rtol", -1.0, "rtol must be a number >= 0"),
])
def test_bad_options_are_named(option, value, match):
    with pytest.raises(ValueError, match=match):
        check_layer(z.Linear(), X, **{option: value})


def test_bad_model_and_loss_input_is_named():
    model = Sequential([z.Linear(4, 2)])
    with pytest.raises(TypeError, match=r"model must offer \.layers"):
        check_model(z.Linear(), z.MSE(), X, np.zeros((5, 2)))
    with pytest.raises(TypeError, match="loss must offer"):
        check_model(model, object(), X, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="y has 3 rows but x has 5"):
        check_model(model, z.MSE(), X, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="rejected the targets"):
        check_model(model, z.MSE(), X, np.zeros((5, 3)))
    with pytest.raises(TypeError, match=r"model.layers\[0\]"):
        not_a_model = SimpleNamespace(layers=[NotALayer()], forward=None, backward=print)
        check_model(not_a_model, z.MSE(), X, np.zeros((5, 4)))


def test_to_dict_is_strict_json_even_with_protocol_rows_and_infinities():
    checked = check_layer(z.Accumulating(), X)
    assert checked.table["max_abs_err"].isna().any()   # the accumulation row has no numbers
    rows = [dict(row) for row in checked.rows]
    rows[-1]["analytic"] = -np.inf
    report = GradcheckReport(rows, checked.options, checked.seconds)
    text = json.dumps(report.to_dict(), allow_nan=False)   # raises on NaN/Infinity
    again = GradcheckReport.from_dict(json.loads(text))
    pd.testing.assert_frame_equal(again.table, report.table)


class _DirectionOff(z.Linear):
    """Bug: dW 1e-6 too large, relative."""

    def weight_grad(self, dy):
        return (1 + 1e-6) * super().weight_grad(dy)


def test_a_failing_direction_is_counted_as_a_direction_and_shows_the_differing_digits():
    # the end-to-end verdict of a large tensor is its random direction's (elements are
    # located on the local objective only)
    rng = np.random.default_rng(5)
    model = Sequential([_DirectionOff(64, 32, seed=1), z.Tanh(), z.Linear(32, 3, seed=2)])
    report = check_model(model, SoftmaxCrossEntropy(), rng.normal(size=(8, 64)),
                         rng.integers(0, 3, 8), likely_cause=False)
    rows = report.table.query("tensor == 'W' and status == 'fail'").set_index("check")
    along = rows.loc["end_to_end", "message"]
    assert "checked values" not in along and "random direction" in along, along
    for message in rows.message:   # 6 digits would show one number twice
        analytic, numeric = message.split("analytic ")[1].split(" vs numeric ")
        assert float(analytic) != float(numeric), message


class _GradIsNone(z.Linear):
    """Bug: backward sets grads['W'] to None."""

    def backward(self, dy):
        self.grads = {"W": None, "b": dy.sum(axis=0)}
        return self.input_grad(dy)


def test_a_grad_set_to_none_is_named_in_a_layer_and_in_a_model():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4))
    rows = [check_layer(_GradIsNone(4, 3), x).table,
            check_model(Sequential([z.Linear(4, 4), _GradIsNone(4, 3)]), SoftmaxCrossEntropy(),
                        x, rng.integers(0, 3, 6)).table]
    for table in rows:
        row = table.query("check == 'missing_grad'").iloc[0]
        assert row.tensor == "W" and "holds None for 'W'" in row.message, str(table)


class _AllZero(z.Linear):
    """Correct, and seen only as zeros: x is 0 and so is W, with no bias."""

    def __init__(self):
        super().__init__(4, 3)
        self.params = {"W": np.zeros((4, 3))}
        self.grads = {"W": np.zeros((4, 3))}

    def forward(self, x):
        self.x = x
        return x @ self.params["W"]

    def backward(self, dy):
        self.grads["W"] = self.x.T @ dy
        return dy @ self.params["W"].T


def test_a_check_that_proved_nothing_says_so_in_its_headline():
    report = check_layer(_AllZero(), np.zeros((5, 4)), second_point=False)
    assert report.passed and report.n_vacuous + report.n_nondifferentiable == len(
        report.rows), str(report)
    assert str(report).startswith("gradcheck PASSED, proving nothing"), str(report)


def test_the_float32_warning_points_at_the_callers_line():
    from reference_nets import Dense
    with pytest.warns(UserWarning, match="checking in float32") as caught:
        check_layer(Dense(4, 3, dtype=np.float32), np.ones((2, 4), np.float32))
    assert caught[0].filename == __file__


class _OwnGeneratorDropout:
    """Correct dropout in training mode, drawing from its own generator."""

    def __init__(self, generator):
        self.params, self.grads, self.rng = {}, {}, generator

    def forward(self, x):
        self.x = x
        self.mask = (self.rng.random(x.shape) if hasattr(self.rng, "random")
                     else self.rng.rand(*x.shape)) > 0.5
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask


@pytest.mark.parametrize("generator", [np.random.default_rng(0), np.random.RandomState(0)])
def test_a_layer_drawing_from_its_own_generator_is_told_it_is_random(generator):
    row = check_layer(_OwnGeneratorDropout(generator), np.ones((3, 4))).table.iloc[0]
    assert row.check == "determinism" and "generator rng" in row.message, row.message
    assert "state its output depends on" not in row.message
