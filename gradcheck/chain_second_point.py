"""A chain's second point: whether it gets one, and its layers checked there.

A chain checked at its given point gets a second point (:func:`needs_second_point`) where
its moved backward did not run on the loss's gradient, a layer held arrays before the check,
the given point leaves something unsettled, or the moved run's gradients disagree with its
loss (:mod:`gradcheck.moved_run_check`); :func:`second_point_rows` runs
:func:`gradcheck.model_second_point.model_second_point` with every layer rechecked at the
input it gets there when the whole model fails there.
"""

from __future__ import annotations

from gradcheck.arrays import holds_floats
from gradcheck.chain_moved_first import unsettled
from gradcheck.chain_screen import Screen
from gradcheck.judge import passed
from gradcheck.layer_check import recheck_layer
from gradcheck.layer_point import holding
from gradcheck.model_second_point import model_second_point
from gradcheck.model_walk import Repeat, walk_chain
from gradcheck.moved_run_check import moved_run_disagrees, trainable_arrays
from gradcheck.probe_calls import LayerProbe
from gradcheck.settings import Settings
from gradcheck.validation import layer_name

__all__ = ["needs_second_point", "second_point_rows"]


def needs_second_point(model, layers, loss, y, s: Settings, snapshots, firsts: list[dict],
                        arrays, moved_run, screen: Screen) -> bool:
    """Whether a chain checked at its given point gets a second point: its moved backward
    did not run on the loss's gradient (``moved_run`` None: the forward was not finite
    there, or the loss refused it and a random ``dy`` stood in), a layer held arrays before
    the check, the given point leaves something unsettled
    (:func:`gradcheck.chain_moved_first.unsettled`), or the moved run's gradients disagree
    with its loss along the screen's joint direction
    (:func:`gradcheck.moved_run_check.moved_run_disagrees`).

    Parameters
    ----------
    model, layers, loss, y, s
        The chain, its layers, the loss, its targets and the settings.
    snapshots : list of Snapshot
        Each layer's state before the check.
    firsts : list of dict
        Per layer, its verdicts at the given point by tensor name.
    arrays : list of ndarray, each shape (n, ...)
        The layers' inputs and upstream gradients at the given point.
    moved_run : MovedRun or None
    screen : Screen
        What the chain screen found (its joint direction over the model's tensors).
    """
    if moved_run is None or any(snapshot.holds_arrays() for snapshot in snapshots) or \
            unsettled(firsts, s, arrays, trainable_arrays(layers)):
        return True
    return screen.joint is not None and moved_run_disagrees(model, layers, loss, y, moved_run,
                                                            screen.joint, s.loss_noise)


def second_point_rows(model, layers, loss, x, y, s: Settings, firsts: list[dict],
                       found: list[dict], walk, screen: Screen) -> list[dict]:
    """:func:`gradcheck.model_second_point.model_second_point` of the chain, its layers at
    the second point by :func:`_layers_at_second_point` (the tensors that failed at the
    given point, ``firsts``, left out)."""
    wrong = {f"{i}.{n}" for i, first in enumerate(firsts)
             for n, verdicts in first.items() if not passed(verdicts)}
    given = [(p, p.copy()) for p in trainable_arrays(layers)]   # for the repeat's forward
    return model_second_point(
        model, [(str(i), layer) for i, layer in enumerate(layers)], loss, x, y, s, wrong,
        lambda x2: _layers_at_second_point(model, layers, loss, x2, y, s, firsts, found,
                                           walk.repeat, given), walk.mutates,
        screen.joint, {str(i): layer_name(i, layer) for i, layer in enumerate(layers)},
        screen.input_seen) or []


def _layers_at_second_point(model, layers, loss, x2, y, s: Settings, firsts: list[dict],
                            rows: list[dict], repeat: Repeat, given: list) -> list[dict]:
    """Every layer at its input after a model forward at the second point (``repeat``
    confirmed first, with the parameters at their ``given`` values, pairs of an array and
    its value at the given point, for the forward: at the given point the layers are
    deterministic)."""
    with holding(given):   # the second point's moved values put back after
        repeat.confirm()
    acts, mutated, _, _, _, recorded, _, _ = walk_chain(model, layers, loss, x2, y)
    if recorded is None:
        return []
    extra = []
    for i, layer in enumerate(layers):
        G, dx, grads, _ = recorded[0][i]
        probe = LayerProbe(y0=acts[i + 1], G=G, dx=dx, grads=grads, mutates_input=mutated[i])
        label = layer_name(i, layer)
        own = [r for r in rows if r["layer"] == label and r["check"] == "gradient"]
        extra += recheck_layer(label, layer, acts[i], probe, s, firsts[i], own,
                               check_input=holds_floats(acts[i]))
    return extra
