"""A layer as a check target: its input and parameters at a point, and a second point.

The second point moves the input and every parameter a little (multiplicatively, plus an
absolute jitter of the same size that breaks ties and exact zeros), runs a forward there and checks
again: a backward that keeps using a cache from an earlier call (the first batch's input, a
transposed weight cached before an optimizer step) is wrong there. The moved values are
written into the arrays the layer saw at the given point (the parameters themselves, a
buffer of the input), so a cache keyed on an array's identity goes stale too. A kink at the given
point (ReLU at 0, max-pool ties) is usually gone, so a bug hidden behind it shows.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from gradcheck.arrays import holds_floats
from gradcheck.engine import Tensor
from gradcheck.finite_diff import rms
from gradcheck.point import Point, round_off
from gradcheck.probe_calls import during
from gradcheck.selection import random_float32
from gradcheck.validation import loss_value, trainable

__all__ = ["SECOND_POINT_MOVE", "holding", "input_copier", "layer_point", "model_point",
           "moved_parameters", "moved_value", "moved_values", "refilled_input"]

#: relative move of every value to the second point, by the check's dtype: a stale cache is
#: then wrong by about a tenth of it (float32's finite differences do not resolve the 0.1 %
#: of a 1 % move, and take several directions there: :data:`gradcheck.settings.
#: SECOND_POINT_LOOKS`); larger moves leave the domain of more layers (positions inside a
#: map, the positive inputs of a log: a float32 bilinear sampler's left its map at 20 %)
SECOND_POINT_MOVE = {"float64": 1e-2, "float32": 5e-2}


def input_copier(mutates_input: bool):
    """``fresh(a)``: what a forward gets of its input ``a``, a copy of it for a forward that
    changes its input in place (so every call starts from the same values), else ``a``."""
    return (lambda a: a.copy()) if mutates_input else (lambda a: a)


def layer_point(label: str, layer, x: np.ndarray, probe, dtype: str, *, check_input=True,
                downstream=None, e2e=None, e2e_noise: float = 0.0) -> Point:
    """The :class:`Point` of a layer whose probe (forward + backward at ``x``) passed.

    ``x`` is copied once; the input tensor is that copy (restored exactly after each use),
    and a forward that mutates its input gets a fresh copy on every call.
    """
    box = [x.copy()]
    fresh = input_copier(probe.mutates_input)

    def evaluate():
        with during(f"a perturbed forward of {label}"):
            return layer.forward(fresh(box[0]))

    tensors = []
    if check_input:
        def install_input(array):
            box[0] = array
            return lambda: box.__setitem__(0, tensors[0].live)
        tensors.append(Tensor("input", box[0], install_input))
    for key, value in trainable(layer.params).items():
        if not value.flags.writeable:
            raise ValueError(f"parameter {key!r} of {label} is read-only; gradcheck perturbs "
                             "parameters in place and restores them exactly")

        def install(array, key=key, original=value):
            layer.params[key] = array
            return lambda: layer.params.__setitem__(key, original)
        tensors.append(Tensor(key, value, install))
    analytic = {"input": probe.dx, **probe.grads}
    analytic = {t.name: analytic[t.name] for t in tensors
                if analytic.get(t.name) is not None
                and np.shape(analytic[t.name]) == t.live.shape}
    noise = round_off(dtype, probe.G, probe.y0)
    return Point(label, tuple(tensors), evaluate, probe.y0, probe.G, analytic, noise,
                 downstream, e2e or {}, e2e_noise)


def model_point(model, owners, loss, x: np.ndarray, y, dtype: str, *,
                mutates_input: bool = True, noise_floor: float = 0.0) -> Point:
    """A whole model as one target at ``x``: the input and every parameter feed the loss; the
    analytic gradients are what ``model.backward`` returns and leaves.

    ``x`` becomes the input tensor, perturbed in place and restored exactly after each use:
    pass an array of your own. A model whose forward may change its input in place
    (``mutates_input``, the default) gets a fresh copy of it on every call.

    ``owners`` are ``(prefix, layer)`` pairs; parameter ``key`` of a layer is the tensor
    ``"<prefix>.<key>"``. An array several layers hold (tied weights) is one tensor, the first
    layer's, whose gradient is the sum of theirs; an array that overlaps another's memory
    without being it (a transposed view) is left out, since perturbing one moves the other.
    The loss's round-off is at least ``noise_floor`` (:mod:`gradcheck.loss_noise`).
    """
    fresh = input_copier(mutates_input)

    def evaluate():
        with during("a perturbed forward of the model"):
            return np.asarray(loss_value(loss, model.forward(fresh(x)), y))

    pred = np.array(model.forward(fresh(x)), copy=True)
    loss0 = loss_value(loss, pred, y)
    dpred = np.array(loss.backward(), copy=True)
    dx = model.backward(dpred.copy())
    constant = not holds_floats(x)   # token ids: never perturbed, no dx
    tensors = [] if constant else [Tensor("input", x)]
    analytic = ({"input": np.array(dx, copy=True)}
                if not constant and np.shape(dx) == x.shape else {})
    _add_parameters(owners, tensors, analytic)
    noise = max(round_off(dtype, dpred, pred, loss0), noise_floor)
    return Point("model", tuple(tensors), evaluate, np.asarray(loss0), np.ones(()), analytic,
                 noise)


def _add_parameters(owners, tensors: list, analytic: dict) -> None:
    """Append each distinct parameter array of ``owners`` to ``tensors`` and its gradient,
    summed over the layers that hold it, to ``analytic`` (none when one of them lacks it).
    Arrays that overlap another's memory (views of one buffer) are left out, all of them."""
    held: dict[int, tuple[str, np.ndarray, dict]] = {}
    for prefix, layer in owners:
        for key, value in trainable(layer.params).items():
            name, _, grads = held.setdefault(id(value), (f"{prefix}.{key}", value, {}))
            grad = layer.grads.get(key)
            grads[id(grad)] = grad   # the same grads array reached twice counts once
    by_buffer: dict[int, list] = {}
    for entry in held.values():
        by_buffer.setdefault(id(_buffer(entry[1])), []).append(entry)
    for name, value, grads in held.values():
        if any(other is not value and np.may_share_memory(value, other)
               for _, other, _ in by_buffer[id(_buffer(value))]):
            continue
        tensors.append(Tensor(name, value))
        if all(np.shape(g) == value.shape for g in grads.values()):
            first, *more = grads.values()
            analytic[name] = np.array(first, copy=True)
            for g in more:
                analytic[name] += g


def _buffer(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (``a`` itself unless it is a view)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def moved_value(a: np.ndarray, rng: np.random.Generator, move: float) -> np.ndarray:
    """``a`` moved to the second point, a new array of its dtype (:func:`moved_values`)."""
    return moved_values([a], rng, move)[0]


def moved_values(arrays: list[np.ndarray], rng: np.random.Generator, move: float,
                 outs: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Each array ``a`` of ``arrays`` moved to the second point (same dtype):
    ``a + m z (|a| + rms(a))``, ``m`` the ``move`` (:data:`SECOND_POINT_MOVE`), ``z`` uniform
    in [-1, 1) (on a float32 grid): each value moves by up to ``m`` of its own size plus ``m``
    of the tensor's scale (continuous, so ties and exact zeros break by about ``m``).

    ``outs`` (one per array, of its shape and dtype, not the array itself) receive the moved
    values; by default new arrays. Integer and boolean arrays (token ids) are constants: copied
    as they are. One draw of ``z`` serves every array, and is the only
    temporary of their size.
    """
    z = random_float32(rng, sum(a.size for a in arrays))   # uniform in [1, 2), exact
    z -= np.float32(1.5)
    z *= np.float32(2 * move)
    moved, start = [], 0
    for a, out in zip(arrays, outs or [None] * len(arrays), strict=True):
        if not holds_floats(a):   # integer or boolean: a constant, never moved
            if out is None:
                out = a.copy()
            else:
                np.copyto(out, a)
            moved.append(out)
            start += a.size
            continue
        if out is None:
            out = np.empty_like(a, dtype=np.result_type(a.dtype, np.float64))
        np.abs(a, out=out)
        out += rms(a) or 1.0
        out *= z[start:start + a.size].reshape(a.shape)
        out += a
        moved.append(out.astype(a.dtype, copy=False))
        start += a.size
    return moved


def refilled_input(forward, x: np.ndarray, x2: np.ndarray, label: str,
                   seen: np.ndarray | None = None) -> np.ndarray:
    """A private array holding ``x2`` that ``forward`` has already seen holding ``x``.

    ``seen``, an array the check owns that holds ``x`` and that ``forward`` last ran on, is
    refilled in place with ``x2``, as a data loader that reuses its batch array does: a
    cache keyed on the input's identity (``id(x)``, ``x is self.x``) is stale at the second
    point, where a fresh array would have refreshed it. Without ``seen``, ``forward`` runs
    once on a copy of ``x`` first.
    """
    if seen is None:
        seen = x.copy()
        with during(f"the forward of {label} at the given point, before the second"):
            forward(seen)
    np.copyto(seen, x2)
    return seen


@contextmanager
def holding(pairs: list):
    """Each array of ``pairs`` ``(array, values)`` holding its paired values for the block;
    what it held is put back exactly after."""
    held = [array.copy() for array, _ in pairs]
    try:
        for array, values in pairs:
            np.copyto(array, values)
        yield
    finally:
        for (array, _), values in zip(pairs, held, strict=True):
            np.copyto(array, values)


@contextmanager
def moved_parameters(layers, rng: np.random.Generator, move: float):
    """Move every parameter of ``layers`` in place (:func:`moved_values`); restore them
    exactly after the block."""
    saved = [(p, p.copy()) for layer in layers for p in trainable(layer.params).values()]
    try:
        moved_values([original for _, original in saved], rng, move, [p for p, _ in saved])
        yield
    finally:
        for p, original in saved:
            np.copyto(p, original)
