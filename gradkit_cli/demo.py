"""``gradkit demo``: healthy against sick training, checked and reported side by side.

Trains three reference nets on the digits (two spirals without scikit-learn): a
healthy ReLU MLP, a deep sigmoid net (vanishing gradients) and a ReLU MLP with a far
too large learning rate (dead units). Each is gradient-checked during training and once
trained (a ``GradcheckHook``); an LR range test and a short sensitivity sweep run
on the healthy architecture; one report shows it all.
"""

from __future__ import annotations

from typing import NamedTuple

from .common import UsageError, format_findings
from .lr_find import describe, range_test, sensitivity
from .outputs import HTML, add_output
from .stages import stage
from .training import build_net, load_problem, train_monitored

HELP = "train healthy and sick reference nets, check them, and write one HTML report"
PROG = "gradkit demo"


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
    parser = commands.add_parser("demo", help=HELP, description=HELP + ". Each stage prints "
                                 "a line on stderr when it starts and when it ends; on a "
                                 "terminal, progress bars show in between.")
    add_output(parser, "--out", suffixes=HTML, default="reports/demo.html",
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
    """Train every demo run with a GradcheckHook and a Monitor (one stage each); the hook's
    last check (of the trained model) is the run's gradient check.

    Returns
    -------
    monitors, checks, hooks : dict of str to Monitor / GradcheckReport / GradcheckHook
    histories : dict of str to pandas.DataFrame
    """
    from diagnostics import GradcheckHook
    from reference_nets.losses import SoftmaxCrossEntropy

    monitors, checks, hooks, histories = {}, {}, {}, {}
    epochs = epochs_for(problem, settings.train_steps)
    for run in RUNS:
        with stage(PROG, f"train {run.name} (lr {run.lr:g}, {epochs} epochs, gradient checks "
                   f"every {settings.check_every} steps)") as running:
            model = build_net(run.net, problem, seed=seed)
            hooks[run.name] = GradcheckHook(SoftmaxCrossEntropy(), every_epochs=None,
                                            every_steps=settings.check_every, after_steps=0,
                                            x=problem.X_test[:8], y=problem.y_test[:8],
                                            check_options={"seed": seed})
            histories[run.name], monitors[run.name] = train_monitored(
                model, problem, SoftmaxCrossEntropy(), lr=run.lr, epochs=epochs,
                batch_size=BATCH, seed=seed, hooks=[hooks[run.name]])
            checks[run.name] = hooks[run.name].checkpoints[-1].report
            running.note = (f"val acc {histories[run.name]['val_accuracy'].iloc[-1]:.3f}; "
                            f"gradient checks {checks_verdict(hooks[run.name])}")
    return monitors, checks, hooks, histories


def checks_verdict(hook):
    """``"3 of 4 passed, 1 of them vacuous"``: the checks a GradcheckHook made."""
    reports = [point.report for point in hook.checkpoints]
    vacuous = sum(r.n_vacuous > 0 for r in reports)
    return f"{sum(r.passed for r in reports)} of {len(reports)} passed" + (
        f", {vacuous} of them vacuous" if vacuous else "")


def lr_stages(problem, settings, seed):
    """The LR range test and the sensitivity sweep of the healthy architecture (a stage
    each); ``[LRRangeResult, LRSensitivityResult]``."""
    from reference_nets.losses import SoftmaxCrossEntropy

    def make_model(seed):
        return build_net("mlp", problem, seed=seed)

    task = (problem, make_model, SoftmaxCrossEntropy())
    with stage(PROG, f"LR range test ({settings.range_steps} steps)") as running:
        found = range_test(*task, momentum=0.9, lr_min=1e-4, lr_max=10.0,
                           steps=settings.range_steps, batch_size=BATCH, seed=seed)
        running.note = ", ".join(f"{k} {v:.3g}" for k, v in found.suggestions.items())
    lrs, seeds = settings.sensitivity_lrs, settings.sensitivity_seeds
    epochs = epochs_for(problem, settings.sensitivity_steps)
    with stage(PROG, f"LR sensitivity ({len(lrs)} rates x {len(seeds)} seeds, {epochs} "
               "epochs each)") as running:
        sweep = sensitivity(*task, momentum=0.9, lrs=lrs, seeds=seeds, epochs=epochs,
                            batch_size=BATCH)
        running.note = f"best lr {sweep.best_lr:.3g}"
    return [found, sweep]


def summary(problem, monitors, hooks, histories, lr_results):
    """The one-screen text summary printed after the report is written."""
    lines = [f"data: {problem.note}", "",
             f"{'run':<17}{'lr':>6}  {'val acc':>7}  gradient checks (during training, end)"]
    for run in RUNS:
        accuracy = histories[run.name]["val_accuracy"].iloc[-1]
        lines.append(f"{run.name:<17}{run.lr:>6g}  {accuracy:>7.3f}  "
                     f"{checks_verdict(hooks[run.name])}")
        lines.append(format_findings(monitors[run.name].findings(), limit=3))
    return "\n".join([*lines, "", describe(lr_results)])


def build_demo(out, *, quick=False, seed=0):
    """Run the whole demo and write the report; ``out`` is checked first.

    Returns
    -------
    path : pathlib.Path
        The written report.
    text : str
        The one-screen summary.
    """
    from diagnostics import write_report
    from diagnostics.atomic import require_output_path

    require_output_path(out, option="--out", suffixes=HTML)
    settings = QUICK if quick else FULL
    with stage(PROG, "load the data") as running:
        problem = demo_problem()
        running.note = problem.note
    monitors, checks, hooks, histories = train_and_check(problem, settings, seed)
    lr_results = lr_stages(problem, settings, seed)
    with stage(PROG, "write the report") as running:
        path = write_report(out, monitor=monitors, gradcheck=checks, lr=lr_results,
                            gradcheck_hook=hooks, title="gradkit demo: healthy vs sick training")
        running.note = str(path)
    return path, summary(problem, monitors, hooks, histories, lr_results)


def run(args):
    """Run the demo; print the summary and the report path."""
    path, text = build_demo(args.out, quick=args.quick, seed=args.seed)
    print(text)
    print(f"\nreport: {path}")
    return 0


