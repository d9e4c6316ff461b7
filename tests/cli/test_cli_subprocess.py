"""The ``gradkit`` command line, run as a user would: in a subprocess, checking exit codes."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

SUBCOMMANDS = ("demo", "check", "train", "lr-find", "report")

USER_LAYERS = textwrap.dedent('''
    import numpy as np

    class Scale:
        """y = x * w with a learnable w; ``wrong`` doubles dL/dw."""

        def __init__(self, wrong=False):
            self.params = {"w": np.linspace(0.5, 1.5, 16)}
            self.grads = {"w": np.zeros(16)}
            self.wrong = wrong

        def forward(self, x):
            self.x = x
            return x * self.params["w"]

        def backward(self, dy):
            grad = (dy * self.x).sum(axis=0) * (2.0 if self.wrong else 1.0)
            self.grads["w"] = grad.astype(self.params["w"].dtype)
            return dy * self.params["w"]

    def good():
        return Scale()

    def good32():
        layer = Scale()
        layer.params["w"] = layer.params["w"].astype(np.float32)
        layer.grads["w"] = layer.grads["w"].astype(np.float32)
        return layer

    def bad():
        return Scale(wrong=True)

    def boom():
        raise RuntimeError("needs a GPU")

    def not_a_layer():
        return 42

    def model():
        from reference_nets import zoo
        return zoo.mlp((16, 8, 4), seed=1)
''')


def gradkit(*args, cwd=None):
    """Run ``gradkit ARGS`` with this interpreter; return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "gradkit_cli.main", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300, check=False)


@pytest.fixture
def user_dir(tmp_path):
    (tmp_path / "userlayers.py").write_text(USER_LAYERS)
    (tmp_path / "broken_import.py").write_text("import no_such_dependency_xyz\n")
    return tmp_path


def test_help_lists_every_subcommand():
    done = gradkit("--help")
    assert done.returncode == 0
    for name in SUBCOMMANDS:
        assert name in done.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name):
    done = gradkit(name, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith(f"usage: gradkit {name}")


@pytest.mark.parametrize(("factory", "code"), [("good", 0), ("bad", 1), ("model", 0)])
def test_check_exit_code_follows_the_verdict(user_dir, factory, code):
    done = gradkit("check", f"userlayers:{factory}", "--input-shape", "8,16", cwd=user_dir)
    assert done.returncode == code, done.stderr
    assert ("PASSED" if code == 0 else "FAILED") in done.stdout


def test_check_in_float32_full_mode(user_dir):
    done = gradkit("check", "userlayers:good32", "--input-shape", "4,16", "--dtype", "float32",
                   "--mode", "full", cwd=user_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mode=full" in done.stdout
    assert "rules of float32" in done.stdout
    assert "note:" not in done.stdout


def test_check_says_when_parameters_lower_the_dtype(user_dir):
    # float32 parameters make a float32 check, whatever the input's dtype
    done = gradkit("check", "userlayers:good32", "--input-shape", "4,16", "--dtype", "float64",
                   cwd=user_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "note: the check ran in float32, not float64" in done.stdout


@pytest.mark.parametrize(("target", "says"), [
    ("no_such_module_xyz:make", "cannot import 'no_such_module_xyz'"),
    ("broken_import:make", "ModuleNotFoundError"),
    ("userlayers:missing", "no callable 'missing'"),
    ("userlayers", "expected MODULE:FACTORY"),
    ("userlayers:boom", "RuntimeError: needs a GPU"),
    ("userlayers:not_a_layer", "not a layer"),
])
def test_broken_target_gives_exit_2_and_one_line(user_dir, target, says):
    done = gradkit("check", target, "--input-shape", "8,16", cwd=user_dir)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("gradkit check: error:")
    assert says in lines[0]


def test_wrong_input_shape_is_a_usage_error(user_dir):
    done = gradkit("check", "userlayers:good", "--input-shape", "8,5", cwd=user_dir)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    bad_shape = gradkit("check", "userlayers:good", "--input-shape", "8,x", cwd=user_dir)
    assert bad_shape.returncode == 2
    assert "--input-shape" in bad_shape.stderr


def test_train_writes_report_and_records_then_report_renders_them(tmp_path):
    done = gradkit("train", "--net", "mlp", "--dataset", "spirals", "--epochs", "2",
                   "--report", tmp_path / "train.html", "--records", tmp_path / "run.jsonl")
    assert done.returncode == 0, done.stderr
    assert "findings:" in done.stdout
    assert (tmp_path / "train.html").read_text().count("<img ") >= 3
    again = gradkit("report", tmp_path / "run.jsonl", "--out", tmp_path / "again.html",
                    "--title", "from records")
    assert again.returncode == 0, again.stderr
    html = (tmp_path / "again.html").read_text()
    assert "from records" in html
    assert 'id="grad-norms"' in html


def test_report_of_a_missing_file_is_a_usage_error(tmp_path):
    done = gradkit("report", tmp_path / "nope.jsonl", "--out", tmp_path / "r.html")
    assert done.returncode == 2
    assert "no such records file" in done.stderr
    assert not (tmp_path / "r.html").exists()


def test_cnn_needs_images(tmp_path):
    done = gradkit("train", "--net", "cnn", "--dataset", "spirals", "--epochs", "1")
    assert done.returncode == 2
    assert "--dataset digits" in done.stderr


def test_lr_find_prints_suggestions_and_writes_report(tmp_path):
    done = gradkit("lr-find", "--dataset", "spirals", "--steps", "30", "--sensitivity",
                   "0.01,0.1", "--seeds", "0,1", "--epochs", "1", "--report",
                   tmp_path / "lr.html")
    assert done.returncode == 0, done.stderr
    assert "steepest" in done.stdout
    assert "best lr" in done.stdout
    html = (tmp_path / "lr.html").read_text()
    assert 'id="lr-range-1"' in html
    assert 'id="lr-sensitivity-1"' in html


def test_lr_find_rejects_an_empty_range():
    done = gradkit("lr-find", "--dataset", "spirals", "--lr-min", "1", "--lr-max", "0.1")
    assert done.returncode == 2
    assert "--lr-min" in done.stderr


def test_demo_writes_a_sick_vs_healthy_report(tmp_path):
    done = gradkit("demo", "--quick", "--out", tmp_path / "demo.html")
    assert done.returncode == 0, done.stderr
    assert f"report: {tmp_path / 'demo.html'}" in done.stdout
    lines = done.stdout.splitlines()
    for run in ("healthy mlp", "deep sigmoid", "aggressive relu"):
        row = next(line for line in lines if line.startswith(run))
        passed, checked = re.search(r"(\d+) of (\d+) passed", row).groups()
        assert passed == checked and int(checked) > 1, f"every check passes: {row!r}"
    html = (tmp_path / "demo.html").read_text()
    assert 'class="banner sick"' in html
    assert 'id="gradcheck-timeline"' in html and "healthy mlp in training" in html
    assert "dead ReLU units (aggressive relu)" in html


def test_demo_falls_back_to_spirals_without_scikit_learn(tmp_path):
    code = ("import sys; sys.modules['sklearn'] = None; from gradkit_cli.main import main; "
            f"sys.exit(main(['demo', '--quick', '--out', {str(tmp_path / 'd.html')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "using two spirals instead of the digits" in done.stdout
    assert "scikit-learn" in done.stdout
    assert (tmp_path / "d.html").exists()


def test_demo_budget_is_in_steps_so_the_small_spirals_train_as_long_as_the_digits():
    from gradkit_cli.common import load_problem
    from gradkit_cli.demo import BATCH, FULL, epochs_for

    for dataset in ("digits", "spirals"):
        problem = load_problem(dataset)
        epochs = epochs_for(problem, FULL.train_steps)
        per_epoch = -(-len(problem.X_train) // BATCH)
        assert (epochs - 1) * per_epoch < FULL.train_steps <= epochs * per_epoch
