"""Run metadata: what is needed to reproduce a report (versions, models, seeds, options)."""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from importlib import metadata

import numpy as np

from ..check_messages import proved_nothing


def _version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment():
    """``[(label, value)]`` rows describing when and with what the report was made."""
    return [
        ("generated", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("gradkit", _version("gradkit")),
        ("numpy", np.__version__),
        ("python", sys.version.split()[0]),
        ("platform", platform.platform(terse=True)),
    ]


def _seeds(values):
    return ", ".join(str(v) for v in values) if values else "not recorded"


def run_rows(runs):
    """One dict per monitored run: name, parameter count, layer count, which steps were
    recorded (``meta["recorded"]``, else the ``every`` of older records), seeds, model."""
    return [{
        "name": run.name,
        "n_params": f"{int(run.meta['n_params']):,}" if "n_params" in run.meta else "unknown",
        "n_layers": len(run.layers) or "unknown",
        "recorded": run.meta.get("recorded", f"every {run.meta.get('every', 1)} step(s)"),
        "seeds": _seeds([run.meta[k] for k in ("seed", "seeds") if k in run.meta]),
        "epochs": len(run.history),
        "model": str(run.meta.get("model", "")),
    } for run in runs]


def check_rows(checks):
    """One dict per gradient check: name, verdict ("failed", "vacuous" when a row proved
    nothing, else "passed"), counts and its options (mode, eps, seed...)."""
    return [{
        "name": check.name,
        "passed": check.passed,
        "verdict": ("failed" if not check.passed else
                    "vacuous" if proved_nothing(check.table) else "passed"),
        "n_tensors": len(check.table),
        "options": ", ".join(f"{k}={v}" for k, v in check.options.items()),
    } for check in checks]


def lr_rows(ranges, sensitivities):
    """``[(label, value)]`` rows for the learning-rate experiments."""
    rows = [(f"range test {i + 1}",
             f"{result.curve['lr'].min():.2g} to {result.curve['lr'].max():.2g}, "
             f"{len(result.curve)} steps") for i, result in enumerate(ranges)]
    rows += [(f"sensitivity {i + 1}",
              f"{result.summary['lr'].nunique()} learning rates, seeds "
              f"{_seeds(sorted(result.runs['seed'].unique()))}")
             for i, result in enumerate(sensitivities)]
    return rows
