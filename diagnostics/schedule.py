"""Which training steps a :class:`~diagnostics.Monitor` records in full.

A fixed schedule records the steps with ``step % every == 0``. The budget schedule
(``every="auto"``) records the first ``dense_steps`` steps, then times its own work
against the training time and records every ``k``-th step (``step % k == 0``), ``k`` a
power of two chosen after each recorded step so that the cumulative measured cost of
recording, including the dense start, stays within ``budget`` of the time spent
training: after the dense start ``k`` first grows until that start is paid for (never
beyond the steps run so far, so a short run is still covered to its end, at some cost
above the budget), then settles where one recorded step every ``k`` steps costs less
than the budget. The budget also pays for what the Monitor cannot time: its work on
every step (the hook calls and the loss check, too quick to time one by one;
:data:`STEP_COST` per step is set aside) and the slower training steps after a recorded
one (its reads and writes evict the training's data from the caches; each record is
charged :data:`UNTIMED_SHARE` more than its timed work). The setup of a run
(``on_train_begin``) counts as spent from the start. Of the budget the schedule plans
to spend :data:`PLANNED_SHARE` (2/3): the rest is the margin for runs whose records cost
more than they are charged.

Of the recorded steps, those of a :class:`DistanceSchedule` also take the distance from
initialisation (by default at most one in :data:`DISTANCE_EVERY` steps; see
``diagnostics.norms``). :func:`step_runs` and :func:`describe` compress the recorded
steps for the records file and the report.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["DISTANCE_EVERY", "MOST_UNTIMED_SHARE", "PLANNED_SHARE", "STEP_COST",
           "UNTIMED_SHARE", "DistanceSchedule", "Schedule", "describe", "expand_runs",
           "next_multiple", "step_runs"]

#: Seconds a Monitor costs on a step it does not record: three hook calls from the
#: training loop and the loss and order checks (about 1.5 us on the project's machine,
#: timed with ``timeit`` through ``reference_nets.train``'s hook dispatch: 2% of a 67 us
#: digits-MLP step).
STEP_COST = 1.5e-6
#: Share of a record's timed work that it costs on top in the training steps after it
#: (on the digits MLP a record of the budget schedule measured up to about twice its
#: timed work in ``bench/diagnostics_overhead.py``; small models, whose working set the
#: recorders evict from the caches, pay the most).
UNTIMED_SHARE = 1.0
#: The most a record has cost on top of its timed work, as a share of it (the same
#: benchmark: 0.5 to 2 times from run to run).
MOST_UNTIMED_SHARE = 2.0
#: Share of the budget the schedule plans to spend: a record is charged ``1 +
#: UNTIMED_SHARE`` times its timed work but may cost ``1 + MOST_UNTIMED_SHARE`` times, so
#: that planning at their ratio keeps even such runs within the budget (on the digits MLP
#: of ``bench/diagnostics_overhead.py``, planning at the whole budget, the schedule's own
#: estimate was 4.5 % of the run where the interleaved ratio read 1.053 at 5 %).
PLANNED_SHARE = (1.0 + UNTIMED_SHARE) / (1.0 + MOST_UNTIMED_SHARE)
#: Default steps between two records of the distance from initialisation
#: (:class:`DistanceSchedule`, ``Monitor(distance_every=...)``).
DISTANCE_EVERY = 8


class Schedule:
    """Next recorded step after each recorded step, for a fixed or a budget schedule.

    Parameters
    ----------
    every : int or "auto"
        Record every ``every``-th step, or ``"auto"``: on the budget schedule.
    budget : float
        Share of the training time the recording may cost (``"auto"`` only), in (0, 1).
    dense_steps : int
        Steps recorded one after another at the start (``"auto"`` only).
    """

    def __init__(self, every="auto", budget=0.05, dense_steps=20):
        if every != "auto" and (not isinstance(every, numbers.Integral) or every < 1):
            raise ValueError(f"Monitor: every must be a positive int or 'auto', got {every!r}")
        if not isinstance(budget, numbers.Real) or not 0 < budget < 1:
            raise ValueError(f"Monitor: budget must be in (0, 1), got {budget!r}")
        if not isinstance(dense_steps, numbers.Integral) or dense_steps < 0:
            raise ValueError(f"Monitor: dense_steps must be an int >= 0, got {dense_steps!r}")
        self.every, self.budget, self.dense_steps = every, float(budget), int(dense_steps)
        self.start(0.0)

    def start(self, now: float, setup: float = 0.0) -> None:
        """Begin a run at clock time ``now`` (seconds), nothing recorded yet; ``setup``:
        seconds of the Monitor's work since ``now`` (spent, not a record's cost)."""
        self._t0, self._spent, self._setup = now, float(setup), float(setup)
        self._recorded, self._first = 0, None
        self.interval = 1 if self.every == "auto" else int(self.every)

    def next_step(self, step: int, cost: float, now: float) -> int:
        """The step to record after ``step``, which was recorded at a cost of ``cost``
        seconds; ``now`` is the clock time (seconds, same clock as :meth:`start`)."""
        self._spent += cost * (1.0 + UNTIMED_SHARE)
        self._recorded += 1
        if self._first is None:
            self._first = step
        if self.every == "auto" and self._recorded >= self.dense_steps:
            self.interval = self._auto_interval(step, now)
        return next_multiple(step, self.interval)

    def _auto_interval(self, step: int, now: float) -> int:
        """Smallest power of two keeping the spent share within the budget (see module);
        while paying for the dense start, at most the steps run so far (log-spaced)."""
        training = max(now - self._t0 - self._spent, 1e-9)
        steps = step - self._first + 1
        per_step = training / steps
        per_record = (self._spent - self._setup) / self._recorded
        planned = self.budget * PLANNED_SHARE
        share = max(planned - STEP_COST / per_step, planned / 10)  # for recording
        steady = per_record / (share * per_step)
        catch_up = ((self._spent + per_record) / share - training) / per_step
        interval = max(_power_of_two(steady),
                       min(_power_of_two(catch_up), 1 << (steps.bit_length() - 1)))
        if interval < self.interval and max(steady, catch_up) > 0.375 * self.interval:
            return self.interval  # halve only with a margin, so the interval does not flap
        return interval


class DistanceSchedule:
    """Which recorded steps take ``p.p0`` (and so record ``dist_from_init``): the first
    one, then the first at or after each multiple of ``every``, so at most one step in
    ``every`` reads the initial copies (``every=1``: every recorded step).

    Parameters
    ----------
    every : int
        Steps between two multiples, >= 1.

    Attributes
    ----------
    steps : list of int
        The steps that took it, in order.
    """

    def __init__(self, every: int):
        self.every, self.steps, self._due = every, [], 0

    def take(self, step: int) -> bool:
        """Whether the recorded ``step`` takes ``p.p0`` (then it is kept in ``steps``)."""
        if step < self._due:
            return False
        self.steps.append(step)
        self._due = next_multiple(step, self.every)
        return True


def next_multiple(step: int, k: int) -> int:
    """The first multiple of ``k`` after ``step``."""
    return (step // k + 1) * k


def _power_of_two(needed: float) -> int:
    """Smallest power of two >= ``needed`` (1 for anything up to 1)."""
    return 1 << math.ceil(math.log2(needed)) if needed > 1 else 1


def step_runs(steps) -> list[list[int]]:
    """Recorded steps as runs ``[first, last, interval]`` of evenly spaced steps.

    Parameters
    ----------
    steps : sequence of int, increasing

    Returns
    -------
    list of [int, int, int]
        ``range(first, last + 1, interval)`` of the runs, concatenated, gives ``steps``.
    """
    runs: list[list[int]] = []
    for step in steps:
        step = int(step)
        if runs and runs[-1][2] in (0, step - runs[-1][1]):
            runs[-1][1:] = [step, step - runs[-1][1]]
        else:
            runs.append([step, step, 0])
    return [[first, last, interval or 1] for first, last, interval in runs]


def expand_runs(runs) -> list[int]:
    """Inverse of :func:`step_runs`."""
    return [s for first, last, interval in runs for s in range(first, last + 1, interval)]


def describe(runs, n_steps: int) -> str:
    """One line saying which of ``n_steps`` steps the runs cover, e.g. ``"70 of 860 steps:
    0-19 every step, 256-320 every 64th, 328-856 every 8th"``."""
    count = sum((last - first) // interval + 1 for first, last, interval in runs)
    parts = [str(first) if first == last else
             f"{first}-{last} every " + ("step" if interval == 1 else _ordinal(interval))
             for first, last, interval in runs]
    return f"{count:,} of {n_steps:,} steps" + (": " + ", ".join(parts) if parts else "")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
