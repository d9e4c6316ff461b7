"""Epoch-wise learning-rate schedules that set an optimizer's ``lr``."""

from __future__ import annotations

import math

from reference_nets._validate import check_positive_int, check_positive_number

__all__ = ["CosineLR", "StepLR"]


class _Schedule:
    """Base of the epoch-wise schedules: remembers the optimizer's initial lr."""

    def __init__(self, optimizer):
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"{type(self).__name__}: optimizer must have an lr attribute")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.epoch = 0

    def step(self) -> float:
        """Advance one epoch, set ``optimizer.lr`` and return it."""
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)
        return self.optimizer.lr


class StepLR(_Schedule):
    """Decay the lr by ``gamma`` every ``step_size`` epochs: ``base * gamma ** (e // step_size)``.

    Parameters
    ----------
    optimizer : Optimizer
        Optimizer whose ``lr`` is set.
    step_size : int
        Epochs between decays.
    gamma : float
        Decay factor.
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer)
        self.step_size = check_positive_int(step_size, "step_size", "StepLR")
        self.gamma = check_positive_number(gamma, "gamma", "StepLR")

    def lr_at(self, epoch: int) -> float:
        """Learning rate after ``epoch`` calls of ``step``."""
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineLR(_Schedule):
    """Cosine annealing from the initial lr to ``lr_min`` over ``t_max`` epochs, then flat.

    Parameters
    ----------
    optimizer : Optimizer
        Optimizer whose ``lr`` is set.
    t_max : int
        Epochs of the half cosine.
    lr_min : float
        Final learning rate.
    """

    def __init__(self, optimizer, t_max: int, lr_min: float = 0.0):
        super().__init__(optimizer)
        self.t_max = check_positive_int(t_max, "t_max", "CosineLR")
        if not 0 <= lr_min <= self.base_lr:
            raise ValueError(f"CosineLR: lr_min must be in [0, initial lr={self.base_lr}], "
                             f"got {lr_min}")
        self.lr_min = float(lr_min)

    def lr_at(self, epoch: int) -> float:
        """Learning rate after ``epoch`` calls of ``step``."""
        progress = min(epoch, self.t_max) / self.t_max
        return self.lr_min + (self.base_lr - self.lr_min) * (1 + math.cos(math.pi * progress)) / 2
