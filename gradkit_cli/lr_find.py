"""``gradkit lr-find``: learning-rate range test (and optional sensitivity sweep)."""

from __future__ import annotations

import argparse

from .common import EXIT_CODES, UsageError, positive_float, positive_int
from .outputs import HTML, add_output
from .training import add_training_args, training_setup

HELP = "find a learning rate: range test, optionally a sensitivity sweep over seeds"


def add_parser(commands):
    """Register ``lr-find`` on the subcommand set."""
    parser = commands.add_parser("lr-find", help=HELP, description=HELP + ".",
                                 epilog=EXIT_CODES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_args(parser, epochs=3)
    parser.add_argument("--lr-min", type=positive_float, default=1e-5,
                        help="first learning rate of the range test (default 1e-5)")
    parser.add_argument("--lr-max", type=positive_float, default=10.0,
                        help="last learning rate of the range test (default 10)")
    parser.add_argument("--steps", type=positive_int, default=100,
                        help="mini-batches of the range test (default 100)")
    parser.add_argument("--sensitivity", type=float_list, metavar="LR,LR,...",
                        help="also train --epochs epochs at each of these rates, per seed")
    parser.add_argument("--seeds", type=int_list, default=(0, 1, 2), metavar="S,S,...",
                        help="seeds of the sensitivity sweep (default 0,1,2)")
    add_output(parser, "--report", suffixes=HTML, help="write an HTML report to PATH")
    parser.set_defaults(run=run)
    return parser


def float_list(text):
    """argparse type: ``"0.01,0.1"`` -> ``(0.01, 0.1)`` (positive)."""
    return tuple(positive_float(part) for part in text.split(","))


def int_list(text):
    """argparse type: ``"0,1,2"`` -> ``(0, 1, 2)``."""
    return tuple(int(part) for part in text.split(","))


def range_test(problem, make_model, loss, *, momentum, lr_min, lr_max, steps, batch_size,
               seed):
    """LR range test of a model ``make_model`` builds (see :mod:`diagnostics.lr`) on
    ``problem`` under ``loss`` with SGD(+momentum); an ``LRRangeResult``."""
    from diagnostics import lr_range_test

    return lr_range_test(make_model, loss, problem.X_train, problem.y_train,
                         optimizer=_sgd(momentum), lr_min=lr_min, lr_max=lr_max, steps=steps,
                         seed=seed, batch_size=batch_size)


def sensitivity(problem, make_model, loss, *, momentum, lrs, seeds, epochs, batch_size):
    """``epochs`` of training per learning rate in ``lrs`` and seed, as :func:`range_test`
    trains; an ``LRSensitivityResult``."""
    from diagnostics import lr_sensitivity

    return lr_sensitivity(make_model, loss, problem.X_train, problem.y_train,
                          optimizer=_sgd(momentum), lrs=lrs, epochs=epochs, seeds=seeds,
                          batch_size=batch_size)


def _sgd(momentum):
    from reference_nets.optim import SGD

    return lambda lr: SGD(lr, momentum=momentum)


def describe(results):
    """Text lines for a range test result and sensitivity results after it."""
    found = results[0]
    lines = ["range test suggestions: " + ", ".join(f"{k} {v:.3g}"
                                                    for k, v in found.suggestions.items())]
    if found.diverged_at is not None:
        lines.append(f"diverged at lr {found.diverged_at:.3g}")
    lines.append(found.caveat)
    for sweep in results[1:]:
        stable = sweep.stable_range
        lines.append(sweep.summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        lines.append(f"best lr {sweep.best_lr:.3g}; stable range "
                     + (f"{stable[0]:.3g} to {stable[1]:.3g}" if stable else "none"))
    return "\n".join(lines)


def run(args):
    """Run the experiments, print what they suggest, write the report when asked."""
    if args.lr_min >= args.lr_max:
        raise UsageError(f"--lr-min ({args.lr_min:g}) must be below --lr-max ({args.lr_max:g})")
    setup = training_setup(args)
    common = {"momentum": args.momentum, "batch_size": args.batch_size}
    results = [range_test(*setup[:3], lr_min=args.lr_min, lr_max=args.lr_max, steps=args.steps,
                          seed=args.seed, **common)]
    if args.sensitivity:
        results.append(sensitivity(*setup[:3], lrs=args.sensitivity, seeds=args.seeds,
                                   epochs=args.epochs, **common))
    print(describe(results))
    if args.report:
        from diagnostics import write_report

        path = write_report(args.report, lr=results, title=f"gradkit lr-find: {setup.name}")
        print(f"report: {path}")
    return 0
