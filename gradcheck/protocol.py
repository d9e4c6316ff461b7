"""Protocol checks of one layer at one point, and the analytic gradients they produce.

Each problem becomes a ``"fail"`` row whose message says what is wrong and how to fix it:
a forward that mutates its input, a forward that is not deterministic, a backward that
mutates ``dy``, missing grads or grads of the wrong shape or dtype, a backward that
accumulates into ``grads`` across calls, a backward that is not linear in ``dy``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradcheck.report import problem_row

__all__ = ["LayerProbe", "probe_layer"]


@dataclass
class LayerProbe:
    """What the protocol checks learnt about a layer at a point.

    Attributes
    ----------
    y0 : ndarray
        Output of a fresh forward at the point.
    G : ndarray or None
        Upstream gradient used (None when the layer is not deterministic).
    analytic : dict of str to ndarray
        ``"input"`` -> dL/dx and each parameter key -> its gradient, from one fresh
        forward + backward with upstream gradient ``G``.
    rows : list of dict
        Problem rows (empty when the layer follows the protocol).
    deterministic, mutates_input : bool
    """

    y0: np.ndarray
    G: np.ndarray | None = None
    analytic: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)
    deterministic: bool = True
    mutates_input: bool = False


def _same(a, b, rtol: float) -> bool:
    return np.shape(a) == np.shape(b) and np.allclose(a, b, rtol=rtol, atol=0, equal_nan=True)


def _snapshot(layer) -> dict:
    return {key: np.array(value, copy=True) for key, value in layer.grads.items()}


def _grad_problems(name: str, layer, analytic: dict) -> list[dict]:
    """Rows for missing grads and grads of the wrong shape or dtype (and a wrong dx shape)."""
    rows = []
    for key, param in layer.params.items():
        grad = analytic.get(key)
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


def probe_layer(name: str, layer, x: np.ndarray, G_of, rtol: float) -> LayerProbe:
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
    rtol : float
        Relative tolerance for comparing repeated calls (dtype dependent).
    """
    x_in = x.copy()
    y0 = np.array(layer.forward(x_in), copy=True)
    probe = LayerProbe(y0=y0)
    if not np.array_equal(x_in, x, equal_nan=True):
        probe.mutates_input = True
        probe.rows.append(problem_row(
            name, "input", x.shape, "mutation",
            "forward changed its input x in place; compute into a new array "
            "(y = x * a, not x *= a) so callers keep their data"))
    y1 = np.array(layer.forward(x.copy()), copy=True)
    if not np.array_equal(y0, y1, equal_nan=True):
        probe.deterministic = False
        probe.rows.append(problem_row(
            name, "output", y0.shape, "determinism",
            "two forward calls on the same input differ (the layer is random): seed your "
            "dropout or use eval mode (layer.eval()) before checking gradients"))
        return probe
    G = probe.G = G_of(y0)
    analytic, problems = _backward_twice(name, layer, G)
    probe.analytic = analytic
    probe.rows += problems
    if np.shape(analytic["input"]) != x.shape:
        probe.rows.append(problem_row(
            name, "input", x.shape, "grad_shape",
            f"backward returned dx of shape {np.shape(analytic['input'])}, expected the input "
            f"shape {x.shape}"))
    probe.rows += _grad_problems(name, layer, analytic)
    if not problems:
        probe.rows += _linearity(name, layer, x, G, analytic, rtol)
    return probe


def _backward_twice(name: str, layer, G) -> tuple[dict, list[dict]]:
    """Analytic gradients from one backward, and accumulation/dy-mutation problems."""
    G_in = G.copy()
    dx = np.array(layer.backward(G_in), copy=True)
    first = {"input": dx, **_snapshot(layer)}
    rows = []
    if not np.array_equal(G_in, G):
        rows.append(problem_row(name, "input", G.shape, "mutation",
                                "backward changed its argument dy in place; copy it first"))
    layer.backward(G.copy())
    second = _snapshot(layer)
    for key, grad in second.items():
        if key in first and not np.array_equal(grad, first[key]):
            hint = (" (it doubled: backward adds into grads)"
                    if _same(grad, 2 * first[key], 1e-4) else "")
            rows.append(problem_row(name, key, grad.shape, "accumulation",
                                    f"a second backward with the same dy changed grads[{key!r}]"
                                    f"{hint}; overwrite grads (grads[k][...] = g), do not "
                                    "accumulate (+=) across calls"))
    return first, rows


def _linearity(name: str, layer, x, G, analytic: dict, rtol: float) -> list[dict]:
    """Rows for gradients that do not scale with ``dy`` (backward(2 dy) != 2 backward(dy))."""
    layer.forward(x.copy())
    doubled = {"input": np.array(layer.backward(2 * G), copy=True), **_snapshot(layer)}
    rows = []
    for key, value in doubled.items():
        if key in analytic and np.shape(value) == np.shape(analytic[key]) \
                and not _same(value, 2 * analytic[key], rtol):
            rows.append(problem_row(name, key, np.shape(value), "linearity",
                                    "backward is not linear in dy: backward(2*dy) differs from "
                                    "2*backward(dy); the gradient must be dy times a Jacobian "
                                    "that does not depend on dy"))
    return rows
