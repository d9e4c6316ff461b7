"""``Sequential``: a chain of layers that is itself a layer."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from reference_nets.layers.base import Layer

__all__ = ["Sequential", "set_mode"]

_PROTOCOL = ("forward", "backward", "params", "grads")


def set_mode(obj, training: bool) -> None:
    """Switch a layer or model to training/evaluation mode when it supports modes
    (its ``train`` method, else its ``training`` attribute)."""
    if callable(getattr(obj, "train", None)):
        obj.train(training)
    elif hasattr(obj, "training"):
        obj.training = bool(training)


class Sequential(Layer):
    """Apply layers in order; backpropagate in reverse order.

    Parameters
    ----------
    layers : iterable of layers
        Objects following the layer protocol (``forward``, ``backward``,
        ``params``, ``grads``; optionally ``training``/``train``/``eval``).

    Attributes
    ----------
    layers : list
        The layers, in order.
    params, grads : dict of str to ndarray
        Rebuilt on each access with qualified names ``"<index>.<key>"`` (e.g.
        ``"2.W"``); the values ARE the layers' own arrays (no copies).
    """

    def __init__(self, layers: Iterable):
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            missing = [name for name in _PROTOCOL if not hasattr(layer, name)]
            if missing:
                raise TypeError(f"Sequential: layers[{i}] ({type(layer).__name__}) lacks "
                                f"{', '.join(missing)} of the layer protocol")
        self.training = True

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {f"{i}.{key}": value for i, layer in enumerate(self.layers)
                for key, value in layer.params.items()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return {f"{i}.{key}": value for i, layer in enumerate(self.layers)
                for key, value in layer.grads.items()}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Run x through every layer; returns the last layer's output."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Backpropagate dL/dy through every layer; returns dL/dx."""
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def train(self, mode: bool = True) -> Sequential:
        """Set the mode of this model and of every layer that has one; return ``self``."""
        self.training = bool(mode)
        for layer in self.layers:
            set_mode(layer, mode)
        return self

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int):
        return self.layers[index]

    def __repr__(self) -> str:
        lines = [f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"
