"""Check a JAX function with gradkit: its ``jax.custom_vjp`` rule, or JAX's own derivative.

    from gradcheck.adapters.jax import check_jax
    check_jax(my_op, x, w).raise_for_failure()

The backward is ``jax.vjp``, which applies a ``custom_vjp``'s ``bwd`` rule: that is what
gets checked, with gradkit's engine, verdict rule, kink status, localisation and protocol
checks.

Precision: JAX computes in float32 unless 64-bit mode is on (the ``jax_enable_x64`` config
option). Float32 inputs are checked in float32, by gradkit's float32 rule. When an input or a
parameter is float64 and 64-bit mode is off, each forward and backward runs inside the
``jax.enable_x64(True)`` context (64-bit mode for that call only, restored after it; the
global configuration is never changed), so float64 inputs are computed and checked in
float64. To check float32 code at float64 inputs, cast the inputs to float32.
"""

from __future__ import annotations

import contextlib
import copy
import re

import numpy as np

try:
    import jax
    import jax.numpy as jnp
except ImportError as exc:   # the adapter is optional; the core never imports it
    raise ImportError("gradcheck.adapters.jax needs JAX: pip install 'gradkit[jax]'") from exc

from gradcheck.adapters.common import check_adapted
from gradcheck.report import GradcheckReport

__all__ = ["JaxLayer", "check_jax"]

_AT_OUTPUT = re.compile(r"at output\[(\d+)\]")
_STRUCTURE = re.compile(r"must produce an output with the same container")


class JaxLayer:
    """A JAX function as a gradkit layer.

    Parameters
    ----------
    f : callable
        ``f(*arrays)``, or ``f(params, *arrays)`` when ``params`` is given; returns an array
        or a tuple of arrays.
    params : dict of str to array, optional
        Trainable arrays passed to ``f`` as its first argument (a dict, as in Flax or Haiku
        style code). Copied into the layer's ``params`` (numpy, which the checker perturbs in
        place; JAX arrays are immutable), so the caller's arrays are never changed.
    name : str, optional
        The ``layer`` column of the rows (the attribute ``gradcheck_name``); default
        ``f.__name__``.

    Notes
    -----
    ``forward(*arrays)`` converts the arrays and ``params`` to JAX arrays (copies) and
    returns ``f``'s output(s) as numpy arrays; ``backward(*dys)`` (one ``dy`` per output)
    runs ``jax.vjp`` at the last forward's arguments (once per forward; repeated backwards
    reuse it), writes the parameters' gradients into ``grads`` and returns ``dx`` (one
    input) or a tuple with one entry per input (``None`` for integer and boolean inputs,
    which are constants).
    """

    def __init__(self, f, *, params: dict | None = None, name: str | None = None):
        if not callable(f):
            raise TypeError(f"JaxLayer: f must be a callable, got {type(f).__name__}")
        if params is not None and not isinstance(params, dict):
            raise TypeError("JaxLayer: params must be a dict of arrays (f(params, *inputs)), "
                            f"got {type(params).__name__}")
        self.f, self.gradcheck_name = f, name or getattr(f, "__name__", type(f).__name__)
        self._with_params = params is not None
        self.params = {k: np.array(v, copy=True) for k, v in (params or {}).items()}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._tape = _Tape()

    def forward(self, *inputs):
        """``f``'s output(s) at ``inputs`` (numpy arrays), as numpy arrays."""
        arrays = [np.asarray(a) for a in inputs]
        with _precision([*arrays, *self.params.values()]):
            args, leading = tuple(jnp.array(a) for a in arrays), self._leading()
            out = self.f(*leading, *args)
        tape = self._tape
        tape.args, tape.leading, tape.vjp, tape.n_outputs = args, leading, None, _count(out)
        if isinstance(out, (tuple, list)):
            return tuple(np.asarray(o) for o in out)
        return np.asarray(out)

    def _leading(self) -> tuple:
        """The arguments before the inputs: ``(params,)`` as JAX arrays, or none."""
        return ({k: jnp.array(v) for k, v in self.params.items()},) if self._with_params else ()

    def backward(self, *dys):
        """Gradients of ``sum_k <dys[k], y_k>`` for the last forward: ``dx`` (or a tuple of
        them) returned, the parameters' gradients written into ``grads``."""
        tape = self._tape
        if tape.args is None:
            raise RuntimeError(f"{self.gradcheck_name}: backward called before any forward")
        if len(dys) != tape.n_outputs:
            raise TypeError(f"{self.gradcheck_name}: backward got {len(dys)} upstream "
                            f"gradients for {tape.n_outputs} outputs")
        floats = [i for i, a in enumerate(tape.args) if jnp.issubdtype(a.dtype, jnp.inexact)]
        with _precision([*tape.args, *self.params.values()]):
            if tape.vjp is None:
                tape.vjp = self._vjp(tape, floats)
            y, pullback = tape.vjp
            cotangents = pullback(_cotangent(y, dys))
        found = iter(cotangents)
        grads = next(found) if self._with_params else {}
        for key in self.params:
            np.copyto(self.grads[key], np.asarray(grads[key]))
        dx = [None] * len(tape.args)
        for i in floats:
            dx[i] = np.asarray(next(found))
        return dx[0] if len(dx) == 1 else tuple(dx)

    def _vjp(self, tape: _Tape, floats: list[int]):
        """``jax.vjp`` of ``f`` at the forward's arguments ``tape``, in the params (if any)
        and the float inputs ``floats``; the other inputs are constants."""
        def of_floats(*values):
            leading, values = values[:len(tape.leading)], values[len(tape.leading):]
            full = list(tape.args)
            for i, v in zip(floats, values, strict=True):
                full[i] = v
            return self.f(*leading, *full)

        return jax.vjp(of_floats, *tape.leading, *(tape.args[i] for i in floats))

    def locate_error(self, exc: Exception) -> tuple[str, int | None]:
        """``(check, input index)`` of an error JAX raised (see
        :mod:`gradcheck.adapters.common`): when ``f`` is itself the ``custom_vjp`` function
        (no params), its rule's ``output[i]`` is input ``i``."""
        text = str(exc)
        found = _AT_OUTPUT.search(text)
        if "Custom VJP bwd rule" in text and found:
            direct = isinstance(self.f, jax.custom_vjp) and not self._with_params
            return "grad_shape", int(found.group(1)) if direct else None
        return ("grad_count", None) if _STRUCTURE.search(text) else ("error", None)

    def __deepcopy__(self, memo):
        """A copy with its own params and grads and no tape (a forward comes first)."""
        twin = JaxLayer(self.f, params=None, name=self.gradcheck_name)
        twin._with_params = self._with_params
        twin.params = copy.deepcopy(self.params, memo)
        twin.grads = copy.deepcopy(self.grads, memo)
        return twin


class _Tape:
    """The last forward's JAX arguments (inputs, and the params before them), output count
    and (once computed) its vjp."""

    args: tuple | None = None
    leading: tuple = ()
    vjp: tuple | None = None
    n_outputs: int = 1


def _count(out) -> int:
    return len(out) if isinstance(out, (tuple, list)) else 1


def _precision(arrays):
    """64-bit mode for the block when any of ``arrays`` is float64 and it is off."""
    wide = any(getattr(a, "dtype", None) == np.float64 for a in arrays)
    if wide and not jax.config.jax_enable_x64:
        return jax.enable_x64(True)
    return contextlib.nullcontext()


def _cotangent(y, dys):
    """The cotangent of the output ``y`` (same structure) from the upstream gradients: each
    in its output's dtype, zeros of JAX's ``float0`` for integer outputs."""
    outs = list(y) if isinstance(y, (tuple, list)) else [y]
    cots = [np.zeros(np.shape(o), jax.dtypes.float0)
            if not jnp.issubdtype(o.dtype, jnp.inexact) or d is None
            else jnp.asarray(np.asarray(d), dtype=o.dtype)
            for o, d in zip(outs, dys, strict=True)]
    return type(y)(cots) if isinstance(y, (tuple, list)) else cots[0]


def check_jax(f, *inputs, params: dict | None = None, name: str | None = None,
              **options) -> GradcheckReport:
    """Check the derivative of a JAX function (its ``custom_vjp`` rule) at ``inputs``.

    Parameters
    ----------
    f : callable
        See :class:`JaxLayer`.
    *inputs : array_like
        The point (numpy or JAX arrays). Float32 ones are checked in float32; float64 ones
        in float64 (in 64-bit mode for each call, see the module docstring). Float inputs
        get rows ``"input"`` (one input) or ``"input0"``, ``"input1"``, ...; integer and
        boolean ones are constants. Never modified.
    params : dict of str to array, optional
        Trainable arrays, ``f(params, *inputs)``: one row per key.
    name : str, optional
        The ``layer`` column; default ``f.__name__``.
    **options
        Options of :func:`gradcheck.check_layer`.

    Returns
    -------
    GradcheckReport
        An error JAX raises during a call of the check (a ``bwd`` rule returning a gradient
        of the wrong shape or number) is the report's ``"fail"`` row, naming the call and
        the input.
    """
    layer = JaxLayer(f, params=params, name=name)
    arrays = [np.asarray(a) for a in inputs]
    return check_adapted(layer, arrays, options, "check_jax")
