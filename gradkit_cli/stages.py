"""Stages of a long command: one line on stderr when a stage starts, one when it ends with
its elapsed seconds (and what it found), so the terminal is never silent for long; the
progress bars of the work inside (training epochs, LR runs) show between the two."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager


class Stage:
    """A running stage; set ``note`` to add a result to its end line."""

    def __init__(self):
        self.note = ""


@contextmanager
def stage(prog, name):
    """Print ``<prog>: <name> ...`` now and ``<prog>: <name>: done in S s (note)`` at the end
    (nothing more when the stage raises: the error says why); yields the :class:`Stage`."""
    print(f"{prog}: {name} ...", file=sys.stderr, flush=True)
    start, running = time.perf_counter(), Stage()
    yield running
    note = f" ({running.note})" if running.note else ""
    print(f"{prog}: {name}: done in {time.perf_counter() - start:.1f} s{note}", file=sys.stderr,
          flush=True)
