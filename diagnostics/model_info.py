"""What diagnostics needs to know about a model, by duck typing on the layer protocol."""

from __future__ import annotations

import numpy as np

__all__ = ["named_layers", "param_tensors", "summary"]


def named_layers(model) -> list[tuple[str, object]]:
    """``[(name, layer)]``: ``"<index>:<ClassName>"`` for a model with ``.layers``, else
    the model itself under its class name."""
    layers = getattr(model, "layers", None)
    if layers is None:
        return [(type(model).__name__, model)]
    return [(f"{i}:{type(layer).__name__}", layer) for i, layer in enumerate(layers)]


def param_tensors(layers) -> list[tuple[str, str, object]]:
    """``[(layer_name, key, layer)]`` for every parameter, after checking the protocol.

    Raises
    ------
    TypeError
        A layer lacks ``params``/``grads`` dicts.
    ValueError
        A gradient is missing or has a different shape than its parameter.
    """
    tensors = []
    for name, layer in layers:
        params, grads = getattr(layer, "params", None), getattr(layer, "grads", None)
        if not isinstance(params, dict) or not isinstance(grads, dict):
            raise TypeError(f"Monitor: layer {name} ({type(layer).__name__}) must have "
                            "params and grads dicts (the layer protocol)")
        for key, value in params.items():
            grad = grads.get(key)
            if grad is None or np.shape(grad) != np.shape(value):
                raise ValueError(f"Monitor: layer {name} grads[{key!r}] must have the shape "
                                 f"{np.shape(value)} of params[{key!r}], got "
                                 f"{None if grad is None else np.shape(grad)}")
            tensors.append((name, key, layer))
    return tensors


def summary(layers) -> tuple[str, int, dict]:
    """One line per layer (name, parameter shapes, count), the total parameter count and
    ``{layer: {key: shape list}}``."""
    lines, total, all_shapes = [], 0, {}
    for name, layer in layers:
        params = getattr(layer, "params", {}) or {}
        count = int(sum(np.size(v) for v in params.values()))
        total += count
        all_shapes[name] = {k: list(np.shape(v)) for k, v in params.items()}
        shapes = ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in params.items())
        lines.append(f"{name}  {shapes or 'no parameters'}  ({count} params)")
    return "\n".join(lines), total, all_shapes
