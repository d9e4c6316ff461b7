"""``gradcheck.assert_gradients``: the helper behind the fixture, usable without pytest."""

import numpy as np
import pytest

from gradcheck import GradcheckError, assert_gradients
from gradcheck.session.results import nondifferentiable_points
from reference_nets import Dense, Sequential
from reference_nets.losses import MSE
from tests.plugin.plugin_layers import ReLU, Scale, batch


def test_passing_layer_returns_its_report():
    report = assert_gradients(Scale(), batch(), seed=3)
    assert report.passed and report.options["seed"] == 3


def test_failing_layer_raises_with_report_and_label():
    n_tensors = len(Scale().params) + 1  # the parameters and the input
    expected = rf"failed in my-check: 1 of {n_tensors} tensors"
    with pytest.raises(GradcheckError, match=expected) as err:
        assert_gradients(Scale(broken=True), batch(), label="my-check")
    assert isinstance(err.value, AssertionError)
    failed = err.value.report.table.query("status == 'fail'")
    assert list(failed["tensor"]) == ["w"]


def test_strict_turns_kinks_into_failures():
    x = batch()
    x[:, 0] = 0.0
    lenient = assert_gradients(ReLU(), x)
    kinks = nondifferentiable_points(lenient)
    assert lenient.passed and kinks > 0
    with pytest.raises(GradcheckError, match=rf"{kinks} nondifferentiable points \(strict"):
        assert_gradients(ReLU(), x, strict=True)


def test_model_under_a_loss_checks_every_layer():
    rng = np.random.default_rng(0)
    model = Sequential([Scale(4), Dense(4, 2)])
    report = assert_gradients(model, rng.normal(size=(5, 4)), loss=MSE(), y=rng.normal(size=(5, 2)))
    assert {"0:Scale", "1:Dense"} <= set(report.table["layer"])


@pytest.mark.parametrize(("given", "missing"), [({"loss": MSE()}, "y"), ({"y": 1.0}, "loss")])
def test_loss_and_y_go_together(given, missing):
    with pytest.raises(TypeError, match=rf"got \w+= but not {missing}="):
        assert_gradients(Scale(), batch(), **given)
