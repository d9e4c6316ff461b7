"""Plugin settings: the command line and the ini file resolved into the session's settings.

Precedence, strongest first: keyword of the ``gradcheck(...)`` call, the
``@pytest.mark.gradcheck(...)`` marker, the command line, the ini file, the
defaults of :func:`gradcheck.check_layer` (an option nobody set is not passed).
Every value is parsed and every output path checked here, at start-up, so that a bad
value is one usage error naming the option (or ini key) before any test runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradcheck.session.options import CHECK, MARKER_KEYWORDS, SETTINGS, Setting


@dataclass(frozen=True)
class OutputFile:
    """A file the session writes at its end.

    Attributes
    ----------
    path : pathlib.Path
        Absolute path, checked writable at start-up.
    option : str
        How the user asked for it (``"--gradcheck-report"`` or ``"ini key gradcheck_report"``),
        named in a message when the file cannot be written after all.
    """

    path: Path
    option: str


@dataclass(frozen=True)
class SessionSettings:
    """Settings resolved from the command line and the ini file.

    Attributes
    ----------
    check : dict
        Options passed to every check unless the marker or the call overrides them,
        ``strict`` included when it was set.
    report, json : OutputFile or None
        The session's HTML page and JSON document, or None when not asked for.
    disabled_by : str or None
        Where the checks were disabled (``"--gradcheck-disable"`` or
        ``"ini key gradcheck_disable"``); None when they run.
    """

    check: Mapping[str, Any]
    report: OutputFile | None = None
    json: OutputFile | None = None
    disabled_by: str | None = None

    @property
    def skip_reason(self) -> str | None:
        """Why the tests using the fixture are skipped; None when they run."""
        if self.disabled_by is None:
            return None
        return f"gradient checks disabled by {self.disabled_by}"


def ini_label(setting: Setting) -> str:
    """How an error names a value from the ini file: key and the option it mirrors."""
    return f"ini key {setting.ini} (of {setting.flag})"


def _given(setting: Setting, cli: Mapping[str, Any], ini: Mapping[str, Any]):
    """``(value, where, base)`` from the command line, else the ini file, else None."""
    value = cli.get(setting.name)
    if value is not None:
        return value, setting.flag, "cli"
    text = ini.get(setting.name)
    if text not in (None, ""):
        return text, ini_label(setting), "ini"
    return None


def _parsed(setting: Setting, value: Any, where: str) -> Any:
    """``value`` (text, or a bool from an on/off flag) parsed by the setting's parser."""
    if isinstance(value, bool):
        return value
    try:
        return setting.parse(str(value))
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _output(setting: Setting, text: str, where: str, base: Path) -> OutputFile:
    """The output file at ``base / text``, refused now if it could not be written later."""
    from diagnostics.atomic import require_output_path

    path = (base / text).absolute()
    require_output_path(path, option=where, suffixes=setting.suffixes)
    return OutputFile(path=path, option=where)


def resolve_session(
    cli: Mapping[str, Any],
    ini: Mapping[str, Any],
    bases: Mapping[str, Path],
    *,
    outputs: bool = True,
) -> SessionSettings:
    """Merge command-line values over ini values, parse them and check the output paths.

    Parameters
    ----------
    cli : mapping
        ``Setting.name -> text`` (a bool for an on/off flag) from the command line,
        None where absent.
    ini : mapping
        ``Setting.name -> text`` from the ini file, None or ``""`` where absent.
    bases : mapping
        ``"cli"`` and ``"ini"``: the folders relative paths of each source start from
        (pytest's invocation folder; the ini file's folder).
    outputs : bool, default True
        False: leave the output files out (a pytest-xdist worker, which writes nothing:
        its controller checked and writes them).

    Returns
    -------
    SessionSettings

    Raises
    ------
    ValueError
        One line naming the option (``--gradcheck-atol``) or the ini key (``ini key
        gradcheck_atol (of --gradcheck-atol)``) and what was expected; for an output path,
        a ``diagnostics.atomic.OutputPathError``.
    """
    check: dict[str, Any] = {}
    session: dict[str, Any] = {}
    for setting in SETTINGS:
        given = _given(setting, cli, ini)
        if given is None or (setting.suffixes and not outputs):
            continue
        value, where, source = given
        value = _parsed(setting, value, where)
        if setting.scope == CHECK:
            check[setting.name] = value
        elif setting.suffixes:
            session[setting.name] = _output(setting, value, where, bases[source])
        elif value:
            session["disabled_by"] = where
    return SessionSettings(check=check, **session)


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
