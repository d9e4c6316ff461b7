"""``gradkit report``: render an HTML report from records saved by ``Monitor.save``."""

from __future__ import annotations

from pathlib import Path

from .common import UsageError
from .outputs import HTML, add_output

HELP = "render an HTML report from saved monitor records"


def add_parser(commands):
    """Register ``report`` on the subcommand set."""
    parser = commands.add_parser("report", help=HELP, description=HELP + " (one run per file, "
                                 "shown side by side).")
    parser.add_argument("records", nargs="+", metavar="RECORDS",
                        help="JSON-lines file(s) written by Monitor.save or Monitor(path=...)")
    add_output(parser, "--out", suffixes=HTML, required=True, help="HTML file to write")
    parser.add_argument("--title", help="page title")
    parser.set_defaults(run=run)
    return parser


def load_runs(paths):
    """``{run name: Monitor}`` from record files; the name is the file stem (made unique)."""
    from diagnostics import Monitor

    runs = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise UsageError(f"no such records file: {path}")
        try:
            monitor = Monitor.load(path)
        except (ValueError, KeyError) as exc:
            raise UsageError(f"{path} is not a Monitor records file ({exc})") from exc
        name, n = path.stem, 2
        while name in runs:
            name, n = f"{path.stem} ({n})", n + 1
        runs[name] = monitor
    return runs


def run(args):
    """Load the records and write the report; print its path."""
    from diagnostics import write_report

    runs = load_runs(args.records)
    path = write_report(args.out, monitor=runs, title=args.title or "gradkit report")
    print(f"report: {path}")
    return 0
