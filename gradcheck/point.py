"""A check target at one point: the tensors perturbed, and the objectives they feed.

The *local* objective of a layer (or a function) is ``<G, y>``: ``G`` an upstream gradient,
``y`` the output. Perturbing its tensors changes it by ``sum(G * (y' - y0))``, summed over
the output region the perturbation can reach. Inside a model the same perturbed outputs can
also be pushed through the rest of the model to the loss (the *end-to-end* objective), which
checks the gradients the model's own backward left.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from gradcheck.engine import Tensor
from gradcheck.finite_diff import rms
from gradcheck.grouping import region_sums

__all__ = ["Point", "machine_eps", "moved_round_off", "round_off"]


def machine_eps(*arrays) -> float:
    """Machine epsilon of the lowest-precision float dtype among ``arrays``."""
    dtypes = {np.asarray(a).dtype for a in arrays}
    return max((_eps(d) for d in dtypes if d.kind in "fc"), default=_EPS[8])


_EPS = {2: float(np.finfo(np.float16).eps), 4: float(np.finfo(np.float32).eps),
        8: float(np.finfo(np.float64).eps), 16: float(np.finfo(np.longdouble).eps)}


def _eps(dtype: np.dtype) -> float:
    """Machine epsilon of a float or complex dtype (of its real part), without ``finfo``."""
    return _EPS[dtype.itemsize // (2 if dtype.kind == "c" else 1)]


def round_off(dtype: str, weights, values, offset: float = 0.0) -> float:
    """Round-off of one evaluation of an objective ``offset + <weights, values>`` in ``dtype``:
    ``eps_mach * (|offset| + sum|weights * values|)``."""
    magnitude = abs(offset) + float(np.abs(weights * np.real(values)).sum())
    return _eps(np.dtype(dtype)) * magnitude


def moved_round_off(live: np.ndarray, grad: np.ndarray) -> float:
    """Round-off of an objective change from moving ``live`` along a direction: each moved
    value ``x + s h v`` is rounded to its ulp (at most ``eps_mach * |x|``: a uniform error
    of standard deviation ``ulp / sqrt(12)``) and changes the objective by ``grad`` times
    that; the roundings are independent, so they add in quadrature: this is their standard
    deviation, at most. (Elements move by powers of two and round not at all.) Large values
    moved by small steps (logits of 1e6, centres of 1000) make it the round-off that counts."""
    moved = np.ravel(grad) * np.real(np.ravel(live))
    return _eps(live.dtype) * math.sqrt(float(np.vdot(moved, moved)) / 12)


@dataclass(frozen=True)
class Point:
    """A target at one point.

    Attributes
    ----------
    label : str
        The ``layer`` column of its rows.
    tensors : tuple of Tensor
        What may be perturbed, in row order.
    evaluate : callable
        ``evaluate() -> y``: the output from the current contents of the tensors.
    y0 : ndarray
        The output at the point.
    G : ndarray, shape of ``y0``
        Upstream gradient: the weights of the local objective.
    analytic : mapping of str to ndarray
        Each tensor's gradient of ``<G, y>`` as the code under test computed it.
    noise : float
        Round-off of one evaluation of the local objective: ``eps_mach * sum|G * y0|``.
    downstream : Downstream, optional
        The rest of the model (:class:`gradcheck.rest_of_model.Downstream`):
        ``downstream.changes(y, region) -> (k,)`` loss changes (end-to-end objective).
    e2e : mapping of str to ndarray
        End-to-end analytic gradients by tensor name (the tensors that have one).
    e2e_noise : float
        Round-off of one loss evaluation.
    """

    label: str
    tensors: tuple[Tensor, ...]
    evaluate: Callable[[], np.ndarray]
    y0: np.ndarray
    G: np.ndarray
    analytic: Mapping[str, np.ndarray]
    noise: float
    downstream: object | None = None
    e2e: Mapping[str, np.ndarray] = field(default_factory=dict)
    e2e_noise: float = 0.0

    @cached_property
    def output_scale(self) -> float:
        """The rms of the output ``y0`` (real part): the scale an all-zero tensor's steps
        are taken relative to (:func:`gradcheck.finite_diff.step_floor`)."""
        return rms(np.real(np.asarray(self.y0)).astype(float, copy=False))

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {t.name: i for i, t in enumerate(self.tensors)}

    def index(self, name: str) -> int:
        """Position of the tensor called ``name``."""
        try:
            return self._positions[name]
        except KeyError:
            raise ValueError(f"{self.label} has no tensor {name!r}") from None

    def has_tensor(self, name: str) -> bool:
        """True when a tensor of the point is called ``name``."""
        return name in self._positions

    def live(self, name: str) -> np.ndarray:
        """The array of the tensor called ``name``."""
        return self.tensors[self.index(name)].live

    def has_e2e(self, names) -> bool:
        """True when the end-to-end objective is judged for any of ``names``."""
        return self.downstream is not None and any(n in self.e2e for n in names)

    def changes(self, y: np.ndarray, region, ends: bool) -> np.ndarray:
        """Objective changes for the output ``y`` of one move, shape (k, 1 or 2).

        ``region`` is ``(elements, shape, structure)`` for a group of elements read back
        from their own output slices, or None for one value over the whole output.
        """
        if np.shape(y) != np.shape(self.y0):
            raise ValueError(f"{self.label}: a perturbed forward returned shape {np.shape(y)}, "
                             f"the unperturbed one {np.shape(self.y0)}; the output's shape "
                             "must not depend on the values of the inputs or parameters")
        weighted = self.G * (y - self.y0)
        local = np.array([weighted.sum()]) if region is None else region_sums(weighted, *region)
        if not ends:
            return local[:, None]
        both = np.empty((len(local), 2))
        both[:, 0], both[:, 1] = local.real, self.downstream.changes(y, region)
        return both
