"""reference_nets: a small, readable numpy deep-learning core with hand-written backprop.

Layers follow the gradkit layer protocol (``params``/``grads`` dicts, ``forward``,
``backward`` overwriting ``grads``, ``training``); ``Sequential`` chains them;
``train`` runs mini-batch training with hooks. Submodules: ``losses``, ``optim``,
``data``, ``zoo``, ``init``.
"""

from reference_nets.layers import (
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from reference_nets.model import Sequential
from reference_nets.train import HookError, train

__all__ = ["BatchNorm", "Conv2D", "Dense", "Dropout", "Flatten", "HookError", "Layer",
           "LeakyReLU", "MaxPool2D", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh",
           "train"]
