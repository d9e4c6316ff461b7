"""``gradkit demo``: train a reference MLP on the digits and print its history."""

from __future__ import annotations

from .common import build_net, format_history, load_problem

HELP = "train a healthy MLP and print its training history"


def add_parser(commands):
    """Register ``demo`` on the subcommand set."""
    parser = commands.add_parser("demo", help=HELP, description=HELP)
    parser.set_defaults(run=run)
    return parser


def run(args):
    """Train the MLP (digits, or two spirals without scikit-learn) and print the history."""
    from reference_nets import train
    from reference_nets.losses import SoftmaxCrossEntropy
    from reference_nets.optim import SGD

    try:
        problem = load_problem("digits")
    except Exception as exc:
        print(f"{exc}\nfalling back to two spirals")
        problem = load_problem("spirals")
    print(problem.note)
    model = build_net("mlp", problem)
    history = train(model, SoftmaxCrossEntropy(), SGD(0.05, momentum=0.9), problem.X_train,
                    problem.y_train, epochs=10, batch_size=32,
                    validation=(problem.X_test, problem.y_test))
    print(format_history(history))
    return 0
