"""``gradkit check``: every option reaches the check, targets fit the loss, JSON output,
exit codes 0/1/2/3 (run in this process; tests/cli/test_cli_subprocess.py runs a few as a
user would)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import gradcheck
from gradcheck import GradcheckReport, check_layer
from gradkit_cli.check import random_targets
from gradkit_cli.common import UsageError
from gradkit_cli.main import build_parser
from gradkit_cli.user_code import key_value
from reference_nets.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy

from .helpers import line_of

CHECK = ("check", "--input-shape", "8,16")


def check_json(run_cli, target, *options):
    """``(exit code, report dict, stderr)`` of ``gradkit check TARGET --json OPTIONS``."""
    code, out, err = run_cli(*CHECK, target, "--json", *options)
    return code, json.loads(out), err


def test_json_is_the_report_of_the_same_check_made_in_python(user_dir, run_cli):
    code, data, _ = check_json(run_cli, "userlayers:good", "--seed", "3")
    assert code == 0
    assert data["passed"] is True
    from userlayers import Scale

    x = np.random.default_rng(3).standard_normal((8, 16))
    expected = check_layer(Scale(), x, seed=3)
    got = GradcheckReport.from_dict(data)
    assert got.options == expected.options
    assert got.table.equals(expected.table)


def test_the_check_options_reach_the_report(user_dir, run_cli):
    code, data, _ = check_json(run_cli, "userlayers:good", "--mode", "full", "--method",
                               "forward", "--eps", "1e-5", "--atol", "1e-9", "--rtol", "1e-5",
                               "--seed", "4")
    assert code == 0
    assert {k: data["options"][k] for k in ("mode", "method", "eps", "atol", "rtol", "seed")} \
        == {"mode": "full", "method": "forward", "eps": 1e-5, "atol": 1e-9, "rtol": 1e-5,
            "seed": 4}
    w_row = next(row for row in data["rows"] if row["tensor"] == "w" and
                 row["check"] == "gradient")
    assert w_row["checked"] == 16, "full mode checks every element of w"


def test_tolerances_decide_the_verdict(user_dir, run_cli):
    # dL/dw is 2x too large: wrong at the default tolerances, accepted at rtol 10
    assert check_json(run_cli, "userlayers:bad")[0] == 1
    code, data, _ = check_json(run_cli, "userlayers:bad", "--rtol", "10")
    assert code == 0 and data["passed"] is True


def test_the_seed_picks_the_input_and_repeats_it(user_dir, run_cli):
    def values(seed):
        return [row["analytic"] for row in check_json(run_cli, "userlayers:good", "--seed",
                                                      seed)[1]["rows"]]

    assert values("5") == values("5")
    assert values("5") != values("6")


def test_a_failing_check_is_exit_1_with_json_false_and_the_dtype_note_on_stderr(user_dir,
                                                                                 run_cli):
    code, data, err = check_json(run_cli, "userlayers:bad")
    assert code == 1
    assert data["passed"] is False
    assert any(row["status"] == "fail" for row in data["rows"])
    with pytest.warns(UserWarning, match="checking in float32"):
        code, data, err = check_json(run_cli, "userlayers:good32")
    assert code == 0 and data["options"]["dtype"] == "float32"
    assert "note: the check ran in float32, not float64" in err


@pytest.mark.parametrize(("text", "pair"), [
    ("n=16", ("n", 16)), ("rate=0.5", ("rate", 0.5)), ("sizes=(8, 4)", ("sizes", (8, 4))),
    ("bias=True", ("bias", True)), ("init=None", ("init", None)),
    ("act=relu", ("act", "relu")), ("act='relu'", ("act", "relu")),
    ("expr=a=b", ("expr", "a=b")), ("empty=", ("empty", "")),
])
def test_factory_arg_values_are_literals_else_strings(text, pair):
    assert key_value(text) == pair


@pytest.mark.parametrize("text", ["n", "=3", "2n=3", "a b=1"])
def test_a_factory_arg_without_a_name_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected KEY=VALUE"):
        key_value(text)


def test_factory_args_reach_the_factory(user_dir, run_cli):
    code, data, _ = check_json(run_cli, "userlayers:good", "--factory-arg", "n=5",
                               "--input-shape", "4,5")
    assert code == 0
    assert next(row["shape"] for row in data["rows"] if row["tensor"] == "w") == [5]
    code, data, _ = check_json(run_cli, "userlayers:model", "--input-shape", "4,6",
                               "--factory-arg", "sizes=(6, 3, 2)", "--factory-arg", "seed=7")
    assert code == 0
    assert {row["layer"] for row in data["rows"]} >= {"0:Dense", "2:Dense"}


@pytest.mark.parametrize(("args", "says"), [
    (("--factory-arg", "m=5"), "--factory-arg: userlayers:good(n=16) cannot be called with "
                               "m=5 (got an unexpected keyword argument 'm')"),
    (("--factory-arg", "n=5", "--factory-arg", "n=6"), "--factory-arg n=... is given twice"),
])
def test_factory_args_that_do_not_fit_are_one_line_usage_errors(user_dir, run_cli, args, says):
    code, out, err = run_cli(*CHECK, "userlayers:good", *args)
    assert (code, out) == (2, "")
    assert err == f"gradkit check: error: {says}\n"


@pytest.fixture
def model_check(monkeypatch):
    """The ``(loss, y)`` each check_model call got."""
    calls = []
    original = gradcheck.check_model

    def recording(model, loss, x, y, **options):
        calls.append((loss, y))
        return original(model, loss, x, y, **options)

    monkeypatch.setattr(gradcheck, "check_model", recording)
    return calls


@pytest.mark.parametrize(("loss", "kind"), [(None, MSE), ("mse", MSE),
                                            ("softmax-ce", SoftmaxCrossEntropy),
                                            ("bce", BinaryCrossEntropy)])
def test_a_model_is_checked_under_the_loss_with_targets_of_its_kind(user_dir, run_cli,
                                                                    model_check, loss, kind):
    code, _, err = run_cli(*CHECK, "userlayers:model", *(("--loss", loss) if loss else ()))
    assert code == 0, err
    (used, y), = model_check
    assert type(used) is kind
    if kind is SoftmaxCrossEntropy:    # class ids of the 4 outputs, one per sample
        assert y.shape == (8,) and y.dtype.kind == "i" and set(y) <= {0, 1, 2, 3}
    elif kind is BinaryCrossEntropy:   # 0/1 targets shaped like the logits
        assert y.shape == (8, 4) and set(np.unique(y)) == {0.0, 1.0}
    else:                              # real targets
        assert y.shape == (8, 4) and not np.array_equal(y, np.round(y))


def test_softmax_ce_targets_need_two_dimensional_outputs():
    rng = np.random.default_rng(0)
    with pytest.raises(UsageError, match=r"--loss softmax-ce needs model outputs of shape "
                       r"\(N, C\) \(logits\), got \(8, 3, 4\)"):
        random_targets("softmax-ce", (8, 3, 4), rng, "float64")


def test_a_loss_for_a_lone_layer_is_refused(user_dir, run_cli):
    code, _, err = run_cli(*CHECK, "userlayers:good", "--loss", "bce")
    assert code == 2
    assert err.startswith("gradkit check: error: --loss applies to models")


def test_a_shape_bug_in_the_users_backward_is_exit_3_at_its_line(user_dir, run_cli):
    code, out, err = run_cli(*CHECK, "userlayers:shape_bug")
    assert (code, out) == (3, "")
    assert err.startswith("gradkit check: error: your code raised ValueError: matmul")
    frames = [line for line in err.splitlines() if line.startswith("  File ")]
    line = line_of('self.grads["w"] = np.ones((3, 3)) @ (dy * self.x)')
    assert frames == [f'  File "{user_dir / "userlayers.py"}", line {line}, in backward']
    assert "gradcheck: raised during" in err


def test_a_bad_option_value_is_refused_by_the_parser(user_dir, capsys):
    for option, value in (("--eps", "0"), ("--atol", "-1"), ("--rtol", "nan"),
                          ("--method", "backward"), ("--mode", "most")):
        with pytest.raises(SystemExit) as stop:
            build_parser().parse_args([*CHECK, "userlayers:good", option, value])
        assert stop.value.code == 2
        assert f"argument {option}" in capsys.readouterr().err


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["check", "--help"])
    text = capsys.readouterr().out
    for code in ("0  success", "1  check: a gradient is wrong", "2  usage error",
                 "3  your code raised"):
        assert code in text


def test_a_model_holding_its_layers_as_attributes_is_checked_as_a_model(user_dir, run_cli,
                                                                        model_check):
    code, _, err = run_cli(*CHECK, "userlayers:attribute_model", "--loss", "softmax-ce")
    assert code == 0, err
    assert len(model_check) == 1
