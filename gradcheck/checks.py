"""The public checks: :func:`check_layer`, :func:`check_model`, :func:`check_function`.

Each reads as a plan: validate, run the protocol checks and a fresh forward + backward at the
unperturbed point (analytic side), perturb each tensor (numeric side), compare, report.
The tolerance rule is documented in :mod:`gradcheck.compare`:
``|analytic - numeric| <= atol + rtol * max|numeric over the tensor| + round-off``.
"""

from __future__ import annotations

import time

import numpy as np

from gradcheck.chain import activations, layer_name, model_grads, probe_chain, recorded_backward
from gradcheck.compare import machine_eps
from gradcheck.downstream import Downstream
from gradcheck.function_layer import FunctionLayer
from gradcheck.guards import kept_state, progress_bar
from gradcheck.joint import joint_rows
from gradcheck.options import options_dict, require_array, require_layer, require_model, resolve
from gradcheck.perturb import Slot
from gradcheck.protocol import probe_layer
from gradcheck.report import GradcheckReport, verdict_row
from gradcheck.sampling import locating, rng_for, select
from gradcheck.tensorcheck import Settings, check_tensor

__all__ = ["check_function", "check_layer", "check_model"]


def check_layer(layer, x, *, mode: str = "auto", method: str = "central", eps=None, atol=None,
                rtol=None, seed: int = 0) -> GradcheckReport:
    """Check dL/dx and every parameter gradient of one layer.

    The objective is ``L = <G, layer.forward(x)>`` with a random upstream gradient ``G``
    (standard normal, fixed by ``seed``); ``layer.backward(G)`` must return dL/dx and write
    dL/dparam into ``layer.grads``. Parameters are perturbed in place and restored bit for bit;
    ``x`` is copied; the layer's grads, other array attributes (running statistics, caches)
    and random generators are restored at the end.

    Parameters
    ----------
    layer : object with the layer protocol (``params``, ``grads``, ``forward``, ``backward``)
    x : ndarray of float, shape (n, ...)
        A non-empty, finite input batch.
    mode : {"auto", "full", "sample", "directional"}
        Which perturbations (see :func:`gradcheck.sampling.select`): every element, a few
        random elements, or random directions; ``"auto"`` checks tensors of up to 8 elements
        element by element and the larger ones together along one joint random direction
        (:mod:`gradcheck.joint`); when that does not pass, each along its own direction, and
        a tensor whose direction fails element by element (up to 100,000 elements, else 64
        sampled ones), so that the report names its worst element.
    method : {"central", "forward", "richardson", "complex_step"}
    eps : float, optional
        Relative step; default per dtype and method (:func:`gradcheck.finite_diff.default_eps`).
    atol, rtol : float, optional
        Tolerances; defaults per dtype (:data:`gradcheck.compare.TOLERANCES`). An element
        passes when ``|a - n| <= atol + rtol * max|n over the tensor| + round-off``.
    seed : int
        Seed of ``G``, the sampled elements and the random directions.

    Returns
    -------
    GradcheckReport
        Rows with ``layer`` = the class name, ``tensor`` = ``"input"`` or the parameter key.
    """
    start = time.perf_counter()
    require_layer(layer, "layer", "check_layer")
    x = require_array(x, "x", "check_layer")
    arrays = [x, *layer.params.values()]
    s, dtype = resolve(arrays, mode=mode, method=method, eps=eps, atol=atol, rtol=rtol,
                       seed=seed, where="check_layer")
    with kept_state([layer]), progress_bar(arrays, s.mode) as bar:
        rows = _check_one(type(layer).__name__, layer, x, _random_upstream(s.seed), s, bar)
    return GradcheckReport(rows, options_dict(s, dtype), time.perf_counter() - start)


def check_model(model, loss, x, y, *, mode: str = "auto", method: str = "central", eps=None,
                atol=None, rtol=None, seed: int = 0) -> GradcheckReport:
    """Check every layer of a model in place, and the model's end-to-end parameter gradients.

    Each layer ``i`` is checked at its real input against its true upstream gradient (the
    ``dL/dy_i`` that reaches it in ``model.backward`` under ``loss``), so a wrong layer is named
    even when the layers after it are right (rows ``layer="<i>:<ClassName>"``,
    ``check="gradient"``). The same perturbed outputs of layer ``i`` are pushed through the
    later layers (cached inputs, recomputing only what follows) and the loss, which checks the
    gradients ``model.backward`` leaves in each layer's ``grads`` (``check="end_to_end"``).
    A random layer (dropout in training mode) gets a ``"determinism"`` failure and the
    end-to-end rows are skipped, since the loss is then not a function of the parameters.

    Parameters
    ----------
    model : object with ``.layers`` (list of layers), ``forward`` and ``backward``
    loss : object with ``forward(pred, target) -> float`` and ``backward() -> dL/dpred``
    x : ndarray of float, shape (n, ...)
    y : targets accepted by ``loss`` for the model's predictions (n rows)
    mode, method, eps, atol, rtol, seed
        As in :func:`check_layer` (``"complex_step"`` is not available: losses are real).

    Returns
    -------
    GradcheckReport
    """
    start = time.perf_counter()
    layers = require_model(model, loss, method)
    x = require_array(x, "x", "check_model")
    params = [p for layer in layers for p in layer.params.values()]
    s, dtype = resolve([x, *params], mode=mode, method=method, eps=eps, atol=atol, rtol=rtol,
                       seed=seed, where="check_model")
    with kept_state(layers), progress_bar([x, *params], s.mode) as bar:
        pred = np.array(model.forward(x.copy()), copy=True)
        acts, mutated, loss0, dpred = activations(layers, loss, x, y)
        chained = pred.shape == acts[-1].shape and np.array_equal(pred, acts[-1], equal_nan=True)
        recorded = recorded_backward(model, layers, dpred) if chained else None
        firsts, e2e = recorded or (None, None)
        probes = probe_chain(layers, acts, mutated if chained else None, dpred, firsts)
        random = not all(p.deterministic for p in probes)
        if not (chained or random):
            raise ValueError("check_model: model.forward(x) differs from running x through "
                             "model.layers in order; check_model needs a sequential model")
        if e2e is None:
            e2e = [{}] * len(layers) if random else model_grads(model, layers, dpred)
        noise = machine_eps(acts[-1]) * (abs(loss0) + float(np.sum(np.abs(dpred * acts[-1]))))
        rows = [row for p in probes for row in p.rows]
        for i, layer in enumerate(layers):
            down = None if random else Downstream(
                layers[i + 1:], acts[i + 1:], loss, y, loss0, s.eps,
                lambda i=i: rng_for(s.seed, "downstream", str(i)))
            rows += _numeric_rows(layer_name(i, layer), layer, acts[i], probes[i], s, bar,
                                  e2e=(down, e2e[i], noise))
    return GradcheckReport(rows, options_dict(s, dtype), time.perf_counter() - start)


def check_function(f, vjp, inputs, *, mode: str = "auto", method: str = "central", eps=None,
                   atol=None, rtol=None, seed: int = 0) -> GradcheckReport:
    """Check a plain function against its vector-Jacobian product.

    Parameters
    ----------
    f : callable
        ``f(*inputs) -> y`` (an array of any shape).
    vjp : callable
        ``vjp(inputs, G) -> grads``: the gradients of ``<G, f(*inputs)>`` with respect to each
        input (a tuple with one array per input; a bare array when there is one input).
    inputs : ndarray or tuple of ndarrays (float, finite)
        Never modified (``f`` and ``vjp`` get copies).
    mode, method, eps, atol, rtol, seed
        As in :func:`check_layer`.

    Returns
    -------
    GradcheckReport
        Rows with ``layer`` = ``f.__name__`` and ``tensor`` = ``"input"`` (one input) or
        ``"input<i>"``.
    """
    start = time.perf_counter()
    if not callable(f) or not callable(vjp):
        raise TypeError("check_function: f and vjp must be callables, got "
                        f"{type(f).__name__} and {type(vjp).__name__}")
    single = not isinstance(inputs, (tuple, list))
    arrays = [require_array(a, f"inputs[{i}]", "check_function", batch=False)
              for i, a in enumerate([inputs] if single else inputs)]
    s, dtype = resolve(arrays, mode=mode, method=method, eps=eps, atol=atol, rtol=rtol,
                       seed=seed, where="check_function")
    name = getattr(f, "__name__", type(f).__name__)
    adapter = FunctionLayer(f, vjp, arrays, single)
    with progress_bar(arrays, s.mode) as bar:
        rows = _check_one(name, adapter, np.zeros(1), _random_upstream(s.seed), s, bar,
                          check_input=False)
    rows += adapter.problem_rows(name)
    return GradcheckReport(rows, options_dict(s, dtype), time.perf_counter() - start)


def _check_one(name: str, layer, x, G_of, s: Settings, bar, *,
               check_input: bool = True) -> list[dict]:
    """Protocol rows, then a verdict row per tensor of one lone layer."""
    probe = probe_layer(name, layer, x, G_of)
    return probe.rows + _numeric_rows(name, layer, x, probe, s, bar, check_input=check_input)


def _numeric_rows(name: str, layer, x, probe, s: Settings, bar, *, e2e=None,
                  check_input: bool = True) -> list[dict]:
    """A local (and end-to-end) verdict row per tensor of a layer that passed its probe.

    In ``"auto"`` mode the large tensors are first checked together along one joint direction
    (:mod:`gradcheck.joint`); each tensor gets its own check only when that does not pass.
    """
    if not probe.deterministic:
        return []
    e2e = e2e if e2e is not None else (None, {}, 0.0)
    items = [(slot, probe.dx if slot.is_input else probe.grads.get(slot.name))
             for slot in _slots(layer, x, probe.mutates_input, check_input)]
    # a missing or mis-shaped gradient is already reported as a protocol problem
    items = [(slot, a) for slot, a in items if a is not None and np.shape(a) == slot.live.shape]
    joint = joint_rows(name, items, probe, s, e2e) if s.mode == "auto" else {}
    rows = []
    for slot, analytic in items:
        rows += joint.get(slot.name) or _tensor_rows(name, slot, analytic, probe, s, bar, e2e)
    return rows


def _tensor_rows(name: str, slot: Slot, analytic, probe, s: Settings, bar, e2e) -> list[dict]:
    """The local (and end-to-end) rows of one tensor checked on its own."""
    down, e2e_grads, e2e_noise = e2e
    rng = rng_for(s.seed, name, slot.name)
    sel = select(s.mode, slot.live.size, rng)
    use_down = down if slot.name in e2e_grads else None

    def run(sel, progress):
        return check_tensor(slot, probe.y0, probe.G, analytic, sel, s, rng, downstream=use_down,
                            e2e_analytic=e2e_grads.get(slot.name), e2e_noise=e2e_noise,
                            progress=progress)

    local, end = run(sel, bar)
    if s.mode == "auto" and {local.status, getattr(end, "status", "pass")} != {"pass"}:
        # name the worst element; element by element, so a large tensor gets its own bar
        with progress_bar([slot.live], "full") as locate_bar:
            local, end = run(locating(sel, slot.live.size, rng), locate_bar)
    rows = [verdict_row(name, slot.name, slot.live.shape, "gradient", local)]
    if end is not None:
        rows.append(verdict_row(name, slot.name, slot.live.shape, "end_to_end", end))
    return rows


def _slots(layer, x, mutates: bool, check_input: bool) -> list[Slot]:
    """The input (a private copy) and every parameter (live, restored exactly) of a layer."""
    def fresh(a):
        return a.copy() if mutates else a

    box = [x.copy()]   # one private copy: the input slot restores it exactly after each use
    x_run = box[0]
    slots = []
    if check_input:
        def install_input(array):
            box[0] = array
            return lambda: box.__setitem__(0, slots[0].live)
        slots.append(Slot("input", box[0], lambda: layer.forward(fresh(box[0])), install_input,
                          is_input=True, pristine=x))
    for key, value in layer.params.items():
        if not value.flags.writeable:
            raise ValueError(f"parameter {key!r} of {type(layer).__name__} is read-only; "
                             "gradcheck perturbs parameters in place and restores them exactly")

        def install(array, key=key, original=value):
            layer.params[key] = array
            return lambda: layer.params.__setitem__(key, original)
        slots.append(Slot(key, value, lambda: layer.forward(fresh(x_run)), install))
    return slots


def _random_upstream(seed: int):
    """``G_of(y0)``: a standard normal upstream gradient, the same for the same seed and shape."""
    return lambda y0: rng_for(seed, "upstream").standard_normal(np.shape(y0))
