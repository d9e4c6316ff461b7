"""The user's code: ``MODULE:NAME`` targets, ``KEY=VALUE`` arguments, and the user's own
frames of a traceback (the files that are neither gradkit's nor Python's nor a library's)."""

from __future__ import annotations

import argparse
import ast
import functools
import importlib
import inspect
import os
import sys
import sysconfig
import traceback
from pathlib import Path

from .common import UsageError

SHOWN_FRAMES = 5   # the last frames of the user's traceback that an exit-3 message shows


def key_value(text):
    """argparse type: ``"KEY=VALUE"`` -> ``(KEY, value)``; the value is a Python literal
    (``16``, ``0.5``, ``(8, 4)``, ``True``, ``None``, ``'relu'``) when it parses as one,
    else the text itself (``act=relu`` gives the string ``"relu"``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a Python name, got {text!r}")
    try:
        return key, ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return key, raw


def keywords(pairs, option="--factory-arg"):
    """The ``(KEY, value)`` pairs of a repeatable ``KEY=VALUE`` option as a dict; a key given
    twice is a :class:`UsageError`."""
    kwargs = {}
    for key, value in pairs or ():
        if key in kwargs:
            raise UsageError(f"{option} {key}=... is given twice")
        kwargs[key] = value
    return kwargs


def load_callable(target, option):
    """Import ``MODULE:NAME`` (the current folder is importable, as with ``python -m``) and
    return the callable. A module that does not exist or a missing name is a
    :class:`UsageError`; an exception raised by the module itself propagates (exit 3)."""
    module_name, _, name = target.partition(":")
    if not module_name or not name:
        raise UsageError(f"{option}: expected MODULE:NAME (e.g. mylayers:make_layer), "
                         f"got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name and not module_name.startswith(f"{exc.name}."):
            raise  # the module exists and imports something missing: the user's code raised
        raise UsageError(f"{option}: cannot import {module_name!r}: no such module in "
                         f"{os.getcwd()} or on sys.path") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise UsageError(f"{option}: {module_name!r} has no callable {name!r}")
    return function


def check_arguments(function, kwargs, target, option="--factory-arg", *, partial=False):
    """A :class:`UsageError` naming ``option`` when ``kwargs`` do not fit ``function``'s
    signature (with ``partial``: when one of them is not accepted; nothing is checked for a
    function without a signature, e.g. a builtin)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    try:
        (signature.bind_partial if partial else signature.bind)(**kwargs)
    except TypeError as exc:
        given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no arguments"
        raise UsageError(f"{option}: {target}{signature} cannot be called with {given} ({exc})"
                         ) from None


def call_with(function, kwargs, target, option="--factory-arg"):
    """``function(**kwargs)`` after :func:`check_arguments`."""
    check_arguments(function, kwargs, target, option)
    return function(**kwargs)


def seeded_factory(factory, kwargs, target):
    """``make_model`` for :func:`diagnostics._training.build_model` (train, lr-find): it is
    called with each run's ``seed`` when the factory takes one, unless ``--factory-arg
    seed=...`` fixed it (then that seed is kept)."""
    check_arguments(factory, kwargs, target, partial="seed" not in kwargs)
    if "seed" in kwargs:
        return lambda: factory(**kwargs)
    return functools.partial(factory, **kwargs)


def _not_users_folders():
    """Folders whose files are not the user's: gradkit's packages, Python's, libraries'."""
    import diagnostics
    import gradcheck
    import reference_nets

    ours = [Path(m.__file__).resolve().parent for m in (diagnostics, gradcheck, reference_nets)]
    ours.append(Path(__file__).resolve().parent)
    paths = sysconfig.get_paths()
    python = [Path(paths[k]).resolve() for k in ("stdlib", "platstdlib", "purelib", "platlib")
              if k in paths]
    return tuple(f"{folder}{os.sep}" for folder in (*ours, *python))


def is_users_file(filename):
    """True for a real file outside gradkit, the standard library and installed packages."""
    if not filename or filename.startswith("<"):
        return False
    return not str(Path(filename).resolve()).startswith(_not_users_folders())


def user_frames(exc):
    """The frames of ``exc``'s traceback that are in the user's own files (most recent last);
    a ``SyntaxError`` in a user's file counts as a frame at its line."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if is_users_file(f.filename)]
    if isinstance(exc, SyntaxError) and is_users_file(exc.filename):
        frames.append(traceback.FrameSummary(exc.filename, exc.lineno or 0, "<module>",
                                             line=(exc.text or "").strip()))
    return frames


def user_error_text(exc, frames):
    """What exit code 3 prints: the exception, the last frames of the user's own traceback
    (file, line, source) and the notes gradcheck added (which call of the check it was)."""
    lines = [f"your code raised {type(exc).__name__}: {exc}",
             "Traceback of your code (most recent call last):"]
    for frame in frames[-SHOWN_FRAMES:]:
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
        lines += [f"    {frame.line}"] if frame.line else []
    lines += [f"  ({note})" for note in getattr(exc, "__notes__", ())]
    return "\n".join(lines)
