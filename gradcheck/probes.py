"""Protocol probes of one layer at one point, each a named function, and the analytic side.

Each problem becomes a ``"fail"`` row whose message says what is wrong and how to fix it.
:func:`probe_layer` runs them in order and returns the analytic gradients they produced.
"""

from __future__ import annotations

import numpy as np

from gradcheck.arrays import same_values
from gradcheck.linearity_probe import backward_is_linear_and_overwrites
from gradcheck.probe_calls import LayerProbe, SeveralOutputs, during, first_backward, grad_words
from gradcheck.report import problem_row
from gradcheck.restore import Snapshot
from gradcheck.validation import trainable

__all__ = ["calls_leave_params_alone", "forward_keeps_its_input", "probe_layer"]


def forward_keeps_its_input(name: str, layer, x: np.ndarray):
    """``(y, mutated, rows)`` of one forward on a private copy of ``x``; raises
    :class:`SeveralOutputs` when forward returns a tuple or list."""
    given = x.copy()
    with during(f"the first forward of {name}"):
        raw = layer.forward(given)
    if isinstance(raw, (tuple, list)):
        raise SeveralOutputs
    y = np.array(raw, copy=True)
    mutated = not same_values(given, x)
    rows = [problem_row(name, "input", x.shape, "mutation",
                        "forward changed its input x in place; compute into a new array "
                        "(y = x * a, not x *= a) so callers keep their data")] if mutated else []
    return y, mutated, rows


def forward_is_a_function_of_its_input(name: str, layer, x, y_first, before: Snapshot):
    """``(y0, deterministic, rows)``: a second forward must repeat the first.

    When it does not, a third forward after restoring the layer's state tells a stateful
    forward (it updates attributes its output depends on) from a random one.
    """
    with during(f"the second forward of {name}"):
        y0 = np.array(layer.forward(x.copy()), copy=True)   # leaves the layer's state at x
    if same_values(y0, y_first):
        return y0, True, []
    changed, drew = before.changed(), before.advanced_generators()
    before.restore()
    with during(f"a forward of {name} after restoring its state"):
        again = np.array(layer.forward(x.copy()), copy=True)
    if same_values(again, y_first) and drew:
        message = (f"forward draws random numbers from its generator {', '.join(drew)} (the "
                   "same state gives the same output; two calls on the same input differ): "
                   "use eval mode (layer.eval()) or reseed it before each call for the check")
    elif same_values(again, y_first):
        what = ", ".join(changed) or "an attribute"
        message = (f"forward updates state its output depends on ({what} changed between "
                   "two calls on the same input): the output "
                   "must be a function of the input and parameters; freeze that state for the "
                   "check (eval mode) or keep it out of the output")
    else:
        message = ("two forward calls on the same input differ (the layer is random): seed "
                   "its generator or np.random, or use eval mode (layer.eval()) before "
                   "checking gradients")
    return y0, False, [problem_row(name, "output", y0.shape, "determinism", message)]


def grads_match_params(name: str, layer, grads: dict) -> list[dict]:
    """Rows for grads with NaN/Inf, missing grads, grads of the wrong shape, and grads less
    precise than their parameter (a float64 gradient of a float32 parameter is fine)."""
    rows = []
    for key, param in trainable(layer.params).items():
        grad = grads.get(key)
        what, tensor, missing = grad_words(layer, key)
        if grad is not None and grad.dtype.kind in "fc" and not np.isfinite(grad).all():
            rows.append(problem_row(name, key, param.shape, "non_finite_grad",
                                    f"backward wrote {int(np.sum(~np.isfinite(grad)))} NaN or "
                                    f"Inf values into {what} at a finite point"))
        elif grad is None:
            rows.append(problem_row(name, key, param.shape, "missing_grad", missing.replace(
                "has no entry", "holds None for") if key in grads else missing))
        elif grad.shape != param.shape:
            rows.append(problem_row(name, key, param.shape, "grad_shape",
                                    f"{what} has shape {grad.shape}, {tensor} has "
                                    f"{param.shape}: reduce over the batch axis"))
        elif grad.dtype.kind not in "fc" or grad.dtype.itemsize < param.dtype.itemsize:
            rows.append(problem_row(name, key, param.shape, "grad_dtype",
                                    f"{what} has dtype {grad.dtype}, {tensor} has "
                                    f"{param.dtype}: allocate it like {tensor}"))
    return rows


def backward_returns_dx_of_the_input_shape(name: str, dx, x: np.ndarray) -> list[dict]:
    """A row when ``dx`` (not None) does not have the input's shape."""
    if dx is None or np.shape(dx) == x.shape:
        return []
    return [problem_row(name, "input", x.shape, "grad_shape",
                        f"backward returned dx of shape {np.shape(dx)}, expected the input "
                        f"shape {x.shape}")]


def calls_leave_params_alone(name: str, layer, before: Snapshot) -> list[dict]:
    """A row when the probe's forwards and backwards replaced or changed parameters (which
    are then put back): perturbing them in place would go unseen, as an optimizer's would."""
    checked = trainable(layer.params)
    moved = [k for k in before.changed_params() if k in checked]   # buffers may change
    if not moved:
        return []
    before.restore()
    listed = ", ".join(repr(k) for k in moved)
    return [problem_row(name, moved[0], np.shape(layer.params[moved[0]]), "params_changed",
                        f"forward or backward replaced or changed params {listed} (a copy "
                        "assigned to params[k], an update inside backward); a layer must "
                        "leave its parameters alone, since optimizers and gradcheck change "
                        "them in place: compute with a local copy")]


def probe_layer(name: str, layer, x: np.ndarray, G_of, seen=None, first=None,
                linearity: bool = True) -> LayerProbe:
    """Run the probes at ``x`` and compute the analytic gradients.

    Parameters
    ----------
    name : str
        Layer label for the rows.
    layer : object with the layer protocol
    x : ndarray, shape (n, ...)
        The point (never modified: every call gets a private copy).
    G_of : callable
        ``G_of(y0) -> G``, the upstream gradient for the output ``y0``.
    seen : (ndarray, bool), optional
        ``(y0, mutated)`` from the caller's own forward at ``x``, whose state the layer
        still holds and whose determinism the caller established; saves two forwards.
    first : tuple, optional
        :func:`first_backward` of a backward the caller already ran at ``x`` (``G_of`` is
        then unused); saves one backward.
    linearity : bool
        Run :func:`backward_is_linear_and_overwrites` (False: the caller runs
        :func:`linearity_afresh` where it needs it).
    """
    if seen is None:
        before = Snapshot(layer)
        y_first, mutated, rows = forward_keeps_its_input(name, layer, x)
        y0, deterministic, more = forward_is_a_function_of_its_input(name, layer, x, y_first,
                                                                     before)
        rows += more
    else:
        (y0, mutated), deterministic, rows = seen, True, []
    probe = LayerProbe(y0=y0, rows=rows, deterministic=deterministic, mutates_input=mutated)
    if first is None:
        G = G_of(y0)
        first = first_backward(name, layer, G.copy(), G)[0]
    probe.G, probe.dx, probe.grads, problems = first
    probe.rows += problems
    probe.rows += backward_returns_dx_of_the_input_shape(name, probe.dx, x)
    probe.rows += grads_match_params(name, layer, probe.grads)
    if linearity:
        probe.rows += backward_is_linear_and_overwrites(name, layer, x, probe)
    return probe
