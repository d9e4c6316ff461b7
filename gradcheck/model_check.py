"""The rows of :func:`gradcheck.check_model`: a plain chain of layers here (once at a moved
point first, for stale caches; then each layer at its real input, end to end through the
rest of the chain, and again at a second point of the whole model where the given point
cannot judge), any other model in :mod:`gradcheck.model_graph`; causes before symptoms."""

from __future__ import annotations

from gradcheck.arrays import holds_floats
from gradcheck.chain_moved_first import chain_moved_first, name_stale_caches
from gradcheck.chain_screen import Screen, Screened, chain_screen
from gradcheck.chain_second_point import needs_second_point, second_point_rows
from gradcheck.layer_check import point_rows
from gradcheck.layer_point import layer_point
from gradcheck.linearity_probe import linearity_afresh
from gradcheck.model_backward import model_grads
from gradcheck.model_graph import graph_rows
from gradcheck.model_layers import ModelLayers
from gradcheck.model_targets import targets_of
from gradcheck.model_walk import Repeat, Undetermined, probe_chain, walk_chain
from gradcheck.point import round_off
from gradcheck.probes import calls_leave_params_alone
from gradcheck.progress import progress_bar
from gradcheck.rest_of_model import Downstream
from gradcheck.restore import kept_state
from gradcheck.selection import rng_for
from gradcheck.settings import Settings, check_dtype
from gradcheck.validation import buffer_rows, layer_name, trainable

__all__ = ["COMPOSITION", "SYMPTOM", "causes_first", "check_model_rows", "model_rows"]


def check_model_rows(model, found: ModelLayers, loss, x, y, s: Settings,
                     rerun_check=None) -> tuple[list[dict], Settings]:
    """Every row of a model check, causes first; the users' objects restored after.

    A model whose ``layers`` list holds all its layers (``found.sequential``) and whose
    forward runs them in order takes :func:`model_rows`; any other the general path.
    """
    if found.sequential:
        layers = list(model.layers)
        try:
            with kept_state([*layers, loss], model) as snapshots:
                done = model_rows(model, layers, loss, x, y, s, snapshots, rerun_check,
                                  one_forward=True)
        except Undetermined:   # everything restored: again, with two forwards up front
            with kept_state([*layers, loss], model) as snapshots:
                done = model_rows(model, layers, loss, x, y, s, snapshots, rerun_check)
        if done is not None:
            held = [row for i, layer in enumerate(layers) for row in buffer_rows(
                layer_name(i, layer), layer)]
            return causes_first(held + done[0]), done[1]
    targets = targets_of(found)
    units = [t.unit.obj for t in targets]
    with kept_state([*units, model, loss]) as snapshots:
        rows, s = graph_rows(model, targets, loss, x, y, s, snapshots[:len(units)],
                             rerun_check)
    held = [row for t in targets if t.unit.leaf for row in buffer_rows(t.label, t.layer)]
    return causes_first(held + rows), s


COMPOSITION = ("every layer passes its own check at the input and upstream gradient it gets "
               "here: the model's backward combines their gradients unlike its forward (a skip "
               "connection, a merge, a shared layer's gradients not summed, a factor outside "
               "the layers)")
SYMPTOM = ("layers fail their own checks ({}, listed first); an end-to-end gradient that flows "
           "through a wrong layer is wrong too: fix those first")


def causes_first(rows: list[dict]) -> list[dict]:
    """The failing rows of layers' own checks (protocol problems, local gradients, second
    point) first, then failing end-to-end rows (where a wrong layer shows in the layers
    before it), then the rest; each group in its given order. A failing end-to-end row gets
    a likely cause: a symptom of those layers, or a wrong composition when there are none."""
    def rank(r):
        return 2 if r["status"] != "fail" else 1 if r["check"] == "end_to_end" else 0
    ordered = sorted(rows, key=rank)
    causes = list(dict.fromkeys(r["layer"] for r in ordered if rank(r) == 0))
    for row in (r for r in ordered if rank(r) == 1 and not r["likely_cause"]):
        row["likely_cause"], row["cause_label"] = (
            (SYMPTOM.format(", ".join(causes)), "symptom") if causes
            else (COMPOSITION, "composition"))
    return ordered


def model_rows(model, layers, loss, x, y, s: Settings, snapshots, rerun_check=None,
               one_forward: bool = False) -> tuple[list[dict], Settings] | None:
    """Probe rows, then local and end-to-end verdict rows per layer, then second-point rows
    (None when ``model.forward`` is not the layers in order and no layer is random).

    ``snapshots`` (one :class:`gradcheck.restore.Snapshot` per layer, then the loss's, taken
    before the check) tell which layers replaced or changed their parameters: those get a
    protocol row and no numeric rows, as random layers do. ``rerun_check(layer, x)`` runs
    the likely cause's context reruns of a failing layer.

    ``one_forward``: walk the chain with one ``model.forward``
    (:func:`gradcheck.model_walk.walk_chain`). A check the screen and the second point pass
    never needs to know that the layers are deterministic (a random layer fails them); the
    first check that does (a layer's own point, a layer at the second point) runs a second
    forward, and raises :class:`gradcheck.model_walk.Undetermined` when it differs.

    With ``s.second_point`` the model first runs forward and backward at a moved point
    (:func:`gradcheck.chain_moved_first.chain_moved_first`; the walk's first forward then
    gets the very array that run got), failing layers whose gradient changes when they are
    put back as found are named stale caches, and the whole model is checked at a second
    point where the given point leaves something unjudged
    (:func:`gradcheck.chain_moved_first.unsettled`), where the moved backward could not
    run (the forward was not finite there), or where a layer held arrays before the check
    (:meth:`gradcheck.restore.Snapshot.holds_arrays`): a cache an earlier call filled (a
    transposed weight kept from the first forward ever) is right at the given point and
    wrong at the moved one, whose gradients only a second point checks.
    """
    snapshots, loss_before = snapshots[:len(layers)], snapshots[len(layers)]
    named = {"x": x, **{f"{layer_name(i, layer)}.{k}": v for i, layer in enumerate(layers)
                        for k, v in layer.params.items()}}
    given, moved_back, moved_run = (chain_moved_first(model, layers, loss, x, y, s,
                                                      loss_before,
                                                      check_dtype(named, "check_model"))
                                    if s.second_point else (None, False, None))
    walk = walk_chain(model, layers, loss, x, y, one_forward, given)
    acts, mutated, loss0, dpred, chained, recorded = walk[:6]
    firsts, e2e = recorded or (None, None)
    later = s.second_point and chained   # the linearity probes: see _linearity_rows
    probes = probe_chain(layers, acts, mutated if chained else None, dpred, firsts,
                         linearity=not later)
    for i, (layer, before) in enumerate(zip(layers, snapshots, strict=True)):
        moved = calls_leave_params_alone(layer_name(i, layer), layer, before)
        if moved:
            probes[i].rows += moved
            probes[i].deterministic = False
    random = not all(p.deterministic for p in probes)
    if not (chained or random):
        return None   # model.forward is not its layers in order: the general path
    s = s.for_arrays({**named, **{f"the output of {layer_name(i, layer)}": a for i, (layer, a)
                                  in enumerate(zip(layers, acts[1:], strict=True))}},
                     "check_model")
    if e2e is None:
        e2e = [{}] * len(layers) if random else model_grads(model, layers, dpred)
    found, firsts_by_layer, screen = _chain_layer_rows(layers, acts, probes, loss, y, loss0,
                                                      dpred, e2e, s, random, rerun_check,
                                                      walk.repeat)
    if later and not random and needs_second_point(
            model, layers, loss, y, s, snapshots, firsts_by_layer, [*acts[:-1], *(
                p.G for p in probes)], moved_run if moved_back else None, screen):
        found += second_point_rows(model, layers, loss, x, y, s, firsts_by_layer, found,
                                    walk, screen)
    if later:
        _linearity_rows(layers, acts, probes, found, checked_twice=moved_back)
    if given is not None:
        name_stale_caches(layers, acts, probes, snapshots, found)
    return [row for p in probes for row in p.rows] + found, s


def _linearity_rows(layers, acts, probes, rows: list[dict], checked_twice: bool) -> None:
    """Add the linearity probes' rows to ``probes``
    (:func:`gradcheck.linearity_probe.linearity_afresh`) of the layers with a failing row, or
    of every layer unless the model ran a backward at a moved point before the given point
    (``checked_twice``).

    The probes explain failures: a backward that accumulates into its grads, or is not
    linear in ``dy``, fails the numeric check wherever it is wrong. The one such bug a
    correct-looking first backward hides, accumulation into grads that were zero, the
    moved backward shows, since the given point's backward adds to the grads it left.
    """
    failing = {r["layer"] for r in rows if r["status"] == "fail"}
    for i, (layer, probe) in enumerate(zip(layers, probes, strict=True)):
        label = layer_name(i, layer)
        if probe.G is not None and (label in failing or not checked_twice):
            probe.rows += linearity_afresh(label, layer, acts[i], probe.G)


def _chain_layer_rows(layers, acts, probes, loss, y, loss0: float, dpred, e2e: list[dict],
                      s: Settings, random: bool, rerun_check, repeat: Repeat
                      ) -> tuple[list[dict], list[dict], Screen]:
    """Each deterministic layer of a chain checked at its cached input ``acts[i]`` (local
    rows) and, unless a layer is random, through the later layers to the loss (end-to-end
    rows); ``repeat`` is confirmed before the first layer the screen leaves to its own point.
    Returns the rows, per layer its verdicts by tensor (empty when skipped), and what the
    chain screen found (:class:`gradcheck.chain_screen.Screen`)."""
    noise = max(round_off(s.dtype, dpred, acts[-1], loss0), s.loss_noise)
    total = sum(p.size for layer in layers for p in trainable(layer.params).values()) + sum(
        a.size for a in acts[:-1])
    labels = [layer_name(i, layer) for i, layer in enumerate(layers)]
    screen = Screen([Screened({}, False) for _ in layers], None, None) if random else (
        chain_screen(layers, labels, acts, probes, e2e, loss, y, loss0, dpred, s, noise))
    screened, known = screen.screened, repeat.known
    rows, firsts = [], []
    with progress_bar(total if s.mode == "full" else 0) as bar:
        for i, layer in enumerate(layers):
            if not probes[i].deterministic or screened[i].complete:
                rows += screened[i].rows(labels[i], layer, acts[i])
                firsts.append(screened[i].verdicts)
                continue
            repeat.confirm()
            down = None if random else Downstream(
                layers[i + 1:], acts[i + 1:], loss, y, loss0, s.step,
                lambda i=i: rng_for(s.seed, "downstream", str(i)))
            point = layer_point(labels[i], layer, acts[i], probes[i], s.dtype,
                                check_input=holds_floats(acts[i]), downstream=down,
                                e2e=e2e[i], e2e_noise=noise)
            found, first = point_rows(point, s, bar, layer, acts[i], rerun_check,
                                      settled=screened[i].verdicts)
            rows += found
            firsts.append(first)
    if repeat.known != known and screen.input_seen is not None:   # confirm() ran the model
        screen = screen._replace(input_seen=repeat.ran_on)   # on its own copy: layer 0's last
    return rows, firsts, screen
