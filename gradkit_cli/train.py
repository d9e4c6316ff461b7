"""``gradkit train``: train a reference net or your model with diagnostics, print the history
and findings."""

from __future__ import annotations

import argparse

from .common import EXIT_CODES, format_findings, format_history, positive_float, positive_int
from .outputs import HTML, add_output
from .training import add_training_args, train_monitored, training_setup

HELP = "train a reference network (or your model) with diagnostics attached"


def add_parser(commands):
    """Register ``train`` on the subcommand set."""
    parser = commands.add_parser("train", help=HELP, description=HELP + ".", epilog=EXIT_CODES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_args(parser)
    parser.add_argument("--lr", type=positive_float, default=0.05,
                        help="SGD learning rate (default 0.05)")
    parser.add_argument("--every", type=positive_int, default=1,
                        help="record diagnostics every N steps (default 1)")
    add_output(parser, "--report", suffixes=HTML, help="write an HTML report to PATH")
    add_output(parser, "--records", suffixes=(".jsonl", ".csv"),
               help="save the monitor records for `gradkit report` (PATH ends in .jsonl for "
               "JSON lines or .csv for CSV)")
    parser.set_defaults(run=run)
    return parser


def run(args):
    """Train, print history and findings, write the report/records when asked."""
    from diagnostics._training import build_model

    setup = training_setup(args)
    history, monitor = train_monitored(build_model(setup.make_model, args.seed), setup.problem,
                                       setup.loss, lr=args.lr, momentum=args.momentum,
                                       epochs=args.epochs, batch_size=args.batch_size,
                                       seed=args.seed, every=args.every)
    print(format_history(history))
    print("findings:")
    print(format_findings(monitor.findings()))
    if args.records:
        print(f"records: {monitor.save(args.records)}")
    if args.report:
        from diagnostics import write_report

        name = f"{setup.name} lr={args.lr:g}"
        path = write_report(args.report, monitor={name: monitor}, title=f"gradkit train: {name}")
        print(f"report: {path}")
    return 0
