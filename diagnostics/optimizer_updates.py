"""A recorded step's sums reported by the optimizer, when it offers update reports.

An optimizer may offer two methods (``reference_nets.optim.Optimizer`` does)::

    optimizer.report_next_update(references)   # before step(): {id(param): p0}
    optimizer.update_report()   # after it: {id(param): (u.u, p.p, p.p0)}, or None

(:class:`reference_nets.optim.UpdateReport`: ``update_sq``, ``param_sq``,
``reference_dot``). The optimizer takes these inner products inside ``step``, right
after each parameter's update ``p -= u``, while ``p`` and ``u`` are in the caches: on
the 784-512-512-10 MLP of ``bench/diagnostics_overhead.py`` the same dot products cost
less there than the Monitor's own reads of ``p`` after the step (``bench/README.md``).
The Monitor then reads only the gradients (``g.g``, after backward) and copies nothing;
it passes the references (its initial copies) only on the steps that take the distance
from initialisation (``diagnostics.schedule.DistanceSchedule``), so the other steps do
not read them.
The values are exact (no running sums: nothing accumulates rounding over steps). The
Monitor cannot time the work inside ``step``; the budget schedule's allowance for untimed
work covers it (``diagnostics.schedule``).

:class:`~diagnostics.param_stats.ParamStats` trusts the reports only after a recorded
step that it measured from copies as without them agrees (:func:`agree`), and only for
models whose tensors are all float64 (the reports are in the parameters' dtype; the
copies are float64).
"""

from __future__ import annotations

import numpy as np

from diagnostics.norms import grad_squares

__all__ = ["TRIAL_ATOL", "TRIAL_RTOL", "ReportedSums", "agree", "offers_reports"]

#: Agreement the trial step asks of each reported sum with the measured one:
#: ``|reported - measured| <= TRIAL_RTOL * |reported| + TRIAL_ATOL * (p.p + q.q + p0.p0)``
#: (p, q: the parameters after and before). A measured update norm resolves about 1e-14
#: of ``p.p + q.q`` (``diagnostics.norms``) and the reported one is the exact update, not
#: its rounded effect on ``p`` (at most ``2 eps |p| |u|`` apart): ``TRIAL_ATOL`` allows
#: 100 times that; ``TRIAL_RTOL`` lets through nothing that moves the weights visibly.
TRIAL_RTOL, TRIAL_ATOL = 1e-6, 1e-12


def offers_reports(optimizer) -> bool:
    """Whether ``optimizer`` has ``report_next_update`` and ``update_report``."""
    return (callable(getattr(optimizer, "report_next_update", None))
            and callable(getattr(optimizer, "update_report", None)))


def agree(reported: np.ndarray, measured: np.ndarray, scale: np.ndarray) -> bool:
    """Whether the ``reported`` sums (n_tensors, k) agree with the ``measured`` ones within
    the tolerances above (``scale``: ``p.p + q.q + p0.p0`` per tensor, shape (n_tensors,))."""
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.all(np.abs(reported - measured)
                           <= TRIAL_RTOL * np.abs(reported) + TRIAL_ATOL * scale[:, None]))


class ReportedSums:
    """The sums (``diagnostics.norms.SUMS``) of recorded steps: the gradients' read here,
    the others from the optimizer's report of the step.

    Parameters
    ----------
    optimizer : object
        Offers update reports (:func:`offers_reports`).
    tensors : list of tuple (key, layer)
        The tensors ``layer.params[key]`` (matched with the report by identity) and
        ``layer.grads[key]``.
    init : list of numpy.ndarray
        The initial parameters (float64, shaped like the parameters): the references.
    """

    def __init__(self, optimizer, tensors, init):
        self.optimizer, self.tensors = optimizer, tensors
        self._references = {id(layer.params[key]): p0
                            for (key, layer), p0 in zip(tensors, init, strict=True)}

    def request(self, distance: bool = True) -> None:
        """Ask the optimizer to report the coming step (with ``p.p0`` if ``distance``)."""
        self.optimizer.report_next_update(self._references if distance else None)

    def before_step(self, sums: np.ndarray, distance: bool = True) -> None:
        """Put the squared gradient norms into ``sums[:, 0]``; ask for the report (with
        ``p.p0`` if ``distance``)."""
        grad_squares(self.tensors, sums[:, 0])
        self.request(distance)

    def after_step(self, sums: np.ndarray) -> bool:
        """Put the reported ``p.p``, ``p.p0`` (NaN if not asked for), ``u.u`` and 0 into
        ``sums[:, 1:]``; False (and ``sums`` partly written) when the optimizer did not
        report some tensor the Monitor knows by identity (it was not stepped, or the
        array was replaced)."""
        report = self.optimizer.update_report()
        if report is None:
            return False
        for i, (key, layer) in enumerate(self.tensors):
            array_id = id(layer.params[key])
            found = report.get(array_id)
            if found is None or array_id not in self._references:
                return False
            sums[i, 1:] = found.param_sq, found.reference_dot, found.update_sq, 0.0
        return True
