"""Small stand-ins shaped exactly like the diagnostics/gradcheck contracts, for report tests.

They let the report be tested on precisely controlled data (a named layer, a known
finding) without training anything.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

TENSORS = ("W", "b")


def layer_names(n_layers, cls="Dense"):
    """``["0:Dense", "1:Dense", ...]`` as a Monitor names layers of a Sequential."""
    return [f"{i}:{cls}" for i in range(n_layers)]


def monitor_frame(layers, n_steps, *, decay=1.0, steps_per_epoch=10, seed=0):
    """A tidy frame (step, epoch, layer, tensor, metric, value) with every contract metric.

    Gradient norms shrink by ``decay`` per layer towards the input, so ``decay=1e-2``
    gives a vanishing-gradient picture and ``decay=1`` a healthy one.
    """
    rng = np.random.default_rng(seed)
    steps = np.arange(n_steps)
    depth = len(layers) - 1 - np.arange(len(layers))
    parts = []

    def add(layer, tensor, metric, values):
        parts.append(pd.DataFrame({"step": steps, "epoch": steps // steps_per_epoch + 1,
                                   "layer": layer, "tensor": tensor, "metric": metric,
                                   "value": values}))

    for layer, d in zip(layers, depth, strict=True):
        for tensor in TENSORS:
            noise = np.exp(rng.normal(0, 0.2, n_steps))
            add(layer, tensor, "grad_norm", decay ** d * noise)
            add(layer, tensor, "update_ratio", 1e-3 * decay ** d * noise)
            add(layer, tensor, "weight_norm", np.full(n_steps, 3.0))
            add(layer, tensor, "dist_from_init", np.linspace(0, 0.5, n_steps))
        for metric, level in (("dead_fraction", 0.1), ("inactive_fraction", 0.2),
                              ("saturation_fraction", 0.05), ("act_mean", 0.3),
                              ("act_std", 1.0)):
            add(layer, "output", metric, np.clip(level + rng.normal(0, 0.01, n_steps), 0, None))
    add("model", "global", "grad_norm", np.full(n_steps, 1.0))
    add("model", "loss", "loss", 2.3 * np.exp(-steps / max(n_steps / 3, 1)) + 0.05)
    return pd.concat(parts, ignore_index=True)


def fake_monitor(layers, n_steps=60, *, decay=1.0, findings=(), steps_per_epoch=10):
    """An object with a Monitor's ``frame``, ``history``, ``meta`` and ``findings()``.

    Parameters
    ----------
    findings : sequence of tuple (severity, check, layer, message)
        What ``findings()`` returns.
    """
    frame = monitor_frame(layers, n_steps, decay=decay, steps_per_epoch=steps_per_epoch)
    epochs = np.arange(1, -(-n_steps // steps_per_epoch) + 1)
    history = pd.DataFrame({"epoch": epochs, "train_loss": 1.0 / epochs,
                            "train_accuracy": 1 - 0.5 / epochs, "val_loss": 1.1 / epochs,
                            "val_accuracy": 1 - 0.6 / epochs, "lr": 0.1, "seconds": 0.01})
    found = pd.DataFrame(list(findings), columns=["severity", "check", "layer", "message"])
    meta = {"model": "\n".join(f"{name}  (4, 4)" for name in layers), "n_params": 20 * len(layers),
            "layers": list(layers), "every": 1, "seed": 0}
    return SimpleNamespace(frame=frame, history=history, meta=meta, findings=lambda: found)


def fake_gradcheck(layers, *, failing=()):
    """An object with a GradcheckReport's ``table``, ``passed`` and ``options``.

    ``failing`` lists the ``(layer, tensor)`` pairs whose check fails.
    """
    rows = []
    for layer in layers:
        for tensor in ("input", *TENSORS):
            bad = (layer, tensor) in failing
            rows.append({"layer": layer, "tensor": tensor, "shape": "(4, 4)", "checked": 16,
                         "max_abs_err": 0.3 if bad else 1e-10,
                         "max_rel_err": 0.5 if bad else 2e-9, "worst_index": "(1, 2)",
                         "analytic": 0.61, "numeric": 0.31 if bad else 0.61,
                         "status": "fail" if bad else "pass", "message": ""})
    table = pd.DataFrame(rows)
    return SimpleNamespace(table=table, passed=not failing,
                           options={"mode": "full", "method": "central", "eps": 1e-6,
                                    "atol": 1e-8, "rtol": 1e-5, "dtype": "float64", "seed": 0})


def fake_range_test():
    """An LRRangeResult look-alike: a loss dip around lr 1e-1 then divergence."""
    lr = np.logspace(-5, 1, 80)
    loss = 2.3 - 1.5 * np.exp(-((np.log10(lr) + 1) ** 2)) + np.where(lr > 2, lr, 0)
    curve = pd.DataFrame({"lr": lr, "loss": loss, "smoothed_loss": loss})
    return SimpleNamespace(curve=curve, suggestions={"steepest": 0.02, "min_over_10": 0.01},
                           diverged_at=3.0, caveat="Suggestions are starting points.")


def fake_sensitivity(lrs=(1e-3, 1e-2, 1e-1), seeds=(0, 1, 2), epochs=4):
    """An LRSensitivityResult look-alike with a spread over seeds."""
    rng = np.random.default_rng(0)
    grid = pd.MultiIndex.from_product([lrs, seeds, range(1, epochs + 1)],
                                      names=["lr", "seed", "epoch"]).to_frame(index=False)
    grid["loss"] = 2.0 / grid["epoch"] * (1 + rng.normal(0, 0.05, len(grid)))
    final = grid[grid["epoch"] == epochs].groupby("lr")["loss"]
    summary = pd.DataFrame({"lr": list(lrs), "final_mean": final.mean().to_numpy(),
                            "final_std": final.std().to_numpy(), "best_mean": 0.5,
                            "best_std": 0.01, "stable": True})
    return SimpleNamespace(runs=grid, summary=summary, stable_range=(lrs[0], lrs[-1]),
                           best_lr=lrs[1])
