"""The result of a check: :class:`GradcheckReport`, :class:`GradcheckError` and message builders."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradcheck.judge import SAFETY
from gradcheck.step_halving import MAX_HALVINGS

__all__ = ["COLUMNS", "GradcheckError", "GradcheckReport", "constant_row", "problem_row",
           "verdict_row"]

COLUMNS = ("layer", "tensor", "shape", "checked", "max_abs_err", "max_rel_err", "worst_index",
           "analytic", "numeric", "status", "message",
           # extra columns, after the contract's
           "check", "tolerance", "n_nondifferentiable", "likely_cause", "cause_label")
_STATUS_ORDER = {"fail": 0, "nondifferentiable": 1, "vacuous": 2, "pass": 3, "constant": 4}


def _all_zero(v) -> str:
    """Why a check whose values are (almost) all exactly 0 proved nothing, and what to do."""
    others = v.checked - v.n_zero
    but = f" but {others} of {v.checked}" if others else ""
    return (f"every checked analytic and numeric value{but} is exactly 0: the check proved "
            "nothing (dead ReLUs, saturated units, a zero upstream gradient or a constant "
            "input block the gradient); check at an input that exercises the layer")


def _unresolvable(v) -> str:
    """Why a check whose tolerances exceed the gradient proved nothing, and what to do."""
    return (f"the finite differences cannot resolve these values: their tolerance ("
            f"{v.tolerance:.3g} at {v.worst_label}) is above the largest analytic value "
            f"({v.largest:.3g}), so any gradient from 0 to twice the true one would pass; the "
            "check proved nothing. The "
            "round-off of the dtype swamps the objective's change at this step: check in "
            "float64, or at inputs and outputs the dtype resolves (not tiny, no large offset)")


def _kink_message(v) -> str:
    """What a nondifferentiable verdict found: values on kinks, values near them."""
    on_kink = v.n_nondifferentiable - v.n_unresolved - v.n_not_additive
    parts = [f"{n} of {v.checked} values sit {where}" for n, where in (
        (on_kink, "on a kink (the one-sided slopes keep their gap when the step is halved)"),
        (v.n_unresolved, "near kinks (their finite differences did not converge as the step "
                         f"was halved {MAX_HALVINGS + 1} times)"),
        (v.n_not_additive, "where the function has partial derivatives but no gradient: "
                           "along a random direction it does not change by their weighted "
                           "sum (three or more tied values, as in a median)")) if n]
    if not np.isfinite(v.numeric):
        parts.append(f"at {v.worst_label} the finite difference is NaN or Inf: the steps "
                     "leave the function's domain there (a log or square root of a value "
                     "near 0), so it is not judged")
    return "; ".join(parts)


def _failed_values(v) -> str:
    """What disagrees: elements (``"3 of 15 checked values disagree; worst at (0, 2)"``) or
    random directions, counted as such (each sees every element of the tensor at once)."""
    label = v.worst_label
    if "direction" not in label or "located" in label:
        return f"{v.n_failed} of {v.checked} checked values disagree; worst at {label}"
    if v.checked == 1:
        return f"the gradient disagrees along {label} (a random direction over its elements)"
    return f"{v.n_failed} of {v.checked} random directions disagree; worst along {label}"


def _analytic_vs_numeric(analytic: float, numeric: float) -> str:
    """``"analytic a vs numeric n"`` with enough significant digits to tell them apart
    (at least 6; a 1e-6 relative error shows in its 8th)."""
    scale = max(abs(analytic), abs(numeric))
    gap = abs(analytic - numeric)
    digits = 6
    if np.isfinite(scale) and np.isfinite(gap) and 0 < gap < scale:
        digits = min(17, max(6, 2 + math.ceil(-math.log10(gap / scale))))
    return f"analytic {analytic:.{digits}g} vs numeric {numeric:.{digits}g}"


def verdict_row(layer: str, tensor: str, shape: tuple, check: str, v,
                note: str = "") -> dict[str, Any]:
    """Table row for a numeric comparison (``v`` is a :class:`gradcheck.judge.Verdict`);
    ``note`` is appended to the message."""
    status = v.status
    if status == "fail":
        message = f"{_failed_values(v)}: {_analytic_vs_numeric(v.analytic, v.numeric)}"
    elif status == "nondifferentiable":
        message = _kink_message(v)
    elif status == "vacuous":
        message = _all_zero(v) if v.all_zero else _unresolvable(v)
    else:
        message = ""
    message = f"{message}; {note}" if message and note else message or note
    return {"layer": layer, "tensor": tensor, "shape": tuple(shape), "checked": v.checked,
            "max_abs_err": v.max_abs_err, "max_rel_err": v.max_rel_err,
            "worst_index": v.worst_label, "analytic": v.analytic, "numeric": v.numeric,
            "status": status, "message": message, "check": check,
            "tolerance": v.tolerance, "n_nondifferentiable": v.n_nondifferentiable,
            "likely_cause": "", "cause_label": ""}


def problem_row(layer: str, tensor: str, shape, check: str, message: str) -> dict[str, Any]:
    """A ``"fail"`` row for a protocol problem (no numbers, a message saying what to fix)."""
    return {"layer": layer, "tensor": tensor, "shape": tuple(shape or ()), "checked": 0,
            "max_abs_err": float("nan"), "max_rel_err": float("nan"), "worst_index": "",
            "analytic": float("nan"), "numeric": float("nan"), "status": "fail",
            "message": message, "check": check, "tolerance": float("nan"),
            "n_nondifferentiable": 0, "likely_cause": "", "cause_label": ""}


def constant_row(layer: str, tensor: str, shape, message: str) -> dict[str, Any]:
    """A ``"constant"`` row: a tensor held fixed (an integer input, a buffer), not checked and
    not a failure; ``message`` says why."""
    return {**problem_row(layer, tensor, shape, "constant", message), "status": "constant"}


def constant_input_row(layer: str, name: str, array: np.ndarray) -> dict[str, Any]:
    """The ``"constant"`` row of an integer or boolean input (token ids, indices, masks)."""
    return constant_row(layer, name, array.shape, f"{array.dtype} input: a constant (integer "
                        "and boolean inputs are never perturbed and need no dx; pass it as "
                        "floats to have its gradient checked)")


class GradcheckError(AssertionError):
    """A gradient check failed; ``.report`` holds the :class:`GradcheckReport`."""

    def __init__(self, message: str, report: GradcheckReport | None = None):
        super().__init__(message)
        self.report = report


class GradcheckReport:
    """Outcome of ``check_layer``, ``check_model`` or ``check_function``.

    Attributes
    ----------
    rows : list of dict
        One dict per table row (see :data:`COLUMNS`).
    options : dict
        ``mode, method, eps, atol, rtol, dtype, seed`` as used.
    seconds : float
        Wall time of the check.
    """

    def __init__(self, rows: list[dict], options: dict, seconds: float = 0.0):
        self.rows = list(rows)
        self.options = dict(options)
        self.seconds = float(seconds)
        self._table = None

    @property
    def table(self):
        """pandas.DataFrame, one row per checked tensor (and per protocol problem)."""
        if self._table is None:
            import pandas as pd

            self._table = pd.DataFrame(self.rows, columns=list(COLUMNS))
        return self._table

    @property
    def passed(self) -> bool:
        """True when no row has status ``"fail"``."""
        return self.n_failed == 0

    @property
    def n_failed(self) -> int:
        """Number of rows with status ``"fail"``."""
        return sum(row["status"] == "fail" for row in self.rows)

    @property
    def n_nondifferentiable(self) -> int:
        """Number of rows with status ``"nondifferentiable"`` (kinks; not failures)."""
        return sum(row["status"] == "nondifferentiable" for row in self.rows)

    @property
    def n_vacuous(self) -> int:
        """Number of rows with status ``"vacuous"`` (all zeros: proved nothing; not failures)."""
        return sum(row["status"] == "vacuous" for row in self.rows)

    def raise_for_failure(self) -> GradcheckReport:
        """Raise :class:`GradcheckError` (an ``AssertionError``) on failure; else return self."""
        if not self.passed:
            raise GradcheckError(str(self), self)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form (NaN as null, infinities as "inf"/"-inf"); :meth:`from_dict`
        rebuilds an equal report."""
        rows = [{key: _plain(value) for key, value in row.items()} for row in self.rows]
        return {"rows": rows, "options": {k: _plain(v) for k, v in self.options.items()},
                "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradcheckReport:
        """Rebuild a report written by :meth:`to_dict`."""
        rows = [{**row, "shape": tuple(row["shape"]),
                 **{key: _number(row[key]) for key in _NUMBERS if key in row}}
                for row in data["rows"]]
        return cls(rows, data["options"], data.get("seconds", 0.0))

    def __repr__(self) -> str:
        return (f"GradcheckReport(passed={self.passed}, rows={len(self.rows)}, "
                f"n_failed={self.n_failed}, n_nondifferentiable={self.n_nondifferentiable}, "
                f"n_vacuous={self.n_vacuous})")

    def _repr_html_(self) -> str:
        from gradcheck.report_html import report_html
        return report_html(self)

    def __str__(self) -> str:
        return "\n".join([self._headline(), *_format_rows(self.rows), *self._messages()])

    def _headline(self) -> str:
        o = self.options
        verdict = "PASSED" if self.passed else "FAILED"
        if self.passed and self.rows and self.n_vacuous + self.n_nondifferentiable == len(
                self.rows):
            verdict = "PASSED, proving nothing"   # every row vacuous or on kinks
        return (f"gradcheck {verdict}: {self.n_failed} of {len(self.rows)} rows fail, "
                f"{self.n_nondifferentiable} nondifferentiable, {self.n_vacuous} vacuous "
                f"(mode={o.get('mode')}, method={o.get('method')}, rules of "
                f"{o.get('dtype')}: tolerance = atol {o.get('atol'):g} + rtol "
                f"{o.get('rtol'):g} x scale + round-off + {SAFETY:g} x estimated "
                f"finite-difference error, shown per row; {self.seconds:.3f} s)")

    def _messages(self) -> list[str]:
        notes = []
        for r in _ordered(self.rows):
            where = f"  {r['layer']} {r['tensor']} [{r['check']}]"
            notes += [f"{where}: {r['message']}"] if r["message"] else []
            cause = r.get("likely_cause")
            notes += [f"{where}: likely cause: {cause}"] if cause else []
        return ["", "Messages:", *notes] if notes else []


def _ordered(rows: list[dict]) -> list[dict]:
    """Failing rows first, then kinks, then passes (stable within each status)."""
    return sorted(rows, key=lambda r: _STATUS_ORDER[r["status"]])


def _format_rows(rows: list[dict]) -> list[str]:
    """Fixed-width text table of the rows, failing first (no trailing spaces)."""
    head = ("layer", "tensor", "check", "status", "worst", "analytic", "numeric",
            "abs_err", "rel_err", "tolerance")
    body = [(r["layer"], r["tensor"], r["check"], r["status"], r["worst_index"],
             *(f"{r[k]:.4g}" for k in ("analytic", "numeric", "max_abs_err", "max_rel_err",
                                       "tolerance"))) for r in _ordered(rows)]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body, strict=True)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in (head, *body)]


_NUMBERS = ("max_abs_err", "max_rel_err", "analytic", "numeric", "tolerance")


def _plain(value):
    """numpy scalars, tuples and non-finite floats as strict-JSON Python values."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    return value


def _number(value) -> float:
    """Inverse of :func:`_plain` for a float column: null is NaN, "inf"/"-inf" infinities."""
    return math.nan if value is None else float(value)
