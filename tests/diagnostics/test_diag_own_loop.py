"""The own-loop example in Monitor's docstring runs as written."""

import contextlib
import io
import textwrap

from diagnostics import Monitor

from . import toy_nets as t


def _example() -> str:
    doc = Monitor.__doc__
    block = doc.split("call the hook methods where ``train`` would::")[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line.strip() and not line.startswith(" " * 8):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


def test_docstring_own_loop_example_records_every_step():
    code = _example()
    assert len(code.strip().splitlines()) <= 11
    X, y = t.blobs(96, 8, 3)
    model, opt = t.mlp((8, 16, 3)), t.SGD(0.1, 0.9)
    opt.bind(model)
    batches = [(X[i:i + 32], y[i:i + 32]) for i in range(0, 96, 32)]
    namespace = {"Monitor": Monitor, "model": model, "opt": opt, "loss": t.CrossEntropy(),
                 "batches": batches}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(code, namespace)
    frame = namespace["monitor"].frame
    assert sorted(set(frame[frame.metric == "loss"].step)) == [0, 1, 2]
    assert set(frame[frame.metric == "grad_norm"].step) == {0, 1, 2}
    assert "severity" in out.getvalue()
