"""Argument validation for the public checks: clear errors up front, naming the argument."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["NonFiniteLoss", "buffers_of", "layer_label", "layer_name", "loss_value",
           "require_array", "require_layer", "require_model", "trainable"]


class NonFiniteLoss(ValueError):
    """The loss at the point is NaN or infinite."""


def require_layer(obj, name: str, where: str) -> None:
    """Raise ``TypeError`` unless ``obj`` offers the layer protocol."""
    missing = [attr for attr in ("params", "grads", "forward", "backward")
               if not hasattr(obj, attr)]
    if not missing and not (isinstance(obj.params, Mapping) and isinstance(obj.grads, Mapping)):
        missing = ["params/grads as dicts"]
    if missing:
        raise TypeError(f"{where}: {name} must follow the layer protocol (params and grads dicts, "
                        f"forward, backward); got {type(obj).__name__} without "
                        f"{', '.join(missing)}")
    for key, value in obj.params.items():
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{where}: {name}.params[{key!r}] must be a numpy array, got "
                            f"{type(value).__name__}; convert it (np.asarray) or keep it out "
                            "of params")


def trainable(params) -> dict:
    """The float entries of a ``params`` dict: the tensors checked (others are buffers)."""
    return {k: v for k, v in params.items() if v.dtype.kind == "f"}


def buffers_of(layer) -> dict:
    """A layer's non-trainable state the checker holds fixed (and restores): integer or
    boolean entries of ``params``, and a ``buffers`` dict of arrays if it has one."""
    held = {k: v for k, v in layer.params.items() if v.dtype.kind != "f"}
    declared = getattr(layer, "buffers", None)
    if isinstance(declared, Mapping):
        held.update((k, v) for k, v in declared.items() if isinstance(v, np.ndarray))
    return held


def require_array(x, name: str, where: str, *, batch: bool = True,
                  constant_ok: bool = False) -> np.ndarray:
    """``x`` as a finite float ndarray (not copied), or a clear ``TypeError``/``ValueError``;
    ``constant_ok``: an integer or boolean array (token ids: held constant) passes too."""
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{where}: {name} must be a float array ({exc})") from None
    if x.dtype.kind != "f" and not (constant_ok and x.dtype.kind in "iub"):
        held = " (or of integers or booleans, held constant)" if constant_ok else ""
        raise TypeError(f"{where}: {name} must be a float array (float32 or float64){held}, got "
                        f"dtype {x.dtype}; convert it, e.g. {name}.astype(np.float64)")
    if batch and (x.ndim == 0 or x.shape[0] == 0):
        raise ValueError(f"{where}: {name} must hold a non-empty batch (shape (n, ...) with "
                         f"n >= 1), got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{where}: {name} is empty (shape {x.shape})")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError(f"{where}: {name} must be finite, found {int(np.isnan(x).sum())} NaN "
                         f"and {int(np.isinf(x).sum())} Inf values")
    return x


def require_model(model, loss, method: str):
    """The model's layers and blocks (:func:`gradcheck.model_layers.find_layers`); clear
    errors for a non-model, a model with no layers, a wrong layer or a non-loss."""
    from gradcheck.model_layers import find_layers, is_layer

    if not callable(getattr(model, "backward", None)):
        raise TypeError(_NO_LAYERS.format(f"got {type(model).__name__} without backward"))
    layers = getattr(model, "layers", None)
    for i, layer in enumerate(layers if isinstance(layers, (list, tuple)) else []):
        if not is_layer(layer) and not find_layers(layer).units:
            require_layer(layer, f"model.layers[{i}]", "check_model")
    found = find_layers(model)
    if not found.units:
        raise (ValueError("check_model: model has no layers") if isinstance(layers, (
            list, tuple)) else TypeError(_NO_LAYERS.format(f"found no layers in "
                                                           f"{type(model).__name__}")))
    for unit in found.leaves:
        require_layer(unit.obj, f"model.layers[{unit.path}]" if found.sequential
                      else f"layer {unit.label}", "check_model")
    if not callable(getattr(model, "forward", None)):
        raise TypeError(_NO_LAYERS.format(f"got {type(model).__name__} without forward"))
    if not (callable(getattr(loss, "forward", None)) and callable(getattr(loss, "backward", None))):
        raise TypeError("check_model: loss must offer forward(pred, target) and backward(); got "
                        f"{type(loss).__name__}")
    if method == "complex_step":
        raise ValueError("check_model: method='complex_step' needs complex predictions, which "
                         "losses do not take; use check_layer or check_function for it")
    return found


_NO_LAYERS = ("check_model: model must offer .layers (a list of layers) or hold its layers in "
              "attributes, dicts, lists or nested blocks, and offer forward and backward; {} "
              "(a single layer is checked with check_layer)")


def loss_value(loss, pred, y) -> float:
    """``loss.forward(pred, y)``, turning a rejection of ``y`` into a clear ``ValueError``."""
    n_y = len(y) if hasattr(y, "__len__") else None
    if n_y is not None and n_y != len(pred):
        raise ValueError(f"check_model: y has {n_y} rows but x has {len(pred)} samples")
    try:
        raw = loss.forward(pred, y)
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"check_model: {type(loss).__name__} rejected the targets y for "
                         f"predictions of shape {np.shape(pred)}: {exc}") from None
    if np.size(raw) != 1:
        raise TypeError(f"check_model: {type(loss).__name__}.forward returned an array of "
                        f"shape {np.shape(raw)}; it must return the loss as one float (mean "
                        "over the batch)")
    value = float(np.asarray(raw).reshape(()))
    if not np.isfinite(value):
        raise NonFiniteLoss(f"check_model: the loss at x is not finite ({value})")
    return value


def layer_label(layer) -> str:
    """A lone layer's row label: the name an adapter was given, else the class name."""
    name = getattr(layer, "gradcheck_name", None)
    return name if isinstance(name, str) and name else type(layer).__name__


def layer_name(i: int, layer) -> str:
    """Row label of layer ``i`` of a model: ``"<index>:<ClassName>"`` (an adapter's name for
    the class name)."""
    return f"{i}:{layer_label(layer)}"


def buffer_rows(label: str, layer) -> list[dict]:
    """A ``"constant"`` row per buffer of ``layer`` (:func:`buffers_of`): held fixed during the
    check, restored after it."""
    from gradcheck.report import constant_row

    return [constant_row(label, key, value.shape,
                         f"buffer ({value.dtype}): not trainable, held fixed during the check "
                         "and restored after it")
            for key, value in buffers_of(layer).items()]
