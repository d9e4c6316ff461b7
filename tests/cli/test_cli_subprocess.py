"""The ``gradkit`` command line, run as a user would: ``python -m gradkit`` in a subprocess,
checking exit codes, what goes to stdout and stderr, and the files written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from importlib.metadata import version

import pytest

from .helpers import ROOT, gradkit, line_of

SUBCOMMANDS = ("demo", "check", "train", "lr-find", "report")


def test_help_lists_every_subcommand_and_the_exit_codes():
    done = gradkit("--help")
    assert done.returncode == 0
    for name in SUBCOMMANDS:
        assert name in done.stdout
    assert "3  your code raised" in done.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name):
    done = gradkit(name, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith(f"usage: gradkit {name}")


def test_version_is_the_installed_distributions():
    done = gradkit("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"gradkit {version('gradkit')}\n"


def pyproject():
    """pyproject.toml as a dict (tomllib: Python 3.11+)."""
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_gradkit_package_is_in_the_distribution():
    find_packages = pytest.importorskip("setuptools").find_packages
    config = pyproject()
    found = find_packages(ROOT, include=config["tool"]["setuptools"]["packages"]["find"]["include"])
    assert "gradkit" in found
    assert "gradkit_cli" in found


def test_the_console_script_and_python_m_share_one_main():
    config = pyproject()
    assert config["project"]["scripts"]["gradkit"] == "gradkit_cli.main:main"
    assert "from gradkit_cli.main import main" in (ROOT / "gradkit" / "__main__.py").read_text()


@pytest.mark.parametrize(("factory", "code"), [("good", 0), ("bad", 1), ("model", 0)])
def test_check_exit_code_follows_the_verdict(user_dir, factory, code):
    done = gradkit("check", f"userlayers:{factory}", "--input-shape", "8,16", cwd=user_dir)
    assert done.returncode == code, done.stderr
    assert ("PASSED" if code == 0 else "FAILED") in done.stdout


@pytest.mark.parametrize(("target", "says"), [
    ("no_such_module_xyz:make", "cannot import 'no_such_module_xyz': no such module"),
    ("userlayers:missing", "no callable 'missing'"),
    ("userlayers", "expected MODULE:NAME"),
    ("userlayers:not_a_layer", "not a layer"),
])
def test_a_target_that_is_not_there_is_a_usage_error_in_one_line(user_dir, target, says):
    done = gradkit("check", target, "--input-shape", "8,16", cwd=user_dir)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("gradkit check: error:")
    assert says in lines[0]


@pytest.mark.parametrize(("target", "raised", "frame"), [
    ("broken_import:make", "ModuleNotFoundError: No module named 'no_such_dependency_xyz'",
     ('broken_import.py", line 1, in <module>', "import no_such_dependency_xyz")),
    ("broken_syntax:make", "SyntaxError", ('broken_syntax.py", line 1, in <module>',
                                           "def make(:")),
    ("userlayers:boom", "RuntimeError: needs a GPU",
     (f'userlayers.py", line {line_of("needs a GPU")}, in boom',
      'raise RuntimeError("needs a GPU")')),
])
def test_users_code_that_raises_gives_exit_3_and_its_own_frames(user_dir, target, raised, frame):
    done = gradkit("check", target, "--input-shape", "8,16", cwd=user_dir)
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"gradkit check: error: your code raised {raised}")
    assert lines[1] == "Traceback of your code (most recent call last):"
    assert lines[2].endswith(frame[0])
    assert lines[3].strip() == frame[1]
    assert "gradkit_cli" not in done.stderr and "importlib" not in done.stderr


def test_an_input_shape_the_layer_cannot_take_shows_the_line_of_its_forward(user_dir):
    done = gradkit("check", "userlayers:good", "--input-shape", "8,5", cwd=user_dir)
    assert done.returncode == 3
    assert "your code raised ValueError: operands could not be broadcast" in done.stderr
    line = line_of('return x * self.params["w"]')
    assert f'userlayers.py", line {line}, in forward' in done.stderr
    assert "(gradcheck: raised during the first forward of Scale)" in done.stderr
    bad_shape = gradkit("check", "userlayers:good", "--input-shape", "8,x", cwd=user_dir)
    assert bad_shape.returncode == 2
    assert "--input-shape" in bad_shape.stderr


@pytest.mark.parametrize(("args", "option"), [
    (("train", "--records", "run.txt"), "--records"),
    (("demo", "--out", "."), "--out"),
    (("report", "run.jsonl", "--out", "/sys/gradkit-test/r.html"), "--out"),
])
def test_an_output_path_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, args, option):
    done = gradkit(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"gradkit {args[0]}: error: {option}: cannot write ")
    assert list(tmp_path.iterdir()) == []


def test_train_writes_report_and_records_in_new_folders_then_report_renders_them(tmp_path):
    done = gradkit("train", "--net", "mlp", "--dataset", "spirals", "--epochs", "2",
                   "--report", tmp_path / "new" / "train.html",
                   "--records", tmp_path / "runs" / "deeper" / "run.jsonl")
    assert done.returncode == 0, done.stderr
    assert "findings:" in done.stdout
    assert (tmp_path / "new" / "train.html").read_text().count("<img ") >= 3
    again = gradkit("report", tmp_path / "runs" / "deeper" / "run.jsonl", "--out",
                    tmp_path / "more" / "again.html", "--title", "from records")
    assert again.returncode == 0, again.stderr
    html = (tmp_path / "more" / "again.html").read_text()
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


def test_lr_find_prints_suggestions_and_writes_report_in_a_new_folder(tmp_path):
    done = gradkit("lr-find", "--dataset", "spirals", "--steps", "30", "--sensitivity",
                   "0.01,0.1", "--seeds", "0,1", "--epochs", "1", "--report",
                   tmp_path / "new" / "lr.html")
    assert done.returncode == 0, done.stderr
    assert "steepest" in done.stdout
    assert "best lr" in done.stdout
    html = (tmp_path / "new" / "lr.html").read_text()
    assert 'id="lr-range-1"' in html
    assert 'id="lr-sensitivity-1"' in html


def test_lr_find_rejects_an_empty_range():
    done = gradkit("lr-find", "--dataset", "spirals", "--lr-min", "1", "--lr-max", "0.1")
    assert done.returncode == 2
    assert "--lr-min" in done.stderr


def with_stderr_on_a_terminal(*args):
    """``(exit code, stdout, stderr)`` of ``gradkit ARGS`` with stderr on a pseudo-terminal
    of 24 x 120 characters (a new one has 0 columns, where tqdm draws nothing)."""
    import fcntl
    import pty
    import struct
    import termios

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    chunks = []

    def drain():
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    done = gradkit(*args, capture_output=False, stdout=subprocess.PIPE, stderr=secondary)
    os.close(secondary)
    reader.join(timeout=30)
    os.close(primary)
    return done.returncode, done.stdout, b"".join(chunks).decode("utf-8", "replace")


STAGES = ("load the data", "train healthy mlp", "train deep sigmoid", "train aggressive relu",
          "LR range test", "LR sensitivity", "write the report")


def assert_stages_start_and_finish_in_order(stderr):
    """Each demo stage has a start line, then its end line with the seconds it took."""
    lines = [line.strip("\r") for line in re.split(r"[\r\n]+", stderr)]
    position = 0
    for name in STAGES:
        start = next(i for i, line in enumerate(lines) if line.startswith(f"gradkit demo: {name}")
                     and line.endswith(" ..."))
        end = next(i for i, line in enumerate(lines)
                   if line.startswith(f"gradkit demo: {name}") and ": done in " in line)
        assert position <= start < end, (name, lines)
        assert float(re.search(r": done in (\d+\.\d) s", lines[end]).group(1)) >= 0
        position = end


def test_demo_shows_its_stages_and_progress_bars_on_a_terminal(tmp_path):
    code, out, err = with_stderr_on_a_terminal("demo", "--quick", "--out",
                                               tmp_path / "new" / "demo.html")
    assert code == 0, err
    assert_stages_start_and_finish_in_order(err)
    assert re.search(r"train: +\d+%\|", err), "the training bar of reference_nets.train"
    assert re.search(r"lr range test: +\d+%\|", err), "the range test's bar"
    assert f"report: {tmp_path / 'new' / 'demo.html'}" in out
    lines = out.splitlines()
    for run in ("healthy mlp", "deep sigmoid", "aggressive relu"):
        row = next(line for line in lines if line.startswith(run))
        passed, checked = re.search(r"(\d+) of (\d+) passed", row).groups()
        assert passed == checked and int(checked) > 1, f"every check passes: {row!r}"
        assert f"train {run} (lr " in err and f"gradient checks {passed} of {checked}" in err
    html = (tmp_path / "new" / "demo.html").read_text()
    assert 'class="banner sick"' in html
    assert 'id="gradcheck-timeline"' in html and "healthy mlp in training" in html
    assert "dead ReLU units (aggressive relu)" in html


def test_demo_falls_back_to_spirals_without_scikit_learn_and_is_quiet_off_a_terminal(tmp_path):
    code = ("import sys; sys.modules['sklearn'] = None; from gradkit_cli.main import main; "
            f"sys.exit(main(['demo', '--quick', '--out', {str(tmp_path / 'd.html')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "using two spirals instead of the digits" in done.stdout
    assert "scikit-learn" in done.stdout
    assert (tmp_path / "d.html").exists()
    assert_stages_start_and_finish_in_order(done.stderr)
    assert "\r" not in done.stderr and "%|" not in done.stderr, "no progress bars in a pipe"
    assert len(done.stderr.splitlines()) == 2 * len(STAGES)


def test_demo_budget_is_in_steps_so_the_small_spirals_train_as_long_as_the_digits():
    from gradkit_cli.demo import BATCH, FULL, epochs_for
    from gradkit_cli.training import load_problem

    for dataset in ("digits", "spirals"):
        problem = load_problem(dataset)
        epochs = epochs_for(problem, FULL.train_steps)
        per_epoch = -(-len(problem.X_train) // BATCH)
        assert (epochs - 1) * per_epoch < FULL.train_steps <= epochs * per_epoch


@pytest.mark.parametrize(("factory", "code"), [("good", 0), ("bad", 1)])
def test_a_reader_that_stops_early_gets_no_traceback_and_the_verdict(user_dir, factory, code):
    reader, writer = os.pipe()
    os.close(reader)                       # like `gradkit check ... --json | head -c 1`
    try:
        done = gradkit("check", f"userlayers:{factory}", "--input-shape", "8,16", "--json",
                       "--report", user_dir / "r.html", cwd=user_dir, stdout=writer,
                       stderr=subprocess.PIPE, capture_output=False)
    finally:
        os.close(writer)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == code
    assert (user_dir / "r.html").is_file()          # the rest of the work still happened
