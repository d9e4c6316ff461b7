"""Plugin settings: the option table and the precedence between their sources.

Precedence, strongest first: keyword of the ``gradcheck(...)`` call, the
``@pytest.mark.gradcheck(...)`` marker, the command line, the ini file, the
defaults of :func:`gradcheck.check_layer` (an option nobody set is not passed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _to_bool(text: str) -> bool:
    """Parse an ini boolean the way pytest does (``true/false``, ``1/0``, ``yes/no``)."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


@dataclass(frozen=True)
class Setting:
    """One ``--gradcheck-<name>`` option, mirrored by the ini key ``gradcheck_<name>``.

    Attributes
    ----------
    name : str
        Short name (``"atol"``); also the keyword it becomes for the check.
    convert : callable
        Turns the command-line or ini text into the value.
    help : str
        Help text shown by ``pytest --help``.
    metavar : str or None
        Placeholder for the value; ``None`` for a flag without value.
    """

    name: str
    convert: Callable[[str], Any]
    help: str
    metavar: str | None

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--gradcheck-atol``."""
        return f"--gradcheck-{self.name}"

    @property
    def ini(self) -> str:
        """The ini key, e.g. ``gradcheck_atol``."""
        return f"gradcheck_{self.name}"

    @property
    def dest(self) -> str:
        """The attribute name on ``config.option``."""
        return self.ini


SETTINGS = (
    Setting("mode", str, "check mode passed to check_layer/check_model (default: auto)", "MODE"),
    Setting("atol", float, "absolute tolerance (default: per-dtype table)", "ATOL"),
    Setting("rtol", float, "relative tolerance (default: per-dtype table)", "RTOL"),
    Setting("seed", int, "seed of the random check directions (default: 0)", "SEED"),
    Setting(
        "report",
        str,
        "write an HTML summary of every check in the session to PATH, and PATH with "
        "suffix .json next to it",
        "PATH",
    ),
    Setting("strict", _to_bool, "count nondifferentiable points (kinks) and vacuous checks "
            "(all zeros) as failures", None),
)

#: Keywords of the ``gradcheck`` marker (and of the fixture besides ``loss``/``y``).
MARKER_KEYWORDS = ("mode", "method", "eps", "atol", "rtol", "seed", "strict")


@dataclass(frozen=True)
class SessionSettings:
    """Settings resolved from the command line, the ini file and the defaults.

    Attributes
    ----------
    check : dict
        Options passed to every check unless the marker or the call overrides them,
        including ``strict`` when it was set.
    report : pathlib.Path or None
        Absolute path of the session HTML report (its JSON twin is the same path with
        suffix ``.json``), or None for no report.
    """

    check: Mapping[str, Any]
    report: Path | None


def _report_path(text: str, base: Path) -> Path:
    """The absolute HTML report path; refuses a ``.json`` path (the JSON twin's name)."""
    if not text or Path(text).suffix.lower() == ".json":
        raise ValueError(f"--gradcheck-report expects an HTML file path, got {text!r}")
    return base / text


def resolve_session(
    cli: Mapping[str, Any], ini: Mapping[str, str | None], base: Path
) -> SessionSettings:
    """Merge command-line values over ini values; drop what neither source set.

    Parameters
    ----------
    cli : mapping
        ``Setting.name -> value`` from the command line (already converted), None if absent.
    ini : mapping
        ``Setting.name -> text`` from the ini file, None or ``""`` if absent.
    base : pathlib.Path
        Directory a relative report path is taken from (pytest's invocation directory).

    Returns
    -------
    SessionSettings

    Raises
    ------
    ValueError
        An ini value cannot be converted (the message names the ini key), or the
        report path ends in ``.json``.
    """
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        value = cli.get(setting.name)
        text = ini.get(setting.name)
        if value is None and text not in (None, ""):
            try:
                value = setting.convert(text)
            except ValueError as err:
                raise ValueError(f"ini option {setting.ini}: {err}") from None
        if value is not None:
            values[setting.name] = value
    report = values.pop("report", None)
    return SessionSettings(
        check=values, report=None if report is None else _report_path(report, base)
    )


def marker_options(markers: Iterable[Any]) -> dict[str, Any]:
    """Collect the keywords of ``gradcheck`` markers, the closest marker winning.

    Parameters
    ----------
    markers : iterable of pytest.Mark
        As yielded by ``item.iter_markers("gradcheck")``: closest (function) first.

    Returns
    -------
    dict
        The merged keywords.

    Raises
    ------
    ValueError
        A marker has positional arguments or a keyword outside :data:`MARKER_KEYWORDS`;
        the message lists the allowed names.
    """
    merged: dict[str, Any] = {}
    for mark in reversed(list(markers)):
        unknown = sorted(set(mark.kwargs) - set(MARKER_KEYWORDS))
        if mark.args or unknown:
            given = (
                f"positional arguments {mark.args!r}"
                if mark.args
                else "unknown keywords " + ", ".join(unknown)
            )
            raise ValueError(
                f"@pytest.mark.gradcheck got {given}; allowed keywords: "
                + ", ".join(MARKER_KEYWORDS)
            )
        merged.update(mark.kwargs)
    return merged
