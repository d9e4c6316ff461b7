"""Readable messages and per-layer summaries from the rows of a gradient-check table
(``GradcheckReport.table``).

Shared by the report's findings on a final check and by :class:`GradcheckHook`'s findings
on the checks made during training, so both say the same thing about the same failure.
Only pandas and numpy are needed: recording stays cheap to import.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STATUS_RANK", "kink_counts", "proved_nothing", "tensor_failure", "worst_status"]

#: Gradient-check statuses from best to worst; an unknown status ranks with "vacuous"
#: (not a failure, not a plain pass either). ``"constant"`` rows (integer inputs, buffers:
#: held fixed, not checked) do not count.
STATUS_RANK = {"pass": 0, "vacuous": 1, "nondifferentiable": 2, "fail": 3}


def worst_status(statuses) -> str:
    """The worst of some statuses by :data:`STATUS_RANK` (``"pass"`` when there are none
    but ``"constant"``)."""
    return max((s for s in statuses if s != "constant"), key=lambda s: STATUS_RANK.get(s, 1),
               default="pass")


def proved_nothing(table) -> bool:
    """Whether some row of a check table (``status`` column) is ``"vacuous"``: all analytic
    and numeric values zero, so a pass there proves nothing."""
    return bool((table["status"] == "vacuous").any())


def tensor_failure(tensor, rows) -> str:
    """One message for the rows of one tensor that share a bad status (fail, vacuous).

    Parameters
    ----------
    tensor : str
        ``"input"`` or a parameter key.
    rows : pandas.DataFrame
        The tensor's rows with that status (DESIGN columns; ``check`` and ``likely_cause``
        when the table has them).

    Returns
    -------
    str
        The checks concerned (local, end-to-end, protocol), the worst element of the
        numeric ones (of those that name an element, when some do), every distinct message
        and every distinct likely cause.
    """
    checks = ", ".join(dict.fromkeys(rows["check"].astype(str))) if "check" in rows else ""
    parts = [f"{tensor} ({checks})" if checks else str(tensor)]
    numeric = rows[np.isfinite(rows["max_rel_err"].astype(float))]
    if len(numeric):   # the worst row that names an element, else the worst row
        named = numeric[numeric["worst_index"].astype(str).str.startswith("(")]
        pool = named if len(named) else numeric
        worst = pool.loc[pool["max_rel_err"].astype(float).idxmax()]
        parts.append(f"max relative error {worst['max_rel_err']:.2e} at index "
                     f"{worst['worst_index']}")
    notes = [worst["message"]] if len(numeric) else []
    notes += list(rows.loc[~rows.index.isin(numeric.index), "message"])
    if "likely_cause" in rows:
        notes += [f"likely cause: {cause}" for cause in rows["likely_cause"]
                  if isinstance(cause, str) and cause]
    notes = dict.fromkeys(n for n in notes if isinstance(n, str) and n)
    return "; ".join([": ".join(parts), *notes])


def kink_counts(table):
    """Values on a kink per layer (a pandas.Series by layer): the ``n_nondifferentiable``
    column when the table has it, else the number of nondifferentiable rows."""
    if "n_nondifferentiable" in table:
        counts = table["n_nondifferentiable"].fillna(0)
    else:
        counts = (table["status"] == "nondifferentiable").astype(int)
    return counts.groupby(table["layer"], sort=False).sum()
