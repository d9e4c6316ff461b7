"""The one option table of the plugin: every ``--gradcheck-<name>`` is the ini key
``gradcheck_<name>`` too, parsed by the same function from either source.

A parser takes the text given (command line or ini file) and returns the value, or raises
``ValueError`` saying what it expected; :func:`gradcheck.session.settings.resolve_session`
adds where the text came from. Standard library only: the allowed modes and methods are
looked up in the checker only when one is given.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CHECK = "check"      # passed to every check (and a marker keyword)
SESSION = "session"  # for the session as a whole

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_bool(text: str) -> bool:
    """An ini boolean as pytest spells them: ``true/false``, ``yes/no``, ``on/off``, ``1/0``."""
    value = text.strip().lower()
    if value in _TRUE + _FALSE:
        return value in _TRUE
    raise ValueError(f"expected true or false, got {text!r}")


def _choice(module: str, name: str) -> Callable[[str], str]:
    """A parser accepting one of the tuple ``module.name`` (imported on first use)."""

    def parse(text: str) -> str:
        allowed = getattr(importlib.import_module(module), name)
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {text!r}")
        return text

    return parse


def _number(*, positive: bool) -> Callable[[str], float]:
    """A parser of a finite float, ``> 0`` when ``positive`` else ``>= 0``."""
    expected = "a finite number " + ("> 0" if positive else ">= 0")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected {expected}, got {text!r}") from None
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise ValueError(f"expected {expected}, got {text!r}")
        return value

    return parse


def parse_seed(text: str) -> int:
    """A seed for numpy's ``default_rng``: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"expected an integer >= 0, got {text!r}")
    return value


def parse_path(text: str) -> str:
    """A non-empty file path (checked against the file system by the settings)."""
    if not text.strip():
        raise ValueError("expected a file path, got an empty value")
    return text


@dataclass(frozen=True)
class Setting:
    """One ``--gradcheck-<name>`` option, mirrored by the ini key ``gradcheck_<name>``.

    Attributes
    ----------
    name : str
        Short name (``"atol"``); for a check option also the keyword of the check.
    parse : callable
        Turns the text of the command line or the ini file into the value; raises
        ``ValueError`` saying what it expected.
    help : str
        Help text shown by ``pytest --help``.
    metavar : str or None
        Placeholder for the value; None for an on/off flag (``--no-gradcheck-<name>``
        turns it off).
    scope : str
        :data:`CHECK` (passed to every check, also a marker keyword) or :data:`SESSION`.
    suffixes : tuple of str
        For an output file: the accepted suffixes (empty for other settings).
    """

    name: str
    parse: Callable[[str], Any]
    help: str
    metavar: str | None
    scope: str = CHECK
    suffixes: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--gradcheck-atol``."""
        return f"--gradcheck-{self.name}"

    @property
    def ini(self) -> str:
        """The ini key, e.g. ``gradcheck_atol``; also the attribute on ``config.option``."""
        return f"gradcheck_{self.name}"


SETTINGS = (
    Setting("mode", _choice("gradcheck.settings", "MODES"),
            "check mode: auto, full, sample or directional (default: auto)", "MODE"),
    Setting("method", _choice("gradcheck.finite_diff", "METHODS"),
            "finite-difference method: central, forward, richardson or complex_step "
            "(default: central)", "METHOD"),
    Setting("eps", _number(positive=True),
            "relative finite-difference step, > 0 (default: per dtype and method)", "EPS"),
    Setting("atol", _number(positive=False),
            "absolute tolerance, >= 0 (default: per-dtype table)", "ATOL"),
    Setting("rtol", _number(positive=False),
            "relative tolerance, >= 0 (default: per-dtype table)", "RTOL"),
    Setting("seed", parse_seed, "seed of the random check directions, >= 0 (default: 0)",
            "SEED"),
    Setting("strict", parse_bool, "count nondifferentiable points (kinks) and vacuous checks "
            "(all zeros) as failures", None),
    Setting("report", parse_path, "write an HTML page with every check of the session to "
            "PATH (.html)", "PATH", SESSION, (".html", ".htm")),
    Setting("json", parse_path, "write every check of the session, with its full report, "
            "as JSON to PATH (.json)", "PATH", SESSION, (".json",)),
    Setting("disable", parse_bool, "skip the tests that use the gradcheck fixture, the "
            "reason shown (select only them with -m gradcheck)", None, SESSION),
)

#: Keywords of the ``gradcheck`` marker (and of the fixture besides ``loss``/``y``).
MARKER_KEYWORDS = tuple(s.name for s in SETTINGS if s.scope == CHECK)
