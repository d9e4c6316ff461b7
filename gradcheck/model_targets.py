"""What :mod:`gradcheck.model_graph` checks of each unit of a model: the object checked on its
own (a leaf itself, or a block seen through :class:`BlockView`) and its row label."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradcheck.model_layers import ModelLayers, Unit
from gradcheck.model_record import Calls
from gradcheck.wrapper import Wrapper

__all__ = ["BlockView", "Target", "targets_of"]


class BlockView(Wrapper):
    """A block as one layer: its own ``forward`` and ``backward`` (and ``training`` flag), and
    only the parameters that none of the layers inside it holds (usually none: then its check
    is of dL/dx).

    Parameters
    ----------
    block : object with ``forward`` and ``backward``
    keys : sequence of str
        The keys of ``block.params`` that are its own.
    """

    def __init__(self, block, keys):
        self.layer, self._keys = block, tuple(keys)
        params = getattr(block, "params", {}) if self._keys else {}
        self.params = {k: params[k] for k in self._keys}

    @property
    def grads(self) -> dict:
        """The block's grads of its own parameters (read afresh: a block may rebuild them)."""
        grads = getattr(self.layer, "grads", None) or {}
        return {k: grads[k] for k in self._keys if k in grads}

    def forward(self, *args, **kwargs):
        return self.layer.forward(*args, **kwargs)

    def backward(self, *dy):
        return self.layer.backward(*dy)


@dataclass
class Target:
    """One unit as the general path checks it.

    Attributes
    ----------
    unit : Unit
    layer : object
        What is checked on its own: the leaf, or a :class:`BlockView` of the block.
    calls : Calls
        What the unit got during the model's forward and backward.
    """

    unit: Unit
    layer: object
    calls: Calls = field(default_factory=Calls)

    @property
    def label(self) -> str:
        return self.unit.label

    def call_label(self, k: int) -> str:
        """Row label of call ``k`` (the first call has the plain label)."""
        return self.label if k == 0 else f"{self.label} (call {k + 1})"


def _own_keys(found: ModelLayers, index: int) -> list[str]:
    """Keys of block ``index``'s params whose arrays no unit inside it holds."""
    params = getattr(found.units[index].obj, "params", None)
    if not isinstance(params, dict) or not params:
        return []
    inner = [p for i in found.inside(index)
             for p in (getattr(found.units[i].obj, "params", None) or {}).values()
             if isinstance(p, np.ndarray)]
    return [k for k, v in params.items()
            if isinstance(v, np.ndarray) and not any(np.may_share_memory(v, p) for p in inner)]


def targets_of(found: ModelLayers) -> list[Target]:
    """A :class:`Target` per unit, in walk order."""
    return [Target(u, u.obj if u.leaf else BlockView(u.obj, _own_keys(found, i)))
            for i, u in enumerate(found.units)]
