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
