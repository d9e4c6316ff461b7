"""Learning-rate range test and sensitivity on the digits MLP."""

import functools

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from diagnostics import LRRangeResult, LRSensitivityResult, lr_range_test, lr_sensitivity
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.optim import SGD
from reference_nets.zoo import mlp

MAKE = functools.partial(mlp, (64, 32, 10))


def momentum(lr):
    return SGD(lr, momentum=0.9)


@pytest.fixture(scope="module")
def sensitivity(digits):
    with threadpool_limits(1):   # two workers, one BLAS thread each: no oversubscription
        return lr_sensitivity(MAKE, SoftmaxCrossEntropy(), digits.X_train, digits.y_train,
                              lrs=[0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0], epochs=3,
                              seeds=(0, 1), optimizer=momentum, n_jobs=2)


@pytest.fixture(scope="module")
def range_test(digits):
    return lr_range_test(MAKE, SoftmaxCrossEntropy(), digits.X_train, digits.y_train,
                         optimizer=momentum, lr_min=1e-4, lr_max=10.0, steps=100)


def test_range_test_suggests_within_10x_of_the_best_rate(range_test, sensitivity):
    best = sensitivity.best_lr
    for name in ("steepest", "min_over_10"):
        suggested = range_test.suggestions[name]
        assert best / 10 <= suggested <= best * 10, (name, suggested, best)


def test_range_test_curve_and_divergence(range_test):
    assert isinstance(range_test, LRRangeResult)
    curve = range_test.curve
    assert list(curve.columns) == ["lr", "loss", "smoothed_loss"]
    assert curve.lr.is_monotonic_increasing and curve.lr.iloc[0] == pytest.approx(1e-4)
    assert range_test.diverged_at is not None and range_test.diverged_at > curve.lr.iloc[-1]
    assert len(curve) < 100  # stopped early on divergence
    assert "No single rule" in range_test.caveat


def test_sensitivity_tables(sensitivity):
    assert isinstance(sensitivity, LRSensitivityResult)
    runs, summary = sensitivity.runs, sensitivity.summary
    assert list(runs.columns) == ["lr", "seed", "epoch", "loss"]
    assert len(runs) == 7 * 2 * 4  # epochs 0..3
    assert list(summary.columns) == ["lr", "final_mean", "final_std", "best_mean", "best_std",
                                     "stable"]
    final = runs[runs.epoch == 3].groupby("lr")["loss"]
    np.testing.assert_allclose(summary.final_mean, final.mean().fillna(np.inf))
    stable = summary.set_index("lr")["stable"]
    assert not stable[3.0] and stable[0.1]
    lo, hi = sensitivity.stable_range
    assert lo <= sensitivity.best_lr <= hi
    inside = (stable.index >= lo) & (stable.index <= hi)
    assert stable[inside].all()
    neighbours = [i for i in (inside.argmax() - 1, len(inside) - inside[::-1].argmax())
                  if 0 <= i < len(stable)]
    assert not stable.iloc[neighbours].any()  # the range is maximal


def test_range_test_leaves_given_objects_alone(digits):
    X = digits.X_train.copy()
    model = MAKE()
    before = {k: v.copy() for k, v in model.params.items()}
    lr_range_test(lambda: model, SoftmaxCrossEntropy(), X, digits.y_train, steps=10)
    np.testing.assert_array_equal(X, digits.X_train)
    changed = [k for k, v in model.params.items() if not np.array_equal(v, before[k])]
    assert changed  # the factory's model was trained: that is the point of a factory


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"lr_min": 1.0, "lr_max": 0.1}, "lr_min < lr_max"),
    ({"lr_min": -1.0}, "lr_min must be a positive"),
    ({"optimizer": "adamw"}, "optimizer must be 'sgd' or a callable"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"steps": 2.5}, "steps must be an integer >= 1"),
])
def test_range_test_bad_arguments(digits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        lr_range_test(MAKE, SoftmaxCrossEntropy(), digits.X_train, digits.y_train, **kwargs)


def test_sensitivity_bad_arguments(digits):
    with pytest.raises(ValueError, match="lrs"):
        lr_sensitivity(MAKE, SoftmaxCrossEntropy(), digits.X_train, digits.y_train,
                       lrs=[0.1, 0.0], epochs=1)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        lr_sensitivity(MAKE, SoftmaxCrossEntropy(), digits.X_train, digits.y_train,
                       lrs=[0.1], epochs=0)
    with pytest.raises(ValueError, match="X must have shape"):
        lr_sensitivity(MAKE, SoftmaxCrossEntropy(), digits.X_train[:5], digits.y_train,
                       lrs=[0.1], epochs=1)
