"""``gradkit train`` and ``gradkit lr-find`` on the user's model factory and data (``.npz``
or ``MODULE:FUNCTION``), with one-line errors for data that does not fit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from diagnostics import Monitor
from diagnostics._training import build_model
from gradkit_cli.user_code import seeded_factory

from .helpers import line_of

MODEL = ("--model", "userlayers:model", "--factory-arg", "sizes=(16, 8, 2)")


def n_params(sizes):
    """Weights and biases of a Dense stack of these widths."""
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def test_train_trains_the_users_model_on_the_users_function_data(user_dir, run_cli):
    code, out, err = run_cli("train", *MODEL, "--data", "userlayers:data", "--epochs", "2",
                             "--records", user_dir / "run.jsonl")
    assert code == 0, err
    assert out.startswith("userlayers:model on userlayers:data: 64 samples of shape (16,), "
                          "none held out\n")
    meta = Monitor.load(user_dir / "run.jsonl").meta
    assert meta["n_params"] == n_params((16, 8, 2)), "the factory's model, with its arguments"
    assert len(Monitor.load(user_dir / "run.jsonl").history) == 2


def test_train_on_an_npz_with_held_out_arrays_evaluates_them(user_dir, run_cli):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 16))
    y = (X[:, 0] > 0).astype(int)
    np.savez(user_dir / "d.npz", X=X[:30], y=y[:30], X_val=X[30:], y_val=y[30:], notes=[1])
    code, out, err = run_cli("train", *MODEL, "--data", user_dir / "d.npz", "--epochs", "2",
                             "--batch-size", "10")
    assert code == 0, err
    assert "30 samples of shape (16,), 10 held out (arrays not used: notes)" in out
    assert "val_accuracy" in out.splitlines()[1]


def test_a_regression_model_trains_under_mse_and_lr_find_sweeps_it(user_dir, run_cli):
    regression = ("--model", "userlayers:model", "--factory-arg", "sizes=(16, 8, 1)",
                  "--loss", "mse", "--data", "userlayers:regression")
    code, out, err = run_cli("train", *regression, "--epochs", "2")
    assert code == 0, err
    assert "train_loss" in out and "train_accuracy" not in out
    code, out, err = run_cli("lr-find", *regression, "--steps", "20", "--sensitivity",
                             "0.01,0.1", "--seeds", "0,1", "--epochs", "1")
    assert code == 0, err
    assert "range test suggestions: steepest" in out and "best lr" in out


def test_a_reference_net_trains_on_the_users_class_data(user_dir, run_cli):
    code, out, err = run_cli("train", "--net", "mlp", "--data", "userlayers:data_with_val",
                             "--epochs", "1")
    assert code == 0, err
    assert out.startswith("mlp on userlayers:data_with_val: 48 samples of shape (16,), "
                          "16 held out")


def test_the_factory_gets_each_runs_seed_unless_the_user_fixed_it():
    seen = []

    def factory(width=4, seed=0):
        seen.append((width, seed))

    build_model(seeded_factory(factory, {"width": 8}, "m:f"), 5)
    build_model(seeded_factory(factory, {"width": 8, "seed": 2}, "m:f"), 5)
    assert seen == [(8, 5), (8, 2)]


def npz(folder, **arrays):
    np.savez(folder / "d.npz", **arrays)
    return folder / "d.npz"


X16 = np.zeros((10, 16))
Y10 = np.zeros(10, dtype=int)


@pytest.mark.parametrize(("data", "says"), [
    (lambda d: d / "none.npz", "--data: no such file: {d}/none.npz"),
    (lambda d: npz(d, X=X16, labels=Y10), "--data: {d}/d.npz has no array 'y' (it holds X, "
                                          "labels); write it with numpy.savez(path, X=inputs, "
                                          "y=targets)"),
    (lambda d: npz(d, X=np.zeros(10), y=Y10), "--data: X must have shape (n_samples, "
                                              "n_features, ...) with n_samples >= 1, got shape "
                                              "(10,)"),
    (lambda d: npz(d, X=X16, y=Y10[:7]), "--data: y has shape (7,): it needs 10 rows, one per "
                                         "sample of X"),
    (lambda d: npz(d, X=X16, y=Y10, X_val=X16), "--data: give both X_val and y_val, or neither"),
    (lambda d: npz(d, X=X16, y=Y10, X_val=np.zeros((4, 3)), y_val=Y10[:4]),
     "--data: X_val samples have shape (3,), X samples (16,); they must match"),
    (lambda d: npz(d, X=np.full((10, 16), np.nan), y=Y10), "--data: X holds 160 NaN or "
                                                           "infinite values"),
    (lambda d: npz(d, X=np.array([["a"] * 16] * 10), y=Y10), "--data: X must be a numeric "
                                                             "array, got dtype <U1"),
    (lambda d: "data.csv", "--data: expected a .npz file (arrays X and y) or MODULE:FUNCTION "
                           "returning (X, y), got 'data.csv'"),
    (lambda d: "userlayers:data_not_a_pair", "--data: userlayers:data_not_a_pair() must return "
                                             "(X, y) or (X, y, X_val, y_val), got ndarray"),
    (lambda d: "userlayers:data_bad_rows", "--data: y has shape (63,): it needs 64 rows, one "
                                           "per sample of X"),
    (lambda d: "userlayers:nothing", "--data: 'userlayers' has no callable 'nothing'"),
])
def test_data_that_does_not_fit_is_one_line_before_training(user_dir, run_cli, data, says):
    code, out, err = run_cli("train", *MODEL, "--data", data(user_dir), "--epochs", "1")
    assert (code, out) == (2, "")
    assert err == f"gradkit train: error: {says.format(d=user_dir)}\n"


@pytest.mark.parametrize(("args", "says"), [
    (("--net", "mlp", *MODEL), "give --net or --model, not both"),
    (("--dataset", "spirals", "--data", "userlayers:data"), "give --dataset or --data, not "
                                                             "both"),
    (("--factory-arg", "n=3"), "--factory-arg needs --model"),
    (("--loss", "mse"), "--loss mse: the reference nets are classifiers trained with "
                        "softmax-ce; give your own --model for another loss"),
    (("--net", "mlp", "--data", "userlayers:regression"),
     "--net mlp is a classifier sized by the labels: --data y must hold class ids 0, 1, ... of "
     "shape (n,), got float64 (64, 1)"),
    (("--net", "cnn", "--data", "userlayers:data"), "--net cnn needs --data X of shape (n, 1, "
                                                    "size, size) images, got (64, 16)"),
    ((*MODEL[:2], "--factory-arg", "sizes=(10, 8, 2)", "--data", "userlayers:data"),
     "Dense.forward: x has 16 features, expected n_in=10"),
])
def test_options_that_do_not_fit_together_are_one_line(user_dir, run_cli, args, says):
    for command in ("train", "lr-find"):
        code, _, err = run_cli(command, *args, "--epochs", "1")
        assert code == 2
        assert err == f"gradkit {command}: error: {says}\n"


def test_a_data_function_that_raises_is_exit_3_at_its_line(user_dir, run_cli):
    code, _, err = run_cli("train", *MODEL, "--data", "userlayers:data_boom")
    assert code == 3
    lines = err.splitlines()
    assert lines[0] == "gradkit train: error: your code raised OSError: the data server is down"
    assert lines[2] == (f'  File "{user_dir / "userlayers.py"}", line '
                        f'{line_of("the data server is down")}, in data_boom')
