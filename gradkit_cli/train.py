"""``gradkit train``: train a reference net with diagnostics, print the history and findings."""

from __future__ import annotations

from .common import (
    add_training_args,
    build_net,
    format_findings,
    format_history,
    load_training_problem,
    positive_float,
    positive_int,
    train_monitored,
)

HELP = "train a reference network with diagnostics attached"


def add_parser(commands):
    """Register ``train`` on the subcommand set."""
    parser = commands.add_parser("train", help=HELP, description=HELP + ".")
    add_training_args(parser)
    parser.add_argument("--lr", type=positive_float, default=0.05,
                        help="SGD learning rate (default 0.05)")
    parser.add_argument("--every", type=positive_int, default=1,
                        help="record diagnostics every N steps (default 1)")
    parser.add_argument("--report", metavar="PATH", help="write an HTML report to PATH")
    parser.add_argument("--records", metavar="PATH",
                        help="save the monitor records for `gradkit report` (PATH ends in .jsonl "
                             "for JSON lines or .csv for CSV)")
    parser.set_defaults(run=run)
    return parser


def run(args):
    """Train, print history and findings, write the report/records when asked."""
    problem = load_training_problem(args)
    model = build_net(args.net, problem, seed=args.seed)
    history, monitor = train_monitored(model, problem, lr=args.lr, momentum=args.momentum,
                                       epochs=args.epochs, batch_size=args.batch_size,
                                       seed=args.seed, every=args.every)
    print(format_history(history))
    print("findings:")
    print(format_findings(monitor.findings()))
    if args.records:
        print(f"records: {monitor.save(args.records)}")
    if args.report:
        from diagnostics import write_report

        name = f"{args.net} lr={args.lr:g}"
        path = write_report(args.report, monitor={name: monitor}, title=f"gradkit train: {name}")
        print(f"report: {path}")
    return 0
