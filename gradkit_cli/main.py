"""``gradkit``: the command line. Parses arguments and hands over to one module per subcommand.

Exit codes: 0 success, 1 a check failed, 2 usage or import error (one-line message).
"""

from __future__ import annotations

import argparse
import sys

from . import check, demo, lr_find, report, train
from .common import UsageError

SUBCOMMANDS = (demo, check, train, lr_find, report)


def build_parser():
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="gradkit",
        description="Gradient checking and training diagnostics for hand-written backprop.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(commands)
    return parser


def main(argv=None):
    """Run ``gradkit`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"gradkit {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
