"""Optimizers (bound to a model, updating its arrays in place); the clipping helpers
(:mod:`reference_nets.clipping`) and lr schedules (:mod:`reference_nets.lr_schedules`) are
imported from here too."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from reference_nets._validate import check_positive_number
from reference_nets.clipping import clip_grad_norm, clip_grad_value
from reference_nets.lr_schedules import CosineLR, StepLR

__all__ = ["SGD", "Adam", "CosineLR", "Optimizer", "StepLR", "UpdateReport", "clip_grad_norm",
           "clip_grad_value"]


class UpdateReport(NamedTuple):
    """Inner products a reported step took of one parameter ``p`` and its update ``u``
    (``p_new = p - u``), in the parameter's dtype."""

    update_sq: float
    """``u.u``, the squared norm of the update."""
    param_sq: float
    """``p_new.p_new``, the squared norm of the updated parameter."""
    reference_dot: float
    """``p_new.r`` for the reference ``r`` asked for (NaN without one)."""


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
    the optimizer offers them, instead of copying the parameters to measure each step):
    after :meth:`report_next_update`, the next ``step`` also takes, for each parameter
    ``p`` right after its update ``p -= u`` (while ``p`` and ``u`` are in the caches),
    ``u.u``, ``p.p`` and the inner product of ``p`` with a reference array the caller
    passed (e.g. the initial parameters); :meth:`update_report` returns them
    (:class:`UpdateReport`), :meth:`update_sq_norms` the ``u.u`` alone. Steps that were
    not asked for cost nothing extra.
    """

    def __init__(self, lr: float, weight_decay: float = 0.0):
        self.lr = check_positive_number(lr, "lr", type(self).__name__)
        if weight_decay < 0:
            raise ValueError(f"{type(self).__name__}: weight_decay must be >= 0, "
                             f"got {weight_decay}")
        self.weight_decay = float(weight_decay)
        self.model = None
        self.state: dict[str, dict] = {}
        self._references = None  # {id(param): array} of the coming step when it is reported
        self._report = None  # {id(param): UpdateReport} of the last step, when it was asked for

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
        references, self._references = self._references, None
        report = self._report = None if references is None else {}
        grads = self.model.grads
        for name, param in self.model.params.items():
            grad = grads[name]
            if self.weight_decay:
                grad = grad + self.weight_decay * param
            update = self._update(name, param, grad, self.state.setdefault(name, {}))
            param -= update
            if report is not None:
                report[id(param)] = self._report_update(name, param, update,
                                                        references.get(id(param)))

    def report_next_update(self, references: dict[int, np.ndarray] | None = None) -> None:
        """Have the next :meth:`step` report its updates for :meth:`update_report` (one
        step only; an earlier report is discarded now).

        Parameters
        ----------
        references : dict of int to ndarray, optional
            ``{id(param): r}``: arrays of the shapes of the parameters ``param`` whose
            inner product with the updated parameter the step also takes (the keys name
            the arrays the model holds: numpy arrays are not hashable).

        Raises
        ------
        TypeError
            ``references`` is not a dict of int to numpy arrays.
        """
        references = {} if references is None else references
        if not isinstance(references, dict) or not all(
                isinstance(k, int) and isinstance(v, np.ndarray) for k, v in references.items()):
            raise TypeError(f"{type(self).__name__}.report_next_update: references must be a "
                            f"dict {{id(param): numpy array}}, got {type(references).__name__}")
        self._references, self._report = references, None

    def update_report(self) -> dict[int, UpdateReport] | None:
        """What the last step took of its updates, if it was asked for them.

        Returns
        -------
        dict of int to UpdateReport, or None
            ``{id(param): UpdateReport(u.u, p.p, p.r)}`` for every parameter array
            ``param`` the last :meth:`step` changed (by ``param -= u``, in place, so the
            id names the array the model holds), by ``numpy.vdot`` in the parameters'
            dtype; None when :meth:`report_next_update` did not ask for that step.
        """
        return None if self._report is None else dict(self._report)

    def update_sq_norms(self) -> dict[int, float] | None:
        """``{id(param): ||u||^2}`` of the last step's updates, if it was asked for them
        (the ``update_sq`` of :meth:`update_report`), else None."""
        report = self.update_report()
        return None if report is None else {k: r.update_sq for k, r in report.items()}

    def _report_update(self, name: str, param: np.ndarray, update: np.ndarray,
                       reference: np.ndarray | None) -> UpdateReport:
        """The :class:`UpdateReport` of ``param`` (``name``) just updated by ``update``."""
        reference_dot = math.nan
        if reference is not None:
            if reference.shape != param.shape:
                raise ValueError(f"{type(self).__name__}.step: the reference of parameter "
                                 f"{name!r} has shape {reference.shape}, the parameter "
                                 f"{param.shape}")
            reference_dot = float(np.vdot(param, reference))
        return UpdateReport(float(np.vdot(update, update)), float(np.vdot(param, param)),
                            reference_dot)

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
