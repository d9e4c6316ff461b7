"""A plain function and its vector-Jacobian product seen through the layer protocol.

Its "parameters" are private copies of the function's inputs, so :func:`check_function`
reuses the layer machinery (protocol checks, grouping, verdicts) unchanged.
"""

from __future__ import annotations

import numpy as np

from gradcheck.report import problem_row

__all__ = ["FunctionLayer"]


class FunctionLayer:
    """Layer-protocol adapter: ``forward(_) = f(*inputs)``, ``backward(G)`` fills ``grads``.

    Parameters
    ----------
    f : callable
        ``f(*inputs) -> y``.
    vjp : callable
        ``vjp(inputs, G) -> grads`` (a tuple, or one array when ``single``).
    inputs : list of ndarray
        Copied; the copies are the adapter's ``params`` (``"input"`` or ``"input<i>"``).
    single : bool
        The user passed one bare array.
    """

    def __init__(self, f, vjp, inputs, single: bool):
        self.f, self.vjp, self.single = f, vjp, single
        names = ["input"] if single else [f"input{i}" for i in range(len(inputs))]
        self.params = {n: np.array(a, copy=True) for n, a in zip(names, inputs, strict=True)}
        self.grads = {n: np.zeros_like(a) for n, a in self.params.items()}
        self.mutated: set[str] = set()
        self.bad_return = ""

    def _args(self) -> list[np.ndarray]:
        return [a.copy() for a in self.params.values()]

    def _note_mutation(self, args) -> None:
        for (name, value), arg in zip(self.params.items(), args, strict=True):
            if not np.array_equal(value, arg, equal_nan=True):
                self.mutated.add(name)

    def forward(self, _x) -> np.ndarray:
        args = self._args()
        y = np.asarray(self.f(*args))
        self._note_mutation(args)
        return y

    def backward(self, G) -> np.ndarray:
        args = self._args()
        grads = self.vjp(tuple(args) if not self.single else args[0], G)
        self._note_mutation(args)
        grads = [grads] if self.single and not isinstance(grads, (tuple, list)) else list(grads)
        if len(grads) != len(self.params):
            self.bad_return = (f"vjp returned {len(grads)} gradients for {len(self.params)} "
                               "inputs; return one array per input, in order")
            grads = grads[:len(self.params)]
        for name, grad in zip(self.params, grads, strict=False):
            self.grads[name] = np.asarray(grad)
        return np.zeros(1)

    def problem_rows(self, name: str) -> list[dict]:
        """Rows for inputs the function (or vjp) changed in place and for a bad vjp return."""
        rows = [problem_row(name, key, self.params[key].shape, "mutation",
                            "f or vjp changed this input in place; compute into new arrays")
                for key in sorted(self.mutated)]
        if self.bad_return:
            rows.append(problem_row(name, "vjp", (), "grad_shape", self.bad_return))
        return rows
