"""The public checks: :func:`check_layer`, :func:`check_model`, :func:`check_function`.

Each reads as a plan: validate, probe the protocol and take the analytic gradients at the
given point, measure every tensor through the one engine (:mod:`gradcheck.plan` says which
values), judge (:mod:`gradcheck.judge`), check again at a second point, report.
"""

from __future__ import annotations

import time

from gradcheck.function_check import function_rows
from gradcheck.layer_check import point_rows, second_point_rows
from gradcheck.layer_point import layer_point
from gradcheck.model_check import model_rows
from gradcheck.parallel import uses_workers
from gradcheck.probes import calls_leave_params_alone, probe_layer, upstream_like
from gradcheck.progress import progress_bar
from gradcheck.report import GradcheckReport
from gradcheck.restore import kept_state
from gradcheck.selection import rng_for
from gradcheck.settings import resolve_settings
from gradcheck.validation import require_array, require_layer, require_model

__all__ = ["check_function", "check_layer", "check_model"]


@uses_workers("check_layer")
def check_layer(layer, x, *, mode: str = "auto", method: str = "central", eps=None, atol=None,
                rtol=None, seed: int = 0, second_point: bool = True,
                likely_cause: bool = True, n_jobs: int | None = None) -> GradcheckReport:
    """Check dL/dx and every parameter gradient of one layer.

    The objective is ``L = <G, layer.forward(x)>`` with a random upstream gradient ``G``
    (standard normal in the output's dtype, fixed by ``seed``). The calls, in order:
    ``forward(x)`` twice (mutation, determinism), ``backward(G)`` (the analytic gradients:
    ``backward`` returns dL/dx and writes dL/dparam into ``layer.grads``), ``backward(2 G)``
    (linearity, accumulation), then perturbed forwards; with ``second_point``, a forward at a
    moved input and moved parameters, ``backward(G2)`` there and perturbed forwards around it.
    Parameters are perturbed in place and restored bit for bit; ``x`` is copied; the layer's
    grads and other state (arrays, containers of them, generators) and numpy's global random
    state are restored at the end.

    Parameters
    ----------
    layer : object with the layer protocol (``params``, ``grads``, ``forward``, ``backward``)
    x : ndarray of float, shape (n, ...)
        A non-empty, finite input batch.
    mode : {"auto", "full", "sample", "directional"}
        Which values (:mod:`gradcheck.plan`): every element, a few random elements, random
        directions, or ``"auto"``: small tensors element by element, larger ones along one
        joint random direction, then their own, and the wrong element located when one fails.
    method : {"central", "forward", "richardson", "complex_step"}
    eps : float, optional
        Relative step; default per dtype and method (:func:`gradcheck.finite_diff.default_eps`).
    atol, rtol : float, optional
        The tolerance floor; defaults per dtype (:data:`gradcheck.settings.TOLERANCES`); the
        rule (:mod:`gradcheck.judge`) adds round-off and the estimated finite-difference error.
    seed : int
        Seed of ``G``, the sampled elements, the random directions and the second point.
    second_point : bool
        Also check at a second point nearby (stale caches; bugs hidden behind kinks).
    likely_cause : bool
        Analyse each failing tensor (its full numeric gradient, context reruns on copies of
        the layer) and name the probable bug in the ``likely_cause`` column
        (:mod:`gradcheck.causes`).
    n_jobs : int, optional
        joblib workers for the large value sets (``mode="full"`` above all): None or 1 checks
        in this process; -1 uses every core. Any joblib backend runs them (loky processes by
        default; Dask or Ray on a cluster inside ``joblib.parallel_config(backend=...)``).
        Each worker perturbs its own (cloudpickled) copy of the layer, computing with this
        process's BLAS thread counts (limit them to 1 to keep local workers from
        oversubscribing the cores), and the report is the serial one, bit for bit
        (:mod:`gradcheck.parallel`).

    Returns
    -------
    GradcheckReport
        Rows with ``layer`` = the class name, ``tensor`` = ``"input"`` or the parameter key.
    """
    start = time.perf_counter()
    require_layer(layer, "layer", "check_layer")
    x = require_array(x, "x", "check_layer")
    s = resolve_settings(mode=mode, method=method, eps=eps, atol=atol, rtol=rtol, seed=seed,
                         second_point=second_point, likely_cause=likely_cause,
                         where="check_layer")
    name = type(layer).__name__
    with kept_state([layer]) as (before,):
        probe = probe_layer(name, layer, x, lambda y0: upstream_like(y0, rng_for(seed, "upstream")))
        s = s.for_arrays({"x": x, **{f"params[{k!r}]": v for k, v in layer.params.items()},
                          "the output": probe.y0}, "check_layer")
        moved = calls_leave_params_alone(name, layer, before)
        rows = list(probe.rows) + moved
        if probe.deterministic and not moved:
            point = layer_point(name, layer, x, probe, s.dtype)
            with progress_bar(_full_size(s.mode, point.tensors)) as bar:
                found, first = point_rows(point, s, bar, layer, x, _quick_check)
            rows += found
            if s.second_point:
                rows += second_point_rows(name, layer, x, probe, s, first, found)
    return GradcheckReport(rows, s.options(), time.perf_counter() - start)


@uses_workers("check_model")
def check_model(model, loss, x, y, *, mode: str = "auto", method: str = "central", eps=None,
                atol=None, rtol=None, seed: int = 0, second_point: bool = True,
                likely_cause: bool = True, n_jobs: int | None = None) -> GradcheckReport:
    """Check every layer of a model in place, and the model's end-to-end parameter gradients.

    Each layer ``i`` is checked at its real input against its true upstream gradient (the
    ``dL/dy_i`` that reaches it in ``model.backward`` under ``loss``), so a wrong layer is named
    even when the layers after it are right (rows ``layer="<i>:<ClassName>"``,
    ``check="gradient"``). The same perturbed outputs of layer ``i`` are pushed through the
    later layers (cached inputs, recomputing only what follows) and the loss, which checks the
    gradients ``model.backward`` leaves in each layer's ``grads`` (``check="end_to_end"``).
    A random layer (dropout in training mode) gets a ``"determinism"`` failure and the
    end-to-end rows are skipped, since the loss is then not a function of the parameters.
    With ``second_point``, every layer is checked again after a forward and backward of the
    model at a moved input and moved parameters (``check="second_point"`` rows where wrong).

    Parameters
    ----------
    model : object with ``.layers`` (list of layers), ``forward`` and ``backward``
    loss : object with ``forward(pred, target) -> float`` and ``backward() -> dL/dpred``
    x : ndarray of float, shape (n, ...)
    y : targets accepted by ``loss`` for the model's predictions (n rows)
    mode, method, eps, atol, rtol, seed, second_point, likely_cause, n_jobs
        As in :func:`check_layer` (``"complex_step"`` is not available: losses are real;
        each worker gets a copy of the layer checked, the layers after it and the loss).

    Returns
    -------
    GradcheckReport
    """
    start = time.perf_counter()
    layers = require_model(model, loss, method)
    x = require_array(x, "x", "check_model")
    s = resolve_settings(mode=mode, method=method, eps=eps, atol=atol, rtol=rtol, seed=seed,
                         second_point=second_point, likely_cause=likely_cause,
                         where="check_model")
    with kept_state([*layers, loss]) as snapshots:
        rows, s = model_rows(model, layers, loss, x, y, s, snapshots[:len(layers)],
                             _quick_check)
    return GradcheckReport(rows, s.options(), time.perf_counter() - start)


@uses_workers("check_function")
def check_function(f, vjp, inputs, *, mode: str = "auto", method: str = "central", eps=None,
                   atol=None, rtol=None, seed: int = 0, likely_cause: bool = True,
                   n_jobs: int | None = None) -> GradcheckReport:
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
    mode, method, eps, atol, rtol, seed, likely_cause, n_jobs
        As in :func:`check_layer` (no context reruns: a function has no layer to rerun;
        each worker gets a copy of ``f``).

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
    s = resolve_settings(mode=mode, method=method, eps=eps, atol=atol, rtol=rtol, seed=seed,
                         second_point=False, likely_cause=likely_cause,
                         where="check_function")
    name = getattr(f, "__name__", type(f).__name__)
    with progress_bar(sum(a.size for a in arrays) if s.mode == "full" else 0) as bar:
        rows, s = function_rows(name, f, vjp, arrays, single, s, bar)
    return GradcheckReport(rows, s.options(), time.perf_counter() - start)


def _quick_check(layer, x) -> GradcheckReport:
    """The check the likely cause reruns a failing layer with (fast; no analysis of its own)."""
    return check_layer(layer, x, mode="directional", second_point=False, likely_cause=False)


def _full_size(mode: str, tensors) -> int:
    """Elements checked one by one in ``"full"`` mode (the progress bar's total), else 0."""
    return sum(t.live.size for t in tensors) if mode == "full" else 0
