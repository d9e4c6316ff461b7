"""Several inputs and outputs, integer inputs: a layer shown to the checker with one input.

The checker perturbs a layer's parameters in place and reads their gradients from
``grads``; :class:`InputsAsParams` shows it a layer's float inputs the same way, as extra
parameters named ``input0``, ``input1``, ... (``input`` when there is one, or the keywords of a
dict of inputs), placed before the layer's own. Integer and boolean inputs are constants,
passed unchanged and never perturbed. Several outputs are read as one flat array. Its
``forward`` ignores its argument (the checker passes :data:`PLACEHOLDER`) and gives the layer
private copies of the inputs, so a forward that writes into an input cannot corrupt the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gradcheck.arrays import same_values
from gradcheck.probe_calls import grad_words
from gradcheck.report import constant_input_row, problem_row
from gradcheck.validation import require_array, trainable
from gradcheck.wrapper import Wrapper

__all__ = ["PLACEHOLDER", "Inputs", "InputsAsParams", "parse_inputs"]

PLACEHOLDER = np.zeros(1)


@dataclass(frozen=True)
class Inputs:
    """The inputs of one check: row names, arrays, and whether forward takes keywords."""

    names: tuple[str, ...]
    arrays: tuple[np.ndarray, ...]
    keyword: bool = False

    @property
    def differentiable(self) -> tuple[bool, ...]:
        """Per input: float (perturbed, a dx expected) or integer/boolean (a constant)."""
        return tuple(a.dtype.kind == "f" for a in self.arrays)

    @property
    def plain(self) -> bool:
        """One positional float input: the checker's own single-input path applies."""
        return len(self.arrays) == 1 and not self.keyword and self.differentiable[0]


def parse_inputs(inputs: tuple, where: str) -> Inputs:
    """Validate ``check_layer``'s inputs: arrays (float: finite, non-empty; integer or
    boolean: constants), given positionally or as one dict of keyword inputs."""
    if not inputs:
        raise TypeError(f"{where}: give the layer's input(s) after the layer, e.g. "
                        f"{where}(layer, x) or {where}(layer, a, b)")
    keyword = len(inputs) == 1 and isinstance(inputs[0], Mapping)
    if keyword:
        names, values = tuple(map(str, inputs[0])), tuple(inputs[0].values())
    else:
        names = ("input",) if len(inputs) == 1 else tuple(f"input{i}" for i in range(len(inputs)))
        values = inputs
    if len(inputs) == 1 and isinstance(inputs[0], (tuple, list)):
        raise TypeError(f"{where}: x is a {type(inputs[0]).__name__} of {len(inputs[0])} "
                        f"values; pass several inputs as {where}(layer, a, b) (the layer's "
                        "forward(a, b)), or wrap a forward that takes one list with "
                        "adapt(layer, packed_inputs=True)")
    arrays = tuple(_input_array(v, n, where, single=len(values) == 1)
                   for n, v in zip(names, values, strict=True))
    return Inputs(names, arrays, keyword)


def _input_array(value, name: str, where: str, single: bool) -> np.ndarray:
    array = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if array.dtype.kind in "iub":
        if array.size == 0:
            raise ValueError(f"{where}: {name} is empty (shape {array.shape})")
        return array
    return require_array(array, name if not single else "x", where, batch=single)


class InputsAsParams(Wrapper):
    """A layer and its inputs as a single-input layer whose float inputs are parameters.

    Parameters
    ----------
    layer : object with ``params``, ``grads``, ``forward(*inputs)`` (or ``forward(**inputs)``)
        and ``backward(dy)`` / ``backward(dy1, ..., dyk)`` for ``k`` outputs, returning one dx
        (one float input), a tuple of one per input (``None`` for constants), or a dict by name.
    inputs : Inputs
        Copied; the user's arrays are never touched.
    """

    def __init__(self, layer, inputs: Inputs):
        self.layer = layer
        self.inputs = inputs
        self.params = {n: a.copy() for n, a, d in
                       zip(inputs.names, inputs.arrays, inputs.differentiable, strict=True) if d}
        clash = sorted(set(self.params) & set(layer.params))
        if clash:
            raise ValueError(f"check_layer: the layer has parameters named {clash}, the names "
                             "of its inputs' rows; pass the inputs as a dict to name them")
        self.params.update(trainable(layer.params))
        self.grads: dict = {}
        self.outputs = None          # [(shape, dtype)] of several outputs, None for one
        self.returned = ""           # what backward returned, when it does not fit the inputs
        self.mutated: list[str] = []
        self._watch = True

    def forward(self, _placeholder=None) -> np.ndarray:
        """The layer's output (several: flattened and concatenated) at the current inputs."""
        current = [self.params[n] if d else a for n, a, d in
                   zip(self.inputs.names, self.inputs.arrays, self.inputs.differentiable,
                       strict=True)]
        given = [a.copy() for a in current]
        if self.inputs.keyword:
            y = self.layer.forward(**dict(zip(self.inputs.names, given, strict=True)))
        else:
            y = self.layer.forward(*given)
        if self._watch:    # the first forward tells whether the layer writes into its inputs
            self._watch = False
            self.mutated = [n for n, g, c in zip(self.inputs.names, given, current, strict=True)
                            if not same_values(g, c)]
        return self._flat(y)

    def _flat(self, y) -> np.ndarray:
        if not isinstance(y, (tuple, list)):
            self.outputs = None
            return y
        arrays = [np.asarray(a) for a in y]
        self.outputs = [(a.shape, a.dtype) for a in arrays]
        dtype = np.result_type(*[a.dtype if a.dtype.kind in "fc" else np.float64 for a in arrays])
        return np.concatenate([a.ravel() for a in arrays]).astype(dtype, copy=False)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Run the layer's backward on ``dy`` (split per output); its dx per float input and
        its parameter grads become ``grads``. Returns a zero dx for the placeholder."""
        if self.outputs is None:
            raw = self.layer.backward(dy)
        else:
            raw = self.layer.backward(*self._pieces(dy))
        dxs = self._dxs(raw)
        self.grads = {n: np.asarray(dx) for n, dx in dxs.items() if dx is not None}
        own = self.layer.grads
        self.grads.update((k, own[k]) for k in trainable(self.layer.params) if k in own)
        return np.zeros_like(PLACEHOLDER)

    def _pieces(self, dy: np.ndarray) -> list[np.ndarray]:
        pieces, start = [], 0
        for shape, dtype in self.outputs:
            size = int(np.prod(shape, dtype=np.int64))
            part = dy[start:start + size].reshape(shape)
            pieces.append(part.astype(dtype, copy=False) if dtype.kind in "fc" else part)
            start += size
        return pieces

    def _dxs(self, raw) -> dict:
        names = self.inputs.names
        floats = [n for n, d in zip(names, self.inputs.differentiable, strict=True) if d]
        self.returned = ""
        if isinstance(raw, Mapping):
            return dict(raw)
        if isinstance(raw, (tuple, list)):
            for wanted in (names, floats):
                if len(raw) == len(wanted):
                    return dict(zip(wanted, raw, strict=True))
            self.returned = f"backward returned {len(raw)} values"
            return {}
        if len(floats) == 1:
            return {floats[0]: raw}
        self.returned = "backward returned one array"
        return {}

    def grad_words(self, key: str) -> tuple[str, str, str]:
        """Message words for ``key`` (see :func:`gradcheck.probe_calls.grad_words`)."""
        if key not in self.inputs.names:
            return self._layer_words(key)
        n = len(self.inputs.names)
        fix = (f"return one dx per input, in order ({', '.join(self.inputs.names)}; None for "
               "integer inputs), or a dict by name")
        missing = (f"{self.returned} for {n} inputs: {fix}" if self.returned else
                   f"backward returned no dx for {key}: it must return dL/d{key} (an array of "
                   f"its shape){'; ' + fix if n > 1 else ''}")
        return f"the dx backward returned for {key}", "the input", missing

    def _layer_words(self, key: str):
        return grad_words(self.layer, key)

    @property
    def gradcheck_batch_size(self) -> int | None:
        """The batch size of the first input with a batch axis (for the likely cause)."""
        return next((len(a) for a in self.inputs.arrays if a.ndim), None)

    def rows(self, label: str) -> list[dict]:
        """Rows for the inputs held constant and the inputs forward wrote into."""
        rows = [constant_input_row(label, n, a) for n, a, d in zip(
            self.inputs.names, self.inputs.arrays, self.inputs.differentiable, strict=True)
            if not d]
        rows += [problem_row(label, n, self.params.get(n, np.empty(0)).shape, "mutation",
                             f"forward changed its input {n} in place; compute into a new "
                             "array (y = x * a, not x *= a) so callers keep their data")
                 for n in self.mutated]
        return rows
