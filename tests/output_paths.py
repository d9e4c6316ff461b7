"""Output paths that cannot be written, made for real (no patched ``os.access``).

We run as root, and root ignores permission bits, so a ``chmod 555`` folder is writable.
Two folders refuse even root: an immutable one (``chattr +i``, needs the
CAP_LINUX_IMMUTABLE capability and a file system that supports it; the test skips with
that reason otherwise) and a kernel folder (``/sys``: sysfs creates no files, on any Linux).
"""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

# kind -> the words of the one-line error
KINDS = {
    "suffix": "the suffix must be",
    "directory": "it is a directory",
    "parent is a file": "is a file, not a folder",
    "immutable folder": "is not writable",
    "kernel folder": "is not writable",
}


@contextmanager
def immutable_folder(tmp_path: Path):
    """An empty folder that not even root can create files in; skips where impossible."""
    folder = tmp_path / "immutable"
    folder.mkdir()
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True,
                          check=False) if sys.platform.startswith("linux") else None
    if done is None or done.returncode != 0:
        reason = done.stderr.strip() if done is not None else "not Linux"
        pytest.skip(f"cannot make an immutable folder with chattr +i ({reason})")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


@contextmanager
def bad_path(kind: str, tmp_path: Path, suffix: str):
    """A path of the given failure ``kind`` (its error says ``KINDS[kind]``) for a file
    ending in ``suffix``."""
    if kind == "suffix":
        yield tmp_path / "out.txt"
    elif kind == "directory":
        (tmp_path / "folder").mkdir()
        yield tmp_path / "folder"
    elif kind == "parent is a file":
        (tmp_path / "file").write_text("x")
        yield tmp_path / "file" / f"out{suffix}"
    elif kind == "immutable folder":
        with immutable_folder(tmp_path) as folder:
            yield folder / "sub" / f"out{suffix}"
    else:
        if not Path("/sys/kernel").is_dir():
            pytest.skip("no /sys kernel folder (not Linux)")
        yield Path("/sys/gradkit-test") / f"out{suffix}"


def missing_parent(tmp_path: Path, suffix: str) -> Path:
    """A writable path two folders below ``tmp_path`` that do not exist yet."""
    return tmp_path / "new" / "deeper" / f"out{suffix}"
