"""The zoo of custom-Function cases that ``bench/gradcheck_torch.py`` runs and
``test_torch_zoo.py`` asserts: each a Function, its inputs, a dtype, and where its bug is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tests.adapters import torch_ops as ops


@dataclass(frozen=True)
class Case:
    """One custom Function at one point.

    Attributes
    ----------
    name : str
    fn : torch.autograd.Function subclass
    make : callable
        ``make(rng, dtype) -> list of ndarray``: the inputs.
    dtype : str
        ``"float32"`` or ``"float64"``.
    wrong : int or None
        The input whose gradient is wrong (None: a correct Function).
    wrong_rows : callable or None
        ``wrong_rows(inputs) -> set of int``: the rows of that input that are wrong, when
        the bug is confined to some (the element named should lie in one).
    kink : bool
        The point sits on kinks (a correct Function is nondifferentiable there).
    """

    name: str
    fn: type
    make: Callable
    dtype: str
    wrong: int | None = None
    wrong_rows: Callable | None = None
    kink: bool = False

    def inputs(self, seed: int = 0) -> list[np.ndarray]:
        return self.make(np.random.default_rng(seed), np.dtype(self.dtype))


def _linear(rng, dtype):
    x, w, b = rng.normal(size=(16, 32)), 0.2 * rng.normal(size=(24, 32)), rng.normal(size=24)
    return [a.astype(dtype) for a in (x, w, b)]


def _wide(rng, dtype):
    return [(2 * rng.normal(size=(16, 32))).astype(dtype)]


def _with_zeros(rng, dtype):
    x = rng.normal(size=(16, 32))
    x[:, ::4] = 0.0
    return [x.astype(dtype)]


def _layer_norm(rng, dtype):
    x, gamma, beta = rng.normal(size=(16, 32)), 1 + 0.1 * rng.normal(size=32), rng.normal(size=32)
    return [a.astype(dtype) for a in (x, gamma, beta)]


def _sampling(rng, dtype):   # positions inside the map, also at the second point (1 % moves)
    fmap, pos = rng.normal(size=(4, 8, 8)), rng.uniform(0.5, 6.3, (20, 2))
    return [fmap.astype(dtype), pos.astype(dtype)]


def _sampling_on_grid(rng, dtype):   # integer positions: kinks of the bilinear weights
    fmap, _ = _sampling(rng, dtype)
    return [fmap, rng.integers(1, 7, (20, 2)).astype(dtype)]


def _ties(rng, dtype):
    return [rng.integers(0, 3, (16, 6)).astype(dtype)]


def _lookup(rng, dtype):
    return [rng.normal(size=(10, 8)).astype(dtype), rng.integers(0, 10, 24)]


def _repeated_ids(inputs) -> set[int]:
    ids, counts = np.unique(inputs[1], return_counts=True)
    return set(ids[counts > 1].tolist())


CASES = [
    Case("linear", ops.Linear, _linear, "float64"),
    Case("linear", ops.Linear, _linear, "float32"),
    Case("linear: dW 1e-3 too large", ops.LinearDwOff, _linear, "float64", wrong=1),
    Case("linear: last row of dx missing", ops.LinearLastRow, _linear, "float32", wrong=0,
         wrong_rows=lambda inputs: {15}),
    Case("softplus", ops.Softplus, _wide, "float32"),
    Case("softplus: 1e-3 relative error", ops.SoftplusOff1e3, _wide, "float64", wrong=0),
    Case("softplus: 1e-2 relative error", ops.SoftplusOff, _wide, "float32", wrong=0),
    Case("relu at 0", ops.Relu, _with_zeros, "float64", kink=True),
    Case("layernorm", ops.LayerNorm, _layer_norm, "float64"),
    Case("layernorm", ops.LayerNorm, _layer_norm, "float32"),
    Case("layernorm: cross term missing", ops.LayerNormNoCross, _layer_norm, "float32", wrong=0),
    Case("layernorm: dbeta averaged", ops.LayerNormDbetaMean, _layer_norm, "float64", wrong=2),
    Case("bilinear sampling", ops.Bilinear, _sampling, "float32"),
    Case("bilinear sampling on the grid", ops.Bilinear, _sampling_on_grid, "float32", kink=True),
    Case("bilinear: d/dx corner swapped", ops.BilinearSwapped, _sampling, "float32", wrong=1),
    Case("bilinear: d/dx corner swapped", ops.BilinearSwapped, _sampling, "float64", wrong=1),
    Case("row max with ties", ops.RowMax, _ties, "float32", kink=True),
    Case("gather", ops.Gather, _lookup, "float32"),
    Case("gather: repeated ids overwrite", ops.GatherOverwrites, _lookup, "float64", wrong=0,
         wrong_rows=_repeated_ids),
]
