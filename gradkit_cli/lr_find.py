"""``gradkit lr-find``: learning-rate range test (and optional sensitivity sweep)."""

from __future__ import annotations

from .common import (
    UsageError,
    add_training_args,
    build_net,
    load_training_problem,
    positive_float,
    positive_int,
)

HELP = "find a learning rate: range test, optionally a sensitivity sweep over seeds"


def add_parser(commands):
    """Register ``lr-find`` on the subcommand set."""
    parser = commands.add_parser("lr-find", help=HELP, description=HELP + ".")
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
    parser.add_argument("--report", metavar="PATH", help="write an HTML report to PATH")
    parser.set_defaults(run=run)
    return parser


def float_list(text):
    """argparse type: ``"0.01,0.1"`` -> ``(0.01, 0.1)`` (positive)."""
    return tuple(positive_float(part) for part in text.split(","))


def int_list(text):
    """argparse type: ``"0,1,2"`` -> ``(0, 1, 2)``."""
    return tuple(int(part) for part in text.split(","))


def lr_experiments(problem, net, *, momentum, lr_min, lr_max, steps, batch_size, seed,
                   sensitivity_lrs=None, seeds=(0, 1, 2), epochs=3):
    """Range test of ``net`` on ``problem`` with SGD(+momentum); a sweep when lrs are given.

    Returns
    -------
    list
        ``[LRRangeResult]`` or ``[LRRangeResult, LRSensitivityResult]``.
    """
    from diagnostics import lr_range_test, lr_sensitivity
    from reference_nets.losses import SoftmaxCrossEntropy
    from reference_nets.optim import SGD

    def make_model(seed):
        return build_net(net, problem, seed=seed)

    def optimizer(lr):
        return SGD(lr, momentum=momentum)

    if lr_min >= lr_max:
        raise UsageError(f"--lr-min ({lr_min:g}) must be below --lr-max ({lr_max:g})")
    data = (make_model, SoftmaxCrossEntropy(), problem.X_train, problem.y_train)
    results = [lr_range_test(*data, optimizer=optimizer, lr_min=lr_min, lr_max=lr_max,
                             steps=steps, seed=seed, batch_size=batch_size)]
    if sensitivity_lrs:
        results.append(lr_sensitivity(*data, optimizer=optimizer, lrs=sensitivity_lrs,
                                      epochs=epochs, seeds=seeds, batch_size=batch_size))
    return results


def describe(results):
    """Text lines for the results of :func:`lr_experiments`."""
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
    problem = load_training_problem(args)
    results = lr_experiments(problem, args.net, momentum=args.momentum, lr_min=args.lr_min,
                             lr_max=args.lr_max, steps=args.steps, batch_size=args.batch_size,
                             seed=args.seed, sensitivity_lrs=args.sensitivity,
                             seeds=args.seeds, epochs=args.epochs)
    print(describe(results))
    if args.report:
        from diagnostics import write_report

        path = write_report(args.report, lr=results, title=f"gradkit lr-find: {args.net}")
        print(f"report: {path}")
    return 0
