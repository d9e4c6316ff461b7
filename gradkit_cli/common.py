"""Pieces shared by the subcommands: usage errors, data sets, reference nets, printing."""

from __future__ import annotations

from typing import NamedTuple

NETS = ("mlp", "cnn", "deep-sigmoid")
DATASETS = ("digits", "spirals")


class UsageError(Exception):
    """A problem with what the user asked for; ``main`` prints it on one line, exit code 2."""


class Problem(NamedTuple):
    """A classification task: training and held-out data, and a note on where it came from."""

    X_train: object
    y_train: object
    X_test: object
    y_test: object
    note: str


def load_problem(dataset, *, images=False, seed=0):
    """Load ``"digits"`` (scikit-learn's 8x8 digits) or ``"spirals"`` (two spirals).

    Parameters
    ----------
    dataset : {"digits", "spirals"}
    images : bool
        Digits as (n, 1, 8, 8) images (for the CNN) instead of (n, 64) vectors.
    seed : int
        Seed of the split / the spirals noise.

    Returns
    -------
    Problem
        ``note`` says which data set was used (and why, after a fallback).

    Raises
    ------
    UsageError
        Digits requested but scikit-learn is missing, or spirals asked for as images.
    """
    from reference_nets.data import load_digits, two_spirals

    if dataset == "digits":
        try:
            split = load_digits(seed=seed, images=images)
        except ImportError as exc:
            raise UsageError(str(exc)) from exc
        return Problem(*split, note=f"digits: {len(split.X_train)} train / "
                       f"{len(split.X_test)} test images of 8x8 pixels")
    if images:
        raise UsageError("the cnn needs image data: use --dataset digits")
    X, y = two_spirals(n_per_class=200, seed=seed)
    X_test, y_test = two_spirals(n_per_class=100, seed=seed + 1)
    return Problem(X, y, X_test, y_test, note=f"two spirals: {len(X)} train / {len(X_test)} test")


def build_net(net, problem, *, seed=0):
    """Build a reference net (``"mlp"``, ``"cnn"`` or ``"deep-sigmoid"``) sized for ``problem``."""
    from reference_nets import zoo

    n_in, n_out = problem.X_train.shape[1], int(problem.y_train.max()) + 1
    if net == "mlp":
        return zoo.mlp((n_in, 64, 64, n_out), seed=seed)
    if net == "cnn":
        return zoo.cnn(in_channels=1, image_size=problem.X_train.shape[-1], n_classes=n_out,
                       seed=seed)
    return zoo.deep_sigmoid(n_in=n_in, n_out=n_out, seed=seed)


def add_training_args(parser, *, epochs=10):
    """Add the options that pick a reference net, a data set and the SGD settings but the
    learning rate."""
    parser.add_argument("--net", choices=NETS, default="mlp",
                        help="reference network (default mlp)")
    parser.add_argument("--dataset", choices=DATASETS, default="digits",
                        help="digits needs scikit-learn (default digits)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    parser.add_argument("--epochs", type=positive_int, default=epochs,
                        help=f"passes over the data (default {epochs})")
    parser.add_argument("--batch-size", type=positive_int, default=32,
                        help="samples per step (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and shuffling")


def load_training_problem(args):
    """The data set picked by :func:`add_training_args`' options (images for the cnn);
    prints ``<net> on <data set note>``."""
    problem = load_problem(args.dataset, images=args.net == "cnn", seed=args.seed)
    print(f"{args.net} on {problem.note}")
    return problem


def positive_int(text):
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def positive_float(text):
    """argparse type: a finite float > 0."""
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError(text)
    return value


def format_history(history):
    """The per-epoch history as an aligned text table (floats to 4 significant digits)."""
    columns = [c for c in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
               if c in history]
    return history[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}")


def train_monitored(model, problem, *, lr, momentum=0.9, epochs, batch_size, seed=0, every=1,
                    hooks=()):
    """Train ``model`` on ``problem`` with SGD and a :class:`diagnostics.Monitor` attached
    after the ``hooks`` (e.g. a ``GradcheckHook``): the Monitor arms its activation taps in
    ``on_batch_begin``, so the forwards of a check made there are not recorded.

    Returns
    -------
    history : pandas.DataFrame
        One row per epoch (train and validation loss/accuracy).
    monitor : diagnostics.Monitor
        The records of the run.
    """
    from diagnostics import Monitor
    from reference_nets import train
    from reference_nets.losses import SoftmaxCrossEntropy
    from reference_nets.optim import SGD

    monitor = Monitor(every=every)
    history = train(model, SoftmaxCrossEntropy(), SGD(lr, momentum=momentum), problem.X_train,
                    problem.y_train, epochs=epochs, batch_size=batch_size,
                    hooks=[*hooks, monitor],
                    seed=seed, validation=(problem.X_test, problem.y_test))
    monitor.meta["seed"] = seed
    return history, monitor


def format_findings(findings, limit=8, width=110):
    """Findings as one line each (most severe first, messages cut to fit ``width``
    characters), or a line saying there are none."""
    if findings.empty:
        return "  no findings: healthy"
    lines = [f"  {row.severity:<8} {row.check:<19} {row.layer:<9} {row.message}"
             for row in findings.head(limit).itertuples()]
    lines = [line if len(line) <= width else line[:width - 4] + " ..." for line in lines]
    if len(findings) > limit:
        lines.append(f"  ... and {len(findings) - limit} more (see the report)")
    return "\n".join(lines)
