"""``--data``: a user's training data, from a ``.npz`` file or a ``MODULE:FUNCTION``.

A ``.npz`` file holds arrays ``X`` (inputs, one row per sample) and ``y`` (targets, one row
per sample), optionally ``X_val`` and ``y_val`` (held-out data, evaluated each epoch); a
function returns ``(X, y)`` or ``(X, y, X_val, y_val)``. Everything is checked here, so that
a missing key or a wrong shape is one line naming ``--data``, before any training.
"""

from __future__ import annotations

from pathlib import Path

from .common import UsageError
from .user_code import load_callable

KEYS = ("X", "y", "X_val", "y_val")


def load_data(spec):
    """The problem ``spec`` (``data.npz`` or ``MODULE:FUNCTION``) describes.

    Returns
    -------
    gradkit_cli.training.Problem
        ``X_train`` (n, ...) and ``y_train`` (n, ...); ``X_test`` and ``y_test`` are the
        held-out arrays, or None.

    Raises
    ------
    UsageError
        No such file, not an ``.npz``, a missing array, a function that returns something
        else, arrays of the wrong shape, kind or with NaN/Inf inputs.
    """
    from .training import Problem

    if spec.lower().endswith(".npz"):
        arrays, ignored = _from_npz(Path(spec))
    elif ":" in spec:
        arrays, ignored = _from_function(spec), []
    else:
        raise UsageError(f"--data: expected a .npz file (arrays X and y) or MODULE:FUNCTION "
                         f"returning (X, y), got {spec!r}")
    X, y, X_val, y_val = _checked(arrays)
    note = f"{spec}: {len(X)} samples of shape {X.shape[1:]}"
    note += f", {len(X_val)} held out" if X_val is not None else ", none held out"
    note += f" (arrays not used: {', '.join(ignored)})" if ignored else ""
    return Problem(X, y, X_val, y_val, note=note)


def _from_npz(path):
    """``({key: array}, names of the other arrays)`` of an ``.npz`` file."""
    import numpy as np

    if not path.is_file():
        raise UsageError(f"--data: no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise UsageError(f"--data: {path} is not a readable .npz file of plain arrays "
                         f"({exc})") from None
    for key in ("X", "y"):
        if key not in arrays:
            held = ", ".join(sorted(arrays)) or "no arrays"
            raise UsageError(f"--data: {path} has no array {key!r} (it holds {held}); write "
                             "it with numpy.savez(path, X=inputs, y=targets)")
    return ({k: arrays[k] for k in KEYS if k in arrays},
            sorted(set(arrays) - set(KEYS)))


def _from_function(spec):
    """``{key: array}`` from what ``MODULE:FUNCTION()`` returns."""
    result = load_callable(spec, "--data")()
    if not isinstance(result, tuple | list) or len(result) not in (2, 4):
        got = f"a {len(result)}-tuple" if isinstance(result, tuple | list) else \
            type(result).__name__
        raise UsageError(f"--data: {spec}() must return (X, y) or (X, y, X_val, y_val), "
                         f"got {got}")
    return dict(zip(KEYS, result, strict=False))


def _checked(arrays):
    """``(X, y, X_val, y_val)`` as numeric arrays of matching rows (the last two may be None)."""
    if ("X_val" in arrays) != ("y_val" in arrays):
        raise UsageError("--data: give both X_val and y_val, or neither")
    X, y = _array(arrays["X"], "X"), _array(arrays["y"], "y")
    _check_pair(X, y, "X", "y")
    if "X_val" not in arrays:
        return X, y, None, None
    X_val, y_val = _array(arrays["X_val"], "X_val"), _array(arrays["y_val"], "y_val")
    _check_pair(X_val, y_val, "X_val", "y_val")
    if X_val.shape[1:] != X.shape[1:]:
        raise UsageError(f"--data: X_val samples have shape {X_val.shape[1:]}, X samples "
                         f"{X.shape[1:]}; they must match")
    return X, y, X_val, y_val


def _array(value, name):
    import numpy as np

    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise UsageError(f"--data: {name} must be a numeric array, got dtype {array.dtype}")
    return array


def _check_pair(X, y, x_name, y_name):
    import numpy as np

    if X.ndim < 2 or len(X) == 0:
        raise UsageError(f"--data: {x_name} must have shape (n_samples, n_features, ...) with "
                         f"n_samples >= 1, got shape {X.shape}")
    if y.ndim == 0 or len(y) != len(X):
        raise UsageError(f"--data: {y_name} has shape {y.shape}: it needs {len(X)} rows, one "
                         f"per sample of {x_name}")
    bad = int(np.count_nonzero(~np.isfinite(X)))
    if bad:
        raise UsageError(f"--data: {x_name} holds {bad} NaN or infinite values")
