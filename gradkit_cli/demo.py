"""``gradkit demo``: healthy against sick training, checked and reported side by side.

Trains three reference nets on the digits (two spirals without scikit-learn): a
healthy ReLU MLP, a deep sigmoid net (vanishing gradients) and a ReLU MLP with a far
too large learning rate (dead units). Each is gradient-checked during training and once
trained (a ``GradcheckHook``); an LR range test and a short sensitivity sweep run
on the healthy architecture; one report shows it all.
"""

from __future__ import annotations

from typing import NamedTuple

from .common import UsageError, build_net, format_findings, load_problem, train_monitored
from .lr_find import describe, lr_experiments

HELP = "train healthy and sick reference nets, check them, and write one HTML report"


class DemoRun(NamedTuple):
    """One demo training: a run name, the reference net, its SGD learning rate."""

    name: str
    net: str
    lr: float


RUNS = (DemoRun("healthy mlp", "mlp", 0.05),
        DemoRun("deep sigmoid", "deep-sigmoid", 0.05),
        DemoRun("aggressive relu", "mlp", 1.0))


class Settings(NamedTuple):
    """How much work the demo does (``QUICK`` is for tests and impatient people).

    Training lengths are in mini-batch steps (batch ``BATCH``), so the small spirals
    fallback trains for as many steps as the digits do, over more epochs; gradients are
    checked every ``check_every`` steps from the first.
    """

    train_steps: int
    check_every: int
    range_steps: int
    sensitivity_lrs: tuple
    sensitivity_seeds: tuple
    sensitivity_steps: int


BATCH = 32
FULL = Settings(340, 85, 100, (0.003, 0.01, 0.03, 0.1, 0.3, 1.0), (0, 1, 2), 129)
QUICK = Settings(85, 42, 30, (0.01, 0.1, 1.0), (0, 1), 43)


def epochs_for(problem, steps):
    """Whole epochs of ``problem`` (batch ``BATCH``) covering at least ``steps`` steps."""
    per_epoch = -(-len(problem.X_train) // BATCH)
    return max(1, -(-steps // per_epoch))


def add_parser(commands):
    """Register ``demo`` on the subcommand set."""
    parser = commands.add_parser("demo", help=HELP, description=HELP + ".")
    parser.add_argument("--out", default="reports/demo.html", metavar="PATH",
                        help="report file (default reports/demo.html)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer epochs and learning rates (a few seconds)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and shuffling")
    parser.set_defaults(run=run)
    return parser


def demo_problem():
    """The digits, or two spirals (saying why) when scikit-learn is missing."""
    try:
        return load_problem("digits")
    except UsageError as exc:
        print(f"{exc}\nusing two spirals instead of the digits")
        return load_problem("spirals")


def train_and_check(problem, settings, seed):
    """Train every demo run with a GradcheckHook and a Monitor; the hook's last check (of
    the trained model) is the run's gradient check.

    Returns
    -------
    monitors, checks, hooks : dict of str to Monitor / GradcheckReport / GradcheckHook
    histories : dict of str to pandas.DataFrame
    """
    from diagnostics import GradcheckHook
    from reference_nets.losses import SoftmaxCrossEntropy

    monitors, checks, hooks, histories = {}, {}, {}, {}
    for run in RUNS:
        model = build_net(run.net, problem, seed=seed)
        hooks[run.name] = GradcheckHook(SoftmaxCrossEntropy(), every_epochs=None,
                                        every_steps=settings.check_every, after_steps=0,
                                        x=problem.X_test[:8], y=problem.y_test[:8],
                                        check_options={"seed": seed})
        histories[run.name], monitors[run.name] = train_monitored(
            model, problem, lr=run.lr, epochs=epochs_for(problem, settings.train_steps),
            batch_size=BATCH, seed=seed, hooks=[hooks[run.name]])
        checks[run.name] = hooks[run.name].checkpoints[-1].report
    return monitors, checks, hooks, histories


def summary(problem, monitors, hooks, histories, lr_results):
    """The one-screen text summary printed after the report is written."""
    lines = [f"data: {problem.note}", "",
             f"{'run':<17}{'lr':>6}  {'val acc':>7}  gradient checks (during training, end)"]
    for run in RUNS:
        accuracy = histories[run.name]["val_accuracy"].iloc[-1]
        reports = [point.report for point in hooks[run.name].checkpoints]
        vacuous = sum(r.n_vacuous > 0 for r in reports)
        verdict = f"{sum(r.passed for r in reports)} of {len(reports)} passed" + (
            f", {vacuous} of them vacuous" if vacuous else "")
        lines.append(f"{run.name:<17}{run.lr:>6g}  {accuracy:>7.3f}  {verdict}")
        lines.append(format_findings(monitors[run.name].findings(), limit=3))
    return "\n".join([*lines, "", describe(lr_results)])


def build_demo(out, *, quick=False, seed=0):
    """Run the whole demo and write the report.

    Returns
    -------
    path : pathlib.Path
        The written report.
    text : str
        The one-screen summary.
    """
    from diagnostics import write_report

    settings = QUICK if quick else FULL
    problem = demo_problem()
    monitors, checks, hooks, histories = train_and_check(problem, settings, seed)
    lr_results = lr_experiments(problem, "mlp", momentum=0.9, lr_min=1e-4, lr_max=10.0,
                                steps=settings.range_steps, batch_size=BATCH, seed=seed,
                                sensitivity_lrs=settings.sensitivity_lrs,
                                seeds=settings.sensitivity_seeds,
                                epochs=epochs_for(problem, settings.sensitivity_steps))
    path = write_report(out, monitor=monitors, gradcheck=checks, lr=lr_results,
                        gradcheck_hook=hooks, title="gradkit demo: healthy vs sick training")
    return path, summary(problem, monitors, hooks, histories, lr_results)


def run(args):
    """Run the demo; print the summary and the report path."""
    path, text = build_demo(args.out, quick=args.quick, seed=args.seed)
    print(text)
    print(f"\nreport: {path}")
    return 0


