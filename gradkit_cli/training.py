"""What ``train`` and ``lr-find`` train: a reference net or the user's model factory, on a
built-in data set or the user's data, under a loss; and the monitored training itself."""

from __future__ import annotations

from typing import NamedTuple

from .common import LOSSES, UsageError, make_loss, positive_int
from .user_code import key_value, keywords, load_callable, seeded_factory
from .user_data import load_data

NETS = ("mlp", "cnn", "deep-sigmoid")
DATASETS = ("digits", "spirals")


class Problem(NamedTuple):
    """A task: training data, held-out data (or None) and a note on where it came from."""

    X_train: object
    y_train: object
    X_test: object
    y_test: object
    note: str


class Setup(NamedTuple):
    """What to train: the problem, ``make_model`` (``make_model(seed)`` or ``make_model()``,
    for :func:`diagnostics._training.build_model`), the loss and a name for the run."""

    problem: Problem
    make_model: object
    loss: object
    name: str


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
    """Add the options that pick the model, the data, the loss and the SGD settings but the
    learning rate."""
    group = parser.add_argument_group("model and data")
    group.add_argument("--net", choices=NETS, help="reference network (default mlp)")
    group.add_argument("--model", metavar="MODULE:FACTORY",
                       help="your model instead: a callable in an importable module (the "
                       "current folder included) returning a model with .layers, forward, "
                       "backward; it gets each run's --seed if it takes a seed argument")
    group.add_argument("--factory-arg", action="append", type=key_value, metavar="KEY=VALUE",
                       help="keyword argument of --model's factory (repeatable); VALUE is "
                       "a Python literal (16, 0.5, (8, 4), True) or else a string")
    group.add_argument("--dataset", choices=DATASETS,
                       help="built-in data; digits needs scikit-learn (default digits)")
    group.add_argument("--data", metavar="FILE.npz|MODULE:FUNCTION",
                       help="your data instead: an .npz file with arrays X and y (and "
                       "optionally X_val, y_val), or a function of no arguments returning "
                       "(X, y) or (X, y, X_val, y_val)")
    group.add_argument("--loss", choices=LOSSES,
                       help="loss of --model (default softmax-ce: y holds class ids or "
                       "one-hot rows; mse: real targets; bce: 0/1 targets, logits out)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    parser.add_argument("--epochs", type=positive_int, default=epochs,
                        help=f"passes over the data (default {epochs})")
    parser.add_argument("--batch-size", type=positive_int, default=32,
                        help="samples per step (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and shuffling")


def training_setup(args):
    """The :class:`Setup` the options of :func:`add_training_args` describe; prints
    ``<model> on <data note>``."""
    for first, second in (("net", "model"), ("dataset", "data")):
        if getattr(args, first) and getattr(args, second):
            raise UsageError(f"give --{first} or --{second}, not both")
    if args.factory_arg and not args.model:
        raise UsageError("--factory-arg needs --model")
    if args.model:
        factory = load_callable(args.model, "--model")
        make_model = seeded_factory(factory, keywords(args.factory_arg), args.model)
        problem, name = _problem(args, images=False), args.model
    else:
        name = args.net or "mlp"
        if args.loss not in (None, "softmax-ce"):
            raise UsageError(f"--loss {args.loss}: the reference nets are classifiers trained "
                             "with softmax-ce; give your own --model for another loss")
        problem = _problem(args, images=name == "cnn")
        _check_fits_net(name, problem)

        def make_model(seed):
            return build_net(name, problem, seed=seed)
    print(f"{name} on {problem.note}")
    return Setup(problem, make_model, make_loss(args.loss or "softmax-ce"), name)


def _problem(args, *, images):
    if args.data:
        return load_data(args.data)
    return load_problem(args.dataset or "digits", images=images, seed=args.seed)


def _check_fits_net(net, problem):
    """A reference net is sized from the data: inputs (n, features) or, for the cnn,
    (n, 1, size, size) images, and integer class labels (n,)."""
    import numpy as np

    X, y = problem.X_train, problem.y_train
    if net == "cnn":
        fits, wanted = X.ndim == 4 and X.shape[1] == 1 and X.shape[2] == X.shape[3], \
            "(n, 1, size, size) images"
    else:
        fits, wanted = X.ndim == 2, "(n, n_features) rows"
    if not fits:
        raise UsageError(f"--net {net} needs --data X of shape {wanted}, got {X.shape}")
    if y.ndim != 1 or not np.array_equal(y, np.round(y)) or y.min() < 0:
        raise UsageError(f"--net {net} is a classifier sized by the labels: --data y must "
                         f"hold class ids 0, 1, ... of shape (n,), got {y.dtype} {y.shape}")


def train_monitored(model, problem, loss, *, lr, momentum=0.9, epochs, batch_size, seed=0,
                    every=1, hooks=()):
    """Train ``model`` on ``problem`` under ``loss`` with SGD and a
    :class:`diagnostics.Monitor` attached after the ``hooks`` (e.g. a ``GradcheckHook``):
    the Monitor arms its activation taps in ``on_batch_begin``, so the forwards of a check
    made there are not recorded. The held-out data, when there is some, is evaluated
    after each epoch.

    Returns
    -------
    history : pandas.DataFrame
        One row per epoch (train and validation loss/accuracy).
    monitor : diagnostics.Monitor
        The records of the run.
    """
    from diagnostics import Monitor
    from reference_nets import train
    from reference_nets.optim import SGD

    monitor = Monitor(every=every)
    validation = None if problem.X_test is None else (problem.X_test, problem.y_test)
    history = train(model, loss, SGD(lr, momentum=momentum), problem.X_train, problem.y_train,
                    epochs=epochs, batch_size=batch_size, hooks=[*hooks, monitor], seed=seed,
                    validation=validation)
    monitor.meta["seed"] = seed
    return history, monitor
