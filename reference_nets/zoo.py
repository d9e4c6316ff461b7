"""Ready-made reference networks for tests, demos and benchmarks."""

from __future__ import annotations

import itertools

import numpy as np

from reference_nets.layers import Conv2D, Dense, Flatten, LeakyReLU, MaxPool2D, ReLU, Sigmoid, Tanh
from reference_nets.model import Sequential

__all__ = ["ACTIVATIONS", "cnn", "deep_sigmoid", "mlp"]

ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid}


def _seeds(seed: int | None, n: int) -> list[int | None]:
    """``n`` distinct per-layer seeds derived from one seed (all None when seed is None)."""
    if seed is None:
        return [None] * n
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n)]


def mlp(sizes=(64, 64, 10), activation: str = "relu", init: str = "he", seed: int | None = 0,
        dtype=np.float64) -> Sequential:
    """Multi-layer perceptron: Dense and activation alternating, no activation after the last.

    Parameters
    ----------
    sizes : sequence of int
        Widths from input to output, at least two, e.g. (64, 64, 10).
    activation : {"relu", "leaky_relu", "tanh", "sigmoid"}
        Hidden activation.
    init : {"he", "xavier", "normal"}
        Dense weight initialisation.
    seed : int or None
        Root seed; each Dense gets its own seed derived from it.
    dtype : numpy floating dtype
        Parameter dtype.

    Returns
    -------
    Sequential
        Maps (N, sizes[0]) to (N, sizes[-1]) logits.
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp: sizes needs at least 2 widths (input, output), got {sizes}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp: activation must be one of {sorted(ACTIVATIONS)}, "
                         f"got {activation!r}")
    layers = []
    seeds = _seeds(seed, len(sizes) - 1)
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(ACTIVATIONS[activation]())
        layers.append(Dense(n_in, n_out, init=init, seed=seeds[i], dtype=dtype))
    return Sequential(layers)


def cnn(in_channels: int = 1, image_size: int = 8, n_classes: int = 10,
        seed: int | None = 0) -> Sequential:
    """Small convnet: Conv2D(3x3, 8 channels, padding 1)-ReLU-MaxPool2D(2)-Flatten-Dense.

    Maps images (N, in_channels, image_size, image_size) to (N, n_classes) logits.
    """
    if image_size < 2:
        raise ValueError(f"cnn: image_size must be >= 2, got {image_size}")
    conv_seed, dense_seed = _seeds(seed, 2)
    side = image_size // 2
    return Sequential([
        Conv2D(in_channels, 8, 3, padding=1, seed=conv_seed),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(8 * side * side, n_classes, seed=dense_seed),
    ])


def deep_sigmoid(n_in: int = 64, width: int = 32, depth: int = 10, n_out: int = 10,
                 seed: int | None = 0) -> Sequential:
    """``depth`` hidden Dense+Sigmoid layers of ``width`` units (xavier init), then Dense.

    A textbook vanishing-gradient case: the early layers get gradients orders of
    magnitude smaller than the last ones.
    """
    if depth < 1:
        raise ValueError(f"deep_sigmoid: depth must be >= 1, got {depth}")
    return mlp((n_in, *[width] * depth, n_out), activation="sigmoid", init="xavier",
               seed=seed)
