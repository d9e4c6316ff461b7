"""Normalise ``write_report`` arguments into plain records the page builder can use.

Everything here is duck-typed on the documented attributes (``Monitor.frame``,
``GradcheckReport.table``, ``LRRangeResult.curve``...), so the report depends on
the shape of the data, not on concrete classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..records import FRAME_COLUMNS


@dataclass
class Run:
    """One monitored training run.

    Attributes
    ----------
    name : str
        Run name (dict key, or ``"run"`` for a lone monitor).
    metrics : dict of str to pandas.DataFrame
        ``monitor.frame`` split by ``metric`` (columns step, epoch, layer, tensor, value).
    history : pandas.DataFrame
        One row per epoch (train() columns); may be empty.
    meta : dict
        ``monitor.meta``.
    findings : pandas.DataFrame
        ``monitor.findings()`` (severity, check, layer, message).
    layers : list of str
        Layer names in network order.
    """

    name: str
    metrics: dict
    history: pd.DataFrame
    meta: dict
    findings: pd.DataFrame
    layers: list = field(default_factory=list)


@dataclass
class Check:
    """One gradient-check report: ``name``, ``table`` (DESIGN columns), ``options``, ``passed``."""

    name: str
    table: pd.DataFrame
    options: dict
    passed: bool


@dataclass
class Timeline:
    """Gradient checks made during one run (a ``GradcheckHook``).

    Attributes
    ----------
    name : str
        ``"<run> in training"`` (dict key, or ``"run"`` for a lone hook).
    frame : pandas.DataFrame
        ``hook.timeline``: step, epoch, layer, status, n_nondifferentiable, seconds.
    findings : pandas.DataFrame
        ``hook.findings()``.
    seconds, training_seconds : float
        Time spent checking, and the run's wall time with the checks.
    """

    name: str
    frame: pd.DataFrame
    findings: pd.DataFrame
    seconds: float
    training_seconds: float


def _named(value, argument, single_name):
    """Turn ``value`` (one object or a ``{name: object}`` dict) into ``[(name, object)]``."""
    if value is None:
        return []
    if isinstance(value, dict):
        if not value:
            raise ValueError(f"{argument} must not be an empty dict")
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{argument} dict keys must be run names (str), got {bad[0]!r}")
        return list(value.items())
    return [(single_name, value)]


def _require(obj, argument, expected, attribute):
    """``obj.<attribute>`` (read once), which must be a DataFrame."""
    value = getattr(obj, attribute, None)
    if not isinstance(value, pd.DataFrame):
        raise TypeError(f"{argument} must be {expected}, got {type(obj).__name__} "
                        f"(no DataFrame attribute {attribute!r})")
    return value


def runs_from(monitor, *, with_findings=True):
    """Build :class:`Run` records from a Monitor or a dict of Monitors; each monitor's
    frame is read once (``with_findings=False`` leaves ``findings`` empty, for plots)."""
    expected = "a Monitor or a dict {run_name: Monitor}"
    runs = []
    for name, mon in _named(monitor, "monitor", "run"):
        frame = _require(mon, "monitor", expected, "frame")
        missing = [c for c in FRAME_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"monitor {name!r}: frame lacks columns {missing}")
        metrics = {m: part.drop(columns="metric")
                   for m, part in frame.groupby("metric", sort=False)}
        meta = dict(getattr(mon, "meta", {}) or {})
        history = getattr(mon, "history", None)
        runs.append(Run(name=name, metrics=metrics,
                        history=history if isinstance(history, pd.DataFrame) else pd.DataFrame(),
                        meta=meta, findings=mon.findings() if with_findings else pd.DataFrame(),
                        layers=list(meta.get("layers", []))))
    return runs


def checks_from(gradcheck):
    """Build :class:`Check` records from a GradcheckReport or a dict of them."""
    expected = "a GradcheckReport or a dict {check_name: GradcheckReport}"
    checks = []
    for name, rep in _named(gradcheck, "gradcheck", "gradient check"):
        table = _require(rep, "gradcheck", expected, "table")
        checks.append(Check(name=name, table=table, options=dict(getattr(rep, "options", {})),
                            passed=bool(rep.passed)))
    return checks


def timelines_from(gradcheck_hook):
    """Build :class:`Timeline` records from a GradcheckHook or a dict of them."""
    expected = "a GradcheckHook or a dict {run_name: GradcheckHook}"
    return [Timeline(name=f"{name} in training",
                     frame=_require(hook, "gradcheck_hook", expected, "timeline"),
                     findings=hook.findings(), seconds=float(hook.seconds),
                     training_seconds=float(hook.training_seconds))
            for name, hook in _named(gradcheck_hook, "gradcheck_hook", "run")]


def lr_results_from(lr):
    """Split ``lr`` (a result or a list of them) into ``(range_tests, sensitivities)``."""
    items = [] if lr is None else list(lr) if isinstance(lr, (list, tuple)) else [lr]
    ranges, sens = [], []
    for item in items:
        if isinstance(getattr(item, "curve", None), pd.DataFrame):
            ranges.append(item)
        elif isinstance(getattr(item, "summary", None), pd.DataFrame):
            sens.append(item)
        else:
            raise TypeError("lr must be an LRRangeResult, an LRSensitivityResult or a list of "
                            f"them, got {type(item).__name__}")
    return ranges, sens
