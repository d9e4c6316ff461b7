"""The public checks: :func:`check_layer`, :func:`check_model`, :func:`check_function`.

Each reads as a plan: validate, probe the protocol and take the analytic gradients at the
given point, measure every tensor through the one engine (:mod:`gradcheck.plan` says which
values), judge (:mod:`gradcheck.judge`), check again at a second point, report.
"""

from __future__ import annotations

import time
import warnings

from gradcheck.allocator import warm_allocator
from gradcheck.function_check import function_rows
from gradcheck.layer_rows import checked_layer
from gradcheck.loss_noise import model_rows_within_loss_noise
from gradcheck.low_precision import chain_rounded_away, layer_rounded_away, unless_rounded_away
from gradcheck.parallel import uses_workers
from gradcheck.progress import progress_bar
from gradcheck.report import GradcheckReport
from gradcheck.settings import resolve_settings
from gradcheck.several_inputs import parse_inputs
from gradcheck.validation import (
    layer_label,
    require_array,
    require_layer,
    require_model,
)

__all__ = ["check_function", "check_layer", "check_model"]


@uses_workers("check_layer")
def check_layer(layer, *inputs, mode: str = "auto", method: str = "central", eps=None,
                atol=None, rtol=None, seed: int = 0, second_point: bool = True,
                likely_cause: bool = True, n_jobs: int | None = None) -> GradcheckReport:
    """Check dL/d(each float input) and every parameter gradient of one layer.

    The objective is ``L = <G, y>`` for the output ``y = layer.forward(*inputs)`` and a random
    upstream gradient ``G`` (standard normal in the output's dtype, fixed by ``seed``).

    The calls the checker makes, in order (each on private copies of the inputs):

    1. ``forward(*inputs)`` twice: does it change its inputs, is it a function of them (a
       third forward after restoring the layer's state tells a stateful layer from a random
       one);
    2. ``backward(G)``: the analytic gradients (returned dx, and ``layer.grads``);
    3. ``backward(2 G)``: linear in ``dy``, grads overwritten (a third ``backward(G)`` tells
       accumulation from non-linearity when they are not);
    4. perturbed forwards: inputs and parameters moved in place, restored bit for bit;
    5. with ``second_point``: a forward at moved inputs and parameters, ``backward(G2)``
       there, and perturbed forwards around it;
    6. for a failing tensor, with ``likely_cause``: quick checks of deep copies of the layer.

    At the end the layer's grads and other state (arrays, nested dicts, lists and
    sub-objects of them, generators) and numpy's global random state are restored.

    Parameters
    ----------
    layer : object with the layer protocol
        ``params`` and ``grads`` dicts (float arrays are checked; integer or boolean entries,
        and a ``buffers`` dict, are held fixed), ``forward(*inputs) -> y`` (an array, or a
        tuple of arrays for several outputs), ``backward(dy) -> dx`` (``backward(dy1, ...,
        dyk)`` for ``k`` outputs; one dx per input as a tuple when there are several, ``None``
        for integer inputs). Other conventions: :func:`gradcheck.adapt`.
    *inputs : ndarray, or one dict of them
        The inputs, positional (rows ``"input"``, or ``"input0"``, ``"input1"``, ...) or as one
        dict passed as keywords (rows named by key). Float inputs: finite, non-empty, checked
        (one input: a batch of shape (n, ...)). Integer and boolean inputs (token ids,
        indices, masks) are constants: never perturbed, no dx expected (a ``"constant"`` row).
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
        Rows with ``layer`` = the class name (or the adapter's ``name``) and ``tensor`` = the
        input's name or the parameter key.
    """
    start = time.perf_counter()
    inputs = parse_inputs(inputs, "check_layer")
    build = getattr(layer, "gradcheck_build", None)
    if callable(build):   # parameters created by the first forward (adapt(..., lazy=True))
        build(*[a.copy() for a in inputs.arrays])
    require_layer(layer, "layer", "check_layer")
    warm_allocator([*inputs.arrays, *layer.params.values()])
    s = resolve_settings(mode=mode, method=method, eps=eps, atol=atol, rtol=rtol, seed=seed,
                         second_point=second_point, likely_cause=likely_cause,
                         where="check_layer")
    name = layer_label(layer)
    rows, s = unless_rounded_away(
        checked_layer(name, layer, inputs, s, _quick_check), "check_layer",
        lambda failing: layer_rounded_away(layer, inputs.arrays[0] if inputs.plain else None,
                                           failing.get(name, set()), s.seed, s.step),
        lambda low: checked_layer(name, layer, inputs, low, _quick_check), [layer])
    return GradcheckReport(rows, s.options(), time.perf_counter() - start)


@uses_workers("check_model")
def check_model(model, loss, x, y, *, mode: str = "auto", method: str = "central", eps=None,
                atol=None, rtol=None, seed: int = 0, second_point: bool = True,
                likely_cause: bool = True, n_jobs: int | None = None) -> GradcheckReport:
    """Check every layer of a model in place, and the model's end-to-end gradients.

    The model's layers are found by walking it (:mod:`gradcheck.model_layers`): a ``layers``
    list, attributes (``self.fc1``), dicts of named layers, lists, and nested blocks (objects
    with ``forward`` and ``backward`` that hold layers), cycles and shared objects included. A
    *leaf* is an object with the layer protocol that holds no other layer. Rows are named by
    path, ``"<path>:<ClassName>"``: ``"fc1:Dense"``, ``"blocks.0.conv:Conv2D"``, and
    ``"<i>:<ClassName>"`` for ``model.layers[i]`` (an object's ``layers`` list adds no name).

    Each layer is checked on its own (``check="gradient"``) at its real input against its true
    upstream gradient: the ``dL/dy`` that reaches it in ``model.backward`` under ``loss``, so a
    wrong layer is named even when the layers after it are right. The model's end-to-end
    gradients (``check="end_to_end"``), the grads ``model.backward`` leaves in each layer and
    the dx it returns (row ``"model:<ClassName>"``, ``"input"``), are checked against finite
    differences of the loss. The rows put causes before symptoms: failing rows of layers' own
    checks first (leaves, then blocks), then failing end-to-end rows, whose likely cause names
    those layers (or, when every layer passes on its own, a wrong composition: a skip, a
    merge, a shared layer's gradients not summed), then the rest, in forward order.

    Two paths, with the same rows where both apply:

    - a *chain*: ``model.layers`` holds every layer and ``model.forward`` runs them in order.
      The layers' inputs are cached activations; each layer's perturbed outputs are pushed
      through the later layers only (batched where they treat samples independently). In
      ``"auto"`` mode all layers are first checked together along one joint direction
      (:mod:`gradcheck.chain_screen`); only what that leaves open gets each layer's own check.
      The accumulation/linearity probe (``backward(2 G)`` against ``backward(G)``) runs for
      the layers with a failing row, and for every layer when ``second_point`` is False
      (the backward at the moved point first shows what a correct first backward hides:
      accumulation into zero grads).
    - *any other* model (:mod:`gradcheck.model_graph`): one run of ``model.forward(x)``,
      ``loss``, ``model.backward(dL/dpred)`` records, for every layer and block (their
      ``forward``/``backward`` shadowed by instance attributes for that run, removed after,
      also on errors), each call's inputs and the ``dy`` its backward got (paired last in,
      first out). Each leaf, then each block, is checked at each of its calls (a shared layer
      called twice gets rows ``"fc:Dense"`` and ``"fc:Dense (call 2)"``) with that ``dy`` as
      ``G``, as :func:`check_layer` checks a layer (several inputs or outputs and integer
      inputs included); a block is checked on its input and on the parameters none of its
      layers holds. The end-to-end check perturbs the input and every parameter (an array
      several layers hold is one tensor whose gradient is the sum of theirs) and runs
      ``model.forward`` and the loss. A leaf the forward never calls gets a ``"vacuous"``
      ``"not_checked"`` row; a leaf with parameters whose backward ``model.backward`` does
      not call once per forward call gets a ``"backward_reach"`` failure (and a random ``G``).

    A random layer (dropout in training mode), or a model whose forward is random, gets a
    ``"determinism"`` failure and the end-to-end rows are skipped, since the loss is then not
    a function of the parameters. With ``second_point``, a chain first runs once forward and
    backward at a moved input with moved parameters (:mod:`gradcheck.moved_first`), so that a
    stale cache fails at the given point (likely cause ``"stale_cache"``); where the given
    point may hide a bug (:func:`gradcheck.chain_moved_first.unsettled`: kinks, zeros, a
    feature 0 on every sample, a parameter at a special value such as a ``gamma`` of ones,
    ``"sample"`` mode), and always for any other model, the whole model is checked again
    at such a moved point along directions;
    where that fails, every layer at the input it gets there (``check="second_point"`` rows
    where wrong). The model, its layers, the loss and numpy's global random state are
    restored at the end.

    Parameters
    ----------
    model : object with ``forward`` and ``backward`` that holds its layers (see above)
    loss : object with ``forward(pred, target) -> float`` and ``backward() -> dL/dpred``
        Optionally ``forward_each(preds, target) -> (K,)``: the loss of each of ``K``
        predictions stacked on a leading axis (the reference losses have it); full mode's
        end-to-end rows then send many perturbed copies in one call (see
        :mod:`gradcheck.rest_of_model`).
    x : ndarray of float, shape (n, ...)
        Or of integers or booleans (token ids, indices): a constant, never moved, for which
        the first layer returns no dx (its row ``"constant"``).
    y : targets accepted by ``loss`` for the model's predictions (n rows)
    mode, method, eps, atol, rtol, seed, likely_cause, n_jobs
        As in :func:`check_layer` (``"complex_step"`` is not available: losses are real;
        each worker gets a copy of the layer checked, the layers after it and the loss).
    second_point : bool
        Catch stale caches (a chain's run at a moved point first) and check the model at a
        second point where the given point may hide a bug (above).

    Returns
    -------
    GradcheckReport
    """
    start = time.perf_counter()
    found = require_model(model, loss, method)
    x = require_array(x, "x", "check_model", constant_ok=True)
    warm_allocator([x, *(p for u in found.leaves for p in u.obj.params.values())])
    s = resolve_settings(mode=mode, method=method, eps=eps, atol=atol, rtol=rtol, seed=seed,
                         second_point=second_point, likely_cause=likely_cause,
                         where="check_model")
    layers = list(model.layers) if found.sequential else []   # only a chain's are asked
    rows, s = unless_rounded_away(
        model_rows_within_loss_noise(model, found, loss, x, y, s, _quick_check), "check_model",
        (lambda failing: chain_rounded_away(layers, x, failing, s.seed, s.step))
        if layers else None,
        lambda low: model_rows_within_loss_noise(model, found, loss, x, y, low, _quick_check),
        [*layers, loss], model)
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
    warm_allocator(arrays)
    name = getattr(f, "__name__", type(f).__name__)
    with progress_bar(sum(a.size for a in arrays) if s.mode == "full" else 0) as bar:
        rows, s = function_rows(name, f, vjp, arrays, single, s, bar)
    return GradcheckReport(rows, s.options(), time.perf_counter() - start)


def _quick_check(layer, x) -> GradcheckReport:
    """The check the likely cause reruns a failing layer with (fast; no analysis of its own;
    quiet: the check it serves has already warned about float32)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="check_layer: checking in float32")
        return check_layer(layer, x, mode="directional", second_point=False,
                           likely_cause=False)
