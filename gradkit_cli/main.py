"""``gradkit``: the command line. Parses arguments, checks every output path, hands over to
one module per subcommand, and turns what went wrong into an exit code (see ``EXIT_CODES``).
"""

from __future__ import annotations

import argparse
import os
import sys

from diagnostics.atomic import OutputPathError

from . import check, demo, lr_find, report, train
from .common import EXIT_CODES, UsageError
from .outputs import check_outputs
from .user_code import user_error_text, user_frames

SUBCOMMANDS = (demo, check, train, lr_find, report)


def version():
    """The installed distribution's version, from its metadata."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("gradkit")
    except PackageNotFoundError:
        return "(not installed: pip install -e . gives the version)"


def build_parser():
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="gradkit", epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Gradient checking and training diagnostics for hand-written backprop.")
    parser.add_argument("--version", action="version", version=f"gradkit {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(commands)
    return parser


def main(argv=None):
    """Run ``gradkit`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        check_outputs(args)
        return args.run(args)
    except (UsageError, OutputPathError) as exc:
        return fail(args, str(exc), 2)
    except KeyboardInterrupt:
        return fail(args, "interrupted", 130)
    except BrokenPipeError:   # the reader stopped early: 128 + SIGPIPE, as shells report it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # no second error when Python flushes at exit
        return 141
    except Exception as exc:
        frames = user_frames(exc)
        if frames:
            return fail(args, user_error_text(exc, frames), 3)
        if isinstance(exc, TypeError | ValueError):  # gradkit refused an input or an option
            return fail(args, " ".join(str(exc).split()), 2)
        raise


def fail(args, message, code):
    """Print ``gradkit COMMAND: error: message`` on stderr; return ``code``."""
    print(f"gradkit {args.command}: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
