"""A progress bar for long exhaustive checks, shown on a terminal only."""

from __future__ import annotations

import sys
from contextlib import contextmanager

__all__ = ["PROGRESS_MIN_ELEMENTS", "progress_bar"]

PROGRESS_MIN_ELEMENTS = 20_000   # element checks at least this large show a progress bar


@contextmanager
def progress_bar(total: int, desc: str = "gradcheck"):
    """A tqdm bar (``update(n)`` per checked element) when ``total`` elements are checked one
    by one on a terminal; None otherwise (tests, pipes, quick checks)."""
    if total < PROGRESS_MIN_ELEMENTS or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="elem") as bar:
        yield bar
