"""Learning-rate range test and learning-rate sensitivity.

Both build fresh models from a factory, so nothing the caller holds is trained or
changed. ``make_model`` is called as ``make_model(seed=s)`` when it accepts a
``seed`` argument (e.g. ``functools.partial(reference_nets.zoo.mlp, (64, 32, 10))``),
otherwise as ``make_model()``. ``optimizer`` is ``"sgd"`` (plain SGD) or a callable
``lr -> optimizer`` returning an object with a mutable ``lr`` attribute, ``bind(model)``
and ``step()`` (e.g. ``lambda lr: SGD(lr, momentum=0.9)``).
"""

from __future__ import annotations

import copy
import math
import sys

import numpy as np
import pandas as pd
from joblib import delayed, effective_n_jobs
from tqdm.auto import tqdm

from diagnostics._training import (
    check_data,
    fresh_run,
    full_loss,
    positive,
    positive_int,
    train_step,
)
from diagnostics.lr_results import LRRangeResult, LRSensitivityResult
from gradcheck.joblib_pool import (
    ordered_parallel,
    require_n_jobs,
    thread_limits,
    warn_if_oversubscribed,
    with_thread_limits,
)

__all__ = ["LRRangeResult", "LRSensitivityResult", "lr_range_test", "lr_sensitivity"]

def _bar(total, desc):
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False,
                disable=not sys.stderr.isatty())


def lr_range_test(make_model, loss, X, y, *, optimizer="sgd", lr_min=1e-6, lr_max=10.0,
                  steps=100, smooth=0.05, diverge=4.0, seed=0, batch_size=32) -> LRRangeResult:
    """Train one fresh model with an exponentially increasing learning rate.

    One run, in this process (each step starts from the weights the last step left, so there
    is nothing to split over workers): an active ``joblib.parallel_config`` leaves it as is.

    Parameters
    ----------
    make_model : callable
        Model factory (see module doc).
    loss : loss object
        ``forward(pred, target) -> float``, ``backward() -> dL/dpred``.
    X : ndarray of shape (n_samples, ...)
    y : ndarray of shape (n_samples, ...)
    optimizer : "sgd" or callable lr -> optimizer
    lr_min, lr_max : float
        First and last learning rate (0 < lr_min < lr_max).
    steps : int
        Mini-batches (one learning rate each, geometrically spaced).
    smooth : float
        Weight of the newest loss in the bias-corrected moving average.
    diverge : float
        Stop when the smoothed loss exceeds ``diverge`` times its minimum (or is NaN/Inf).
    seed : int
        Model seed and mini-batch order.
    batch_size : int

    Returns
    -------
    LRRangeResult
    """
    X, y = check_data(X, y)
    lr_min, lr_max = positive(lr_min, "lr_min"), positive(lr_max, "lr_max")
    batch_size, steps = positive_int(batch_size, "batch_size"), positive_int(steps, "steps")
    if lr_min >= lr_max or steps < 5 or not 0 < smooth <= 1 or diverge <= 1:
        raise ValueError("need lr_min < lr_max, steps >= 5, 0 < smooth <= 1, diverge > 1; got "
                         f"{lr_min}, {lr_max}, {steps}, {smooth}, {diverge}")
    model, opt, rng = fresh_run(make_model, optimizer, lr_min, seed)
    order = np.concatenate([rng.permutation(len(X))
                            for _ in range(-(-steps * batch_size // len(X)))])
    rows, average, best, diverged_at = [], 0.0, math.inf, None
    with _bar(steps, "lr range test") as bar, np.errstate(all="ignore"):
        for i, lr in enumerate(np.geomspace(lr_min, lr_max, steps)):
            opt.lr = float(lr)
            idx = order[i * batch_size:(i + 1) * batch_size]
            value = train_step(model, loss, opt, X[idx], y[idx])
            average = (1 - smooth) * average + smooth * value
            smoothed = average / (1 - (1 - smooth) ** (i + 1))
            bar.update()
            if not math.isfinite(smoothed) or smoothed > diverge * best:
                diverged_at = float(lr)
                break
            best = min(best, smoothed)
            rows.append((float(lr), value, smoothed))
    curve = pd.DataFrame(rows, columns=["lr", "loss", "smoothed_loss"])
    return LRRangeResult(curve, _suggest(curve), diverged_at)


def _suggest(curve: pd.DataFrame) -> dict:
    """Steepest descent of the smoothed loss (before its minimum), and minimum / 10."""
    if len(curve) < 3:
        return {"steepest": float("nan"), "min_over_10": float("nan")}
    lr, smoothed = curve["lr"].to_numpy(), curve["smoothed_loss"].to_numpy()
    lowest = int(np.argmin(smoothed))
    slope = np.gradient(smoothed, np.log10(lr))[:max(lowest, 1) + 1]
    return {"steepest": float(lr[int(np.argmin(slope))]), "min_over_10": float(lr[lowest] / 10)}


def _sensitivity_run(make_model, loss, X, y, lr, seed, epochs, optimizer, batch_size, diverge):
    """Losses after each epoch of one (lr, seed) run; NaN once diverged. The run has its own
    copy of ``loss`` (a loss keeps its forward's values for backward: runs in threads of one
    process, joblib's threading backend, would mix them up)."""
    loss = copy.deepcopy(loss)
    model, opt, rng = fresh_run(make_model, optimizer, lr, seed)
    losses = [full_loss(model, loss, X, y)]
    with np.errstate(all="ignore"):
        for _ in range(epochs):
            order = rng.permutation(len(X))
            for first in range(0, len(X), batch_size):
                idx = order[first:first + batch_size]
                if not math.isfinite(train_step(model, loss, opt, X[idx], y[idx])):
                    break
            losses.append(full_loss(model, loss, X, y))
            if not losses[-1] <= diverge * losses[0]:
                break
    losses += [float("nan")] * (epochs + 1 - len(losses))
    return [(lr, seed, epoch, value) for epoch, value in enumerate(losses)]


def lr_sensitivity(make_model, loss, X, y, *, lrs, epochs, seeds=(0, 1, 2), optimizer="sgd",
                   batch_size=32, diverge=4.0, improve=0.5,
                   n_jobs=None) -> LRSensitivityResult:
    """Short independent trainings over a grid of learning rates and seeds.

    Runs go through ``joblib.Parallel`` (loky processes by default; a
    ``joblib.parallel_config`` context chooses another backend, e.g. Dask or Ray on a
    cluster: see the README's "On many cores or a cluster"). Results are the serial ones, bit for
    bit, on any backend whose workers have this machine's CPU and library versions: every
    run computes with this process's BLAS and OpenMP thread counts (OpenBLAS sums some
    products in another order with another count), so limit them
    (``threadpoolctl.threadpool_limits(1)``) to keep local workers from oversubscribing the
    cores. Backends that cannot stream results (Ray's) return them all at the end.

    Parameters
    ----------
    make_model, loss, X, y, optimizer, batch_size :
        As for :func:`lr_range_test`.
    lrs : sequence of float
        Learning rates to try (positive).
    epochs : int
        Epochs per run.
    seeds : sequence of int
        One run per seed and rate (model seed and mini-batch order).
    diverge : float
        A run that ends an epoch above ``diverge`` times its initial loss (or at NaN/Inf)
        stops.
    improve : float
        A rate is *stable* when, for every seed, the run did not stop and its final
        loss is at most ``improve`` times its initial loss (default 0.5).
    n_jobs : int or None
        joblib workers (-1: every core or, on a cluster backend, every worker; None:
        joblib's default, 1 unless a ``joblib.parallel_config`` sets it).

    Returns
    -------
    LRSensitivityResult
    """
    X, y = check_data(X, y)
    lrs = sorted({positive(lr, "lrs[i]") for lr in lrs})
    epochs, batch_size = positive_int(epochs, "epochs"), positive_int(batch_size, "batch_size")
    if not lrs or not seeds:
        raise ValueError(f"need non-empty lrs and seeds, got {lrs}, {seeds}")
    n_jobs = require_n_jobs(n_jobs, "lr_sensitivity")
    tasks = [(lr, int(seed)) for lr in lrs for seed in seeds]
    limits, workers = thread_limits(), effective_n_jobs(n_jobs)
    if workers > 1:
        warn_if_oversubscribed(workers, "lr_sensitivity")
    jobs = ordered_parallel(n_jobs)(
        delayed(with_thread_limits)(limits, _sensitivity_run, make_model, loss, X, y, lr, seed,
                                    epochs, optimizer, batch_size, diverge)
        for lr, seed in tasks)
    rows = []
    with _bar(len(tasks), "lr sensitivity") as bar:
        for result in jobs:
            rows += result
            bar.update()
    runs = pd.DataFrame(rows, columns=["lr", "seed", "epoch", "loss"]).sort_values(
        ["lr", "seed", "epoch"], ignore_index=True)
    summary = _summarise(runs, improve)
    return LRSensitivityResult(runs, summary, *_stable_range(summary))


def _summarise(runs: pd.DataFrame, improve: float) -> pd.DataFrame:
    per_seed = runs.groupby(["lr", "seed"])["loss"].agg(
        initial="first", final="last",
        best=lambda s: s.iloc[1:].min(skipna=False))
    per_seed = per_seed.fillna(np.inf)
    per_seed["stable"] = per_seed["final"] <= improve * per_seed["initial"]
    with np.errstate(invalid="ignore"):
        summary = per_seed.groupby("lr").agg(
            final_mean=("final", "mean"), final_std=("final", "std"),
            best_mean=("best", "mean"), best_std=("best", "std"), stable=("stable", "all"))
    return summary.reset_index()


def _stable_range(summary: pd.DataFrame):
    stable = summary["stable"].to_numpy()
    pool = summary[stable] if stable.any() else summary
    best = int(pool["final_mean"].idxmin())
    if not stable[best]:
        return None, float(summary["lr"].iloc[best])
    lo = hi = best
    while lo > 0 and stable[lo - 1]:
        lo -= 1
    while hi < len(stable) - 1 and stable[hi + 1]:
        hi += 1
    return (float(summary["lr"].iloc[lo]), float(summary["lr"].iloc[hi])), \
        float(summary["lr"].iloc[best])
