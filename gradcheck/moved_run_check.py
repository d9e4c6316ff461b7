"""A chain's run at a moved point, checked along the given point's joint direction.

Before its given point a chain runs once forward and backward at a moved point (inputs and
parameters moved by about 1 %: :func:`gradcheck.chain_moved_first.chain_moved_first`), so
that every cache kept from an earlier call holds moved values at the given point. The
gradients that run left were never checked: a bug the given point hides shows there, such as
a fused Dense+tanh layer whose backward recomputes the tanh from ``x @ W`` without its bias
while the biases are 0, as they start.

So when the model gets no second point, the moved run's gradients are checked along the
screen's joint direction over the model's tensors at the cost of one forward:
``L(q + m) - L(q)`` against ``<g(q), m>`` (one-sided, ``m`` the joint direction's move),
within ``LOOSE`` of the sum of the tensors' terms plus the loss's round-off over the step.
One-sided differences at that step are good to about 1e-5 of the sum, so this is a screen
for the errors a hidden bug makes: ``LOOSE`` of the sum is about ``LOOSE * k`` of one of
the ``k`` tensors' balanced terms, so 1e-3 of one tensor's term shows in a chain of up to
about seven tensors and 1e-2 in one of up to about thirty (the given point resolves 1e-7).
Where they disagree, or the model or loss refuses the moved point, the model gets its second
point, which judges the tensors and names the layer: this screen alone never fails
anything.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from gradcheck.judge import NOISE_FACTOR
from gradcheck.layer_point import holding
from gradcheck.point import machine_eps
from gradcheck.validation import loss_value, trainable

__all__ = ["LOOSE", "MovedRun", "moved_run_disagrees", "moved_run_of", "trainable_arrays"]

LOOSE = 1e-4   # the share of the tensors' terms a moved run's screen allows


@dataclass(frozen=True)
class MovedRun:
    """What the chain's moved run left: its input and parameters (copies, in the order of
    :func:`trainable_arrays`), its loss, and its gradients by tensor name (``"input"``, the dx
    ``model.backward`` returned, and ``"<i>.<key>"``)."""

    x: np.ndarray
    params: list[np.ndarray]
    loss: float
    grads: dict[str, np.ndarray]


def moved_run_of(layers, x: np.ndarray, params: list[np.ndarray], loss: float, dx
                 ) -> MovedRun:
    """A :class:`MovedRun` of ``layers`` right after their moved backward (``params``: the
    moved parameters, as they are now)."""
    grads = {f"{i}.{k}": np.array(layer.grads[k], copy=True) for i, layer in enumerate(layers)
             for k in trainable(layer.params) if k in layer.grads}
    if dx is not None and np.shape(dx) == x.shape:
        grads["input"] = np.array(dx, copy=True)
    return MovedRun(x.copy(), [p.copy() for p in params], loss, grads)


def moved_run_disagrees(model, layers, loss, y, run: MovedRun, joint, loss_noise: float = 0.0
                        ) -> bool:
    """Whether the loss along ``joint`` (a :class:`gradcheck.joint_direction.Joint` over
    ``"input"`` and ``"<i>.<key>"``) from the moved run's point changes by other than its
    gradients say (module docstring); True too when a gradient of it is missing, or the
    model or the loss refuses the moved point (the second point then decides)."""
    terms = []
    for name, v, w in zip(joint.names, joint.directions, joint.weights, strict=True):
        g = run.grads.get(name)
        if g is None or g.size != v.size:
            return True
        terms.append(float(w) * float(v @ g.reshape(-1)))
    with _moved_back(layers, run, joint) as x2:
        try:   # the point is the check's choice, not the user's: any refusal of it
            with np.errstate(all="ignore"):
                moved = loss_value(loss, model.forward(x2), y)
        except Exception:
            return True
    eps = machine_eps(run.x, *run.params)
    noise = NOISE_FACTOR * (eps * (abs(run.loss) + abs(moved)) + 2 * loss_noise)
    return abs((moved - run.loss) - sum(terms)) > LOOSE * sum(map(abs, terms)) + noise


def trainable_arrays(layers) -> list[np.ndarray]:
    """Every trainable parameter array of ``layers``, in layer and key order."""
    return [p for layer in layers for p in trainable(layer.params).values()]


@contextmanager
def _moved_back(layers, run: MovedRun, joint):
    """The parameters at the moved run's values plus the joint move, and the moved input plus
    its share of it, for the block; every parameter restored exactly after."""
    named = {f"{i}.{k}": p for i, layer in enumerate(layers)
             for k, p in trainable(layer.params).items()}
    x2 = run.x.copy()
    with holding(list(zip(trainable_arrays(layers), run.params, strict=True))):
        for name, v, w in zip(joint.names, joint.directions, joint.weights, strict=True):
            target = x2 if name == "input" else named[name]
            target += (float(w) * v).reshape(target.shape).astype(target.dtype, copy=False)
        yield x2
