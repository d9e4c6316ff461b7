"""The options of one check, validated once, and the dtype rules they are resolved by.

A check is judged by the rules of the lowest-precision float it involves (inputs,
parameters and outputs alike): a float32 weight fed a float64 input makes a float32 check
(float32 steps and tolerances), never a float64 one that its round-off would swamp.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace

import numpy as np

from gradcheck.arrays import holds_floats
from gradcheck.finite_diff import default_eps, stencil
from gradcheck.user_warning import warn_user

__all__ = ["MODES", "TOLERANCES", "Settings", "check_dtype", "resolve_settings"]

MODES = ("auto", "full", "sample", "directional")

# Per dtype: the tolerance floor (the rule of gradcheck.judge adds the estimated
# finite-difference error), and the relative error each tensor's share of a joint random
# direction must be able to show above round-off (gradcheck.joint_direction).
TOLERANCES = {
    "float64": {"atol": 0.0, "rtol": 1e-8, "resolution": 1e-6},
    "float32": {"atol": 0.0, "rtol": 1e-4, "resolution": 1e-2},
}
SECOND_POINT_RESOLUTION = 1e-3   # a 1 % move makes a stale cache at least this wrong
#: the second point's rtol, as a share of that: a random direction sees a tensor's error
#: through its projection, which is far below the error's typical share about as often as
#: the share allows (judged to a tenth, a stale input was missed once in 30 checks)
SECOND_POINT_RTOL_SHARE = 1e-3
#: random directions (joint, and each tensor's own) at a second point, by dtype: a stale
#: cache's error reaches a random direction through its projection, and float32's finite
#: differences resolve only about 1e-3 of a directional value, below which one projection
#: in ten fell at a 5 % move (stale inputs and transposed weights of a float32 layer passed
#: 6 and 7 of 60 checks; two independent ones, 3 and 2 of 300); three leave about one in
#: a thousand, where a larger move would leave the domain of more layers
SECOND_POINT_LOOKS = {"float64": 1, "float32": 3}


@dataclass(frozen=True)
class Settings:
    """Resolved options of one check (see :func:`gradcheck.check_layer`)."""

    mode: str
    method: str
    eps: float | None      # None: the default of the check's dtype and method
    atol: float | None
    rtol: float | None
    seed: int
    second_point: bool = True
    likely_cause: bool = True
    dtype: str = "float64"
    joint_resolution: float | None = None   # None: the dtype's (see TOLERANCES)
    one_sided: bool = False   # forward differences a second point chose for central ones
    looks: int = 1   # independent random directions (joint, then own) that must all pass
    rounds_like_float32: bool = False   # the forward rounds away float64 moves (low_precision)
    loss_noise: float = 0.0   # the loss's measured round-off: the least end-to-end noise

    @property
    def step(self) -> float:
        """The relative step in force."""
        return default_eps(self.dtype, self.method) if self.eps is None else self.eps

    @property
    def tolerances(self) -> tuple[float, float]:
        """``(atol, rtol)`` in force: the user's, else the dtype's defaults."""
        row = TOLERANCES[self.dtype]
        return (row["atol"] if self.atol is None else self.atol,
                row["rtol"] if self.rtol is None else self.rtol)

    @property
    def floor(self) -> float:
        """The dtype's smallest normal number: the least allowance of any value
        (:class:`gradcheck.judge.Rule`)."""
        return _SMALLEST_NORMAL[self.dtype]

    @property
    def resolution(self) -> float:
        """Relative error a joint direction must resolve in each tensor."""
        if self.joint_resolution is not None:
            return self.joint_resolution
        return max(TOLERANCES[self.dtype]["resolution"], self.tolerances[1])

    def at_second_point(self) -> Settings:
        """The settings of a second point: directions only, resolving the 1e-3 relative
        errors a stale cache makes (so a layer's tensors share one joint direction), judged
        to a thousandth of that (:data:`SECOND_POINT_RTOL_SHARE`, or the check's own rtol
        when looser). Central differences become one-sided there where that rtol allows
        (float64): the objective at the second point is known, so a value costs one
        evaluation, and one the first estimate does not settle is refined centrally (with
        its error estimate) as ever. In float32 (at rtols below 2.4e-3) one-sided steps are
        too coarse for it, and their central refinement too fine for float32's round-off (it
        hid the 1 % errors of stale caches): the second point keeps central differences
        there, as it does any user's ``eps``.

        The one-sided step is the largest power of two within a tenth of that rtol (float64:
        2**-24, 6e-8, four times the error-optimal 2**-26; never coarser than the central
        step, 2**-17): a one-sided difference is off by about its step, which stays below
        the rtol, and its round-off, a quarter of the optimal step's, lets one evaluation
        settle joint directions that the optimal step left to central differences (two
        evaluations: 4 of 15 small MLPs of the speed sweep).
        """
        rtol = max(self.tolerances[1], SECOND_POINT_RESOLUTION * SECOND_POINT_RTOL_SHARE)
        there = replace(self, mode="auto", rtol=rtol, one_sided=False,
                        joint_resolution=max(SECOND_POINT_RESOLUTION, self.resolution),
                        looks=SECOND_POINT_LOOKS[self.dtype])
        optimal = default_eps(self.dtype, "forward")
        if self.method != "central" or self.eps is not None or optimal > rtol / 10:
            return there
        coarsest = default_eps(self.dtype, "central")   # a looser user rtol stops here
        step = max(optimal, 2.0 ** math.floor(math.log2(min(coarsest, rtol / 10))))
        return replace(there, method="forward", eps=step, one_sided=True)

    def centrally(self) -> Settings:
        """A one-sided second point's settings with the central differences (and their
        default step) it replaced (for a joint direction whose one-sided round-off would be
        too coarse to mean a pass: :func:`gradcheck.joint_direction.measured_jointly`)."""
        return replace(self, method="central", eps=None, one_sided=False)

    def options(self) -> dict:
        """The report's ``options`` (the values in force)."""
        atol, rtol = self.tolerances
        return {"mode": self.mode, "method": self.method, "eps": self.step, "atol": atol,
                "rtol": rtol, "dtype": self.dtype, "seed": self.seed,
                "second_point": self.second_point}

    def for_arrays(self, named: dict, where: str) -> Settings:
        """These settings judged by the lowest-precision float among ``named`` arrays (and
        float32 for a forward that rounds like it, :mod:`gradcheck.low_precision`)."""
        dtype = check_dtype(named, where)
        if self.rounds_like_float32:
            return replace(self, dtype="float32")
        if dtype == "float32" and self.dtype != "float32":
            low = ", ".join(k for k, a in named.items() if _is_float(a) and a.dtype.itemsize <= 4)
            warn_user(f"{where}: checking in float32 (lowest precision: {low}): finite "
                      "differences are only accurate to about 1e-3, so small errors may go "
                      "unseen; prefer float64 to catch them")
        return replace(self, dtype=dtype)


_SMALLEST_NORMAL = {d: float(np.finfo(d).tiny) for d in ("float32", "float64")}


def _is_float(a) -> bool:
    return isinstance(a, np.ndarray) and holds_floats(a)


def check_dtype(named: dict, where: str) -> str:
    """``"float32"`` or ``"float64"``: the rules of the lowest-precision float in ``named``."""
    floats = {k: a.dtype for k, a in named.items() if _is_float(a)}
    small = {k: d for k, d in floats.items() if np.dtype(d).itemsize < (4 if d.kind == "f" else 8)}
    if small:
        listed = ", ".join(f"{k} {d}" for k, d in small.items())
        raise TypeError(f"{where}: gradcheck needs float32 or float64 arrays; got {listed}: "
                        "cast them, e.g. .astype(np.float32)")
    low = any(d.itemsize <= (4 if d.kind == "f" else 8) for d in floats.values())
    return "float32" if low else "float64"


def resolve_settings(*, mode, method, eps, atol, rtol, seed, second_point=True,
                     likely_cause=True, where: str) -> Settings:
    """Validate the options of a check (clear errors naming the argument)."""
    if mode not in MODES:
        raise ValueError(f"{where}: mode must be one of {', '.join(MODES)}; got {mode!r}")
    stencil(method)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{where}: seed must be an int, got {seed!r}")
    if eps is not None and not (isinstance(eps, numbers.Real) and eps > 0):
        raise ValueError(f"{where}: eps must be a positive number, got {eps!r}")
    for name, value in (("atol", atol), ("rtol", rtol)):
        if value is not None and not (isinstance(value, numbers.Real) and value >= 0):
            raise ValueError(f"{where}: {name} must be a number >= 0, got {value!r}")
    return Settings(mode=mode, method=method, eps=None if eps is None else float(eps),
                    atol=None if atol is None else float(atol),
                    rtol=None if rtol is None else float(rtol), seed=int(seed),
                    second_point=bool(second_point), likely_cause=bool(likely_cause))
