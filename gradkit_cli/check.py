"""``gradkit check MODULE:FACTORY``: gradient-check a user's layer or model from the shell."""

from __future__ import annotations

import argparse
import json
import sys

from gradcheck.finite_diff import METHODS
from gradcheck.settings import MODES

from .common import (
    EXIT_CODES,
    LOSSES,
    UsageError,
    make_loss,
    nonnegative_float,
    positive_float,
    positive_int,
    print_out,
)
from .outputs import HTML, add_output
from .user_code import call_with, key_value, keywords, load_callable

HELP = "check a layer's (or model's) backward pass against finite differences"
DTYPES = ("float64", "float32", "float16")


def add_parser(commands):
    """Register ``check`` on the subcommand set."""
    parser = commands.add_parser("check", help=HELP, description=HELP + ".", epilog=EXIT_CODES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", metavar="MODULE:FACTORY",
                        help="importable module (the current folder included) and a callable "
                        "in it that returns the layer or model (e.g. mylayers:make_layer); a "
                        "model (with a .layers list) is checked layer by layer under --loss")
    parser.add_argument("--input-shape", required=True, type=shape,
                        help="comma-separated input shape including the batch axis, e.g. 8,16")
    parser.add_argument("--factory-arg", action="append", type=key_value, metavar="KEY=VALUE",
                        help="keyword argument of the factory (repeatable); VALUE is a Python "
                        "literal (16, 0.5, (8, 4), True, None) or else a string")
    parser.add_argument("--dtype", choices=DTYPES, default="float64",
                        help="dtype of the random input (default float64); parameters keep "
                        "the dtype the factory gave them")
    parser.add_argument("--loss", choices=LOSSES,
                        help="models only (default mse): mse against standard normal targets, "
                        "softmax-ce against random class ids (outputs (N, C) logits), bce "
                        "against random 0/1 targets (outputs are logits)")
    parser.add_argument("--mode", choices=MODES, default="auto",
                        help="full: every element; sample: a seeded sample; directional: "
                        "random directions; auto (default) picks by tensor size")
    parser.add_argument("--method", choices=METHODS, default="central",
                        help="finite-difference stencil (default central)")
    parser.add_argument("--eps", type=positive_float,
                        help="relative finite-difference step (default: per dtype and method)")
    parser.add_argument("--atol", type=nonnegative_float,
                        help="absolute tolerance floor (default: per dtype)")
    parser.add_argument("--rtol", type=nonnegative_float,
                        help="relative tolerance floor (default: per dtype)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the input, the targets and the check's sampling")
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON on stdout ({'passed': ..., 'rows': "
                        "[...], 'options': {...}, 'seconds': ...}); notes go to stderr")
    add_output(parser, "--report", suffixes=HTML, help="also write an HTML report to PATH")
    parser.set_defaults(run=run)
    return parser


def shape(text):
    """argparse type: ``"8,16"`` -> ``(8, 16)`` (positive integers)."""
    return tuple(positive_int(part) for part in text.split(","))


def build(args):
    """The object ``MODULE:FACTORY(**factory args)`` builds; a :class:`UsageError` when it is
    not a layer."""
    factory = load_callable(args.target, "MODULE:FACTORY")
    obj = call_with(factory, keywords(args.factory_arg), args.target)
    if not (hasattr(obj, "forward") and hasattr(obj, "backward")):
        raise UsageError(f"{args.target}() returned {type(obj).__name__}, which has no "
                         "forward/backward (not a layer)")
    return obj


def random_targets(loss, out_shape, rng, dtype):
    """Targets of the kind ``loss`` expects for predictions of shape ``out_shape``: real
    values (mse), class ids of shape (N,) (softmax-ce, outputs (N, C)) or 0/1 (bce)."""
    if loss == "mse":
        return rng.standard_normal(out_shape).astype(dtype)
    if loss == "bce":
        return rng.integers(0, 2, size=out_shape).astype(dtype)
    if len(out_shape) != 2:
        raise UsageError(f"--loss softmax-ce needs model outputs of shape (N, C) (logits), got "
                         f"{out_shape}")
    return rng.integers(0, out_shape[1], size=out_shape[0])


def run(args):
    """Build the object, check it, show the report; 0 when it passes, 1 when it fails."""
    import numpy as np

    from gradcheck import check_layer, check_model

    obj = build(args)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal(args.input_shape).astype(args.dtype)
    options = {"mode": args.mode, "method": args.method, "eps": args.eps, "atol": args.atol,
               "rtol": args.rtol, "seed": args.seed}
    if _is_model(obj):
        loss = args.loss or "mse"
        y = random_targets(loss, np.shape(obj.forward(x.copy())), rng, args.dtype)
        report = check_model(obj, make_loss(loss), x, y, **options)
    elif args.loss:
        raise UsageError(f"--loss applies to models (objects holding layers); {args.target}() "
                         "returned a layer, which is checked under a random upstream gradient")
    else:
        report = check_layer(obj, x, **options)
    show(report, args)
    return 0 if report.passed else 1


def show(report, args):
    """Print the report (as text, or JSON with ``--json``), a dtype note, write ``--report``."""
    notes = sys.stderr if args.json else sys.stdout
    if args.json:
        print_out(json.dumps({"passed": report.passed, **report.to_dict()}, allow_nan=False))
    else:
        print_out(report)
    if report.options.get("dtype") != args.dtype:
        print_out(f"note: the check ran in {report.options.get('dtype')}, not {args.dtype}: "
                  "a check follows the rules of its lowest-precision float, and the "
                  "factory's parameters have that dtype", file=notes)
    if args.report:
        from diagnostics import write_report

        path = write_report(args.report, gradcheck={args.target: report},
                            title=f"gradkit check: {args.target}")
        print_out(f"report: {path}", file=notes)


def _is_model(obj) -> bool:
    """A model: a ``.layers`` list, or an object that is not a layer itself but holds layers
    (as attributes, dicts, nested blocks): ``check_model`` checks it layer by layer."""
    from gradcheck.model_layers import find_layers, is_layer

    return hasattr(obj, "layers") or (not is_layer(obj) and bool(find_layers(obj).units))
