"""Result collection for one pytest session, and the merge of pytest-xdist workers.

Each call of the ``gradcheck`` fixture adds a :class:`CheckRecord`; a gradient test that
fails otherwise (an exception or an assertion of its own, not a gradient check) adds a
:class:`RaisedTest`. A worker ships both to the controller as one JSON string
(``config.workeroutput``), which the controller merges into its own
:class:`SessionResults`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from gradcheck.session.headline import worst_row


def tensors(report: Any, status: str | None = None) -> set[tuple[str, str]]:
    """The ``(layer, tensor)`` pairs of a report's rows, only those with ``status`` if given.

    A tensor can have several rows (``check_model`` checks each layer alone and end to end).
    """
    return {(r["layer"], r["tensor"]) for r in report.rows if status in (None, r["status"])}


def nondifferentiable_points(report: Any) -> int:
    """Number of checked values that sit on a kink, over all rows of a report."""
    return sum(int(r["n_nondifferentiable"]) for r in report.rows)


@dataclass(frozen=True)
class CheckRecord:
    """One gradient check run by a test.

    Attributes
    ----------
    name : str
        The test's node id (parameter set included), with ``" #k"`` appended for the
        k-th check (k >= 2) of the same test.
    passed : bool
        The verdict as the test saw it (nondifferentiable points fail in strict mode).
    report : GradcheckReport
        The full report.
    """

    name: str
    passed: bool
    report: Any

    @property
    def seconds(self) -> float:
        """Wall time of the check."""
        return float(self.report.seconds)

    @property
    def n_tensors(self) -> int:
        """Number of tensors checked."""
        return len(tensors(self.report))

    @property
    def n_failed_tensors(self) -> int:
        """Number of tensors with a failing row."""
        return len(tensors(self.report, "fail"))

    @property
    def n_vacuous_tensors(self) -> int:
        """Number of tensors whose checks saw only zeros (proved nothing)."""
        return len(tensors(self.report, "vacuous"))

    @property
    def n_kinks(self) -> int:
        """Number of checked values on a kink."""
        return nondifferentiable_points(self.report)

    @property
    def worst(self) -> dict[str, Any] | None:
        """The report's row to name for this check (see :func:`.headline.worst_row`)."""
        return worst_row(self.report.rows)

    @property
    def status(self) -> str:
        """``"fail"`` when the test saw a failure, else the worst row's status."""
        if not self.passed:
            return "fail"
        worst = self.worst
        return "pass" if worst is None else worst["status"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, inverse of :meth:`from_dict`."""
        return {"name": self.name, "passed": self.passed, "report": self.report.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckRecord:
        """Rebuild a record written by :meth:`to_dict`."""
        from gradcheck.report import GradcheckReport

        report = GradcheckReport.from_dict(data["report"])
        return cls(name=data["name"], passed=bool(data["passed"]), report=report)


@dataclass(frozen=True)
class RaisedTest:
    """A gradient test that failed other than by a failed check.

    Attributes
    ----------
    name : str
        The test's node id.
    when : str
        The phase: ``"setup"``, ``"call"`` or ``"teardown"``.
    exception : str
        The exception's type name (``"ValueError"``, ``"AssertionError"``).
    message : str
        The exception's text, as pytest prints it.
    location : str
        ``path:line`` where it was raised (pytest's crash location).
    """

    name: str
    when: str
    exception: str
    message: str
    location: str

    def to_dict(self) -> dict[str, str]:
        """JSON-serialisable form; ``RaisedTest(**d)`` rebuilds it."""
        return dict(self.__dict__)


def totals(records: list[CheckRecord]) -> dict[str, int]:
    """Session counts over ``records``.

    Returns
    -------
    dict
        ``checks``, ``tensors`` (tensors checked), ``failed_checks``,
        ``failed_tensors``, ``vacuous_tensors`` (checks that saw only zeros) and
        ``nondifferentiable`` (checked values on a kink).
    """
    return {
        "checks": len(records),
        "tensors": sum(r.n_tensors for r in records),
        "failed_checks": sum(not r.passed for r in records),
        "failed_tensors": sum(r.n_failed_tensors for r in records),
        "vacuous_tensors": sum(r.n_vacuous_tensors for r in records),
        "nondifferentiable": sum(r.n_kinks for r in records),
    }


class SessionResults:
    """Every gradient check of the session, and the gradient tests that raised, in the
    order they finished."""

    def __init__(self) -> None:
        self.records: list[CheckRecord] = []
        self.raised: list[RaisedTest] = []
        self._per_test: Counter[str] = Counter()

    def add(self, nodeid: str, report: Any, passed: bool) -> CheckRecord:
        """Record a finished check of test ``nodeid`` and return its record."""
        self._per_test[nodeid] += 1
        count = self._per_test[nodeid]
        name = nodeid if count == 1 else f"{nodeid} #{count}"
        record = CheckRecord(name=name, passed=passed, report=report)
        self.records.append(record)
        return record

    def document(self) -> dict[str, Any]:
        """The session as a JSON-serialisable dict: ``totals``, ``checks``, ``raised``."""
        return {"totals": {**totals(self.records), "raised_tests": len(self.raised)},
                "checks": [record.to_dict() for record in self.records],
                "raised": [test.to_dict() for test in self.raised]}

    def dumps(self) -> str:
        """The :meth:`document` as one JSON string (what a pytest-xdist worker sends)."""
        return json.dumps(self.document())

    def merge(self, text: str) -> None:
        """Append the checks and raised tests of a worker, as produced by :meth:`dumps`."""
        document = json.loads(text)
        self.records.extend(CheckRecord.from_dict(item) for item in document["checks"])
        self.raised.extend(RaisedTest(**item) for item in document["raised"])
