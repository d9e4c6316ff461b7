"""Pieces shared by the subcommands: usage errors, exit codes, argument types, losses, printing."""

from __future__ import annotations

import os
import sys

LOSSES = ("softmax-ce", "mse", "bce")

EXIT_CODES = """exit codes:
  0  success (for check: every tensor passed; kinks and vacuous rows are reported, not
     counted as failures)
  1  check: a gradient is wrong (a "fail" row)
  2  usage error, in one line: a bad option or value, MODULE:NAME not found, data or an
     input that does not fit, an output path that cannot be written
  3  your code raised: importing your module, calling your factory or data function, or
     inside your forward/backward (the last frames of your own traceback are shown)
  141  the reader of the output stopped early (a closed pipe; check keeps its verdict)"""


def print_out(*values, file=None) -> None:
    """``print`` to stdout (or ``file``), where a reader that stopped early (``| head``)
    ends the output quietly: the rest goes to the null device and the command goes on."""
    stream = file or sys.stdout
    try:
        print(*values, file=stream, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())   # nor a second error when Python flushes at exit
        os.close(devnull)


class UsageError(Exception):
    """A problem with what the user asked for; ``main`` prints it on one line, exit code 2."""


def positive_int(text):
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def positive_float(text):
    """argparse type: a finite float > 0."""
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError(text)
    return value


def nonnegative_float(text):
    """argparse type: a finite float >= 0."""
    value = float(text)
    if not 0 <= value < float("inf"):
        raise ValueError(text)
    return value


def make_loss(name):
    """The reference loss named ``name`` (one of :data:`LOSSES`)."""
    from reference_nets.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy

    return {"softmax-ce": SoftmaxCrossEntropy, "mse": MSE, "bce": BinaryCrossEntropy}[name]()


def format_history(history):
    """The per-epoch history as an aligned text table (floats to 4 significant digits)."""
    columns = [c for c in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
               if c in history]
    return history[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}")


def format_findings(findings, limit=8, width=110):
    """Findings as one line each (most severe first, messages cut to fit ``width``
    characters), or a line saying there are none."""
    if findings.empty:
        return "  no findings: healthy"
    lines = [f"  {row.severity:<8} {row.check:<19} {row.layer:<9} {row.message}"
             for row in findings.head(limit).itertuples()]
    lines = [line if len(line) <= width else line[:width - 4] + " ..." for line in lines]
    if len(findings) > limit:
        lines.append(f"  ... and {len(findings) - limit} more (see the report)")
    return "\n".join(lines)
