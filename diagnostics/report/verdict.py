"""The top of the report: one findings table for all runs and checks, and the verdict banner."""

from __future__ import annotations

import pandas as pd

from ..check_messages import tensor_failure
from ..health import SEVERITY_ORDER

#: Human wording of each check, as the banner names it.
CHECK_LABELS = {
    "gradient_check": "wrong gradients",
    "gradient_check_vacuous": "gradient checks that proved nothing",
    "vanishing_gradient": "vanishing gradients",
    "exploding_gradient": "exploding gradients",
    "dead_relu": "dead ReLU units",
    "saturation": "saturated units",
    "update_ratio": "update/weight ratio out of range",
    "non_finite": "non-finite values (NaN/Inf)",
    "loss_divergence": "diverging loss",
    "no_learning": "not learning",
}

#: Section anchor (see ``sections.py``) of the plot that shows each check.
CHECK_ANCHORS = {
    "vanishing_gradient": "grad-norms",
    "exploding_gradient": "grad-norms",
    "non_finite": "grad-norms",
    "dead_relu": "units",
    "saturation": "units",
    "update_ratio": "update-ratio",
    "loss_divergence": "loss",
    "no_learning": "loss",
}


def gradcheck_findings(check, anchor):
    """Turn the failing rows of a gradient check into critical findings (one per tensor),
    and its vacuous rows (checks that saw only zeros and proved nothing) into one warning.

    Parameters
    ----------
    check : inputs.Check
    anchor : str
        Id of the check's section in the page.

    Returns
    -------
    pandas.DataFrame
        Columns run, severity, check, layer, message, anchor.
    """
    failed = check.table[check.table["status"] == "fail"]
    groups = list(failed.groupby(["layer", "tensor"], sort=False))
    frame = pd.DataFrame({"run": check.name, "severity": "critical", "check": "gradient_check",
                          "layer": [str(layer) for (layer, _), _ in groups],
                          "message": [tensor_failure(tensor, rows)
                                      for (_, tensor), rows in groups],
                          "anchor": anchor})
    vacuous = check.table[check.table["status"] == "vacuous"]
    if vacuous.empty:
        return frame
    names = list(dict.fromkeys(f"{layer}.{tensor}" for layer, tensor
                               in zip(vacuous["layer"], vacuous["tensor"], strict=True)))
    message = (f"{len(names)} tensor(s) saw only exact zeros ({', '.join(names)}): the check "
               f"proved nothing there; {vacuous['message'].iloc[0].split(': ', 1)[-1]}")
    layers = ", ".join(dict.fromkeys(str(layer) for layer in vacuous["layer"]))
    warning = pd.DataFrame({"run": [check.name], "severity": ["warning"],
                            "check": ["gradient_check_vacuous"], "layer": [layers],
                            "message": [message], "anchor": [anchor]})
    return pd.concat([frame, warning], ignore_index=True)


def collect_findings(runs, checks, present, timelines=(), timeline_anchor=""):
    """All findings sorted critical first, each with the anchor of the plot that shows it.

    Parameters
    ----------
    runs : list of inputs.Run
    checks : list of tuple (inputs.Check, str)
        Each check with the anchor of its section.
    present : set of str
        Anchors of the sections actually on the page; links to absent plots are dropped.
    timelines : list of inputs.Timeline
        Gradient checks during training, their findings shown at ``timeline_anchor``.

    Returns
    -------
    pandas.DataFrame
        Columns run, severity, check, label, layer, message, anchor (``""`` when no plot).
    """
    parts = [run.findings.assign(run=run.name) for run in runs if not run.findings.empty]
    parts += [gradcheck_findings(check, anchor) for check, anchor in checks]
    parts += [t.findings.assign(run=t.name, anchor=timeline_anchor) for t in timelines
              if not t.findings.empty]
    columns = ["run", "severity", "check", "layer", "message", "anchor"]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    if "anchor" not in frame:
        frame["anchor"] = None
    mapped = frame["check"].map(CHECK_ANCHORS)
    frame["anchor"] = frame["anchor"].fillna(mapped).fillna("")
    frame.loc[~frame["anchor"].isin(present), "anchor"] = ""
    frame["label"] = frame["check"].map(CHECK_LABELS).fillna(frame["check"])
    rank = frame["severity"].map(SEVERITY_ORDER).fillna(len(SEVERITY_ORDER))
    order = rank.sort_values(kind="stable").index
    return frame.loc[order, ["run", "severity", "check", "label", "layer", "message", "anchor"]]


def _problems(findings, severity):
    """``"label (run, run)"`` phrases for the findings of one severity, in order of first
    appearance in ``findings``."""
    hits = findings[findings["severity"] == severity]
    grouped = hits.groupby("label", sort=False)["run"].unique()
    return [f"{label} ({', '.join(runs)})" for label, runs in grouped.items()]


def verdict(findings, run_names, check_names):
    """The banner: overall status and a sentence that names the problems.

    Parameters
    ----------
    findings : pandas.DataFrame
        Output of :func:`collect_findings`.
    run_names, check_names : list of str
        Names of the monitored runs and of the gradient checks in the report.

    Returns
    -------
    dict
        ``status`` ("sick", "warning" or "healthy"), ``headline``, ``detail`` and
        ``chips``: ``[(name, status, word)]``, one per run/check, shown under the banner.
    """
    critical, warnings = _problems(findings, "critical"), _problems(findings, "warning")
    is_check = findings["check"].isin(["gradient_check", "gradient_check_vacuous"])
    chips = []
    for name in run_names:
        mine = set(findings.loc[(findings["run"] == name) & ~is_check, "severity"])
        status = "sick" if "critical" in mine else "warning" if "warning" in mine else "healthy"
        chips.append((name, status, status))
    for name in check_names:
        mine = set(findings.loc[(findings["run"] == name) & is_check, "severity"])
        label = name if name == "gradient check" else f"gradient check {name}"
        status, word = (("sick", "failed") if "critical" in mine else
                        ("warning", "vacuous") if "warning" in mine else ("healthy", "passed"))
        chips.append((label, status, word))
    names = [*run_names, *check_names]
    if critical:
        status, headline = "sick", "Sick: " + "; ".join(critical)
        detail = ("Also warned: " + "; ".join(warnings)) if warnings else ""
    elif warnings:
        status, headline, detail = "warning", "Warnings: " + "; ".join(warnings), ""
    else:
        status = "healthy"
        headline = "Healthy: no problems found"
        detail = f"Checked {len(names)} item(s): " + ", ".join(names) if names else ""
    return {"status": status, "headline": headline, "detail": detail, "chips": chips}
