"""The linearity probe: ``backward(2 G)`` must give twice ``backward(G)``; a third call tells
a backward that adds into its grads from one that is not linear in ``dy``."""

from __future__ import annotations

import numpy as np

from gradcheck.arrays import close_to_multiple, holds_floats
from gradcheck.point import machine_eps
from gradcheck.probe_calls import LayerProbe, during, first_backward, grad_words
from gradcheck.report import problem_row

__all__ = ["backward_is_linear_and_overwrites", "linearity_afresh"]


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
        if not (holds_floats(first) and holds_floats(value)) or np.shape(value) != np.shape(first) \
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


def _not_linear(same: bool) -> str:
    """The message of a backward not linear in ``dy`` (``same``: backward(2 dy) gave what
    backward(dy) did)."""
    if same:
        return ("backward does not follow dy: backward(2*dy) returned what backward(dy) did; "
                "it may use the dy of an earlier call (kept in a cache) instead of its argument")
    return ("backward is not linear in dy: backward(2*dy) differs from 2*backward(dy); the "
            "gradient must be dy times a Jacobian that does not depend on dy")


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
