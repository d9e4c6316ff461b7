"""Atomic file writing: a crash never leaves a half-written report or records file."""

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def _default_file_mode() -> int:
    """Permission bits an ordinary ``open(path, "w")`` would give under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path, text: str | Iterable[str]) -> Path:
    """Write text to ``path`` through a temporary file in the same folder and a rename.

    Readers see either the old file or the complete new one, never a partial write; on
    any error the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; missing parent folders are created.
    text : str or iterable of str
        The whole content, or its pieces (written in order, no separators added).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _default_file_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines([text] if isinstance(text, str) else text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class OutputPathError(ValueError):
    """An output path that cannot be written; the message names the option and the path."""


def require_output_path(path, *, option: str, suffixes: Iterable[str] = ()) -> Path:
    """Check, before any work, that a report or records file can be written at ``path``.

    The path must not be a directory, must end in one of ``suffixes`` (when given), and its
    nearest existing parent folder must be a folder in which a file can be created (missing
    folders below it are created by :func:`write_atomically`). Writability is tried, not
    inferred from permission bits (root ignores them; read-only, immutable or kernel
    folders refuse even root): an empty probe file is created there and removed at once.
    Nothing else is created here.

    Parameters
    ----------
    path : str or os.PathLike
        The file to be written.
    option : str
        How the user gave it (``"--report"``, ``"write_report(path=...)"``): named in the error.
    suffixes : iterable of str, optional
        Accepted suffixes, lower case with the dot (``".html"``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputPathError
        One line: the option, the path and what is wrong.
    """
    path = Path(path)
    accepted = tuple(suffixes)

    def fail(problem: str):
        raise OutputPathError(f"{option}: cannot write {str(path)!r}: {problem}")

    if path.is_dir() or str(path).endswith(os.sep):
        fail("it is a directory; give a file name")
    if accepted and path.suffix.lower() not in accepted:
        fail(f"the suffix must be {' or '.join(accepted)}, not {path.suffix or 'none'!r}")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        fail(f"{str(parent)!r} is a file, not a folder")
    refusal = _creation_refused(parent)
    if refusal:
        fail(f"the folder {str(parent)!r} is not writable ({refusal})")
    return path


def _creation_refused(folder: Path) -> str:
    """Why no file can be created in ``folder`` (the OS's words), or "" when one can."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return "permission denied"
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".gradkit-probe-")
    except OSError as exc:
        return (exc.strerror or type(exc).__name__).lower()
    os.close(fd)
    os.unlink(probe)
    return ""
