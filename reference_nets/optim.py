"""Optimizers (bound to a model, updating its arrays in place), clipping, lr schedules."""

from __future__ import annotations

import math

import numpy as np

from reference_nets._validate import check_positive_int, check_positive_number

__all__ = ["SGD", "Adam", "CosineLR", "Optimizer", "StepLR", "clip_grad_norm",
           "clip_grad_value"]


class Optimizer:
    """Base class: ``bind(model)`` once, then ``step()`` after each backward.

    ``step`` reads ``model.params`` and ``model.grads`` afresh on every call and
    updates each parameter array IN PLACE, so references held elsewhere stay
    valid. Per-parameter state (``self.state``) is keyed by parameter name.

    Parameters
    ----------
    lr : float
        Learning rate; ``opt.lr`` is a plain mutable attribute (schedules set it).
    weight_decay : float
        L2 penalty added to the gradient (``g + weight_decay * p``, as PyTorch).

    Notes
    -----
    Update reports, for training diagnostics (``diagnostics.Monitor`` uses them when
    the optimizer offers them, instead of copying the parameters to measure each step's
    change): after :meth:`report_next_update`, the next ``step`` also takes the squared
    norm ``||u||^2`` of each parameter's update ``u`` (``p_new = p - u``), while ``u`` is
    still in the caches, and :meth:`update_sq_norms` returns them. Steps that were not
    asked for cost nothing extra.
    """

    def __init__(self, lr: float, weight_decay: float = 0.0):
        self.lr = check_positive_number(lr, "lr", type(self).__name__)
        if weight_decay < 0:
            raise ValueError(f"{type(self).__name__}: weight_decay must be >= 0, "
                             f"got {weight_decay}")
        self.weight_decay = float(weight_decay)
        self.model = None
        self.state: dict[str, dict] = {}
        self._report_next = False
        self._update_sq = None  # of the last step, when it was asked for

    def bind(self, model) -> Optimizer:
        """Attach to ``model`` (anything with ``params``/``grads`` dicts); return ``self``.

        Binding to a different model clears the state; re-binding the same model keeps it.
        """
        if model is not self.model:
            self.state = {}
        self.model = model
        return self

    def step(self) -> None:
        """Update every parameter of the bound model in place."""
        if self.model is None:
            raise RuntimeError(f"{type(self).__name__}.step: call bind(model) first")
        report = {} if self._report_next else None
        self._report_next, self._update_sq = False, report
        grads = self.model.grads
        for name, param in self.model.params.items():
            grad = grads[name]
            if self.weight_decay:
                grad = grad + self.weight_decay * param
            update = self._update(name, param, grad, self.state.setdefault(name, {}))
            param -= update
            if report is not None:
                report[id(param)] = self._sq_norm(update)

    def report_next_update(self) -> None:
        """Have the next :meth:`step` take the squared norms of its updates for
        :meth:`update_sq_norms` (one step only; an earlier report is discarded now)."""
        self._report_next, self._update_sq = True, None

    def update_sq_norms(self) -> dict[int, float] | None:
        """Squared L2 norms of the updates of the last step, if it was asked for them.

        Returns
        -------
        dict of int to float, or None
            ``{id(param): ||u||^2}`` for every parameter array ``param`` the last
            :meth:`step` changed (by ``param -= u``, in place, so the id names the array
            the model holds; numpy arrays are not hashable), by ``numpy.vdot`` in the
            parameters' dtype; None when :meth:`report_next_update` did not ask for that
            step.
        """
        return None if self._update_sq is None else dict(self._update_sq)

    @staticmethod
    def _sq_norm(update: np.ndarray) -> float:
        """``||update||^2`` for :meth:`update_sq_norms`."""
        return float(np.vdot(update, update))

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray,
                state: dict) -> np.ndarray:  # pragma: no cover - abstract
        """The update ``u`` of ``param`` (shape of ``param``; ``step`` subtracts it in
        place), advancing ``state``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    Parameters
    ----------
    lr : float
        Learning rate.
    momentum : float
        Momentum factor ``mu``: ``v = mu * v + g`` (``v = g`` at the first step), ``p -= lr * v``.
    nesterov : bool
        Use ``p -= lr * (g + mu * v)`` instead.
    weight_decay : float
        L2 penalty added to the gradient.
    """

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _update(self, name, param, grad, state) -> np.ndarray:
        if not self.momentum:
            return self.lr * grad
        velocity = state.get("velocity")
        if velocity is None:
            velocity = state["velocity"] = grad.copy()
        else:
            velocity *= self.momentum
            velocity += grad
        step = grad + self.momentum * velocity if self.nesterov else velocity
        return self.lr * step


class Adam(Optimizer):
    """Adam with bias correction, as ``torch.optim.Adam`` (L2 ``weight_decay``, not AdamW).

    Parameters
    ----------
    lr : float
        Learning rate.
    betas : tuple of float
        Decay rates of the first and second moment estimates.
    eps : float
        Added to the square root of the second moment.
    weight_decay : float
        L2 penalty added to the gradient.
    """

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Adam: betas must be two numbers in [0, 1), got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = check_positive_number(eps, "eps", "Adam")

    def _update(self, name, param, grad, state) -> np.ndarray:
        if not state:
            state.update(t=0, m=np.zeros_like(param), v=np.zeros_like(param))
        b1, b2 = self.betas
        state["t"] += 1
        m, v, t = state["m"], state["v"], state["t"]
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * grad * grad
        denom = np.sqrt(v / (1 - b2 ** t)) + self.eps
        return (self.lr / (1 - b1 ** t)) * m / denom


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients in place so their global L2 norm is at most ``max_norm``.

    Follows ``torch.nn.utils.clip_grad_norm_``: the factor is
    ``max_norm / (total_norm + 1e-6)``, applied only when it is below 1.

    Parameters
    ----------
    grads : dict of str to ndarray
        Gradient arrays (e.g. ``model.grads``), modified in place.
    max_norm : float
        Largest allowed global norm (> 0).

    Returns
    -------
    float
        The global norm BEFORE clipping.
    """
    max_norm = check_positive_number(max_norm, "max_norm", "clip_grad_norm")
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    factor = max_norm / (total + 1e-6)
    if factor < 1.0:
        for g in grads.values():
            g *= factor
    return total


def clip_grad_value(grads: dict[str, np.ndarray], value: float) -> None:
    """Clip every gradient element into ``[-value, value]`` in place (``value`` > 0)."""
    value = check_positive_number(value, "value", "clip_grad_value")
    for g in grads.values():
        np.clip(g, -value, value, out=g)


class _Schedule:
    """Base of the epoch-wise schedules: remembers the optimizer's initial lr."""

    def __init__(self, optimizer: Optimizer):
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

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
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

    def __init__(self, optimizer: Optimizer, t_max: int, lr_min: float = 0.0):
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
