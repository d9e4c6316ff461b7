"""The order in which a training loop must call a Monitor's hook methods.

Per run: ``on_train_begin`` once, then per step ``on_batch_begin``, ``on_backward_end``,
``on_step_end`` (same ``step``, increasing from step to step), ``on_epoch_end``
between steps, ``on_train_end`` at the end. :func:`order_error` says which call is
missing when a method comes out of turn; the Monitor checks the phase itself (one
comparison per call) and calls it only then.
"""

from __future__ import annotations

__all__ = ["BACKWARD", "BATCH", "IDLE", "READY", "HookOrderError", "order_error"]

#: Phases: no run; between steps; after on_batch_begin; after on_backward_end.
IDLE, READY, BATCH, BACKWARD = range(4)

#: The call that moves a step on from each phase, and the phase it leads to.
_ADVANCE = {READY: ("on_batch_begin", BATCH), BATCH: ("on_backward_end", BACKWARD),
            BACKWARD: ("on_step_end", READY)}
#: Phase each method expects before it (on_epoch_end: between steps).
_EXPECTS = {"on_batch_begin": READY, "on_backward_end": BATCH, "on_step_end": BACKWARD,
            "on_epoch_end": READY}


class HookOrderError(RuntimeError):
    """A Monitor hook method was called out of order; the message names the missing call."""


def order_error(method: str, step, phase: int, current) -> HookOrderError:
    """The error for ``method`` called with ``step`` in ``phase``.

    Parameters
    ----------
    method : str
        The hook method called (one of ``HOOK_METHODS``).
    step : int or None
        Its ``step`` argument (None for ``on_epoch_end`` and ``on_train_end``).
    phase : int
        ``IDLE``, ``READY``, ``BATCH`` or ``BACKWARD``.
    current : int or None
        The last step begun in this run.
    """
    called = f"Monitor.{method}" + ("" if step is None else f"(step={step})")
    if phase == IDLE:
        return HookOrderError(f"{called} called before on_train_begin(model, optimizer): call "
                              "monitor.on_train_begin(model, optimizer) once before the first "
                              "step (and again to start a new run after on_train_end)")
    rule = ("every step calls on_batch_begin, on_backward_end and on_step_end, in this order, "
            "with the same step")
    missing, at = [], phase
    while at != _EXPECTS.get(method, READY):
        call, at = _ADVANCE[at]
        missing.append(call)
    last = "no step begun yet" if current is None or current < 0 else \
        f"the last step begun is {current}"
    if missing:
        return HookOrderError(f"{called} called before {' and '.join(missing)} ({last}): {rule}")
    return HookOrderError(f"{called} does not follow the step before ({last}): {rule}, and "
                          "steps increase within a run")
