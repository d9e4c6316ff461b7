"""``gradkit check MODULE:FACTORY``: gradient-check a user's layer or model from the shell."""

from __future__ import annotations

import importlib
import os
import sys

from gradcheck.finite_diff import METHODS
from gradcheck.settings import MODES

from .common import UsageError, positive_int

HELP = "check a layer's (or model's) backward pass against finite differences"
DTYPES = ("float64", "float32", "float16")


def add_parser(commands):
    """Register ``check`` on the subcommand set."""
    parser = commands.add_parser(
        "check", help=HELP, description=HELP + ". Exit code 0: passed, 1: failed, "
        "2: usage or import error.")
    parser.add_argument("target", metavar="MODULE:FACTORY",
                        help="importable module and a callable in it that returns the layer "
                        "or model (e.g. mylayers:make_layer); a model with a .layers list is "
                        "checked layer by layer under an MSE loss against random targets")
    parser.add_argument("--input-shape", required=True, type=shape,
                        help="comma-separated input shape including the batch axis, e.g. 8,16")
    parser.add_argument("--dtype", choices=DTYPES, default="float64",
                        help="dtype of the random input (default float64); parameters keep "
                        "the dtype the factory gave them")
    parser.add_argument("--mode", choices=MODES, default="auto",
                        help="full: every element; sample: a seeded sample; directional: "
                        "random directions; auto (default) picks by tensor size")
    parser.add_argument("--method", choices=METHODS, default="central",
                        help="finite-difference stencil (default central)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the input and sampling")
    parser.set_defaults(run=run)
    return parser


def shape(text):
    """argparse type: ``"8,16"`` -> ``(8, 16)`` (positive integers)."""
    return tuple(positive_int(part) for part in text.split(","))


def load_factory(target):
    """Import ``MODULE:FACTORY`` and return the object the factory builds.

    The current directory is importable, as with ``python -m``. Any failure becomes a
    :class:`UsageError` with a one-line message.
    """
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise UsageError(f"expected MODULE:FACTORY (e.g. mylayers:make_layer), got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure is the user's to fix: report it
        raise UsageError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise UsageError(f"{module_name!r} has no callable {attr!r}")
    try:
        obj = factory()
    except Exception as exc:
        raise UsageError(f"{target}() raised {type(exc).__name__}: {exc}") from exc
    if not (hasattr(obj, "forward") and hasattr(obj, "backward")):
        raise UsageError(f"{target}() returned {type(obj).__name__}, which has no "
                         "forward/backward (not a layer)")
    return obj


def run(args):
    """Build the object, check it, print the table; 0 when it passes, 1 when it fails."""
    import numpy as np

    from gradcheck import check_layer, check_model
    from reference_nets.losses import MSE

    obj = load_factory(args.target)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal(args.input_shape).astype(args.dtype)
    options = {"mode": args.mode, "method": args.method, "seed": args.seed}
    try:
        if hasattr(obj, "layers"):
            target = rng.standard_normal(np.shape(obj.forward(x.copy()))).astype(args.dtype)
            report = check_model(obj, MSE(), x, target, **options)
        else:
            report = check_layer(obj, x, **options)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{type(exc).__name__}: {exc}") from exc
    print(report)
    if report.options.get("dtype") != args.dtype:
        print(f"note: the check ran in {report.options.get('dtype')}, not {args.dtype}: "
              "a check follows the rules of its lowest-precision float, and the factory's "
              "parameters have that dtype")
    return 0 if report.passed else 1
