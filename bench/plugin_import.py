"""What loading the gradcheck pytest plugin adds to ``pytest --collect-only``.

Runs ``python -m pytest --collect-only -q`` in an empty temporary project, alternating
between the default (plugin loaded through its entry point) and ``-p no:gradcheck``,
and prints the median wall times and their difference (target: under 50 ms). A second
table splits the plugin's import (``python -X importtime``, pytest already imported)
into the ``gradcheck`` package ``__init__`` and the plugin's own modules.

Usage::

    .venv/bin/python bench/plugin_import.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {"without plugin (-p no:gradcheck)": ["-p", "no:gradcheck"], "with plugin": []}
TARGET_MS = 50.0


def run_once(project: Path, extra: list[str]) -> float:
    """Wall time in seconds of one ``pytest --collect-only`` in ``project``."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    start = time.perf_counter()
    done = subprocess.run(command + extra, cwd=project, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 5:  # 5: no tests collected, the expected outcome here
        raise RuntimeError(f"pytest exited with {done.returncode}:\n{done.stdout}{done.stderr}")
    return seconds


def measure(repeat: int) -> dict[str, list[float]]:
    """Alternate the variants ``repeat`` times (after one warm-up each) in an empty project."""
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "pytest.ini").write_text("[pytest]\n")
        for extra in VARIANTS.values():
            run_once(project, extra)
        for _ in range(repeat):
            for name, extra in VARIANTS.items():
                times[name].append(run_once(project, extra))
    return times


def import_split(repeat: int) -> dict[str, float]:
    """Median import times (ms): package ``__init__``, the plugin's own modules, both."""
    code = "import pytest; import gradcheck.pytest_plugin"
    package, total = [], []
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            capture_output=True,
            text=True,
            check=True,
        )
        cumulative = {}
        for line in done.stderr.splitlines()[1:]:  # below the header line
            _, _, micros, name = (part.strip() for part in line.replace(":", "|", 1).split("|"))
            cumulative[name] = int(micros) / 1000
        package.append(cumulative["gradcheck"])
        total.append(cumulative["gradcheck.pytest_plugin"])
    return {
        "package gradcheck (__init__)": statistics.median(package),
        "plugin's own modules": statistics.median(
            [t - p for t, p in zip(total, package, strict=True)]
        ),
        "import gradcheck.pytest_plugin": statistics.median(total),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="runs per variant (default 30)")
    args = parser.parse_args()
    times = measure(args.repeat)
    medians = {name: 1000 * statistics.median(values) for name, values in times.items()}
    print(f"pytest --collect-only, empty project, {args.repeat} runs each, median wall time")
    print(f"{'variant':<36}{'median ms':>10}{'min ms':>10}")
    for name, values in times.items():
        print(f"{name:<36}{medians[name]:>10.1f}{1000 * min(values):>10.1f}")
    added = medians["with plugin"] - medians["without plugin (-p no:gradcheck)"]
    verdict = "within" if added < TARGET_MS else "OVER"
    print(f"{'added by the plugin':<36}{added:>10.1f}   ({verdict} the {TARGET_MS:.0f} ms target)")
    print(f"\npython -X importtime (pytest already imported), {args.repeat} runs, median ms")
    for label, ms in import_split(args.repeat).items():
        print(f"{label:<36}{ms:>10.1f}")


if __name__ == "__main__":
    main()
