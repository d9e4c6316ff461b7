"""The rows of :func:`gradcheck.check_model` for a model that is not a plain chain of layers.

One run of the model's own forward and backward (:mod:`gradcheck.model_record`) records, for
each unit (leaf layer or block, :mod:`gradcheck.model_layers`), its input and the upstream
gradient it receives at each call. Then:

1. each leaf, then each block, is checked on its own at each of its calls, at the recorded
   input with the recorded ``dy`` as ``G`` (``check="gradient"``, with the protocol probes and
   likely causes as for a lone layer); a block is checked on its input and on the parameters
   none of its layers holds, so a wrong skip connection or merge is named;
2. the model's end-to-end gradients, of its input and of every parameter, as ``model.backward``
   returns and leaves them, against finite differences of the loss through ``model.forward``
   (``check="end_to_end"``);
3. with ``second_point``, the whole model at a moved input and moved parameters
   (:func:`gradcheck.model_second_point.model_second_point`); where that fails, every unit again at
   the input it gets there.

A call whose ``dy`` cannot be paired with it (its backward never ran, or ran another number
of times than its forward) is checked with a random ``G``.
"""

from __future__ import annotations

import numpy as np

from gradcheck.arrays import same_values
from gradcheck.judge import passed
from gradcheck.layer_point import model_point
from gradcheck.model_record import recording
from gradcheck.model_second_point import model_second_point
from gradcheck.model_targets import Target
from gradcheck.plan import check_point
from gradcheck.probe_calls import during
from gradcheck.probes import calls_leave_params_alone
from gradcheck.progress import progress_bar
from gradcheck.report import problem_row, verdict_row
from gradcheck.settings import Settings
from gradcheck.unit_check import call_rows, recheck_call, unchecked_row
from gradcheck.validation import loss_value, trainable

__all__ = ["graph_rows", "recorded_point"]


def recorded_point(model, targets: list[Target], loss, x, y, dtype: str,
                   noise_floor: float = 0.0):
    """:func:`gradcheck.layer_point.model_point` of the whole model, run with every unit
    recording its calls (``targets[i].calls`` are replaced)."""
    with recording([t.unit.obj for t in targets]) as calls:
        whole = model_point(model, owners(targets), loss, x.copy(), y, dtype,
                            noise_floor=noise_floor)
    for target, record in zip(targets, calls, strict=True):
        target.calls = record
    return whole


def owners(targets: list[Target]) -> list[tuple[str, object]]:
    """``(label, layer)`` of every target with parameters (the end-to-end tensors)."""
    return [(t.label, t.layer) for t in targets if trainable(t.layer.params)]


def graph_rows(model, targets: list[Target], loss, x, y, s: Settings, snapshots,
               rerun_check=None) -> tuple[list[dict], Settings]:
    """Rows of every unit's calls, the end-to-end rows after each owner's, second-point rows.

    ``snapshots`` (one :class:`gradcheck.restore.Snapshot` per target, taken before the
    check) tell which layers the model's forward or backward changed.
    """
    s, whole = _given_point(model, targets, loss, x, y, s)
    rows = [row for t, before in zip(targets, snapshots, strict=True) if t.unit.leaf
            for row in calls_leave_params_alone(t.label, t.layer, before)]
    with progress_bar(_full_size(targets, whole) if s.mode == "full" else 0) as bar:
        found, firsts, wrong, random = _local_checks(targets, s, bar, rerun_check, bool(rows))
        rows += found
        repeats, mutates = (True, True) if random else _repeats(model, loss, x, y, whole)
        if not repeats:
            random = True
            rows.append(problem_row(f"model:{type(model).__name__}", "output", (),
                                    "determinism", "model.forward gives another loss on the "
                                    "same input while every layer repeats itself: seed "
                                    "the model's randomness or use eval mode"))
        if random:   # the loss is not a function of the parameters: no end-to-end check
            return rows, s
        rows, failing = _with_end_to_end(rows, whole, targets, model, s, bar)
    if s.second_point:
        rows += model_second_point(model, owners(targets), loss, x, y, s, wrong | failing,
                                   _units_there(model, targets, loss, y, s, firsts, rows),
                                   mutates_input=mutates) or []
    return rows, s


def _given_point(model, targets: list[Target], loss, x, y, s: Settings):
    """The settings for the check's arrays and the recorded whole-model point at ``x``."""
    params = {f"{label}.{k}": v for label, layer in owners(targets)
              for k, v in trainable(layer.params).items()}
    s = s.for_arrays({"x": x, **params}, "check_model")
    whole = recorded_point(model, targets, loss, x, y, s.dtype, s.loss_noise)
    outputs = {f"the output of {t.label}": out for t in targets for out in t.calls.outputs[:1]
               if isinstance(out, np.ndarray)}
    low = s.for_arrays({"x": x, **params, **outputs}, "check_model")
    if low.dtype != s.dtype:   # a layer computes in a lower precision than its inputs
        return low, recorded_point(model, targets, loss, x, y, low.dtype, low.loss_noise)
    return s, whole


def _local_checks(targets: list[Target], s: Settings, bar, rerun_check, random: bool):
    """Every leaf's calls, then every block's, in the order the forward first called them.

    Returns the rows, the verdicts by call label, the names (``"<label>.<key>"``) of the
    tensors that failed, and whether a layer was random.
    """
    rows, firsts, wrong = [], {}, set()
    for t in sorted(targets, key=lambda t: (not t.unit.leaf, t.calls.first is None,
                                            t.calls.first or 0)):
        found, first, steady = _target_rows(t, s, bar, rerun_check, random)
        rows += found
        firsts.update(first)
        wrong |= {f"{t.label}.{n}" for f in first.values() for n, v in f.items()
                  if not passed(v)}
        random |= not steady
    return rows, firsts, wrong, random


def _target_rows(t: Target, s: Settings, bar, rerun_check, random: bool):
    """Rows of every call of ``t``; ``(rows, {call label: verdicts}, deterministic)``."""
    if not t.calls.recorded or not t.calls.outputs:
        return ([unchecked_row(t.label, "the model's forward never called it, or called "
                               "past its forward attribute (type(layer).forward(layer, x))")]
                if t.unit.leaf else []), {}, True
    if not t.unit.leaf and random:   # a random layer inside makes every block around it so
        return [], {}, True
    rows, firsts, steady = _reach_rows(t), {}, True
    for k, args in enumerate(t.calls.inputs):
        found, first, ok = call_rows(t.call_label(k), t.layer, args,
                                     t.calls.paired_upstream(k), s, bar, rerun_check)
        rows += found if t.unit.leaf or first or not ok else []
        firsts[t.call_label(k)] = first
        steady &= ok
    return rows, firsts, steady


def _reach_rows(t: Target) -> list[dict]:
    """A failing row for a leaf with parameters whose backward the model's backward did not
    call once per forward call (its grads are then not this batch's)."""
    n_f, n_b = len(t.calls.outputs), len(t.calls.upstream)
    if not t.unit.leaf or n_b == n_f or not trainable(t.layer.params):
        return []
    return [problem_row(t.label, "dy", (), "backward_reach",
                        f"model.backward called this layer's backward {n_b} time(s) for "
                        f"{n_f} forward call(s): its grads are not the gradient of this "
                        "loss; call each layer's backward once per forward call (checked "
                        "here with a random upstream gradient)")]


def _repeats(model, loss, x, y, whole) -> tuple[bool, bool]:
    """Whether a second ``model.forward`` at ``x`` gives the same loss, and whether it
    changed its input in place (then every later forward gets a copy of it)."""
    given = x.copy()
    with during("a second forward of the model"):
        again = loss_value(loss, model.forward(given), y)
    return again == float(whole.y0), not same_values(given, x)


def _full_size(targets: list[Target], whole) -> int:
    """Values checked one by one in ``"full"`` mode: every call's inputs and parameters, and
    every tensor of the whole model (the progress bar's total)."""
    local = sum(sum(np.size(a) for a in args) + sum(p.size for p in trainable(
        t.layer.params).values()) for t in targets for args in t.calls.inputs if args)
    return local + sum(t.live.size for t in whole.tensors)


def _with_end_to_end(rows: list[dict], whole, targets: list[Target], model, s: Settings,
                     bar) -> tuple[list[dict], set[str]]:
    """``rows`` with the end-to-end rows of each layer after its own rows (the model's input
    row last), and the names of the whole model's tensors that fail."""
    e2e, failing = _end_to_end_rows(whole, targets, model, s, bar)
    out = []
    for i, row in enumerate(rows):
        out.append(row)
        if i + 1 == len(rows) or rows[i + 1]["layer"] != row["layer"]:
            out += e2e.pop(row["layer"], [])
    return out + [r for group in e2e.values() for r in group], failing


def _end_to_end_rows(whole, targets: list[Target], model, s: Settings, bar):
    """The end-to-end rows by layer label, and the names of the tensors that fail. Layers the
    forward never called are left out (their not-checked row says so)."""
    arrays = {(t.label, k): v for t in targets if t.calls.outputs
              for k, v in trainable(t.layer.params).items()}
    where = {f"{label}.{k}": (label, k) for label, k in arrays}
    where["input"] = (f"model:{type(model).__name__}", "input")
    names = [t.name for t in whole.tensors if t.name in whole.analytic and t.live.size
             and t.name in where]
    results = check_point(whole, names, s, bar)
    live = {id(t.live) for t in whole.tensors}
    e2e = {}
    for (label, key), array in arrays.items():
        if id(array) not in live:
            e2e.setdefault(label, []).append({**unchecked_row(
                label, "end to end: its array overlaps another layer's parameter without "
                "being it (a view, such as a transposed tied weight), so perturbing one "
                "moves both"), "tensor": key, "check": "end_to_end"})
    for name in names:
        label, key = where[name]
        shape = whole.tensors[whole.index(name)].live.shape
        e2e.setdefault(label, []).append(verdict_row(label, key, shape, "end_to_end",
                                                     results[name][0]))
    return e2e, {n for n in names if results[n][0].status == "fail"}


def _units_there(model, targets: list[Target], loss, y, s: Settings, firsts: dict,
                 rows: list[dict]):
    """``units_there(x2)`` for :func:`gradcheck.model_second_point.model_second_point`: every
    call of every unit rechecked at the inputs it gets in a recorded run at ``x2``."""
    def units_there(x2):
        recorded_point(model, targets, loss, x2, y, s.dtype, s.loss_noise)
        extra = []
        for t in targets:
            for k, args in enumerate(t.calls.inputs):
                label = t.call_label(k)
                if firsts.get(label):
                    own = [r for r in rows if r["layer"] == label and r["check"] == "gradient"]
                    extra += recheck_call(label, t.layer, args, t.calls.paired_upstream(k), s,
                                          firsts[label], own)
        return extra
    return units_there
