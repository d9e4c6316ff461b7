"""Verdicts of ReLU nets fed tiny inputs: false failures of correct nets, and bugs caught.

Inputs of 1e-7 make pre-activations of 1e-8 to 1e-10, so every finite-difference step
crosses ReLU kinks near the point. For each input scale, ``--nets`` correct ReLU MLPs
(reference_nets, float64, sizes 8-16-4, 20-32-16-5 and 5-64-3 in turn, batch 16, softmax
cross-entropy) are checked by the default ``check_model`` and by
``torch.autograd.gradcheck`` (default settings, the same weights and data); then the same
nets with one Dense layer's backward scaling its ``W`` gradient by ``1 + --error``. The
table counts nets failed (correct nets: false alarms; wrong nets: bugs caught) and nets
with a nondifferentiable row.

Run: ``.venv/bin/python bench/gradcheck_kinks.py [--nets 60] [--error 1e-3]
[--scales 1e-9 1e-7 1e-5 1]``
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from torch_mlp import torch_mlp  # bench/, the script's folder

from gradcheck import check_model
from reference_nets.layers.dense import Dense
from reference_nets.losses import SoftmaxCrossEntropy
from reference_nets.zoo import mlp

SIZES = [(8, 16, 4), (20, 32, 16, 5), (5, 64, 3)]
BATCH = 16


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", type=int, default=60, help="nets per scale")
    parser.add_argument("--error", type=float, default=1e-3,
                        help="relative error of the wrong nets' W gradient")
    parser.add_argument("--scales", type=float, nargs="+", default=[1e-9, 1e-7, 1e-5, 1.0])
    return parser.parse_args()


def _net(seed: int, scale: float):
    """The ``seed``-th net, its input ``x`` (of ``scale``) and labels ``y``."""
    sizes = SIZES[seed % len(SIZES)]
    rng = np.random.default_rng(seed)
    x = scale * rng.normal(size=(BATCH, sizes[0]))
    return mlp(sizes, activation="relu", seed=seed), x, rng.integers(0, sizes[-1], BATCH)


def _wrong(model, seed: int, error: float) -> None:
    """Make one Dense layer (by ``seed``) scale its W gradient by ``1 + error``."""
    layer = [layer for layer in model.layers if isinstance(layer, Dense)][seed % 2]
    backward = layer.backward

    def wrong_backward(dy):
        dx = backward(dy)
        layer.grads["W"] = layer.grads["W"] * (1 + error)
        return dx

    layer.backward = wrong_backward


def _torch_fails(model, x, y) -> bool | None:
    """Whether ``torch.autograd.gradcheck`` fails the net; None without torch. Torch's
    autograd computes the true gradients, so a wrong net's bug is invisible to it."""
    try:
        import torch
    except ImportError:
        return None
    f, params = torch_mlp(model, x, y, "relu")
    return not torch.autograd.gradcheck(f, params, raise_exception=False)


def _counts(scale: float, nets: int, error: float | None) -> dict:
    """Nets failed by ours and by torch, and nets with a nondifferentiable row."""
    out = {"ours": 0, "kinks": 0, "torch": 0}
    for seed in range(nets):
        model, x, y = _net(seed, scale)
        if error is None:
            out["torch"] += bool(_torch_fails(model, x, y))
        else:
            _wrong(model, seed, error)
        status = check_model(model, SoftmaxCrossEntropy(), x, y, seed=seed).table.status
        out["ours"] += bool((status == "fail").any())
        out["kinks"] += bool((status == "nondifferentiable").any())
    return out


def main() -> int:
    args = _parse()
    print(f"ReLU MLPs, float64, batch {BATCH}, {args.nets} nets per input scale")
    print(f"{'input scale':>11} {'correct nets failed':>20} {'by torch':>9} "
          f"{'with kink rows':>15} {f'wrong W (x{1 + args.error:g}) caught':>24}")
    for scale in args.scales:
        correct = _counts(scale, args.nets, None)
        wrong = _counts(scale, args.nets, args.error)
        print(f"{scale:>11g} {correct['ours']:>14}/{args.nets:<5} {correct['torch']:>9} "
              f"{correct['kinks']:>15} {wrong['ours']:>18}/{args.nets:<5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
