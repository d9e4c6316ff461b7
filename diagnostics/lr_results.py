"""The results of :func:`~diagnostics.lr_range_test` and :func:`~diagnostics.lr_sensitivity`,
with a one-line ``repr`` each (the curve and the runs stay in their DataFrames)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["CAVEAT", "LRRangeResult", "LRSensitivityResult"]

CAVEAT = ("No single rule picks the best learning rate: 'steepest' (the steepest descent "
          "of the smoothed loss) and 'min_over_10' (a tenth of the rate at the minimum) are "
          "starting points for a short sensitivity sweep, not answers.")


@dataclass(repr=False)
class LRRangeResult:
    """Result of :func:`lr_range_test`.

    Attributes
    ----------
    curve : pandas.DataFrame
        ``lr, loss, smoothed_loss``, one row per mini-batch until divergence.
    suggestions : dict
        ``"steepest"`` and ``"min_over_10"`` -> learning rate.
    diverged_at : float or None
        Learning rate at which the test stopped on divergence.
    caveat : str
    """

    curve: pd.DataFrame
    suggestions: dict
    diverged_at: float | None
    caveat: str = CAVEAT

    def __repr__(self) -> str:
        """One line: the swept range, where it stopped, the suggestions (not the curve)."""
        lr = self.curve["lr"]
        swept = f"{len(lr)} steps, lr {lr.min():.3g} to {lr.max():.3g}" if len(lr) else "no steps"
        stop = "" if self.diverged_at is None else f", diverged at {self.diverged_at:.3g}"
        tips = ", ".join(f"{k}={v:.3g}" for k, v in self.suggestions.items())
        return f"LRRangeResult({swept}{stop}; suggestions: {tips})"


@dataclass(repr=False)
class LRSensitivityResult:
    """Result of :func:`lr_sensitivity`.

    Attributes
    ----------
    runs : pandas.DataFrame
        ``lr, seed, epoch, loss``: full training-set loss after each epoch (epoch 0:
        before training; NaN after a run diverged).
    summary : pandas.DataFrame
        ``lr, final_mean, final_std, best_mean, best_std, stable`` (over seeds).
    stable_range : tuple (lo, hi) or None
        The contiguous stable rates around ``best_lr``.
    best_lr : float
        Rate with the lowest mean final loss (among stable rates when there are any).
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    stable_range: tuple[float, float] | None
    best_lr: float

    def __repr__(self) -> str:
        """One line: the grid, the best rate and the stable range (not every run)."""
        lrs, seeds = self.summary["lr"], self.runs["seed"].nunique()
        stable = ("none" if self.stable_range is None
                  else "{:.3g} to {:.3g}".format(*self.stable_range))
        return (f"LRSensitivityResult({len(lrs)} learning rates {lrs.min():.3g} to "
                f"{lrs.max():.3g} x {seeds} seeds; best_lr={self.best_lr:.3g}, "
                f"stable range {stable})")
