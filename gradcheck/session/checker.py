"""The callable behind the ``gradcheck`` fixture: merge options, check, record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradcheck.session.results import SessionResults


class Checker:
    """``gradcheck(layer, *inputs, **options)``, ``gradcheck(model, x, loss=..., y=...)``,
    ``gradcheck(f, *inputs, vjp=...)``: every form :func:`gradcheck.assert_gradients` takes.

    Parameters
    ----------
    defaults : mapping
        Options from the marker, the command line and the ini file (already merged);
        keywords of the call override them.
    results : SessionResults
        Where every finished check (passed or failed) is recorded.
    nodeid : str
        The test's node id, parameter set included; names the check.
    """

    def __init__(self, defaults: Mapping[str, Any], results: SessionResults, nodeid: str):
        self.defaults = dict(defaults)
        self.results = results
        self.nodeid = nodeid

    def __repr__(self) -> str:
        return f"<gradcheck fixture of {self.nodeid}, defaults {self.defaults}>"

    def __call__(self, target: Any, *inputs: Any, **options: Any):
        """Run :func:`gradcheck.assert_gradients` and record the outcome.

        Returns
        -------
        GradcheckReport
            The report, when the check passes.

        Raises
        ------
        GradcheckError
            The check fails (the failure is recorded first).
        """
        __tracebackhide__ = True  # pytest shows the test's line, not this method
        from gradcheck.assertions import assert_gradients
        from gradcheck.report import GradcheckError

        merged = {**self.defaults, **options}
        try:
            report = assert_gradients(target, *inputs, label=self.nodeid, **merged)
        except GradcheckError as error:
            self.results.add(self.nodeid, error.report, passed=False)
            raise
        self.results.add(self.nodeid, report, passed=True)
        return report
