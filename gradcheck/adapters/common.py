"""What the torch and JAX adapters share: the check call, and errors as rows.

An adapter layer (:class:`gradcheck.adapters.torch.TorchLayer`,
:class:`gradcheck.adapters.jax.JaxLayer`) has a ``gradcheck_name`` (its rows' label) and a
method
``locate_error(exc) -> (check, input_index)`` that reads the library's own message for an
error raised by the user's code: a backward rule that returned a gradient of the wrong shape
is a ``"grad_shape"`` problem of that input, a wrong number of gradients a ``"grad_count"``
problem, anything else an ``"error"``.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from dataclasses import replace

import numpy as np

from gradcheck.checks import check_layer
from gradcheck.report import GradcheckReport, problem_row
from gradcheck.settings import check_dtype, resolve_settings
from gradcheck.several_inputs import parse_inputs

__all__ = ["NOTE_PREFIX", "check_adapted", "raised_during"]

NOTE_PREFIX = "gradcheck: raised during "   # the note gradcheck.probe_calls.during adds
_OPTIONS = {name: p.default for name, p in inspect.signature(check_layer).parameters.items()
            if p.kind is p.KEYWORD_ONLY and name in inspect.signature(resolve_settings).parameters}


def raised_during(exc: BaseException) -> str | None:
    """The call of the check that raised ``exc`` (``"the backward of X"``), from the note
    :func:`gradcheck.probe_calls.during` added; None when the user's code did not raise it."""
    for note in getattr(exc, "__notes__", ()):
        if note.startswith(NOTE_PREFIX):
            return note[len(NOTE_PREFIX):]
    return None


def check_adapted(layer, inputs: list[np.ndarray], options: dict, where: str
                  ) -> GradcheckReport:
    """``check_layer(layer, *inputs, **options)``.

    An exception the user's code raised during one of the check's calls becomes the
    report's one ``"fail"`` row (which call, the library's message, the input it names);
    exceptions about the check's own arguments propagate.
    """
    start = time.perf_counter()
    try:
        return check_layer(layer, *inputs, **options)
    except Exception as exc:
        call = raised_during(exc)
        if call is None:
            raise
        row = _error_row(layer, exc, call, inputs)
        return GradcheckReport([row], _options(options, inputs, where),
                               time.perf_counter() - start)


def _error_row(layer, exc: Exception, call: str, inputs: list[np.ndarray]) -> dict:
    """The ``"fail"`` row of an exception raised during ``call``."""
    check, index = layer.locate_error(exc)
    if index is not None and index < len(inputs):
        tensor = parse_inputs(tuple(inputs), "check_layer").names[index]
        shape = np.shape(inputs[index])
    else:
        tensor, shape = ("backward" if "backward" in call else "forward"), ()
    text = str(exc).strip().splitlines()
    message = f"{type(exc).__name__} raised during {call}: {text[0] if text else ''}".rstrip()
    return problem_row(layer.gradcheck_name, tensor, shape, check, message)


def _options(options: dict, inputs: list[np.ndarray], where: str) -> dict:
    """The ``options`` of a report made without a check: the given options resolved, judged
    by the dtype of the inputs."""
    s = resolve_settings(**{**_OPTIONS, **{k: v for k, v in options.items() if k in _OPTIONS}},
                         where=where)
    with contextlib.suppress(TypeError):   # a float16 input: the error row says enough
        s = replace(s, dtype=check_dtype({str(i): a for i, a in enumerate(inputs)}, where))
    return s.options()
