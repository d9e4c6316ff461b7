"""Every deliberate bug is caught on the right tensor; every correct layer passes."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_layer, check_model
from reference_nets import Sequential
from tests.gradcheck import zoo_layers as z

RNG = np.random.default_rng(1)
X4 = RNG.normal(size=(5, 4))


def failing(report, check=None) -> set[tuple[str, str]]:
    """(layer, tensor) of the failing rows (of one check kind when given)."""
    t = report.table
    t = t[t.status == "fail"]
    if check is not None:
        t = t[t.check == check]
    return set(zip(t.layer, t.tensor, strict=True))


BUGS = [  # layer, input, expected failing (layer, tensor), protocol check or None
    (z.WrongTranspose(4, 4), X4, {("WrongTranspose", "W")}, None),
    (z.MeanBias(), X4, {("MeanBias", "b")}, None),
    (z.OneWrongRow(), X4, {("OneWrongRow", "W")}, None),
    (z.SlightlyOff(), X4, {("SlightlyOff", "W")}, None),
    (z.DiagonalSoftmax(), X4, {("DiagonalSoftmax", "input")}, None),
    (z.ConstantStatsBatchNorm(4), X4, {("ConstantStatsBatchNorm", "input")}, None),
    (z.FlippedConv1D(), RNG.normal(size=(3, 8)), {("FlippedConv1D", "W")}, None),
    (z.Accumulating(), X4, {("Accumulating", "W")}, "accumulation"),
    (z.InPlaceReLU(), X4, {("InPlaceReLU", "input")}, "mutation"),
    (z.RandomDropout(), X4, {("RandomDropout", "output")}, "determinism"),
    (z.WrongShapeGrad(), X4, {("WrongShapeGrad", "b")}, "grad_shape"),
    (z.MissingBiasGrad(), X4, {("MissingBiasGrad", "b")}, "missing_grad"),
    (z.Float32Grads(), X4, {("Float32Grads", "W"), ("Float32Grads", "b")}, "grad_dtype"),
]


@pytest.mark.parametrize("mode", ["full", "auto"])
@pytest.mark.parametrize(("layer", "x", "where", "check"), BUGS,
                         ids=[type(b[0]).__name__ for b in BUGS])
def test_bug_is_caught_and_located(layer, x, where, check, mode):
    report = check_layer(layer, x, mode=mode)
    assert not report.passed
    assert failing(report) == where
    if check is not None:
        assert failing(report, check) == where
    else:
        assert failing(report, "gradient") == where


def test_one_wrong_row_points_at_the_row():
    report = check_layer(z.OneWrongRow(), X4, mode="full")
    row = report.table.query("tensor == 'W'").iloc[0]
    assert row.worst_index.startswith("(2,")
    assert row.checked == 12


def test_factor_two_is_caught_in_float32():
    layer = z.DoubleInputGrad(dtype=np.float32)
    with pytest.warns(UserWarning, match="float32"):
        report = check_layer(layer, X4.astype(np.float32), mode="full")
    assert failing(report) == {("DoubleInputGrad", "input")}


CORRECT = [
    (z.Linear(), X4),
    (z.Linear(4, 4), X4),
    (z.Tanh(), X4),
    (z.Softmax(), X4),
    (z.BatchNorm(4), X4),
    (z.Conv1D(), RNG.normal(size=(3, 8))),
    (z.ReLU(), X4),
]


@pytest.mark.parametrize("mode", ["full", "auto", "sample", "directional"])
@pytest.mark.parametrize(("layer", "x"), CORRECT, ids=[type(c[0]).__name__ for c in CORRECT])
def test_correct_layers_pass(layer, x, mode):
    report = check_layer(layer, x, mode=mode)
    assert report.passed, str(report)


@pytest.mark.parametrize(("layer", "x"), CORRECT, ids=[type(c[0]).__name__ for c in CORRECT])
def test_correct_layers_pass_in_float32(layer, x):
    for key in layer.params:
        layer.params[key] = layer.params[key].astype(np.float32)
        layer.grads[key] = layer.grads[key].astype(np.float32)
    with pytest.warns(UserWarning, match="float32"):
        report = check_layer(layer, x.astype(np.float32), mode="full")
    assert report.passed, str(report)


@pytest.mark.parametrize("scale", [1e6, 1e-6])
@pytest.mark.parametrize("make", [z.Linear, z.Tanh, z.Softmax, lambda: z.BatchNorm(4)])
def test_huge_and_tiny_values_pass(make, scale):
    layer = make()
    for value in layer.params.values():
        value *= scale
    report = check_layer(layer, X4 * scale, mode="full")
    assert report.passed, str(report)


@pytest.mark.parametrize(("layer", "x", "n_kinks"), [
    # ReLU at its three exact zeros: one-sided slopes G and 0, the analytic 0 between them
    (z.ReLU(), np.array([[0.0, 1.0, -2.0, 0.0], [0.0, -1.0, 3.0, 0.5]]), 3),
    # two tied pairs: each of the four tied elements has one-sided slopes G and 0
    (z.PairMax(), np.array([[1.0, 1.0, 2.0, -1.0, 0.0, 0.0]]), 4),
    # |x| at 0: the central difference is exactly the subgradient 0, so a plain pass
    (z.Abs(), np.array([[0.0, 1.0, -2.0, 0.0]]), 0),
], ids=["relu-zeros", "max-ties", "abs-zeros"])
def test_kinks_are_nondifferentiable_not_failures(layer, x, n_kinks):
    report = check_layer(layer, x, mode="full")
    assert report.passed, str(report)
    row = report.table.iloc[0]
    assert row.n_nondifferentiable == n_kinks
    assert row.status == ("nondifferentiable" if n_kinks else "pass")
    assert report.n_nondifferentiable == (1 if n_kinks else 0)


def test_relu_near_zero_inside_the_step_is_a_kink_not_a_failure():
    x = np.array([[3e-7, -2e-7, 1.0]])   # |x| below the step 2**-17: the step straddles 0
    report = check_layer(z.ReLU(), x, mode="full")
    assert report.passed and report.n_nondifferentiable == 1


def test_model_names_the_wrong_layer_even_when_later_layers_are_right():
    model = Sequential([z.Linear(4, 5, seed=1), z.DiagonalSoftmax(), z.Linear(5, 2, seed=2)])
    x, y = RNG.normal(size=(6, 4)), RNG.normal(size=(6, 2))
    report = check_model(model, z.MSE(), x, y, mode="full")
    assert failing(report, "gradient") == {("1:DiagonalSoftmax", "input")}
    # the first layer's own gradients are right; only its end-to-end gradients inherit the bug
    assert failing(report, "end_to_end") == {("0:Linear", "W"), ("0:Linear", "b")}
    assert failing(report) == failing(report, "gradient") | failing(report, "end_to_end")


def test_correct_model_passes_in_every_mode():
    model = Sequential([z.Linear(4, 6), z.Tanh(), z.BatchNorm(6), z.Linear(6, 2, seed=3)])
    x, y = RNG.normal(size=(8, 4)), RNG.normal(size=(8, 2))
    for mode in ("full", "auto", "sample", "directional"):
        report = check_model(model, z.MSE(), x, y, mode=mode)
        assert report.passed, str(report)
        assert set(report.table.layer) == {"0:Linear", "1:Tanh", "2:BatchNorm", "3:Linear"}


def test_nonlinear_backward_is_reported_with_its_own_message():
    report = check_layer(z.SquaredUpstream(), X4)
    rows = report.table.query("check == 'linearity'")
    assert list(zip(rows.layer, rows.tensor, strict=True)) == [("SquaredUpstream", "input")]
    assert "backward(2*dy)" in rows.message.iloc[0]
    assert failing(report, "gradient") == {("SquaredUpstream", "input")}
