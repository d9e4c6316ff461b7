"""What the torch and JAX adapters share: input names, the check call, errors as rows.

An adapter layer (:class:`gradcheck.adapters.torch.TorchLayer`,
:class:`gradcheck.adapters.jax.JaxLayer`) has a ``name`` and a method
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

__all__ = ["NOTE_PREFIX", "check_adapted", "input_name", "raised_during"]

NOTE_PREFIX = "gradcheck: raised during "   # the note gradcheck.probes.during adds
_OPTIONS = {name: p.default for name, p in inspect.signature(check_layer).parameters.items()
            if p.kind is p.KEYWORD_ONLY and name in inspect.signature(resolve_settings).parameters}


def input_name(index: int, n_inputs: int) -> str:
    """The ``tensor`` column of input ``index`` of ``n_inputs``: ``"input"`` for a lone
    input, else ``"input<index>"``."""
    return "input" if n_inputs == 1 else f"input{index}"


def raised_during(exc: BaseException) -> str | None:
    """The call of the check that raised ``exc`` (``"the backward of X"``), from the note
    :func:`gradcheck.probes.during` added; None when the user's code did not raise it."""
    for note in getattr(exc, "__notes__", ()):
        if note.startswith(NOTE_PREFIX):
            return note[len(NOTE_PREFIX):]
    return None


def check_adapted(layer, inputs: list[np.ndarray], options: dict, where: str
                  ) -> GradcheckReport:
    """``check_layer(layer, *inputs, **options)``, its rows named ``layer.name``.

    An exception the user's code raised during one of the check's calls becomes the
    report's one ``"fail"`` row (which call, the library's message, the input it names);
    exceptions about the check's own arguments propagate.
    """
    start = time.perf_counter()
    label = type(layer).__name__
    try:
        report = check_layer(layer, *inputs, **options)
    except Exception as exc:
        call = raised_during(exc)
        if call is None:
            raise
        row = _error_row(layer, exc, call.replace(label, layer.name), inputs)
        return GradcheckReport([row], _options(options, inputs, where),
                               time.perf_counter() - start)
    for row in report.rows:
        if row["layer"] == label:
            row["layer"] = layer.name
    return report


def _error_row(layer, exc: Exception, call: str, inputs: list[np.ndarray]) -> dict:
    """The ``"fail"`` row of an exception raised during ``call``."""
    check, index = layer.locate_error(exc)
    if index is not None and index < len(inputs):
        tensor, shape = input_name(index, len(inputs)), np.shape(inputs[index])
    else:
        tensor, shape = ("backward" if "backward" in call else "forward"), ()
    text = str(exc).strip().splitlines()
    message = f"{type(exc).__name__} raised during {call}: {text[0] if text else ''}".rstrip()
    return problem_row(layer.name, tensor, shape, check, message)


def _options(options: dict, inputs: list[np.ndarray], where: str) -> dict:
    """The ``options`` of a report made without a check: the given options resolved, judged
    by the dtype of the inputs."""
    s = resolve_settings(**{**_OPTIONS, **{k: v for k, v in options.items() if k in _OPTIONS}},
                         where=where)
    with contextlib.suppress(TypeError):   # a float16 input: the error row says enough
        s = replace(s, dtype=check_dtype({str(i): a for i, a in enumerate(inputs)}, where))
    return s.options()
