"""The public checks: :func:`check_layer`, :func:`check_model`, :func:`check_function`.

Each reads as a plan: validate, run the protocol checks and a fresh forward + backward at the
unperturbed point (analytic side), perturb each tensor (numeric side), compare, report.
The tolerance rule is documented in :mod:`gradcheck.compare`:
``|analytic - numeric| <= atol + rtol * max|numeric over the tensor| + round-off``.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

import numpy as np

from gradcheck.downstream import Downstream
from gradcheck.function_layer import FunctionLayer
from gradcheck.options import options_dict, require_array, require_layer, resolve
from gradcheck.perturb import Slot
from gradcheck.protocol import probe_layer
from gradcheck.report import GradcheckReport, verdict_row
from gradcheck.sampling import rng_for, select, with_samples
from gradcheck.tensorcheck import Settings, check_tensor

__all__ = ["check_function", "check_layer", "check_model"]

PROGRESS_MIN_ELEMENTS = 20_000   # exhaustive checks at least this large show a progress bar


def check_layer(layer, x, *, mode: str = "auto", method: str = "central", eps=None, atol=None,
                rtol=None, seed: int = 0) -> GradcheckReport:
    """Check dL/dx and every parameter gradient of one layer.

    The objective is ``L = <G, layer.forward(x)>`` with a random upstream gradient ``G``
    (standard normal, fixed by ``seed``); ``layer.backward(G)`` must return dL/dx and write
    dL/dparam into ``layer.grads``. Parameters are perturbed in place and restored bit for bit;
    ``x`` is copied; ``layer.grads`` is restored at the end.

    Parameters
    ----------
    layer : object with the layer protocol (``params``, ``grads``, ``forward``, ``backward``)
    x : ndarray of float, shape (n, ...)
        A non-empty, finite input batch.
    mode : {"auto", "full", "sample", "directional"}
        Which perturbations (see :func:`gradcheck.sampling.select`).
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
    s, dtype = resolve([x, *layer.params.values()], mode=mode, method=method, eps=eps,
                       atol=atol, rtol=rtol, seed=seed, where="check_layer")
    with _kept_state([layer]), _progress([x, *layer.params.values()], s) as bar:
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
    layers = _require_model(model, loss, method)
    x = require_array(x, "x", "check_model")
    params = [p for layer in layers for p in layer.params.values()]
    s, dtype = resolve([x, *params], mode=mode, method=method, eps=eps, atol=atol, rtol=rtol,
                       seed=seed, where="check_model")
    with _kept_state(layers), _progress([x, *params], s) as bar:
        pred = np.array(model.forward(x.copy()), copy=True)
        acts, mutated, loss0, dpred = _activations(layers, loss, x, y)
        chained = pred.shape == acts[-1].shape and np.array_equal(pred, acts[-1], equal_nan=True)
        probes = _probe_chain(layers, acts, mutated if chained else None, dpred, s)
        random = not all(p.deterministic for p in probes)
        if not (chained or random):
            raise ValueError("check_model: model.forward(x) differs from running x through "
                             "model.layers in order; check_model needs a sequential model")
        e2e = [{}] * len(layers) if random else _model_grads(model, layers, dpred)
        noise = _eps_of(acts[-1]) * (abs(loss0) + float(np.sum(np.abs(dpred * acts[-1]))))
        rows = [row for p in probes for row in p.rows]
        for i, layer in enumerate(layers):
            down = None if random else Downstream(layers[i + 1:], acts[i + 1:], loss, y, loss0,
                                                  s.eps, rng_for(s.seed, "downstream", str(i)))
            rows += _numeric_rows(_name(i, layer), layer, acts[i], probes[i], s, bar,
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
    adapter = FunctionLayer(f, vjp, arrays, single)
    with _progress(arrays, s) as bar:
        rows = _check_one(getattr(f, "__name__", type(f).__name__), adapter, np.zeros(1),
                          _random_upstream(s.seed), s, bar, check_input=False)
    rows += adapter.problem_rows(getattr(f, "__name__", type(f).__name__))
    return GradcheckReport(rows, options_dict(s, dtype), time.perf_counter() - start)


def _check_one(name: str, layer, x, G_of, s: Settings, bar, *,
               check_input: bool = True) -> list[dict]:
    """Protocol rows, then a verdict row per tensor of one lone layer."""
    probe = probe_layer(name, layer, x, G_of, rtol=_repeat_rtol(x, layer))
    return probe.rows + _numeric_rows(name, layer, x, probe, s, bar, check_input=check_input)


def _numeric_rows(name: str, layer, x, probe, s: Settings, bar, *, e2e=None,
                  check_input: bool = True) -> list[dict]:
    """A local (and end-to-end) verdict row per tensor of a layer that passed its probe."""
    if not probe.deterministic:
        return []
    down, e2e_grads, e2e_noise = e2e if e2e is not None else (None, {}, 0.0)
    rows = []
    for slot in _slots(layer, x, probe.mutates_input, check_input):
        analytic = probe.dx if slot.is_input else probe.grads.get(slot.name)
        if analytic is None or np.shape(analytic) != slot.live.shape:
            continue   # already reported as a protocol problem
        rng = rng_for(s.seed, name, slot.name)
        sel = select(s.mode, slot.live.size, rng)
        use_down = down if slot.name in e2e_grads else None

        def run(sel, slot=slot, analytic=analytic, rng=rng, use_down=use_down):
            return check_tensor(slot, probe.y0, probe.G, analytic, sel, s, rng,
                                downstream=use_down, e2e_analytic=e2e_grads.get(slot.name),
                                e2e_noise=e2e_noise, progress=bar)

        local, end = run(sel)
        if s.mode == "auto" and {local.status, getattr(end, "status", "pass")} != {"pass"}:
            local, end = run(with_samples(sel, slot.live.size, rng))   # name an element
        rows.append(verdict_row(name, slot.name, slot.live.shape, "gradient", local))
        if end is not None:
            rows.append(verdict_row(name, slot.name, slot.live.shape, "end_to_end", end))
    return rows


def _probe_chain(layers, acts, mutated, dpred, s: Settings) -> list:
    """Probe the layers from last to first; each gets the dL/dx of the probe after it as G.

    ``mutated`` (per layer, from the caller's forward pass, whose state the layers hold)
    lets the probes skip their own forwards; None makes each probe run and compare two.
    """
    probes = [None] * len(layers)
    g = dpred
    for i in range(len(layers) - 1, -1, -1):
        seen = None if mutated is None else (acts[i + 1], mutated[i])
        probes[i] = probe_layer(_name(i, layers[i]), layers[i], acts[i], lambda _y, g=g: g,
                                rtol=_repeat_rtol(acts[i], layers[i]), seen=seen)
        g = probes[i].dx
        if np.shape(g) != np.shape(acts[i]):
            raise ValueError(f"check_model: layer {_name(i, layers[i])} returned dx of shape "
                             f"{np.shape(g)} for an input of shape {np.shape(acts[i])}")
    return probes


def _name(i: int, layer) -> str:
    return f"{i}:{type(layer).__name__}"


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
                          is_input=True))
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


def _eps_of(*arrays) -> float:
    """Machine epsilon of the widest float dtype among ``arrays`` (float32 at least)."""
    return float(np.finfo(np.result_type(*(a.dtype for a in arrays), np.float32)).eps)


def _repeat_rtol(x, layer) -> float:
    """Tolerance for comparing repeated backward calls of a layer."""
    return max(1e3 * _eps_of(x, *layer.params.values()), 1e-10)


def _require_model(model, loss, method: str) -> list:
    """Validated list of layers; clear errors for a non-model or non-loss."""
    layers = getattr(model, "layers", None)
    if layers is None or not callable(getattr(model, "backward", None)):
        raise TypeError("check_model: model must offer .layers (a list of layers), forward and "
                        f"backward; got {type(model).__name__}")
    layers = list(layers)
    if not layers:
        raise ValueError("check_model: model has no layers")
    for i, layer in enumerate(layers):
        require_layer(layer, f"model.layers[{i}]", "check_model")
    if not (callable(getattr(loss, "forward", None)) and callable(getattr(loss, "backward", None))):
        raise TypeError("check_model: loss must offer forward(pred, target) and backward(); got "
                        f"{type(loss).__name__}")
    if method == "complex_step":
        raise ValueError("check_model: method='complex_step' needs complex predictions, which "
                         "losses do not take; use check_layer or check_function for it")
    return layers


def _loss_value(loss, pred, y) -> float:
    """``loss.forward(pred, y)``, turning a rejection of ``y`` into a clear ``ValueError``."""
    n_y = len(y) if hasattr(y, "__len__") else None
    if n_y is not None and n_y != len(pred):
        raise ValueError(f"check_model: y has {n_y} rows but x has {len(pred)} samples")
    try:
        value = float(loss.forward(pred, y))
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"check_model: {type(loss).__name__} rejected the targets y for "
                         f"predictions of shape {np.shape(pred)}: {exc}") from None
    if not np.isfinite(value):
        raise ValueError(f"check_model: the loss at x is not finite ({value})")
    return value


def _activations(layers, loss, x, y):
    """Inputs of every layer (and the prediction), which layers mutate their input, the loss
    and dL/dpred. Each layer keeps the state of this forward for its probe."""
    acts, mutated = [x.copy()], []
    for layer in layers:
        given = acts[-1].copy()
        acts.append(np.array(layer.forward(given), copy=True))
        mutated.append(not np.array_equal(given, acts[-2], equal_nan=True))
    loss0 = _loss_value(loss, acts[-1], y)
    return acts, mutated, loss0, np.array(loss.backward(), copy=True)


def _model_grads(model, layers, dpred) -> list[dict]:
    """Per layer, copies of the grads ``model.backward(dL/dpred)`` leaves (end-to-end)."""
    model.backward(dpred.copy())
    return [{k: np.array(g, copy=True) for k, g in layer.grads.items()} for layer in layers]


@contextmanager
def _kept_state(layers):
    """Restore each layer's grads, array attributes (running statistics...) and random
    generators to their state before the check: the check's forward calls leave no trace."""
    saved = [_state_of(layer) for layer in layers]
    try:
        yield
    finally:
        for layer, (grads, arrays, generators) in zip(layers, saved, strict=True):
            for key, value in grads.items():
                current = layer.grads.get(key)
                if current is not None and current.shape == value.shape:
                    np.copyto(current, value)
            for name, value in arrays.items():
                current = getattr(layer, name, None)
                if isinstance(current, np.ndarray) and current.shape == value.shape \
                        and current.dtype == value.dtype and current.flags.writeable:
                    np.copyto(current, value)
                else:
                    setattr(layer, name, value)
            for name, state in generators.items():
                getattr(layer, name).bit_generator.state = state


def _state_of(layer):
    """Copies of grads, of ndarray attributes that are not parameters, and generator states."""
    params = {id(p) for p in layer.params.values()}
    attrs = vars(layer) if hasattr(layer, "__dict__") else {}
    arrays = {k: v.copy() for k, v in attrs.items()
              if isinstance(v, np.ndarray) and id(v) not in params}
    generators = {k: v.bit_generator.state for k, v in attrs.items()
                  if isinstance(v, np.random.Generator)}
    return {k: np.array(g, copy=True) for k, g in layer.grads.items()}, arrays, generators


@contextmanager
def _progress(arrays, s: Settings):
    """A tqdm bar for long exhaustive checks on a terminal; None otherwise."""
    total = sum(a.size for a in arrays)
    if s.mode != "full" or total < PROGRESS_MIN_ELEMENTS or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc="gradcheck", unit="elem", disable=not sys.stderr.isatty()) as bar:
        yield bar
