"""The calls a protocol probe makes and what it keeps: the note saying which call of a check
raised (:class:`during`), a layer's :class:`LayerProbe`, its first backward and the words
messages name its gradients by."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradcheck.arrays import same_values
from gradcheck.report import problem_row

__all__ = ["LayerProbe", "SeveralOutputs", "during", "first_backward", "grad_words",
           "upstream_like"]


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


def upstream_like(y0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A standard normal upstream gradient of ``y0``'s shape and (real) float dtype."""
    dtype = np.real(y0).dtype if np.asarray(y0).dtype.kind in "fc" else np.float64
    return rng.standard_normal(np.shape(y0)).astype(dtype)
