"""gradkit's torch adapter against ``torch.autograd.gradcheck`` on custom autograd Functions.

The cases (``tests/adapters/torch_cases.py``): 19 custom ``torch.autograd.Function``s with
hand-written backwards, correct and subtly wrong, float64 and float32, some at kinks (a
custom linear, softplus, ReLU at 0, a layernorm, deformable-style bilinear sampling, a row
max with ties, a gather with repeated ids; bugs: a 1e-3 or 1e-2 relative error, a missing
row, a missing cross term, a swapped corner, an overwrite instead of an accumulation, a
wrong gradient for the second or third input only). On the same inputs and dtype, in one
process:

- ``check_torch(fn, *inputs)``, gradkit's default check;
- ``torch.autograd.gradcheck(fn.apply, inputs)``, slow mode and ``fast_mode=True``, with its
  default tolerances (eps 1e-6, atol 1e-5, rtol 1e-3); what it warns is recorded.

A tool *catches* a bug when it fails the case, *locates* it when the inputs it blames are
exactly the wrong one (gradkit: its failing rows; torch: "with respect to input i"), and
raises a *false alarm* when it fails a correct case. gradkit also names the worst element
(checked against the wrong rows where the bug is confined to some) and reports kinks as
``nondifferentiable``. Time: each check's best of ``--repeat`` interleaved runs, summed.

Run: ``.venv/bin/python bench/gradcheck_torch.py [--threads 1] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import warnings
from pathlib import Path


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for numpy and torch")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    return parser.parse_args()


ARGS = _parse()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the cases live in tests/

import torch  # noqa: E402  (thread settings must precede the imports)

from gradcheck.adapters.torch import check_torch  # noqa: E402
from gradcheck.several_inputs import parse_inputs  # noqa: E402
from tests.adapters.torch_cases import CASES  # noqa: E402

TOOLS = ("gradkit", "torch slow", "torch fast")
_BLAMED = re.compile(r"with respect to input (\d+)")


def run_gradkit(case, inputs) -> dict:
    """gradkit's verdict: failed, blamed inputs, worst element, kink."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the float32 advice
        report = check_torch(case.fn, *inputs)
    names = parse_inputs(tuple(inputs), "bench").names
    failing = [r for r in report.rows if r["status"] == "fail"]
    blamed = {names.index(r["tensor"]) for r in failing if r["tensor"] in names}
    worst = next((r["worst_index"] for r in failing), "")
    return {"failed": bool(failing), "blamed": blamed, "worst": worst,
            "kink": report.n_nondifferentiable > 0, "said": ""}


def run_torch(case, inputs, fast: bool) -> dict:
    """torch.autograd.gradcheck's verdict and the first line of what it said."""
    tensors = [torch.from_numpy(a.copy()).requires_grad_(a.dtype.kind == "f") for a in inputs]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            torch.autograd.gradcheck(case.fn.apply, tensors, fast_mode=fast)
            failed, said = False, ""
        except RuntimeError as exc:
            failed, said = True, str(exc).strip().splitlines()[0]
    warned = " ".join(dict.fromkeys(re.sub(r"#\d+", "#i", str(w.message)) for w in caught))
    return {"failed": failed, "blamed": {int(i) for i in _BLAMED.findall(said)}, "worst": "",
            "kink": False, "said": said, "warned": warned}


def run(tool: str, case, inputs) -> dict:
    if tool == "gradkit":
        return run_gradkit(case, inputs)
    return run_torch(case, inputs, fast=tool == "torch fast")


def measure() -> tuple[list[dict], dict]:
    """Per case and tool: the verdict and the best time."""
    points = [case.inputs() for case in CASES]
    for tool in TOOLS:   # warm-up: first calls pay imports and allocations
        run(tool, CASES[0], points[0])
    results = [{tool: None for tool in TOOLS} for _ in CASES]
    best = [{tool: float("inf") for tool in TOOLS} for _ in CASES]
    for _ in range(ARGS.repeat):
        for i, (case, inputs) in enumerate(zip(CASES, points, strict=True)):
            for tool in TOOLS:
                start = time.perf_counter()
                results[i][tool] = run(tool, case, inputs)
                best[i][tool] = min(best[i][tool], time.perf_counter() - start)
    return results, best, points


def cell(case, verdict: dict, inputs) -> str:
    """One table cell: pass / kink / FAIL with what it blames."""
    if not verdict["failed"]:
        return "kink (nondifferentiable)" if verdict["kink"] else "pass"
    blamed = ",".join(str(i) for i in sorted(verdict["blamed"])) or "-"
    text = f"FAIL input {blamed}"
    if verdict["worst"]:
        text += f" {verdict['worst']}"
    if case.wrong is None:
        text += " (false alarm)"
    elif verdict["blamed"] != {case.wrong}:
        text += " (not located)"
    elif case.wrong_rows is not None and verdict["worst"]:
        row = int(re.findall(r"-?\d+", verdict["worst"])[0])
        text += " (right row)" if row in case.wrong_rows(inputs) else " (other row)"
    return text


def summary(results, best) -> list[list[str]]:
    bugs = [i for i, c in enumerate(CASES) if c.wrong is not None]
    bugs64 = [i for i in bugs if CASES[i].dtype == "float64"]
    good = [i for i, c in enumerate(CASES) if c.wrong is None]
    good32 = [i for i in good if CASES[i].dtype == "float32"]
    rows = []
    for tool in TOOLS:
        caught = sum(results[i][tool]["failed"] for i in bugs)
        caught64 = sum(results[i][tool]["failed"] for i in bugs64)
        located = sum(results[i][tool]["failed"] and results[i][tool]["blamed"] == {CASES[i].wrong}
                      for i in bugs)
        alarms = sum(results[i][tool]["failed"] for i in good)
        alarms32 = sum(results[i][tool]["failed"] for i in good32)
        seconds = sum(b[tool] for b in best)
        rows.append([tool, f"{caught} / {len(bugs)}", f"{caught64} / {len(bugs64)}",
                     f"{located} / {len(bugs)}",
                     f"{alarms} / {len(good)}", f"{alarms32} / {len(good32)}", f"{seconds:.3f}"])
    slow = float(rows[1][-1])
    for row in rows:
        row.append(f"{float(row[-1]) / slow:.2f}")
    return rows


def markdown(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])


def main() -> None:
    torch.set_num_threads(ARGS.threads)
    results, best, points = measure()
    per_case = [[c.name, c.dtype, "-" if c.wrong is None else f"input {c.wrong}",
                 *(cell(c, results[i][t], points[i]) for t in TOOLS),
                 " / ".join(f"{1e3 * best[i][t]:.0f}" for t in TOOLS)]
                for i, c in enumerate(CASES)]
    print(markdown(["case", "dtype", "bug in", *TOOLS, "ms (" + " / ".join(TOOLS) + ")"],
                   per_case))
    print()
    print(markdown(["checker", "bugs caught", "of them float64", "located on the right input",
                    "false alarms", "false alarms (float32)", "seconds", "time / torch slow"],
                   summary(results, best)))
    said = {r["torch slow"]["said"] for r in results if r["torch slow"]["failed"]}
    warned = {r["torch slow"]["warned"] for r in results if r["torch slow"]["warned"]}
    print("\ntorch gradcheck warned:", *sorted(warned), sep="\n  ")
    print("torch gradcheck said (slow mode, first lines):", *sorted(said), sep="\n  ")


if __name__ == "__main__":
    main()
