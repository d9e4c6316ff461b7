"""Protocol checks of one layer at one point, and the analytic gradients they produce.

Each problem becomes a ``"fail"`` row whose message says what is wrong and how to fix it:
a forward that mutates its input, a forward that is not deterministic, a backward that
mutates ``dy``, missing grads or grads of the wrong shape or dtype, a backward that
accumulates into ``grads`` across calls, a backward that is not linear in ``dy``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradcheck.compare import machine_eps
from gradcheck.report import problem_row

__all__ = ["LayerProbe", "first_backward", "probe_layer", "repeat_rtol"]


@dataclass
class LayerProbe:
    """What the protocol checks learnt about a layer at a point.

    Attributes
    ----------
    y0 : ndarray
        Output of a fresh forward at the point.
    G : ndarray or None
        Upstream gradient used (None when the layer is not deterministic).
    dx : ndarray or None
        dL/dx from one fresh forward + backward with upstream gradient ``G``.
    grads : dict of str to ndarray
        Each parameter key -> its gradient from that backward.
    rows : list of dict
        Problem rows (empty when the layer follows the protocol).
    deterministic, mutates_input : bool
    """

    y0: np.ndarray
    G: np.ndarray | None = None
    dx: np.ndarray | None = None
    grads: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)
    deterministic: bool = True
    mutates_input: bool = False


def repeat_rtol(x, layer) -> float:
    """Tolerance for comparing repeated backward calls of a layer (its dtype's precision)."""
    return max(1e3 * machine_eps(x, *layer.params.values()), 1e-10)


_CHUNK = 1 << 15   # elements compared at a time: no large temporaries (they cost page faults)


def _same(a, b, factor: float, rtol: float) -> bool:
    """Equal shapes and ``|a - factor * b| <= rtol * |factor * b|`` everywhere (NaN never
    matches), compared chunk by chunk."""
    if np.shape(a) != np.shape(b):
        return False
    a, b = np.ravel(a), np.ravel(b)
    for start in range(0, a.size, _CHUNK):
        x, y = a[start:start + _CHUNK], factor * b[start:start + _CHUNK]
        if not (np.array_equal(x, y) or np.all(np.abs(x - y) <= rtol * np.abs(y))):
            return False
    return True


def _snapshot(layer) -> dict:
    return {key: np.array(value, copy=True) for key, value in layer.grads.items()}


def _grad_problems(name: str, layer, grads: dict) -> list[dict]:
    """Rows for missing grads and grads of the wrong shape or dtype (and a wrong dx shape)."""
    rows = []
    for key, param in layer.params.items():
        grad = grads.get(key)
        if grad is None:
            rows.append(problem_row(name, key, param.shape, "missing_grad",
                                    f"grads has no entry {key!r}: backward must write "
                                    f"layer.grads[{key!r}] (same shape as the parameter)"))
        elif grad.shape != param.shape:
            rows.append(problem_row(name, key, param.shape, "grad_shape",
                                    f"grads[{key!r}] has shape {grad.shape}, the parameter "
                                    f"has {param.shape}: reduce over the batch axis"))
        elif grad.dtype != param.dtype:
            rows.append(problem_row(name, key, param.shape, "grad_dtype",
                                    f"grads[{key!r}] has dtype {grad.dtype}, the parameter "
                                    f"has {param.dtype}: allocate grads like the parameter"))
    return rows


def probe_layer(name: str, layer, x: np.ndarray, G_of,
                seen: tuple[np.ndarray, bool] | None = None, first=None) -> LayerProbe:
    """Run the protocol checks and compute the analytic gradients.

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
    """
    if seen is None:
        x_in = x.copy()
        y_first = np.array(layer.forward(x_in), copy=True)
        mutated = not np.array_equal(x_in, x, equal_nan=True)
        y0 = np.array(layer.forward(x.copy()), copy=True)   # leaves the layer's state at x
        deterministic = np.array_equal(y0, y_first, equal_nan=True)
    else:
        (y0, mutated), deterministic = seen, True
    probe = LayerProbe(y0=y0, deterministic=deterministic, mutates_input=mutated)
    if mutated:
        probe.rows.append(problem_row(
            name, "input", x.shape, "mutation",
            "forward changed its input x in place; compute into a new array "
            "(y = x * a, not x *= a) so callers keep their data"))
    if not deterministic:
        probe.rows.append(problem_row(
            name, "output", y0.shape, "determinism",
            "two forward calls on the same input differ (the layer is random): seed your "
            "dropout or use eval mode (layer.eval()) before checking gradients"))
    if first is None:
        G = G_of(y0)
        first = first_backward(name, layer, G.copy(), G)[0]
    probe.G, probe.dx, probe.grads, problems = first
    probe.rows += problems
    if np.shape(probe.dx) != x.shape:
        probe.rows.append(problem_row(
            name, "input", x.shape, "grad_shape",
            f"backward returned dx of shape {np.shape(probe.dx)}, expected the input shape "
            f"{x.shape}"))
    probe.rows += _grad_problems(name, layer, probe.grads)
    probe.rows += _second_backward(name, layer, x, probe)
    return probe


def first_backward(name: str, layer, dy, G, backward=None):
    """One backward on ``dy`` (``G``: a copy of ``dy`` as given).

    Returns ``((G, dx, grads, rows), raw)``: copies of the ``dx`` returned and of the grads
    left, a problem row if backward changed ``dy`` in place, and the ``dx`` as returned.
    ``backward`` defaults to ``layer.backward``.
    """
    raw = (backward or layer.backward)(dy)
    rows = []
    if not np.array_equal(dy, G):
        rows.append(problem_row(name, "input", G.shape, "mutation",
                                "backward changed its argument dy in place; copy it first"))
    return (G, np.array(raw, copy=True), _snapshot(layer), rows), raw


def _second_backward(name: str, layer, x, probe: LayerProbe) -> list[dict]:
    """Accumulation and linearity: a second ``backward(2 G)`` must give twice the first (up to
    :func:`repeat_rtol`).

    Grads that come out three times the first were added to the previous call's (``+=``).
    """
    rtol = repeat_rtol(x, layer)
    try:
        dx = layer.backward(2 * probe.G)
    except Exception:  # a layer may free its cache after backward: give it a fresh forward
        layer.forward(x.copy())
        dx = layer.backward(2 * probe.G)
    # compared right away, before anything else runs: no copies needed
    pairs = [("input", probe.dx, dx, False)]
    pairs += [(k, probe.grads[k], g, True) for k, g in layer.grads.items() if k in probe.grads]
    rows = []
    for key, first, value, is_param in pairs:
        if np.shape(value) != np.shape(first) or _same(value, first, 2.0, rtol):
            continue
        if is_param and _same(value, first, 3.0, rtol):
            rows.append(problem_row(name, key, value.shape, "accumulation",
                                    f"backward adds into grads[{key!r}] across calls (a second "
                                    "call returned old + new); overwrite it "
                                    "(grads[k][...] = g), do not accumulate with +="))
        else:
            rows.append(problem_row(name, key, np.shape(value), "linearity",
                                    "backward is not linear in dy: backward(2*dy) differs from "
                                    "2*backward(dy); the gradient must be dy times a Jacobian "
                                    "that does not depend on dy"))
    return rows
