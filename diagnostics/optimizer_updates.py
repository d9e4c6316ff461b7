"""Update norms reported by the optimizer, when it offers them.

An optimizer may offer two methods (``reference_nets.optim.Optimizer`` does)::

    optimizer.report_next_update()   # before step(): keep the next step's updates
    optimizer.update_sq_norms()      # after it: {id(param): ||update||^2}, or None

With them, :class:`~diagnostics.norms.ParamStats` takes each recorded step's update
norms of its large float64 tensors from the optimizer and needs no copy of them (the
weight norm and the distance from initialisation come from the live parameters). It
trusts the reports only after the first recorded step, which it measures from copies as
without them: the optimizer must report every one of those tensors and agree with the
measured change (the trial step then records the reported values too). So a loop that
changes the weights besides the optimizer (a weight constraint, another hook) or hands
the Monitor another optimizer keeps the measured updates. A later step without a report
(an own loop that skips ``step()``, e.g. accumulating gradients) records no update norms
for those tensors and measures them from then on.

The optimizer takes the squared norms inside ``step``, while the updates are in the
caches (one pass over each tensor); the Monitor cannot time that work, which the
budget schedule's allowance for untimed work covers (``diagnostics.schedule``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["TRIAL_ATOL", "TRIAL_RTOL", "UpdateReports"]

#: Agreement the first recorded step asks of the reported squared update norms with the
#: measured ones: ``|reported - measured| <= TRIAL_RTOL * reported + TRIAL_ATOL * (p.p +
#: q.q)`` (p, q: the parameters after and before). The measured value resolves about 1e-14
#: of ``p.p + q.q`` (``diagnostics.norms``) and the reported one is the exact update, not its
#: rounded effect on ``p`` (at most ``2 eps |p| |u|`` apart): ``TRIAL_ATOL`` allows 100 times
#: that; ``TRIAL_RTOL`` lets through nothing that moves the weights visibly.
TRIAL_RTOL, TRIAL_ATOL = 1e-6, 1e-12


class UpdateReports:
    """Whether a :class:`~diagnostics.norms.ParamStats` takes its update norms from the
    optimizer.

    Parameters
    ----------
    optimizer : object or None
        The optimizer passed to ``on_train_begin``.
    tensors : list of tuple (key, layer)
        The tensors ``layer.params[key]`` whose update norms may come from the reports
        (none: the reports are off).

    Attributes
    ----------
    state : {"trial", "trusted", "off"}
        ``"trial"`` until the first recorded step has been compared with the reports,
        ``"trusted"`` while they are used, ``"off"`` when they are not (never again in
        this run).
    """

    def __init__(self, optimizer, tensors):
        offers = (callable(getattr(optimizer, "report_next_update", None))
                  and callable(getattr(optimizer, "update_sq_norms", None)))
        self.state = "trial" if offers and tensors else "off"
        self._optimizer, self._tensors = optimizer, tensors
        self._was_trusted = False

    def request(self) -> None:
        """Ask the optimizer to report the coming step (unless the reports are off)."""
        if self.state != "off":
            self._optimizer.report_next_update()

    def read(self) -> np.ndarray | None:
        """``||u_i||^2`` of each tensor ``i``, shape (n_tensors,), from the optimizer's
        report of the step just taken; None, and the reports off, when it has none for
        some tensor (arrays are matched by identity)."""
        report = self._optimizer.update_sq_norms()
        values = np.empty(len(self._tensors))
        for i, (key, layer) in enumerate(self._tensors):
            value = None if report is None else report.get(id(layer.params[key]))
            if value is None:
                self.state = "off"
                return None
            values[i] = value
        return values

    def judge(self, measured: np.ndarray, scale: np.ndarray) -> np.ndarray | None:
        """End the trial: trust the reports if they agree with the ``measured`` squared
        update norms (n_tensors,) of the same step within the tolerances above (``scale``:
        ``p.p + q.q`` per tensor); return the reported values then, else None."""
        reported = self.read()
        agree = reported is not None and bool(np.all(
            np.abs(reported - measured) <= TRIAL_RTOL * reported + TRIAL_ATOL * scale))
        self.state = "trusted" if agree else "off"
        self._was_trusted = agree
        return reported if agree else None

    def describe(self) -> str:
        """Where the update norms of the tensors came from, in a few words."""
        if self.state == "trusted":
            return "reported by the optimizer"
        if self._was_trusted:
            return ("reported by the optimizer, then measured from copies of the parameters "
                    "(a step without a report)")
        return "measured from copies of the parameters"
