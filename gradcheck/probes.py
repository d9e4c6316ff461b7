"""Protocol probes of one layer at one point, each a named function, and the analytic side.

Each problem becomes a ``"fail"`` row whose message says what is wrong and how to fix it.
:func:`probe_layer` runs them in order and returns the analytic gradients they produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradcheck.arrays import close_to_multiple, same_values
from gradcheck.point import machine_eps
from gradcheck.report import problem_row
from gradcheck.restore import Snapshot
from gradcheck.validation import trainable

__all__ = ["LayerProbe", "SeveralOutputs", "calls_leave_params_alone", "during", "first_backward",
           "linearity_afresh", "probe_layer"]


class during:   # lower case: used like a function, ``with during("..."):``
    """Add to any exception the user's code raises which call of the check made it.

    A plain class rather than a generator context manager: it wraps every forward and
    backward the check makes, and costs a tenth as much per use.
    """

    __slots__ = ("what",)

    def __init__(self, what: str):
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if isinstance(exc, Exception) and hasattr(exc, "add_note"):
            exc.add_note(f"gradcheck: raised during {self.what}")
        return False


@dataclass
class LayerProbe:
    """What the probes learnt about a layer at a point (``G`` None: not deterministic)."""

    y0: np.ndarray
    G: np.ndarray | None = None
    dx: np.ndarray | None = None
    grads: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)
    deterministic: bool = True
    mutates_input: bool = False


class SeveralOutputs(Exception):
    """The first forward returned a tuple: the layer is checked as one with several outputs."""


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


def first_backward(name: str, layer, dy, G, backward=None):
    """One backward on ``dy`` (``G``: a copy of ``dy`` as given).

    Returns ``((G, dx, grads, rows), raw)``: copies of the ``dx`` returned and of the grads
    left, problem rows (``dy`` changed in place, ``None`` returned), and ``dx`` as returned.
    """
    with during(f"the backward of {name}"):
        raw = (backward or layer.backward)(dy)
    rows = []
    if not same_values(dy, G):
        rows.append(problem_row(name, "dy", G.shape, "mutation",
                                "backward changed its argument dy in place; copy it first "
                                "(dy = dy * mask, not dy *= mask)"))
    if raw is None:
        rows.append(problem_row(name, "input", (), "grad_shape",
                                "backward returned None; it must return dL/dx, an array of "
                                "the input's shape"))
    dx = None if raw is None else np.array(raw, copy=True)
    return (G, dx, _grads_now(layer), rows), raw


def _grads_now(layer) -> dict:
    return {key: None if value is None else np.array(value, copy=True)
            for key, value in layer.grads.items()}


def grad_words(layer, key: str) -> tuple[str, str, str]:
    """How messages name ``key``'s gradient, its tensor, and the fix for a missing one;
    a layer may say it otherwise (``layer.grad_words(key)``, as the several-input view
    does for its inputs)."""
    words = getattr(layer, "grad_words", None)
    if callable(words):
        return words(key)
    return (f"grads[{key!r}]", "the parameter",
            f"grads has no entry {key!r}: backward must write layer.grads[{key!r}] (same "
            "shape as the parameter); if it is a buffer (running statistics), keep it in a "
            "layer.buffers dict instead, or use adapt(layer, buffers=[...])")


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


def backward_is_linear_and_overwrites(name: str, layer, x, probe: LayerProbe) -> list[dict]:
    """A second ``backward(2 G)`` must give twice the first (to the dtype's precision).

    When a parameter's grads do not, a third ``backward(G)`` tells accumulation (``+=``,
    whatever the grads held before: each call adds its own share, so the second call added
    twice what the third adds) from a backward that is not linear in ``dy``.
    """
    rtol = max(1e3 * machine_eps(x, probe.G, *layer.params.values()), 1e-10)
    with during(f"the second backward of {name} (on 2 * dy)"):
        try:
            dx = layer.backward(2 * probe.G)
        except Exception:  # a layer may free its cache after backward: give it a fresh forward
            layer.forward(x.copy())
            dx = layer.backward(2 * probe.G)
    pairs = [("input", probe.dx, dx, False)] if probe.dx is not None and dx is not None else []
    pairs += [(k, probe.grads[k], np.array(g, copy=True), True)
              for k, g in layer.grads.items() if k in probe.grads]
    rows, third = [], None
    for key, first, value, is_param in pairs:
        if not (_floats(first) and _floats(value)) or np.shape(value) != np.shape(first) \
                or close_to_multiple(value, first, 2.0, rtol) \
                or not np.isfinite(first).all():   # None, NaNs: reported on their own
            continue
        if is_param and third is None:   # a third call, on dy: accumulation adds dy's share
            with during(f"the third backward of {name} (on dy)"):
                layer.backward(probe.G.copy())
            third = {k: np.array(g, copy=True) for k, g in layer.grads.items()}
        if is_param and np.shape(third.get(key)) == np.shape(value) and np.any(value != first) \
                and close_to_multiple(value - first, third[key] - value, 2.0, rtol):
            rows.append(problem_row(name, key, np.shape(value), "accumulation",
                                    f"backward adds into {grad_words(layer, key)[0]} across "
                                    "calls (each call returned old + new); overwrite it "
                                    "(grads[k][...] = g), do not accumulate with +=; for a "
                                    "layer meant to accumulate until zero_grad, check "
                                    "adapt(layer, accumulate=True)"))
        else:
            rows.append(problem_row(name, key, np.shape(value), "linearity",
                                    _not_linear(np.array_equal(value, first))))
    return rows


def _floats(a) -> bool:
    return np.asarray(a).dtype.kind in "fc"


def _not_linear(same: bool) -> str:
    """The message of a backward not linear in ``dy`` (``same``: backward(2 dy) gave what
    backward(dy) did)."""
    if same:
        return ("backward does not follow dy: backward(2*dy) returned what backward(dy) did; "
                "it may use the dy of an earlier call (kept in a cache) instead of its argument")
    return ("backward is not linear in dy: backward(2*dy) differs from 2*backward(dy); the "
            "gradient must be dy times a Jacobian that does not depend on dy")


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


def upstream_like(y0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A standard normal upstream gradient of ``y0``'s shape and (real) float dtype."""
    dtype = np.real(y0).dtype if np.asarray(y0).dtype.kind in "fc" else np.float64
    return rng.standard_normal(np.shape(y0)).astype(dtype)


def linearity_afresh(name: str, layer, x: np.ndarray, G: np.ndarray) -> list[dict]:
    """:func:`backward_is_linear_and_overwrites` later in a check, after other calls: a
    forward at ``x`` first, then the first backward on ``3 G`` (problems of that backward
    were reported by the probe at ``x``).

    Not on ``G``: the grads may hold exactly what the check's own backward on ``G`` gave,
    and an accumulating backward would then double them, as a linear one doubles them on
    ``2 G``.
    """
    with during(f"the forward of {name} before its linearity probe"):
        layer.forward(x.copy())
    G = 3 * G
    G, dx, grads, _ = first_backward(name, layer, G.copy(), G)[0]
    return backward_is_linear_and_overwrites(name, layer, x, LayerProbe(
        y0=None, G=G, dx=dx, grads=grads))


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
