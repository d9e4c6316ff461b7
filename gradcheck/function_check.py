"""A plain function and its vector-Jacobian product as a check target (no fake layer).

The tensors are private copies of the inputs; ``f`` and ``vjp`` get fresh copies on every
call, so an ``f`` that writes into its arguments is reported, never able to corrupt a check.
"""

from __future__ import annotations

import numpy as np

from gradcheck.arrays import same_values
from gradcheck.engine import Tensor
from gradcheck.layer_check import point_rows
from gradcheck.point import Point, round_off
from gradcheck.probe_calls import during, upstream_like
from gradcheck.report import problem_row
from gradcheck.selection import rng_for
from gradcheck.settings import Settings

__all__ = ["function_rows"]


def _inputs(arrays: list[np.ndarray], single: bool) -> list[Tensor]:
    names = ["input"] if single else [f"input{i}" for i in range(len(arrays))]
    tensors = []
    for i, (name, a) in enumerate(zip(names, arrays, strict=True)):
        def install(array, i=i):
            original = tensors[i]
            tensors[i] = Tensor(original.name, array)
            return lambda: tensors.__setitem__(i, original)
        tensors.append(Tensor(name, np.array(a, copy=True), install))
    return tensors


def _gradients(label, vjp, args, G, single, tensors) -> tuple[dict, list[dict]]:
    """The vjp's gradients by tensor name (those of the right shape), and rows for a wrong
    number of them, a missing one (``None``) or one of the wrong shape."""
    with during(f"vjp of {label}"):
        grads = vjp(args[0] if single else tuple(args), G)
    if grads is None or (single and not isinstance(grads, (tuple, list))):
        grads = [grads]
    elif isinstance(grads, np.ndarray) or not isinstance(grads, (tuple, list)):
        grads = [grads]   # one array for several inputs: a count problem, not split rows
    rows = []
    if len(grads) != len(tensors):
        rows.append(problem_row(label, "vjp", (), "grad_shape",
                                f"vjp returned {len(grads)} gradients for {len(tensors)} "
                                "inputs; return one array per input, in order"))
    named = {}
    for t, g in zip(tensors, list(grads) + [None] * (len(tensors) - len(grads)), strict=False):
        if g is None:
            rows.append(problem_row(label, t.name, t.live.shape, "missing_grad",
                                    f"vjp returned no gradient (None) for input {t.name!r}"))
        elif np.shape(g) != t.live.shape:
            rows.append(problem_row(label, t.name, t.live.shape, "grad_shape",
                                    f"vjp returned a gradient of shape {np.shape(g)} for input "
                                    f"{t.name!r} of shape {t.live.shape}"))
        else:
            named[t.name] = np.asarray(g)
    return named, rows


def function_rows(label: str, f, vjp, arrays: list[np.ndarray], single: bool,
                  s: Settings, progress=None) -> tuple[list[dict], Settings]:
    """Rows of ``check_function`` (problems, then one verdict row per input)."""
    tensors = _inputs(arrays, single)

    def fresh():
        return [t.live.copy() for t in tensors]

    def evaluate():
        with during(f"a perturbed call of {label}"):
            return np.asarray(f(*fresh()))

    args = fresh()
    with during(f"the first call of {label}"):
        y0 = np.array(f(*args), copy=True)
    s = s.for_arrays({**{t.name: t.live for t in tensors}, "output": y0}, "check_function")
    G = upstream_like(y0, rng_for(s.seed, "upstream"))
    analytic, rows = _gradients(label, vjp, args, G, single, tensors)
    rows += [problem_row(label, t.name, t.live.shape, "mutation",
                         "f or vjp changed this input in place; compute into new arrays")
             for t, a in zip(tensors, args, strict=True)
             if not same_values(t.live, a)]
    noise = round_off(s.dtype, G, y0)
    point = Point(label, tuple(tensors), evaluate, y0, G, analytic, noise)
    return rows + point_rows(point, s, progress)[0], s
