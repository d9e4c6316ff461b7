"""The one-line account of a check: its worst row, and the headline of a failure.

The headline is what pytest's short test summary shows for a failing gradient check
(``FAILED test_x.py::test_y - <headline>``) and what the session page shows per check:
the layer, the tensor and the worst error first, so that a trimmed line still says them.
"""

from __future__ import annotations

import math
from typing import Any

#: Statuses from the most to the least alarming.
STATUS_ORDER = ("fail", "nondifferentiable", "vacuous", "pass")


def error_ratio(row: dict[str, Any]) -> float:
    """A row's worst absolute error over its tolerance (> 1 fails); NaN without numbers."""
    error, tolerance = row.get("max_abs_err", math.nan), row.get("tolerance", math.nan)
    if not (math.isfinite(error) and math.isfinite(tolerance)):
        return math.nan
    return error / tolerance if tolerance > 0 else (math.inf if error > 0 else 0.0)


def worst_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The row to name for a check: the most alarming status, then the largest error ratio.

    Among failing rows a protocol problem (no numbers, NaN ratio) counts as the worst.

    Parameters
    ----------
    rows : list of dict
        A report's rows (:data:`gradcheck.report.COLUMNS`).

    Returns
    -------
    dict or None
        The row, or None for a report without rows.
    """

    def badness(row):
        ratio = error_ratio(row)
        return (-STATUS_ORDER.index(row["status"]), math.inf if math.isnan(ratio) else ratio)

    return max(rows, key=badness, default=None)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def row_headline(row: dict[str, Any]) -> str:
    """``"Scale w: abs err 2.38 > tol 4.9e-07 at [2] (rel err 1)"`` and the like."""
    where = f"{row['layer']} {row['tensor']}"
    status = row["status"]
    if status == "nondifferentiable":
        return f"{where}: {row['n_nondifferentiable']} values on a kink (nondifferentiable)"
    if status == "vacuous":
        reason = ("every checked value is 0" if row["message"].startswith("every checked")
                  else "the finite differences cannot resolve its values")
        return f"{where}: vacuous, {reason} (the check proved nothing)"
    if math.isnan(error_ratio(row)):
        return f"{where}: {row['message']}"
    comparison = ">" if status == "fail" else "<="
    return (f"{where}: abs err {_fmt(row['max_abs_err'])} {comparison} tol "
            f"{row['tolerance']:.2g} at {row['worst_index']} "
            f"(rel err {_fmt(row['max_rel_err'])})")


def failure_headline(report: Any) -> str:
    """One line for a failed check: its worst row, and how many tensors failed besides.

    Parameters
    ----------
    report : GradcheckReport
        A report whose check failed (a ``"fail"`` row, or kinks or vacuous rows that
        strict mode counts as failures).

    Returns
    -------
    str
    """
    row = worst_row(report.rows)
    if row is None:
        return "gradcheck failed (the report has no rows)"
    if row["status"] != "fail":
        return f"{row_headline(row)}; strict mode counts it as a failure"
    failing = {(r["layer"], r["tensor"]) for r in report.rows if r["status"] == "fail"}
    others = len(failing) - 1
    more = f"; {others} more failing tensor{'s' * (others > 1)}" if others else ""
    return row_headline(row) + more
