"""Small seeded data sets: synthetic 2-D classification, a 1-D regression curve, digits."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from reference_nets._validate import check_positive_int

__all__ = ["Split", "load_digits", "moons", "regression_curve", "two_spirals"]


class Split(NamedTuple):
    """A train/test split of one data set."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _check_noise(noise: float, where: str) -> float:
    if not noise >= 0:
        raise ValueError(f"{where}: noise must be a number >= 0, got {noise!r}")
    return float(noise)


def two_spirals(n_per_class: int = 200, noise: float = 0.2,
                seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals (1.5 turns each), a classic non-linear benchmark.

    Points are drawn along each arm with angle ``t = 3 * pi * sqrt(u)``, radius ``t``,
    Gaussian noise of std ``noise`` is added, then everything is divided by
    ``3 * pi`` so the set lies roughly in [-1, 1]^2.

    Returns
    -------
    X : ndarray of shape (2 * n_per_class, 2), float64
    y : ndarray of shape (2 * n_per_class,), int64 in {0, 1}
    """
    n = check_positive_int(n_per_class, "n_per_class", "two_spirals")
    noise = _check_noise(noise, "two_spirals")
    rng = np.random.default_rng(seed)
    t = 3 * np.pi * np.sqrt(rng.random(2 * n))
    sign = np.repeat([1.0, -1.0], n)[:, None]            # class 1 is class 0 rotated by pi
    arms = sign * np.column_stack([t * np.cos(t), t * np.sin(t)])
    X = (arms + noise * rng.standard_normal((2 * n, 2))) / (3 * np.pi)
    return X, np.repeat(np.arange(2, dtype=np.int64), n)


def moons(n: int = 400, noise: float = 0.1,
          seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (as scikit-learn's ``make_moons``).

    Returns
    -------
    X : ndarray of shape (n, 2), float64
    y : ndarray of shape (n,), int64 in {0, 1} (``n // 2`` of class 0)
    """
    n = check_positive_int(n, "n", "moons")
    noise = _check_noise(noise, "moons")
    rng = np.random.default_rng(seed)
    n0 = n // 2
    angle = np.pi * rng.random(n)
    outer = np.column_stack([np.cos(angle[:n0]), np.sin(angle[:n0])])
    inner = np.column_stack([1 - np.cos(angle[n0:]), 0.5 - np.sin(angle[n0:])])
    X = np.vstack([outer, inner]) + noise * rng.standard_normal((n, 2))
    return X, (np.arange(n) >= n0).astype(np.int64)


def regression_curve(n: int = 256, noise: float = 0.1,
                     seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy samples of ``sin(3x) + 0.5 x`` for x uniform in [-1, 1], sorted by x.

    Returns
    -------
    X : ndarray of shape (n, 1), float64
    y : ndarray of shape (n, 1), float64
    """
    n = check_positive_int(n, "n", "regression_curve")
    noise = _check_noise(noise, "regression_curve")
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1.0, 1.0, n))[:, None]
    return x, np.sin(3 * x) + 0.5 * x + noise * rng.standard_normal((n, 1))


def load_digits(test_fraction: float = 0.25, seed: int | None = 0,
                images: bool = False) -> Split:
    """scikit-learn's bundled 8x8 digits (1797 images), scaled to [0, 1], split stratified.

    Parameters
    ----------
    test_fraction : float
        Share of the samples in the test part, in (0, 1).
    seed : int or None
        Seed of the split.
    images : bool
        Return X as (n, 1, 8, 8) images instead of (n, 64) vectors.

    Returns
    -------
    Split
        ``(X_train, y_train, X_test, y_test)``; X float64 in [0, 1], y int64 in [0, 9].

    Raises
    ------
    ImportError
        scikit-learn is not installed (it ships the data).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"load_digits: test_fraction must be in (0, 1), got {test_fraction!r}")
    try:
        from sklearn.datasets import load_digits as sk_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise ImportError('load_digits needs scikit-learn, which ships the digits data: '
                          'pip install "gradkit[data]" (or pip install scikit-learn)') from exc
    bunch = sk_load_digits()
    X = bunch.data.astype(np.float64) / 16.0
    if images:
        X = X.reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_fraction, stratify=y,
                                              random_state=seed)
    return Split(X_tr, y_tr, X_te, y_te)
