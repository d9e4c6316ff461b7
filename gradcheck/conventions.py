"""Layers of other conventions, in one call: :func:`adapt`.

The checker needs ``params``/``grads`` dicts, ``forward(*inputs)``, ``backward(dy)`` that
overwrites the grads. :func:`adapt` shows it a layer that names these otherwise, accumulates
its gradients until a ``zero_grad``, creates its parameters at the first forward, takes its
inputs as one list, keeps buffers among its parameters, or draws from numpy's global random
state. The adapter holds no state of its own: every value lives in the wrapped layer, so the
checker's restore of the layer's state is exact.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence

import numpy as np

from gradcheck.wrapper import Wrapper

__all__ = ["Adapted", "adapt"]


class _Without(MutableMapping):
    """A dict seen without some keys (the buffers); writes go through to it."""

    def __init__(self, data: MutableMapping, hidden: frozenset):
        self.data, self.hidden = data, hidden

    def __getitem__(self, key):
        if key in self.hidden:
            raise KeyError(key)
        return self.data[key]

    def __setitem__(self, key, value):
        self.data[key] = value

    def __delitem__(self, key):
        del self.data[key]

    def __iter__(self):
        return (k for k in self.data if k not in self.hidden)

    def __len__(self):
        return sum(1 for _ in self)


class Adapted(Wrapper):
    """A layer seen through :func:`adapt` (the arguments are documented there)."""

    def __init__(self, layer, *, params, grads, accumulate, buffers, lazy, packed_inputs,
                 seed, name, forward, backward):
        for what, attr in (("forward", forward), ("backward", backward)):
            if not callable(getattr(layer, attr, None)):
                raise TypeError(f"adapt: {type(layer).__name__} has no method {attr!r} "
                                f"(the {what}); name it with {what}=...")
        if not (accumulate in (False, True) or isinstance(accumulate, str)):
            raise TypeError("adapt: accumulate must be False, True (grads zeroed in place "
                            "before each backward) or the name of the layer's zeroing method, "
                            f"got {accumulate!r}")
        self.layer = layer
        self.names = {"params": params, "grads": grads, "forward": forward,
                      "backward": backward}
        self.accumulate = accumulate
        self.hidden = frozenset(buffers)
        self.lazy, self.packed_inputs, self.seed = bool(lazy), bool(packed_inputs), seed
        self.gradcheck_name = name or type(layer).__name__

    def _dict(self, role: str):
        value = getattr(self.layer, self.names[role], None)
        value = value() if callable(value) else value
        if value is None and role == "grads":
            return {}
        if not isinstance(value, Mapping):
            raise TypeError(f"adapt: {type(self.layer).__name__}.{self.names[role]} must be a "
                            f"dict of arrays (the {role}), got {type(value).__name__}")
        return value

    @property
    def params(self) -> Mapping:
        """The wrapped layer's trainable parameters (its buffers hidden)."""
        return _Without(self._dict("params"), self.hidden)

    @property
    def grads(self) -> Mapping:
        """The wrapped layer's gradients, read after each backward."""
        return self._dict("grads")

    @property
    def buffers(self) -> dict:
        """The parameters declared as buffers: held fixed, restored after the check."""
        params = self._dict("params")
        return {k: params[k] for k in self.hidden if k in params}

    def gradcheck_build(self, *inputs) -> None:
        """With ``lazy``: one forward on ``inputs`` when the parameters do not exist yet."""
        if self.lazy and not getattr(self.layer, self.names["params"], None):
            self.forward(*inputs)

    def forward(self, *inputs, **keywords):
        """The wrapped forward (one list of the inputs with ``packed_inputs``; numpy's global
        random state reseeded first with ``seed``)."""
        if self.seed is not None:
            np.random.seed(self.seed)  # noqa: NPY002  (the layer draws from the global state)
        method = getattr(self.layer, self.names["forward"])
        return method(list(inputs)) if self.packed_inputs else method(*inputs, **keywords)

    def backward(self, *dys):
        """The wrapped backward, after zeroing accumulated grads; a list of dx as a tuple."""
        if self.accumulate is True:
            for g in self.grads.values():
                g[...] = 0
        elif self.accumulate:
            getattr(self.layer, self.accumulate)()
        dx = getattr(self.layer, self.names["backward"])(*dys)
        return tuple(dx) if isinstance(dx, list) else dx


def adapt(layer, *, params: str = "params", grads: str = "grads", accumulate=False,
          buffers: Sequence[str] = (), lazy: bool = False, packed_inputs: bool = False,
          seed: int | None = None, name: str | None = None, forward: str = "forward",
          backward: str = "backward") -> Adapted:
    """Show ``layer`` to the checker with the layer protocol, whatever its conventions.

    Parameters
    ----------
    layer : object
        The layer to check (never copied: the adapter reads and writes its own values).
    params, grads : str
        Attribute names of its parameter and gradient dicts (a method returning the dict,
        like ``parameters()``, works too).
    accumulate : bool or str
        Its backward adds into the grads (``+=``) until they are zeroed: True zeroes them in
        place before each backward, a string names the layer's own method to call instead
        (``"zero_grad"``). The grads are read after each backward.
    buffers : sequence of str
        Keys of the parameter dict that are not trainable (running statistics, masks): never
        perturbed, no gradient expected, restored after the check (``"constant"`` rows).
    lazy : bool
        The parameters are created by the first forward: the checker runs one forward on
        the inputs before reading them (the layer stays built).
    packed_inputs : bool
        ``forward`` takes its inputs as one list (``forward([a, b])``); give them to the
        checker one by one: ``check_layer(adapt(layer, packed_inputs=True), a, b)``.
    seed : int, optional
        Reseed numpy's global random state (``np.random.seed``) before each forward, for a
        layer that draws from it (dropout); the global state is restored after the check.
    name : str, optional
        The rows' ``layer`` label (default: the class name).
    forward, backward : str
        Names of the forward and backward methods.

    Returns
    -------
    Adapted
        Pass it to ``check_layer`` (or keep it in a model checked with ``check_model``).

    Examples
    --------
    >>> check_layer(adapt(fc, params="parameters", grads="gradients", accumulate=True,
    ...                   name="FC1"), x)                                    # doctest: +SKIP
    """
    return Adapted(layer, params=params, grads=grads, accumulate=accumulate,
                   buffers=tuple(buffers), lazy=lazy, packed_inputs=packed_inputs, seed=seed,
                   name=name, forward=forward, backward=backward)
